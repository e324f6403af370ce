"""Stage 2, the stores: plain JSONL files a person can read and diff.

jsonl.py (the one way to write them: whole fsynced lines, torn tails moved aside, atomic
rewrites, one lock per store naming its holder), steps.py (one record per task: the generated
steps), ratings.py (one record per task x annotator, with the rubric as the first line). Both
stores are append-only and resumable; each has one writer (``append_records``, ``append_ratings``).
"""

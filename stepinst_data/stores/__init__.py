"""Stage 2, the stores: plain JSONL files a person can read and diff.

steps.py (one record per task: the generated steps), ratings.py (one record per task x
annotator, with the rubric as the first line). Both are append-only and resumable.
"""

"""Stage 2, the stores: plain JSONL files a person can read and diff.

jsonl.py (the one primitive: whole fsynced appends, torn tails set aside, one lock per store),
steps.py (one record per task: the generated steps), ratings.py (one record per task x
annotator, the rubric as the first line; corrections keep the earlier record as history).
"""

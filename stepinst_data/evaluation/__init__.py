"""Evaluation: a built configuration and a model in, official SUP-NATINST scores out.

metrics.py (exact match and ROUGE-L, the official way), training.py (what the recipes share:
loading a config, tokenization, device checks), predict.py (greedy generation), report.py
(per-run reports and the comparison table).
"""

"""Evaluation: a built configuration and a model in, official SUP-NATINST scores out.

metrics.py (exact match and ROUGE-L, the official way), training.py (what the recipes share:
loading a config, tokenization, device checks, checkpoints), predict.py (greedy generation: HF
generate, or vLLM for causal LMs and LoRA adapters), run_record.py (the records a run leaves:
``stepinst_run.json`` of training, ``run.json`` + ``scores.jsonl`` of evaluation), grid.py (the
resumable models × configs × seeds experiment), report.py (one run's table and chart),
significance.py (the seed × task test, Holm), comparison.py (runs pooled into cells, the pairs
compared) and comparison_report.py (the comparison's markdown, JSON and charts).
"""

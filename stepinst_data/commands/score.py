"""``stepinst score`` (official SUP-NATINST metrics of a predictions file) and ``stepinst references``."""

from __future__ import annotations

import argparse
import json


def register(subparsers) -> None:
    score = subparsers.add_parser("score", help="exact match and ROUGE-L as the official SUP-NATINST evaluation")
    score.add_argument("--predictions", required=True, help="JSONL with `id` and `prediction` per line")
    score.add_argument("--references", required=True, help="JSONL with `id`, `references`, `task_id`, `task_category`, `track`")
    score.add_argument("--out", help="also write the result JSON to this file")
    score.set_defaults(func=run_score)

    refs = subparsers.add_parser("references", help="write the official references file of a built split")
    refs.add_argument("dataset", help="a folder built by `stepinst build`, or a Hub id")
    refs.add_argument("--config", default="steps_ordered", help="instance configuration (default: steps_ordered)")
    refs.add_argument("--split", default="test")
    refs.add_argument("--out", default="references.jsonl", help="output JSONL (default: ./references.jsonl)")
    refs.add_argument("--cache-dir", help="datasets cache folder")
    refs.set_defaults(func=run_references)


def run_score(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..evaluation.metrics import score_files

    results = score_files(args.predictions, args.references)
    text = json.dumps(results, indent=2)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


def run_references(args: argparse.Namespace) -> int:
    from ..evaluation.metrics import reference_records, write_jsonl
    from ..evaluation.training import load_instance_split

    rows = load_instance_split(args.dataset, args.config, args.split, cache_dir=args.cache_dir)
    path = write_jsonl(reference_records(rows), args.out)
    print(f"wrote {len(rows)} references of {args.dataset} ({args.config}, {args.split}) to {path}")
    return 0

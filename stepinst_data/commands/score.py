"""``stepinst score``: exact match and ROUGE-L of a predictions file, as the official SUP-NATINST evaluation.

    stepinst score --predictions preds.jsonl --references refs.jsonl [--out metrics.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from . import options


def register(subparsers) -> None:
    score = options.add_command(
        subparsers, "score", "score predictions with the official SUP-NATINST metrics (exact match, ROUGE-L)",
        examples=("stepinst score --predictions preds.jsonl --references refs.jsonl --out metrics.json",),
    )
    score.add_argument("--predictions", required=True, help="JSONL with `id` and `prediction` per line")
    score.add_argument("--references", required=True,
                       help="JSONL with `id`, `references`, `task_id`, `task_category`, `track` (see `stepinst references`)")
    options.add_out(score, "also write the result JSON to this file")
    score.set_defaults(func=run_score)


def run_score(args: argparse.Namespace) -> int:
    from ..atomic import atomic_write
    from ..evaluation.metrics import score_files

    for flag, path in (("--predictions", args.predictions), ("--references", args.references)):
        if not Path(path).is_file():
            raise FileNotFoundError(f"{flag} {path}: no such file"
                                    + ("; write it with `stepinst references FOLDER --config NAME --out FILE`" if flag == "--references" else ""))
    results = score_files(args.predictions, args.references)
    text = json.dumps(results, indent=2)
    if args.out:
        with atomic_write(args.out) as f:
            f.write(text + "\n")
    print(text)
    return 0

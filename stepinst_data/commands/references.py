"""``stepinst references``: the official references file of a built split, for ``stepinst score``.

    stepinst references stepinst --config steps_ordered --out refs.jsonl
"""

from __future__ import annotations

import argparse

from . import options


def register(subparsers) -> None:
    refs = options.add_command(
        subparsers, "references", "write the references file of a built test split (the input of `stepinst score`)",
        examples=("stepinst references stepinst --config steps_ordered --out refs.jsonl",),
    )
    refs.add_argument("dataset", help="a folder built by `stepinst build`, or a Hub dataset id")
    refs.add_argument("--config", default="steps_ordered", help="instance configuration")
    refs.add_argument("--split", default="test", help="the split whose references are written")
    options.add_out(refs, "the references file to write (JSONL)", default="references.jsonl")
    refs.add_argument("--cache-dir", help="the datasets cache folder (default: datasets' own, $HF_DATASETS_CACHE)")
    refs.set_defaults(func=run_references)


def run_references(args: argparse.Namespace) -> int:
    from ..evaluation.metrics import reference_records, write_jsonl
    from ..evaluation.training import load_instance_split

    rows = load_instance_split(args.dataset, args.config, args.split, cache_dir=args.cache_dir)
    path = write_jsonl(reference_records(rows), args.out)
    print(f"wrote {len(rows)} references of {args.dataset} ({args.config}, {args.split}) to {path}")
    return 0

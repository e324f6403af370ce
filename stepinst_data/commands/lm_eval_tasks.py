"""``stepinst lm-eval-tasks``: lm-evaluation-harness tasks for a built dataset, scored with stepinst's own metrics.

    stepinst lm-eval-tasks --dataset stepinst --out lm_eval_tasks
    lm_eval --model hf --model_args pretrained=MODEL --include_path lm_eval_tasks --tasks stepinst_steps_ordered
"""

from __future__ import annotations

import argparse

from . import options


def register(subparsers) -> None:
    tasks = options.add_command(
        subparsers, "lm-eval-tasks", "write lm-evaluation-harness tasks (one per configuration, group `stepinst`)",
        examples=("stepinst lm-eval-tasks --dataset stepinst --out lm_eval_tasks",
                  "lm_eval --model hf --model_args pretrained=MODEL --include_path lm_eval_tasks --tasks stepinst"),
    )
    tasks.add_argument("--dataset", required=True, help="a folder built by `stepinst build`, or a Hub dataset id")
    options.add_out(tasks, "the folder of task YAMLs to write (pass it to lm_eval --include_path)", default="lm_eval_tasks")
    tasks.add_argument("--configs", default=None, help="comma-separated configurations (default: every instance configuration)")
    tasks.add_argument("--split", default="test", help="the split the harness evaluates")
    tasks.add_argument("--cache-dir", help="the datasets cache folder (default: datasets' own, $HF_DATASETS_CACHE)")
    tasks.set_defaults(func=run_lm_eval_tasks)


def run_lm_eval_tasks(args: argparse.Namespace) -> int:
    from ..evaluation.lm_eval_tasks import write_tasks

    configs = [c.strip() for c in args.configs.split(",") if c.strip()] if args.configs else None
    files = write_tasks(args.dataset, args.out, args.cache_dir, configs, args.split)
    tasks = [f.stem for f in files if f.suffix == ".yaml" and f.stem != "stepinst"]
    print(f"wrote {len(tasks)} tasks ({', '.join(tasks)}) and the group `stepinst` to {args.out}\n"
          f"run them: lm_eval --model hf --model_args pretrained=MODEL --include_path {args.out} --tasks stepinst")
    return 0

"""``stepinst build`` and ``stepinst validate``."""

from __future__ import annotations

import argparse
import sys

from ..sample import SAMPLE_NATINST, SAMPLE_RATINGS, SAMPLE_STEPS


def _add_input_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--natinst", help="SUP-NATINST checkout folder or the repository archive URL")
    parser.add_argument("--steps", help="steps store (JSONL)")
    parser.add_argument("--ratings", help="ratings store (JSONL)")
    parser.add_argument("--sample", action="store_true", help="use the embedded sample (tasks, steps and ratings)")
    parser.add_argument("--allow-missing-tasks", action="store_true", help="skip listed tasks that have no file")
    parser.add_argument("--num-proc", type=int, default=1, help="parse task files and write configurations in N processes")
    parser.add_argument("--cache-dir", help="where the parsed task table and archives are cached")


def _resolve_inputs(args: argparse.Namespace) -> None:
    if args.sample:
        args.natinst = args.natinst or str(SAMPLE_NATINST)
        args.steps = args.steps or str(SAMPLE_STEPS)
        args.ratings = args.ratings or str(SAMPLE_RATINGS)
    if not args.natinst:
        raise ValueError("pass --natinst PATH_OR_URL (or --sample for the embedded sample)")


def register(subparsers) -> None:
    build = subparsers.add_parser("build", help="build the Hub-ready dataset folder")
    _add_input_args(build)
    build.add_argument("--out", default="stepinst", help="output folder (default: ./stepinst)")
    build.add_argument("--configs", help="comma-separated configs to build (default: every one the inputs serve)")
    build.add_argument("--overwrite", action="store_true", help="replace an --out folder that holds other files")
    build.add_argument("--max-num-instances-per-task", type=int, default=100)
    build.add_argument("--max-num-instances-per-eval-task", type=int, default=100)
    build.add_argument("--validation-tasks", type=int, default=0, help="train tasks moved to a validation split")
    build.add_argument("--seed", type=int, default=42)
    build.add_argument("--no-progress", action="store_true", help="no progress bars (they show only on a terminal anyway)")
    build.add_argument("--repo-id", help="the Hub repo the card's quick start and citation name (default: stepinst/stepinst)")
    build.set_defaults(func=run_build)

    validate = subparsers.add_parser("validate", help="report every problem in the inputs; exit 1 if any")
    _add_input_args(validate)
    validate.set_defaults(func=run_validate)


def run_build(args: argparse.Namespace) -> int:
    from ..dataset.configs import PRESETS
    from ..card.release import build_release
    from ..dataset.inputs import load_build_inputs
    from ..source.natinst import Sampling
    from ..dataset.stats import format_stats

    _resolve_inputs(args)
    if args.repo_id:
        from ..hub.push import check_repo_id

        check_repo_id(args.repo_id)  # before the build: the card names it
    overrides = dict(
        max_num_instances_per_task=args.max_num_instances_per_task,
        max_num_instances_per_eval_task=args.max_num_instances_per_eval_task,
        seed=args.seed,
        validation_tasks=args.validation_tasks,
    )
    sampling = Sampling(args.max_num_instances_per_task, args.max_num_instances_per_eval_task, args.seed)
    inputs = load_build_inputs(
        args.natinst, args.steps, args.ratings, sampling, args.validation_tasks,
        args.num_proc, args.allow_missing_tasks, args.cache_dir, progress=False if args.no_progress else None,
    )
    configs = None
    if args.configs:
        names = [n.strip() for n in args.configs.split(",") if n.strip()]
        unknown = [n for n in names if n not in PRESETS]
        if unknown:
            raise ValueError(f"--configs: unknown config(s) {unknown}; choose from {list(PRESETS)}")
        configs = [PRESETS[n].with_params(**overrides) for n in names]
    else:
        from ..dataset.export import default_configs

        configs = [c.with_params(**overrides) for c in default_configs(inputs)]
    written = build_release(
        inputs, args.out, configs, overwrite=args.overwrite, num_proc=args.num_proc, repo_id=args.repo_id,
        progress=False if args.no_progress else None,
    )
    print(f"built {args.out}: {len(written)} configs")
    print(format_stats({w.config.name: w.stats for w in written}))
    return 0


def run_validate(args: argparse.Namespace) -> int:
    from ..dataset.validate import validate_inputs

    _resolve_inputs(args)
    problems = validate_inputs(args.natinst, args.steps, args.ratings, args.allow_missing_tasks, args.cache_dir)
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} problem(s) found", file=sys.stderr)
        return 1
    print("no problems found")
    return 0

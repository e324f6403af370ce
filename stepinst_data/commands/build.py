"""``stepinst build``: the Hub-ready dataset folder (Parquet per configuration and split + card).

    stepinst build --sample --out stepinst
    stepinst build --natinst PATH_OR_URL --steps steps.jsonl --ratings ratings.jsonl --out stepinst
"""

from __future__ import annotations

import argparse

from ..source.natinst import Sampling
from . import options


def register(subparsers) -> None:
    build = options.add_command(
        subparsers, "build", "turn SUP-NATINST + steps + ratings into a dataset folder that load_dataset reads",
        examples=(
        "stepinst build --sample --out stepinst",
        "stepinst build --natinst PATH_OR_URL --steps steps.jsonl --ratings ratings.jsonl --out stepinst",
    ),
    )
    options.add_build_inputs(build)
    options.add_num_proc(build, "parse task files (configurations are written by one thread per core)")
    options.add_out(build, "the dataset folder to write", default="stepinst")
    build.add_argument("--configs", help="comma-separated configs to build (default: every one the inputs serve)")
    build.add_argument("--overwrite", action="store_true", help="replace a card (README.md) of a previous build that was edited by hand; files stepinst "
                       "did not write are never deleted, with or without it")
    sampling = Sampling()
    build.add_argument("--max-num-instances-per-task", type=int, default=sampling.max_num_instances_per_task,
                       help="instances sampled (seeded) per train/validation task")
    build.add_argument("--max-num-instances-per-eval-task", type=int, default=sampling.max_num_instances_per_eval_task,
                       help="the first N instances of each test task (official evaluation: 100)")
    build.add_argument("--num-validation-tasks", dest="validation_tasks", type=options.non_negative_int, default=0, metavar="N",
                       help="how many train tasks (a seeded choice) move to a validation split")
    options.add_deprecated(build, "--validation-tasks", "validation_tasks", "--num-validation-tasks", type=options.non_negative_int)
    build.add_argument("--seed", type=int, default=sampling.seed,
                       help="seeds instance sampling, shuffled step orders and the validation choice")
    options.add_repo(build, "the repo the card's quick start and citation name (default: stepinst/stepinst)", old="--repo-id")
    build.add_argument("--no-progress", action="store_true",
                       help="no progress bars (they show only on a terminal anyway)")
    build.add_argument("--like", metavar="FOLDER_OR_REPO",
                       help="rebuild with every parameter recorded in the stepinst_build.json of this built folder or Hub repo "
                            "(default: none: the parameters come from the flags)")
    build.set_defaults(func=run_build, default_of=build.get_default)


def run_build(args: argparse.Namespace) -> int:
    from ..card.release import build_release
    from ..dataset.inputs import load_build_inputs
    from ..dataset.stats import format_stats

    options.resolve_corpus(args, ("steps", "ratings"))
    if args.like:
        from .verify import run_build_like

        return run_build_like(args)
    if args.repo:
        from ..hub.push import check_repo_id

        check_repo_id(args.repo)  # before the build: the card names it
    sampling = Sampling(args.max_num_instances_per_task, args.max_num_instances_per_eval_task, args.seed)
    progress = False if args.no_progress else None  # None: bars only on a terminal
    inputs = load_build_inputs(
        args.natinst, args.steps, args.ratings, sampling, args.validation_tasks,
        args.num_proc, args.allow_missing_tasks, args.cache_dir, args.skip_empty_tasks, progress=progress,
        steps_limits=options.steps_limits(args),
    )
    configs = _configs(args, inputs)
    written = build_release(inputs, args.out, configs, overwrite=args.overwrite,
                            repo_id=args.repo, progress=progress)
    print(f"built {args.out}: {len(written)} configs")
    if inputs.table.skipped_empty:
        skipped = inputs.table.skipped_empty
        print(f"skipped {len(skipped)} listed task(s) with no instances (--skip-empty-tasks): {', '.join(skipped)}")
    print(format_stats({w.config.name: w.stats for w in written}))
    return 0


def _configs(args: argparse.Namespace, inputs) -> list:
    """The ``--configs`` presets (default: every one the inputs serve), with the sampling flags."""
    from ..dataset.configs import PRESETS
    from ..dataset.export import default_configs

    overrides = dict(
        max_num_instances_per_task=args.max_num_instances_per_task,
        max_num_instances_per_eval_task=args.max_num_instances_per_eval_task,
        seed=args.seed,
        validation_tasks=args.validation_tasks,
    )
    if not args.configs:
        return [c.with_params(**overrides) for c in default_configs(inputs)]
    names = [n.strip() for n in args.configs.split(",") if n.strip()]
    unknown = [n for n in names if n not in PRESETS]
    if unknown:
        raise ValueError(f"--configs: unknown config(s) {unknown}; choose from {list(PRESETS)}")
    return [PRESETS[n].with_params(**overrides) for n in names]

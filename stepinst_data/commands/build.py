"""``stepinst build``: the Hub-ready dataset folder (Parquet per configuration and split + card).

    stepinst build --sample --out stepinst
    stepinst build --natinst PATH_OR_URL --steps steps.jsonl --ratings ratings.jsonl --out stepinst
"""

from __future__ import annotations

import argparse
import logging

from ..source.natinst import Sampling
from . import options

logger = logging.getLogger(__name__)


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
                       help="instances sampled (seeded) per train/validation task (at least 1)")
    build.add_argument("--max-num-instances-per-eval-task", type=int, default=sampling.max_num_instances_per_eval_task,
                       help="the first N instances of each test task (official evaluation: 100; at least 1)")
    build.add_argument("--num-validation-tasks", dest="validation_tasks", type=options.non_negative_int, default=0, metavar="N",
                       help="how many train tasks (a seeded choice) move to a validation split")
    build.add_argument("--seed", type=int, default=sampling.seed,
                       help="seeds instance sampling, shuffled step orders and the validation choice")
    options.add_repo(build, "the repo the card's quick start and citation name (default: stepinst/stepinst; "
                            "with --like, the repo its manifest records)")
    build.add_argument("--no-progress", action="store_true",
                       help="no progress bars (they show only on a terminal anyway)")
    build.add_argument("--like", metavar="FOLDER_OR_REPO",
                       help="rebuild with every parameter recorded in the stepinst_build.json of this built folder or Hub repo "
                            "(default: none: the parameters come from the flags)")
    build.set_defaults(func=run_build, default_of=build.get_default)


PARAMETER_FLAGS = (
    "configs", "max_num_instances_per_task", "max_num_instances_per_eval_task", "validation_tasks", "seed", "allow_missing_tasks",
    "skip_empty_tasks", "max_num_steps_per_task", "max_chars_per_step",
)
"""The options that make the plan (argparse destinations): ``--like`` takes them from a manifest instead."""


def run_build(args: argparse.Namespace) -> int:
    """The plan comes from the flags, or with ``--like`` from a release's manifest; one release builds it."""
    import msgspec

    from ..card.release import release
    from ..dataset.manifest import input_changes
    from ..dataset.plan import BuildPlan, preset_configs
    from ..dataset.stats import format_stats
    from ..hub.verify import open_release

    options.resolve_corpus(args, ("steps", "ratings"))
    _refuse_plan_flags_with_like(args)
    like = open_release(args.like, manifest_only=True) if args.like else None
    plan = like.manifest.plan if like else BuildPlan.of(
        preset_configs(args.configs) if args.configs else None,
        sampling=Sampling(args.max_num_instances_per_task, args.max_num_instances_per_eval_task, args.seed),
        validation_tasks=args.validation_tasks,
        allow_missing_tasks=args.allow_missing_tasks,
        skip_empty_tasks=args.skip_empty_tasks,
        steps_limits=options.steps_limits(args),
    )
    plan = msgspec.structs.replace(plan, repo=args.repo) if args.repo else plan  # --like carries the recorded repo
    built = release(plan, args.natinst, args.out, args.steps, args.ratings, cache_dir=args.cache_dir, num_proc=args.num_proc,
                    overwrite=args.overwrite, progress=False if args.no_progress else None)
    for note in input_changes(like.manifest, built.manifest) if like else []:
        logger.warning("%s (compared with %s); `stepinst verify %s` names every difference", note, like.where, args.like)
    print(f"built {args.out}" + (f" like {args.like}" if like else "") + f": {len(built.written)} configs")
    skipped = built.manifest.skipped_empty_tasks
    if skipped:
        print(f"skipped {len(skipped)} listed task(s) with no instances (--skip-empty-tasks): {', '.join(skipped)}")
    print(format_stats({w.config.name: w.stats for w in built.written}))
    return 0


def _refuse_plan_flags_with_like(args: argparse.Namespace) -> None:
    """``--like`` takes every parameter from the manifest: a plan flag given too is refused."""
    chosen = [name for name in PARAMETER_FLAGS if args.like and getattr(args, name) != args.default_of(name)]
    if chosen:
        flags = ", ".join("--" + name.replace("_", "-").replace("validation-tasks", "num-validation-tasks") for name in chosen)
        raise ValueError(
            f"{flags} cannot be combined with --like: the parameters come from the manifest of {args.like}; "
            "drop --like to choose them yourself"
        )

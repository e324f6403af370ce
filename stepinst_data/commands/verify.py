"""``stepinst verify``: prove that a built folder or Hub repo came from the given inputs."""

from __future__ import annotations

import argparse
import sys

from . import options


def register(subparsers) -> None:
    verify = options.add_command(
        subparsers, "verify", "check a release against its inputs and rebuild it byte for byte (exit 1 on any difference)",
        examples=("stepinst verify stepinst --natinst PATH_OR_URL --steps steps.jsonl --ratings ratings.jsonl",
                  "stepinst verify ORG/stepinst --natinst PATH_OR_URL --steps steps.jsonl --ratings ratings.jsonl"),
        description=(
            "Check every data file of FOLDER_OR_REPO against its stepinst_build.json, check the inputs against\n"
            "the hashes it records, then rebuild with the recorded parameters in a temporary folder and compare\n"
            "the data files byte for byte. Prints one line per difference and exits 1; exits 0 only when\n"
            "everything matches. A Hub repo is read with huggingface_hub (the manifest and the data files only)."
        ),
    )
    verify.add_argument("release", metavar="FOLDER_OR_REPO", help="a folder built by `stepinst build`, or a Hub dataset repo ORG/NAME")
    options.add_corpus(verify, "tasks, steps and ratings")
    options.add_steps_store(verify, "the steps the release was built from (read)")
    options.add_ratings_store(verify, "the ratings the release was built from (read)")
    verify.add_argument("--revision", help="branch, tag or commit of a Hub repo (default: main)")
    options.add_num_proc(verify, "parse task files for the rebuild (configurations are written by one thread per core)")
    verify.set_defaults(func=run_verify)


def run_verify(args: argparse.Namespace) -> int:
    from ..hub.verify import verify_release

    options.resolve_corpus(args, ("steps", "ratings"))
    report = verify_release(
        args.release, args.natinst, args.steps, args.ratings,
        revision=args.revision, cache_dir=args.cache_dir, num_proc=args.num_proc,
    )
    for note in report.notes:
        print(f"note: {note}", file=sys.stderr)
    for problem in report.problems:
        print(problem)
    if report.problems:
        print(f"{args.release}: {len(report.problems)} difference(s); not verified", file=sys.stderr)
        return 1
    print(f"verified {args.release}: the inputs match its manifest and the rebuild reproduces its {report.files_compared} data files byte for byte")
    return 0


def run_build_like(args: argparse.Namespace) -> int:
    """``stepinst build --like``: every parameter comes from the manifest, so none may be passed too."""
    from ..dataset.stats import format_stats
    from ..dataset.manifest import read_manifest
    from ..hub.verify import build_like

    chosen = [name for name in PARAMETER_FLAGS if hasattr(args, name) and getattr(args, name) != args.default_of(name)]
    if chosen:
        flags = ", ".join("--" + name.replace("_", "-") for name in chosen)
        raise ValueError(
            f"{flags} cannot be combined with --like: the parameters come from the manifest of {args.like}; "
            "drop --like to choose them yourself"
        )
    if args.repo:
        from ..hub.push import check_repo_id

        check_repo_id(args.repo)  # before the build: the card names it
    written = build_like(
        args.like, args.natinst, args.steps, args.ratings, args.out, overwrite=args.overwrite, num_proc=args.num_proc,
        cache_dir=args.cache_dir, repo_id=args.repo, progress=False if args.no_progress else None,
    )
    print(f"built {args.out} like {args.like}: {len(written)} configs")
    skipped = read_manifest(args.out).get("skipped_empty_tasks") or []
    if skipped:
        print(f"skipped {len(skipped)} listed task(s) with no instances (--skip-empty-tasks): {', '.join(skipped)}")
    print(format_stats({w.config.name: w.stats for w in written}))
    return 0


PARAMETER_FLAGS = (
    "configs", "max_num_instances_per_task", "max_num_instances_per_eval_task", "validation_tasks", "seed", "allow_missing_tasks",
    "skip_empty_tasks",
)
"""The `stepinst build` options that --like replaces (argparse destinations)."""

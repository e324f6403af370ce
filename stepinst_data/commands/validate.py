"""``stepinst validate``: every problem in a build's inputs at once, before a build.

    stepinst validate --natinst PATH_OR_URL --steps steps.jsonl --ratings ratings.jsonl
"""

from __future__ import annotations

import argparse
import sys

from . import options


def register(subparsers) -> None:
    validate = options.add_command(
        subparsers, "validate", "check task files, steps and ratings and list every problem (exit 1 if any)",
        examples=("stepinst validate --natinst PATH_OR_URL --steps steps.jsonl --ratings ratings.jsonl",),
    )
    options.add_build_inputs(validate)
    validate.set_defaults(func=run_validate)


def run_validate(args: argparse.Namespace) -> int:
    from ..dataset.validate import validate_inputs

    options.resolve_corpus(args, ("steps", "ratings"))
    problems = validate_inputs(args.natinst, args.steps, args.ratings, args.allow_missing_tasks, args.cache_dir,
                               skip_empty_tasks=args.skip_empty_tasks, steps_limits=options.steps_limits(args))
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} problem(s) found", file=sys.stderr)
        return 1
    print("no problems found")
    return 0

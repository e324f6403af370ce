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
            "the hashes it records, then rebuild with the recorded parameters in a folder under --cache-dir and compare\n"
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

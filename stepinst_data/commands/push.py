"""``stepinst push``: validate a built folder and upload it to the Hugging Face Hub in one commit."""

from __future__ import annotations

import argparse

from . import options


def register(subparsers) -> None:
    push = options.add_command(
        subparsers,
        "push",
        "check a built folder and upload it to a Hugging Face Hub dataset repo in one commit",
        description="Check FOLDER (built by `stepinst build`) and upload it to the dataset repo --repo in one\n"
        "commit; every problem found is listed before anything is sent. Rerun the same command to finish\n"
        "an interrupted upload. The token comes from HF_TOKEN or `hf auth login` and is never printed.",
        examples=("stepinst push stepinst --repo ORG/stepinst --dry-run",
                  "stepinst push stepinst --repo ORG/stepinst --private"),
    )
    push.add_argument("folder", help="a folder built by `stepinst build`")
    options.add_repo(push, "the repo to upload to (created when missing)", required=True)
    push.add_argument("--private", action="store_true", help="create the repo private")
    push.add_argument("--revision", help="branch to commit to, created when missing (default: main)")
    push.add_argument("--dry-run", action="store_true", help="validate and list what would be uploaded; send nothing")
    push.add_argument("--message", help="commit message (default: \"Upload stepinst dataset (N files)\")")
    push.set_defaults(func=run_push)


def run_push(args: argparse.Namespace) -> int:
    import logging

    from ..hub.push import push_folder

    for noisy in ("httpx", "httpx2", "httpcore"):  # one line per HTTP request drowns the progress logs
        logging.getLogger(noisy).setLevel(logging.WARNING)

    result = push_folder(
        args.folder,
        args.repo,
        private=args.private,
        revision=args.revision,
        dry_run=args.dry_run,
        commit_message=args.message,
    )
    if args.dry_run:
        print(f"dry run: {args.folder} is valid; would upload to datasets/{result.repo_id} ({result.revision}):")
        print(result.plan.describe())
        print("(stale data/ files of an earlier build on the Hub are listed and deleted at push time)")
        return 0
    if not result.changed:
        print(f"nothing to push: datasets/{result.repo_id} ({result.revision}) already holds these {len(result.plan.files)} files")
        return 0
    print(f"pushed {len(result.plan.files)} files to datasets/{result.repo_id} ({result.revision})")
    if result.plan.deletions:
        print(f"deleted {len(result.plan.deletions)} stale file(s)")
    print(f"commit: {result.commit_url}")
    return 0

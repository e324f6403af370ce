"""``stepinst stats``: tasks, rows, steps per task and prompt lengths of a built folder."""

from __future__ import annotations

import argparse
import json

from . import options


def register(subparsers) -> None:
    parser = options.add_command(subparsers, "stats", "show tasks, rows, steps per task and prompt lengths of a built folder")
    parser.add_argument("folder", help="a folder built by `stepinst build`")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..dataset.stats import folder_stats, format_stats

    stats = folder_stats(args.folder)
    print(json.dumps(stats, indent=2) if args.json else format_stats(stats))
    return 0

"""The ``stepinst`` command. Each subcommand lives in ``stepinst_data/commands/<name>.py``.

Results go to stdout; logs go to stderr. Expected failures (bad input) print one clear message
and exit with status 1 instead of a stack trace.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from . import __version__

# Subcommand modules, each exposing ``register(subparsers)``; imported lazily so `--help` is instant.
COMMAND_MODULES = [
    "stepinst_data.commands.build",
    "stepinst_data.commands.stats",
    "stepinst_data.commands.steps",
    "stepinst_data.commands.score",
    "stepinst_data.commands.rate",
    "stepinst_data.commands.push",
    "stepinst_data.commands.verify",
]


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stepinst", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"stepinst {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for module in COMMAND_MODULES:
        importlib.import_module(module).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, FileExistsError) as e:
        # Library errors are ValueError subclasses whose message names the file/task and the fix.
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

"""The ``stepinst`` command: SUP-NATINST with step-by-step instructions and their human ratings,
as a Hugging Face dataset.

Results go to stdout; logs go to stderr. Expected failures (bad input) print one clear message
and exit with status 1 instead of a stack trace. Each command is one module of
``stepinst_data/commands/``; the flags they share are defined once in ``commands/options.py``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from . import __version__

DESCRIPTION = """\
Build SUP-NATINST with step-by-step instructions and their human quality ratings as a Hugging
Face dataset: generate the steps with a chat model, rate them, build the dataset folder, check
it, publish it, and score models trained on it.

A typical run:
  stepinst build --sample --out stepinst                 # try it: the embedded 12-task sample
  stepinst steps generate --natinst PATH_OR_URL --model gpt-4o-mini --steps steps.jsonl
  stepinst rate serve --natinst PATH --steps steps.jsonl --ratings ratings.jsonl --annotator you
  stepinst build --natinst PATH --steps steps.jsonl --ratings ratings.jsonl --out stepinst
  stepinst push stepinst --repo ORG/stepinst

`stepinst COMMAND --help` shows a command's options and their defaults.
"""

# Subcommand modules, each exposing ``register(subparsers)``; their heavy imports happen inside
# their run functions, so `--help` is instant. The order is the order of the help's list.
COMMAND_MODULES = [
    "stepinst_data.commands.build",
    "stepinst_data.commands.validate",
    "stepinst_data.commands.stats",
    "stepinst_data.commands.steps",
    "stepinst_data.commands.rate",
    "stepinst_data.commands.push",
    "stepinst_data.commands.verify",
    "stepinst_data.commands.score",
    "stepinst_data.commands.references",
    "stepinst_data.commands.lm_eval_tasks",
]


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stepinst", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"stepinst {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", required=True, title="commands", metavar="COMMAND")
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
    except OSError as e:  # the system or the network refused: one line, no traceback
        print(f"error: {_os_error(e)}", file=sys.stderr)
        return 1


def _os_error(e: OSError) -> str:
    """The refusal in one line; the folder-and-disk advice only where it is the cause (the Hub and the
    network raise OSError subclasses too)."""
    import errno

    where = f"{e.filename}: " if e.filename else ""
    if isinstance(e, PermissionError) or e.errno in (errno.ENOSPC, errno.EROFS, errno.EDQUOT):
        return f"{where}{e.strerror or e}; check that the folder exists and is writable, and that the disk has space"
    return f"{where}{e.strerror or e}"


if __name__ == "__main__":
    sys.exit(main())

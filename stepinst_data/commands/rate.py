"""``stepinst rate``: collect, import and report the human quality ratings of the steps.

    stepinst rate serve --natinst PATH --steps steps.jsonl --ratings ratings.jsonl --annotator alice [--port 8765]
    stepinst rate import sheet.csv --ratings ratings.jsonl [--steps steps.jsonl] [--natinst PATH] [--skip-invalid]
    stepinst rate report --ratings ratings.jsonl [--plot report.png] [--json]
    OPENAI_API_KEY=... stepinst rate judge --natinst PATH --steps steps.jsonl --ratings judge.jsonl --model gpt-4o-mini
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import options, rate_judge


def register(subparsers) -> None:
    rate = options.add_command(
        subparsers, "rate", "rate the quality of the steps: a rating page, CSV/JSONL import, reports, an LLM judge",
        examples=(
        "stepinst rate serve --natinst PATH --steps steps.jsonl --ratings ratings.jsonl --annotator alice",
        "stepinst rate import sheet.csv --ratings ratings.jsonl --steps steps.jsonl",
        "stepinst rate report --ratings ratings.jsonl --plot report.png",
        "OPENAI_API_KEY=... stepinst rate judge --natinst PATH --steps steps.jsonl --ratings judge.jsonl --model gpt-4o-mini",
    ),
    )
    commands = rate.add_subparsers(dest="rate_command", required=True)

    serve = options.add_command(commands, "serve", "open a local web page to rate one task's steps at a time")
    _add_task_args(serve)
    options.add_ratings_store(serve, "appended to (created when missing)", required=True)
    serve.add_argument("--annotator", required=True, help="your name, stored with each rating")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1: this machine only)")
    serve.add_argument("--port", type=int, default=8765, help="port (0 picks a free one)")
    _add_rubric(serve)
    serve.set_defaults(func=run_serve)

    imp = options.add_command(commands, "import", "import ratings from a CSV or JSONL file into a ratings store")
    imp.add_argument("source", help="CSV (header task_name,annotator,<criterion>...[,comment]) or JSONL")
    options.add_ratings_store(imp, "appended to (created when missing)", required=True)
    _add_task_args(imp, required=False)
    _add_rubric(imp)
    imp.add_argument("--delimiter", default=",", help="CSV delimiter (e.g. ';' or '\\t')")
    imp.add_argument("--skip-invalid", action="store_true", help="import the valid rows and report the skipped ones")
    imp.add_argument("--correct", action="store_true",
                     help="rows that differ from a stored rating of the same task and annotator replace it; "
                          "the earlier rating stays in the store's history (default: refuse them)")
    imp.set_defaults(func=run_import)

    report = options.add_command(commands, "report", "show score distributions, agreement and disputed tasks of a store")
    options.add_ratings_store(report, "read (required)", required=True)
    report.add_argument("--plot", help="also write a PNG of the score distributions to this file (default: none)")
    report.add_argument("--json", action="store_true", help="print the report as JSON")
    report.add_argument("--top", type=int, default=5, help="how many disputed tasks to list")
    report.set_defaults(func=run_report)

    rate_judge.register(commands)


def _add_task_args(parser: argparse.ArgumentParser, required: bool = True) -> None:
    options.add_corpus(parser, "tasks and steps", required)
    options.add_steps_store(parser, "read; only tasks with steps can be rated")


def _add_rubric(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rubric", help="rubric JSON for a new store (default: the built-in rubric)")


def _rubric(args: argparse.Namespace):
    from ..stores.ratings import DEFAULT_RUBRIC, read_rubric

    return read_rubric(args.rubric) if args.rubric else DEFAULT_RUBRIC


def run_serve(args: argparse.Namespace) -> int:
    from ..ratings.server import RatingServer, RatingSession, warn_if_public
    from ..ratings.tasks import rateable_tasks
    from ..source.fetch import resolve_natinst
    from ..stores.ratings import store_rubric
    from ..stores.steps import read_steps_store

    options.resolve_corpus(args, ("steps",))
    if not args.steps:
        raise ValueError("rate serve needs --steps (the steps to rate), or --sample")
    tasks, _ = rateable_tasks(args.natinst, args.steps, args.cache_dir)
    rubric = _rubric(args)
    if args.rubric and store_rubric(args.ratings, rubric) != rubric:
        raise ValueError(f"{args.ratings}: the store was made with another rubric than --rubric {args.rubric}")
    root = resolve_natinst(args.natinst, args.cache_dir)
    session = RatingSession(root, tasks or {}, read_steps_store(args.steps), Path(args.ratings), args.annotator, rubric)
    warn_if_public(args.host)
    server = RatingServer(session, args.host, args.port)
    rated = len(session.rated())
    print(f"rating page for {args.annotator}: {server.url}  ({rated}/{len(session.tasks)} rated; Ctrl+C to stop)", flush=True)
    try:
        server.server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server.server_close()
        server.lock.release()
    return 0


def run_import(args: argparse.Namespace) -> int:
    from ..ratings.importer import import_ratings
    from ..ratings.tasks import rateable_tasks

    options.resolve_corpus(args, ("steps",), required=False)
    tasks, source = rateable_tasks(args.natinst, args.steps, args.cache_dir)
    if tasks is None:
        print("warning: without --steps/--natinst task names are not checked", file=sys.stderr)
    delimiter = "\t" if args.delimiter in ("\\t", "tab") else args.delimiter
    result = import_ratings(
        args.source, args.ratings, set(tasks) if tasks is not None else None, source,
        _rubric(args) if args.rubric else None, delimiter, args.skip_invalid, correct=args.correct,
    )
    for line in result.problems:
        print(f"skipped: {line}", file=sys.stderr)
    for line in result.already_stored:
        print(f"unchanged: {line}", file=sys.stderr)
    for line in result.corrected:
        print(f"corrected: {line}", file=sys.stderr)
    print(f"imported {len(result.imported)} rating(s) into {args.ratings}; skipped {len(result.problems)} invalid row(s)")
    return 0


def run_report(args: argparse.Namespace) -> int:
    from ..ratings.report import build_report, format_report, plot_report
    from ..stores.ratings import read_ratings_store

    report = build_report(read_ratings_store(args.ratings), args.top, args.ratings)
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    if args.plot:
        plot_report(report, args.plot)
        print(f"wrote {args.plot}", file=sys.stderr)
    return 0

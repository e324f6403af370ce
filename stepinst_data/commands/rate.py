"""``stepinst rate``: collect, import and report the human quality ratings of the steps.

    stepinst rate serve --natinst PATH --steps steps.jsonl --ratings ratings.jsonl --annotator alice [--port 8765]
    stepinst rate import sheet.csv --into ratings.jsonl [--steps steps.jsonl] [--natinst PATH] [--skip-invalid]
    stepinst rate report ratings.jsonl [--plot report.png] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

try:  # the LLM judge (`rate judge`) is an optional module of its own
    from .rate_judge import add_judge_parser
except ImportError:
    add_judge_parser = None


def register(subparsers) -> None:
    rate = subparsers.add_parser("rate", help="human quality ratings of the steps: serve, import, report")
    commands = rate.add_subparsers(dest="rate_command", required=True)

    serve = commands.add_parser("serve", help="a local web page to rate one task at a time")
    _add_task_args(serve)
    serve.add_argument("--ratings", required=True, help="ratings store to append to (created when missing)")
    serve.add_argument("--annotator", required=True, help="your name, stored with each rating")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, this machine only)")
    serve.add_argument("--port", type=int, default=8765, help="port (default: 8765; 0 picks a free one)")
    serve.add_argument("--rubric", help="rubric JSON for a new store (default: the built-in rubric)")
    serve.set_defaults(func=run_serve)

    imp = commands.add_parser("import", help="import ratings from a CSV or JSONL file into a store")
    imp.add_argument("source", help="CSV (header task_name,annotator,<criterion>...[,comment]) or JSONL")
    imp.add_argument("--into", required=True, help="ratings store to append to (created when missing)")
    _add_task_args(imp)
    imp.add_argument("--rubric", help="rubric JSON for a new store (default: the built-in rubric)")
    imp.add_argument("--delimiter", default=",", help="CSV delimiter (default ','; e.g. ';' or '\\t')")
    imp.add_argument("--skip-invalid", action="store_true", help="import the valid rows and report the skipped ones")
    imp.add_argument("--correct", action="store_true",
                     help="rows that differ from a stored rating of the same task and annotator replace it; "
                          "the earlier rating stays in the store's history (default: refuse them)")
    imp.set_defaults(func=run_import)

    report = commands.add_parser("report", help="score distributions, agreement and disputed tasks of a store")
    report.add_argument("store", help="ratings store (JSONL)")
    report.add_argument("--plot", help="write a PNG of the score distributions")
    report.add_argument("--json", action="store_true", help="print the report as JSON")
    report.add_argument("--top", type=int, default=5, help="how many disputed tasks to list (default 5)")
    report.set_defaults(func=run_report)

    if add_judge_parser is not None:
        add_judge_parser(commands)


def _add_task_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--natinst", help="SUP-NATINST checkout or archive URL")
    parser.add_argument("--steps", help="steps store (JSONL); only tasks with steps can be rated")
    parser.add_argument("--sample", action="store_true", help="the embedded sample's tasks and steps")
    parser.add_argument("--cache-dir", help="where downloaded archives are cached")


def _task_inputs(args: argparse.Namespace) -> None:
    if args.sample:
        from ..sample import SAMPLE_NATINST, SAMPLE_STEPS

        args.natinst = args.natinst or str(SAMPLE_NATINST)
        args.steps = args.steps or str(SAMPLE_STEPS)


def _rubric(args: argparse.Namespace):
    from ..stores.ratings import DEFAULT_RUBRIC, read_rubric

    return read_rubric(args.rubric) if args.rubric else DEFAULT_RUBRIC


def run_serve(args: argparse.Namespace) -> int:
    from ..ratings.server import RatingServer, RatingSession, warn_if_public
    from ..ratings.tasks import rateable_tasks
    from ..stores.ratings import store_rubric
    from ..source.fetch import default_cache_dir, resolve_natinst
    from ..stores.steps import read_steps_store

    _task_inputs(args)
    if not args.natinst or not args.steps:
        raise ValueError("rate serve needs --natinst and --steps (or --sample)")
    tasks, _ = rateable_tasks(args.natinst, args.steps, args.cache_dir)
    rubric = _rubric(args)
    if args.rubric and store_rubric(args.ratings, rubric) != rubric:
        raise ValueError(f"{args.ratings}: the store was made with another rubric than --rubric {args.rubric}")
    root = resolve_natinst(args.natinst, Path(args.cache_dir) if args.cache_dir else default_cache_dir())
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

    _task_inputs(args)
    tasks, source = rateable_tasks(args.natinst, args.steps, args.cache_dir)
    if tasks is None:
        print("warning: without --steps/--natinst task names are not checked", file=sys.stderr)
    delimiter = "\t" if args.delimiter in ("\\t", "tab") else args.delimiter
    result = import_ratings(
        args.source, args.into, set(tasks) if tasks is not None else None, source,
        _rubric(args) if args.rubric else None, delimiter, args.skip_invalid, correct=args.correct,
    )
    for line in result.problems:
        print(f"skipped: {line}", file=sys.stderr)
    for line in result.already_stored:
        print(f"unchanged: {line}", file=sys.stderr)
    for line in result.corrected:
        print(f"corrected: {line}", file=sys.stderr)
    print(f"imported {len(result.imported)} rating(s) into {args.into}; skipped {len(result.problems)} invalid row(s)")
    return 0


def run_report(args: argparse.Namespace) -> int:
    from ..ratings.report import build_report, format_report, plot_report
    from ..stores.ratings import read_ratings_store

    report = build_report(read_ratings_store(args.store), args.top, args.store)
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    if args.plot:
        plot_report(report, args.plot)
        print(f"wrote {args.plot}", file=sys.stderr)
    return 0

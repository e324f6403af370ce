"""``stepinst rate judge``: an LLM rates each task's steps with the ratings rubric.

    OPENAI_API_KEY=... stepinst rate judge --natinst PATH --steps steps.jsonl --model gpt-4o-mini \
        --ratings judge.jsonl [--base-url URL]

The ``rate`` command group (stepinst_data/commands/rate.py) calls :func:`add_judge_parser`.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from .steps import add_client_args, add_source_args

logger = logging.getLogger(__name__)


def add_judge_parser(rate_subparsers) -> argparse.ArgumentParser:
    judge = rate_subparsers.add_parser("judge", help="rate steps with an LLM judge (annotator llm:<model>)")
    add_source_args(judge)
    add_client_args(judge)
    judge.add_argument("--steps", help="steps store to rate (default with --sample: the sample's)")
    judge.add_argument("--ratings", required=True, help="ratings store (JSONL) written and resumed")
    judge.add_argument("--concurrency", type=int, default=16)
    judge.add_argument("--rpm", type=float, help="client-side limit: requests per minute")
    judge.add_argument("--tpm", type=float, help="client-side limit: tokens per minute")
    judge.add_argument("--max-attempts", type=int, default=4)
    judge.set_defaults(func=run_judge)
    return judge


def run_judge(args: argparse.Namespace) -> int:
    from ..generation.judge import Judge, annotator_for, open_ratings
    from ..generation.client import make_async_client
    from ..generation.limiter import RateLimiter
    from ..generation.runner import run_coroutine
    from ..stores.ratings import DEFAULT_RUBRIC
    from ..sample import SAMPLE_STEPS
    from ..stores.steps import read_steps_store
    from .steps import client_config, load_selected_tasks, tokenizer_and_price

    steps_path = args.steps or (str(SAMPLE_STEPS) if args.sample else None)
    if not steps_path:
        raise ValueError("pass --steps steps.jsonl (the steps store to rate)")
    tasks = load_selected_tasks(args)
    encoding, _, price = tokenizer_and_price(args)
    config, ratings = client_config(args), Path(args.ratings)
    records = read_steps_store(steps_path)
    client = make_async_client(config)
    rated = open_ratings(ratings, DEFAULT_RUBRIC, annotator_for(args.model))
    items, stale = [], []
    for task in tasks:
        record = records.get(task.name)
        if record is None or task.name in rated:
            continue
        if record.definition_sha256 != task.definition_sha256:
            stale.append(task.name)
            continue
        items.append((task, record))
    if stale:
        logger.warning("not rating %d task(s) with stale steps: %s", len(stale), ", ".join(stale[:10]))
    logger.info("%d task(s) to rate, %d already rated by %s", len(items), len(rated), annotator_for(args.model))
    judge = Judge(config, ratings, encoding, price, args.concurrency, RateLimiter(args.rpm, args.tpm), args.max_attempts)
    stats = run_coroutine(_run(judge, client, items))
    print(json.dumps({**stats.to_dict(), "already_rated": len(rated), "stale": len(stale),
                      "annotator": annotator_for(args.model)}, indent=2))
    return 0 if stats.failed == 0 else 2


async def _run(judge, client, items):
    async with client:
        return await judge.run(client, items)

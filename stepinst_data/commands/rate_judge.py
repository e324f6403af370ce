"""``stepinst rate judge``: an LLM rates each task's steps with the ratings rubric.

    OPENAI_API_KEY=... stepinst rate judge --natinst PATH --steps steps.jsonl --model gpt-4o-mini \
        --ratings judge.jsonl [--base-url URL]

Registered under ``stepinst rate`` (commands/rate.py). Its ratings are recorded as annotator
``llm:<model>`` and never count as human ratings.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from . import options

logger = logging.getLogger(__name__)


def register(rate_subparsers) -> argparse.ArgumentParser:
    judge = options.add_command(rate_subparsers, "judge", "rate the steps with an LLM judge (annotator llm:<model>)")
    options.add_task_selection(judge)
    options.add_model(judge, with_examples=False)
    options.add_client(judge)
    options.add_steps_store(judge, "the steps to rate (read; required unless --sample, which rates the sample's steps)")
    options.add_ratings_store(judge, "the judge's ratings, appended to and resumed from", required=True)
    options.add_pacing(judge, concurrency=16)
    judge.set_defaults(func=run_judge)
    return judge


def run_judge(args: argparse.Namespace) -> int:
    from ..generation.client import make_async_client
    from ..generation.judge import Judge, annotator_for, open_ratings
    from ..generation.limiter import RateLimiter
    from ..generation.runner import run_coroutine
    from ..stores.ratings import DEFAULT_RUBRIC
    from ..stores.steps import match_steps, read_steps_store

    options.resolve_corpus(args, ("steps",))
    if not args.steps:
        raise ValueError("pass --steps steps.jsonl (the steps store to rate)")
    tasks = options.load_selected_tasks(args)
    encoding, _, price = options.tokenizer_and_price(args)
    config, ratings, annotator = options.client_config(args), Path(args.ratings), annotator_for(args.model)
    client = make_async_client(config)
    rated = open_ratings(ratings, DEFAULT_RUBRIC, annotator)
    match = match_steps(read_steps_store(args.steps), [t for t in tasks if t.name not in rated])
    if match.stale:
        logger.warning("not rating %d task(s) with stale steps: %s", len(match.stale), ", ".join(match.stale[:10]))
    logger.info("%d task(s) to rate, %d already rated by %s", len(match.fresh), len(rated), annotator)
    judge = Judge(config, ratings, encoding, price, args.concurrency, RateLimiter(args.rpm, args.tpm), args.max_attempts)
    stats = run_coroutine(_run(judge, client, match.fresh))
    print(json.dumps({**stats.to_dict(), "cost": stats.cost if price else options.UNKNOWN_COST,
                      "already_rated": len(rated), "stale": len(match.stale),
                      "annotator": annotator}, indent=2))
    return 0 if stats.failed == 0 else 2


async def _run(judge, client, items):
    async with client:
        return await judge.run(client, items)

"""An LLM judge: rate each task's generated steps with the ratings rubric.

It runs through the generation pipeline's client (same limiter, retries with backoff, resume),
and writes the ratings store format that human ratings use, recorded as annotator
``llm:<model>``, through the ratings store's own writer (:func:`append_ratings`: one fsynced
record per task, the store's lock held for that append only, so the rating page and
``rate import`` keep working while a judge runs). An answer that is not a JSON object with an
integer score per criterion is retried with the reason, then written to
``<ratings>.failures.jsonl``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..source.natinst import Task
from ..stores.ratings import DEFAULT_RUBRIC, RatingsError, Rubric, append_ratings, read_ratings_store, validate_record
from ..stores.steps import StepsRecord
from .client import ClientConfig
from .limiter import RateLimiter
from .runner import RunStats, ask_until_parsed, write_failure
from .tokens import Price

logger = logging.getLogger(__name__)

JUDGE_VERSION = "judge-v1"


def annotator_for(model: str) -> str:
    return f"llm:{model}"


def judge_messages(task: Task, steps: Sequence[str], rubric: Rubric = DEFAULT_RUBRIC) -> list[dict[str, str]]:
    criteria = "\n".join(f"- {c.name}: {c.description}" for c in rubric.criteria)
    keys = ", ".join(f'"{name}"' for name in rubric.criterion_names)
    system = (
        "You rate step-by-step instructions written for an NLP task, as a careful annotator would.\n"
        f"Criteria:\n{criteria}\n"
        f"Score each criterion with an integer from {rubric.min_score} (worst) to {rubric.max_score} (best). "
        f"Answer with one JSON object with the keys {keys} and \"comment\" (one sentence), nothing else."
    )
    numbered = "\n".join(f"{i}. {s}" for i, s in enumerate(steps, start=1))
    user = f"Task definition:\n{task.definition.strip()}\n\nSteps:\n{numbered}"
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def parse_judgement(text: str, rubric: Rubric, task_name: str, annotator: str) -> dict[str, Any]:
    """The rating record in ``text``; raises :class:`RatingsError` with a reason to send back."""
    match = re.search(r"\{.*\}", text or "", re.S)
    if not match:
        raise RatingsError("the answer holds no JSON object")
    try:
        data = json.loads(match.group(0))
    except json.JSONDecodeError as e:
        raise RatingsError(f"the JSON object is malformed ({e.msg})") from None
    if not isinstance(data, dict):
        raise RatingsError("the answer is not a JSON object")
    fields = {k: data.get(k) for k in rubric.criterion_names}
    record = {"task_name": task_name, "annotator": annotator, **fields, "comment": data.get("comment") or ""}
    return validate_record(record, rubric, "the answer")


def open_ratings(path: Path, rubric: Rubric, annotator: str) -> set[str]:
    """Check an existing store's rubric; the tasks ``annotator`` already rated (a new store: none).

    The first append writes a new store's rubric header; a torn last line left by a crash is
    ignored here and moved aside by that append.
    """
    if not path.exists() or not path.stat().st_size:
        return set()
    store = read_ratings_store(path)
    if store.rubric != rubric:
        raise RatingsError(f"{path} was made with the rubric {store.rubric.name!r}, not {rubric.name!r}; use another --ratings")
    return {r["task_name"] for r in store.records if r["annotator"] == annotator}


class Judge:
    """Rate steps with a chat model into a ratings store (resumable, one fsynced line per task)."""

    def __init__(self, config: ClientConfig, ratings: Path, encoding: Any, price: Price | None = None,
                 concurrency: int = 16, limiter: RateLimiter | None = None, max_attempts: int = 4,
                 rubric: Rubric = DEFAULT_RUBRIC):
        self.config, self.ratings, self.encoding, self.price = config, ratings, encoding, price
        self.concurrency, self.max_attempts, self.rubric = max(1, concurrency), max(1, max_attempts), rubric
        self.limiter = limiter or RateLimiter()
        self.annotator = annotator_for(config.model)
        self.failures = Path(str(ratings) + ".failures.jsonl")
        self.stats = RunStats()

    async def run(self, client: Any, items: Sequence[tuple[Task, StepsRecord]]) -> RunStats:
        queue: asyncio.Queue = asyncio.Queue()
        for item in items:
            queue.put_nowait(item)

        async def worker() -> None:
            while not queue.empty():
                await self.rate_one(client, *queue.get_nowait())

        await asyncio.gather(*(worker() for _ in range(min(self.concurrency, len(items)))))
        return self.stats

    async def rate_one(self, client: Any, task: Task, record: StepsRecord) -> dict[str, Any] | None:
        answer = await ask_until_parsed(
            client, self.config, self.limiter, self.encoding, self.stats, self.price,
            judge_messages(task, record.steps, self.rubric), self.max_attempts,
            lambda text: parse_judgement(text, self.rubric, task.name, self.annotator),
        )
        if answer.value is None:
            return self._fail(task, answer.reason, answer.text, answer.attempts)
        append_ratings(self.ratings, [answer.value], self.rubric)
        self.stats.done += 1
        return answer.value

    def _fail(self, task: Task, reason: str, raw: str, attempts: int) -> None:
        write_failure(self.failures, task, reason, raw, attempts, self.config.model, JUDGE_VERSION)
        self.stats.failed += 1
        logger.warning("%s: judge failed (%s)", task.name, reason)
        return None

"""Concurrent, resumable generation of steps into the steps store.

A run plans first (which tasks already have a record for this definition, model and prompt
version: those cost zero requests), then N asyncio workers take tasks, each request paced by the
limiter and retried by :func:`client.chat`. A parsed answer becomes one fsynced line of the
store; an answer rejected ``max_attempts`` times, or a request that kept failing, becomes one line
of the failures file with the reason and the raw text. Nothing else is ever written.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..source.natinst import Task
from ..stores.jsonl import append_lines
from ..stores.steps import StepsRecord, StepsStoreError, append_records, read_steps_store, utc_now
from .client import ClientConfig, GenerationError, chat
from .limiter import RateLimiter
from .parse import parse_steps
from .prompt import build_messages, retry_messages
from .tokens import Price, count_message_tokens

logger = logging.getLogger(__name__)


def run_coroutine(coro: Any) -> Any:
    """``asyncio.run``, also where an event loop is already running (Jupyter): then in a worker thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def failures_path_for(store: str | Path) -> Path:
    return Path(str(store) + ".failures.jsonl")


@dataclass
class Plan:
    """What a run will do: ``todo`` tasks to request, the rest skipped and why."""

    todo: list[Task]
    done: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)


def check_store_compatible(records: dict[str, StepsRecord], path: str | Path, model: str, version: str) -> None:
    """Refuse to append to a store made with another model or prompt (unless ``--allow-mixed``)."""
    other = sorted({(r.model, r.prompt_version) for r in records.values()} - {(model, version)})
    if other:
        found = ", ".join(f"model={m} prompt_version={v}" for m, v in other)
        raise StepsStoreError(
            f"{path} holds steps made with {found}, not model={model} prompt_version={version}. "
            "Write to another --steps store, or pass --allow-mixed to add records of both kinds to one store."
        )


def plan_run(tasks: Iterable[Task], records: dict[str, StepsRecord], model: str, version: str, regenerate_stale: bool) -> Plan:
    plan = Plan(todo=[])
    for task in tasks:
        record = records.get(task.name)
        if record and (record.model, record.prompt_version) == (model, version):
            if not record.is_stale_for(task):
                plan.done.append(task.name)
                continue
            plan.stale.append(task.name)
            if not regenerate_stale:
                continue
        plan.todo.append(task)
    return plan


@dataclass
class RunStats:
    """Counts of one run; estimated prompt tokens are compared with the server's ``usage``.

    ``requests`` counts every request sent, answered or not (a timed-out or 5xx request may be
    billed); ``failed_requests`` those of them that got no usable answer.
    """

    done: int = 0
    failed: int = 0
    requests: int = 0
    failed_requests: int = 0
    estimated_prompt_tokens: int = 0  # over the requests whose usage the server reported
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def sent(self, answered: bool, usage: dict[str, int]) -> None:
        """Count one request sent (to the run and to the task's ``usage``), answered or not."""
        self.requests += 1
        usage["requests"] += 1
        if not answered:
            self.failed_requests += 1

    def count(self, response: Any, estimate: int, price: Price | None, usage: dict[str, int]) -> None:
        """Add one response's server-reported usage (to the run and to the task's ``usage``)."""
        reported = getattr(response, "usage", None)
        if reported is None or reported.prompt_tokens is None:
            return
        prompt, completion = int(reported.prompt_tokens), int(reported.completion_tokens or 0)
        usage["prompt_tokens"] += prompt
        usage["completion_tokens"] += completion
        usage["total_tokens"] += prompt + completion
        self.estimated_prompt_tokens += estimate
        self.prompt_tokens += prompt
        self.completion_tokens += completion
        if price:
            self.cost += price.cost(prompt, completion)


@dataclass
class Answer:
    """The outcome of asking until the answer parses: the parsed value, or why there is none."""

    value: Any = None
    text: str = ""
    reason: str = ""
    attempts: int = 0
    usage: dict[str, int] = field(
        default_factory=lambda: {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0, "requests": 0}
    )


async def ask_until_parsed(
    client: Any,
    config: ClientConfig,
    limiter: RateLimiter,
    encoding: Any,
    stats: RunStats,
    price: Price | None,
    messages: list[dict[str, str]],
    max_attempts: int,
    parse: Callable[[str], Any],
) -> Answer:
    """Request, parse, and on a rejected answer retry with the reason (``parse`` raises ValueError).

    API errors left after the client's own retries end the task (a failure line, retried by the
    next run); a :class:`GenerationError` (bad key, unreachable server) ends the whole run.
    """
    import openai

    answer = Answer()
    for attempt in range(1, max_attempts + 1):
        answer.attempts = attempt
        estimate = count_message_tokens(messages, encoding)
        try:
            response = await chat(client, config, limiter, messages, estimate,
                                  on_request=lambda answered: stats.sent(answered, answer.usage))
        except GenerationError:
            raise
        except openai.OpenAIError as e:
            answer.reason = f"api error after retries: {type(e).__name__}: {e}"
            return answer
        stats.count(response, estimate, price, answer.usage)
        answer.text = (response.choices[0].message.content or "") if response.choices else ""
        try:
            answer.value = parse(answer.text)
            answer.reason = ""
            return answer
        except ValueError as e:
            answer.reason = getattr(e, "reason", str(e))
            logger.debug("attempt %d rejected: %s", attempt, answer.reason)
            messages = retry_messages(messages, answer.text, answer.reason)
    answer.reason = f"rejected {max_attempts} time(s): {answer.reason}"
    return answer


class Generator:
    """Generate steps for tasks into ``store`` (and failures into ``failures``).

    Args:
        config: model, server and retry settings.
        store / failures: the JSONL files appended to.
        prompt_version / with_examples: the prompt (its version is recorded).
        encoding: the tiktoken encoding that estimates prompt tokens (limiter, report).
        price: prices the usage as it comes in (None: cost unknown; the command reports it as unknown).
    """

    def __init__(
        self,
        config: ClientConfig,
        store: Path,
        failures: Path,
        prompt_version: str,
        with_examples: bool,
        encoding: Any,
        price: Price | None = None,
        concurrency: int = 32,
        limiter: RateLimiter | None = None,
        max_attempts: int = 4,
        progress: bool = True,
    ):
        self.config, self.store, self.failures = config, store, failures
        self.prompt_version, self.with_examples = prompt_version, with_examples
        self.encoding, self.price = encoding, price
        self.concurrency, self.max_attempts = max(1, concurrency), max(1, max_attempts)
        self.limiter = limiter or RateLimiter()
        self.progress = progress
        self.stats = RunStats()
        self._bar: Any = None

    async def run(self, client: Any, tasks: Sequence[Task]) -> RunStats:
        from tqdm.auto import tqdm

        queue: asyncio.Queue[Task] = asyncio.Queue()
        for task in tasks:
            queue.put_nowait(task)
        self._bar = tqdm(total=len(tasks), desc="steps", unit="task", disable=not self.progress)
        workers = [asyncio.create_task(self._worker(client, queue)) for _ in range(min(self.concurrency, len(tasks)))]
        try:
            await asyncio.gather(*workers)
        finally:
            for w in workers:
                w.cancel()
            self._bar.close()
        return self.stats

    async def _worker(self, client: Any, queue: asyncio.Queue[Task]) -> None:
        while not queue.empty():
            task = queue.get_nowait()
            await self.generate_one(client, task)
            self._bar.update(1)
            self._bar.set_postfix(done=self.stats.done, failed=self.stats.failed, cost=f"${self.stats.cost:.4f}")

    async def generate_one(self, client: Any, task: Task) -> StepsRecord | None:
        """Request, parse, retry with the reason; then one record or one failure line."""
        answer = await ask_until_parsed(
            client, self.config, self.limiter, self.encoding, self.stats, self.price,
            build_messages(task, self.with_examples), self.max_attempts,
            lambda text: parse_steps(text, task.definition),
        )
        if answer.value is None:
            self._fail(task, answer.reason, answer.text, answer.attempts)
            return None
        record = StepsRecord(
            task.name, answer.value, answer.text, self.config.model, self.prompt_version,
            task.definition_sha256, utc_now(), answer.usage,
        )
        append_records(self.store, [record])
        self.stats.done += 1
        return record

    def _fail(self, task: Task, reason: str, raw: str, attempts: int) -> None:
        write_failure(self.failures, task, reason, raw, attempts, self.config.model, self.prompt_version)
        self.stats.failed += 1
        logger.warning("%s: failed (%s)", task.name, reason)


def write_failure(path: Path, task: Task | str, reason: str, raw: str, attempts: int, model: str, version: str) -> None:
    """One failures-file line; the task stays without a record, so a later run retries it."""
    name = task if isinstance(task, str) else task.name
    line = {
        "task_name": name, "reason": reason, "raw": raw, "attempts": attempts,
        "model": model, "prompt_version": version, "created_at": utc_now(),
    }
    append_lines(path, [json.dumps(line, ensure_ascii=False)])


def load_store_for_run(store: Path, model: str, version: str, allow_mixed: bool) -> dict[str, StepsRecord]:
    """The store's records, refusing unreadable lines and (unless allowed) other models/prompts."""
    if not store.exists():
        return {}
    records = read_steps_store(store)
    if not allow_mixed:
        check_store_compatible(records, store, model, version)
    return records

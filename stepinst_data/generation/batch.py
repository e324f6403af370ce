"""The Batch API path: half the price, results within 24 h, the same store and validation.

``submit`` writes the JSONL request file (``custom_id`` = task name), uploads it and creates the
batch; the batch id, the model, the prompt version and each task's definition hash go to a state
file beside the store (``<store>.batch.json``) so ``status`` and ``collect`` work from a later
process. ``collect`` downloads the results and parses every answer with the same parser as the
normal path: valid answers become records, everything else a failures-file line that a normal
``generate`` run then retries.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from ..atomic import atomic_write
from ..source.natinst import Task
from ..stores.jsonl import write_lines
from ..stores.steps import StepsRecord, append_records, utc_now
from .client import ClientConfig, GenerationError
from .parse import StepsParseError, parse_steps
from .prompt import build_messages
from .runner import RunStats, write_failure
from .tokens import Price, count_message_tokens

logger = logging.getLogger(__name__)

ENDPOINT = "/v1/chat/completions"
FINAL_STATES = ("completed", "failed", "expired", "cancelled")


def state_path_for(store: str | Path) -> Path:
    return Path(str(store) + ".batch.json")


def request_lines(tasks: list[Task], config: ClientConfig, with_examples: bool) -> list[str]:
    body = {"model": config.model, "temperature": config.temperature, "max_tokens": config.max_tokens}
    return [
        json.dumps({"custom_id": t.name, "method": "POST", "url": ENDPOINT,
                    "body": {**body, "messages": build_messages(t, with_examples)}}, ensure_ascii=False)
        for t in tasks
    ]


def read_state(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise GenerationError(f"{path}: no batch state; run `stepinst steps batch submit` first")
    return json.loads(path.read_text(encoding="utf-8"))


def _write_state(path: Path, state: dict[str, Any]) -> None:
    """The state names a paid-for batch: a crash must leave the old state or the new, whole."""
    with atomic_write(path) as f:
        f.write(json.dumps(state, indent=2, ensure_ascii=False) + "\n")


def submit(client: Any, tasks: list[Task], store: Path, config: ClientConfig, version: str,
           with_examples: bool, encoding: Any, force: bool = False) -> dict[str, Any]:
    """Upload the requests of ``tasks`` and create one batch; return the saved state."""
    state_path = state_path_for(store)
    if state_path.is_file():
        old = read_state(state_path)
        if not old.get("collected_at"):
            if not force:
                raise GenerationError(
                    f"{state_path}: batch {old['batch_id']} is not collected yet; run `stepinst steps batch "
                    "collect` first (or pass --force to submit another; the old state file is kept aside)."
                )
            kept = state_path.with_name(f"{state_path.name}.{old['batch_id']}")
            os.replace(state_path, kept)  # its results are paid for: keep what is needed to collect them
            logger.warning("batch %s was not collected; its state is kept in %s (move it back to %s to collect it)",
                           old["batch_id"], kept, state_path)
    if not tasks:
        raise GenerationError(f"{store}: every selected task already has steps; nothing to submit")
    lines = request_lines(tasks, config, with_examples)
    input_path = Path(str(store) + ".batch-input.jsonl")
    write_lines(input_path, lines)
    with open(input_path, "rb") as f:
        uploaded = client.files.create(file=(input_path.name, f), purpose="batch")
    batch = client.batches.create(input_file_id=uploaded.id, endpoint=ENDPOINT, completion_window="24h")
    state = {
        "batch_id": batch.id, "input_file_id": uploaded.id, "model": config.model,
        "prompt_version": version, "base_url": config.resolved_base_url(), "submitted_at": utc_now(),
        "tasks": {t.name: t.definition_sha256 for t in tasks},
        "estimated_prompt_tokens": sum(count_message_tokens(build_messages(t, with_examples), encoding) for t in tasks),
    }
    _write_state(state_path, state)
    logger.info("submitted batch %s with %d request(s)", batch.id, len(tasks))
    return state


def status(client: Any, store: Path) -> Any:
    return client.batches.retrieve(read_state(state_path_for(store))["batch_id"])


def collect(client: Any, store: Path, definitions: dict[str, str], price: Price | None,
            failures: Path | None = None) -> RunStats:
    """Parse the finished batch into the store (same validation); unusable items to failures."""
    from .runner import failures_path_for

    state_path = state_path_for(store)
    state = read_state(state_path)
    if state.get("collected_at"):
        raise GenerationError(
            f"{state_path}: batch {state['batch_id']} was already collected at {state['collected_at']}; "
            "its records are in the store (submit a new batch for the tasks still missing)"
        )
    batch = client.batches.retrieve(state["batch_id"])
    if batch.status not in FINAL_STATES:
        raise GenerationError(f"batch {batch.id} is {batch.status}; collect it once it is completed")
    results = _download(client, batch.output_file_id) + _download(client, batch.error_file_id)
    failures, stats = failures or failures_path_for(store), RunStats()
    model, version = state["model"], state["prompt_version"]
    seen: set[str] = set()
    for item in results:
        name = item.get("custom_id")
        if name not in state["tasks"] or name in seen:
            continue
        seen.add(name)
        text, reason, usage = _answer(item)
        if reason is None:
            try:
                steps = parse_steps(text, definitions.get(name, ""))
            except StepsParseError as e:
                reason = e.reason
        stats.requests += 1
        if usage is None and reason is not None:  # the server answered this request with an error
            stats.failed_requests += 1
        if usage:
            stats.prompt_tokens += usage["prompt_tokens"]
            stats.completion_tokens += usage["completion_tokens"]
            stats.cost += price.cost(usage["prompt_tokens"], usage["completion_tokens"], batch=True) if price else 0.0
        if reason is not None:
            write_failure(failures, name, f"batch: {reason}", text, 1, model, version)
            stats.failed += 1
            continue
        record = StepsRecord(name, steps, text, model, version, state["tasks"][name], utc_now(), usage)
        append_records(store, [record])
        stats.done += 1
    for name in state["tasks"]:
        if name not in seen:
            write_failure(failures, name, f"batch: no result for this task (batch {batch.status})", "", 1, model, version)
            stats.failed += 1
    state["collected_at"] = utc_now()
    _write_state(state_path, state)
    return stats


def _download(client: Any, file_id: str | None) -> list[dict[str, Any]]:
    if not file_id:
        return []
    text = client.files.content(file_id).text
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _answer(item: dict[str, Any]) -> tuple[str, str | None, dict[str, int] | None]:
    """(text, rejection reason or None, usage) of one batch output line."""
    response = item.get("response") or {}
    body = response.get("body") or {}
    if item.get("error") or response.get("status_code") != 200:
        error = item.get("error") or body.get("error") or {}
        message = error.get("message") if isinstance(error, dict) else str(error)
        return "", f"request failed (status {response.get('status_code')}): {message}", None
    choices = body.get("choices") or [{}]
    text = (choices[0].get("message") or {}).get("content") or ""
    usage = body.get("usage")
    if usage:
        usage = {k: int(usage.get(k) or 0) for k in ("prompt_tokens", "completion_tokens", "total_tokens")}
        usage["requests"] = 1
        usage["batch_requests"] = 1  # billed at the Batch API's half price
    return text, None, usage

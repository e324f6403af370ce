"""The steps store: JSONL, one record per task, append-only.

Generated steps cost money, so the store is written one flushed+fsynced line at a time and a
truncated last line (a crash mid-write) is ignored on reading rather than making the store
unreadable. When a task appears more than once, the last record wins (regeneration appends).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from filelock import FileLock, Timeout

from ..source.natinst import Task

if TYPE_CHECKING:
    from ..source.table import TaskInfo

logger = logging.getLogger(__name__)

REQUIRED_FIELDS = ("task_name", "steps", "model", "prompt_version", "definition_sha256")


class StepsStoreError(ValueError):
    """A steps store that cannot be used; the message names the file, line or task."""


@dataclass
class StepsRecord:
    task_name: str
    steps: list[str]
    raw: str
    model: str
    prompt_version: str
    definition_sha256: str
    created_at: str
    usage: dict[str, int] | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _parse_record(line: str, where: str) -> StepsRecord:
    data = json.loads(line)
    if not isinstance(data, dict):
        raise StepsStoreError(f"{where}: a record must be a JSON object")
    missing = [k for k in REQUIRED_FIELDS if k not in data]
    if missing:
        raise StepsStoreError(f"{where}: record is missing field(s) {missing}")
    steps = data["steps"]
    if not isinstance(steps, list) or not all(isinstance(s, str) for s in steps):
        raise StepsStoreError(f"{where}: 'steps' must be a list of strings (task {data['task_name']!r})")
    if not steps or not all(s.strip() for s in steps):
        raise StepsStoreError(
            f"{where}: task {data['task_name']!r} has empty steps; regenerate them with "
            "`stepinst steps generate` or delete the line."
        )
    return StepsRecord(
        task_name=str(data["task_name"]),
        steps=steps,
        raw=str(data.get("raw", "")),
        model=str(data["model"]),
        prompt_version=str(data["prompt_version"]),
        definition_sha256=str(data["definition_sha256"]),
        created_at=str(data.get("created_at", "")),
        usage=data.get("usage"),
    )


def scan_steps_store(path: str | os.PathLike) -> tuple[dict[str, StepsRecord], list[str]]:
    """Records by task name (last record wins) and every problem found, each naming its line.

    A torn last line (no newline after it: the write was interrupted) is skipped with a warning.
    """
    path = Path(path)
    if not path.is_file():
        return {}, [f"{path}: steps store not found"]
    records: dict[str, StepsRecord] = {}
    problems: list[str] = []
    lines = path.read_bytes().split(b"\n")  # bytes: a crash can cut the last line inside a UTF-8 character
    for lineno, raw_line in enumerate(lines, start=1):
        if not raw_line.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            record = _parse_record(raw_line.decode("utf-8"), where)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            reason = f"malformed JSON ({e.msg})" if isinstance(e, json.JSONDecodeError) else f"not UTF-8 ({e.reason})"
            if lineno == len(lines):
                logger.warning("%s: ignoring a truncated last line (interrupted write)", where)
            else:
                problems.append(f"{where}: {reason}; fix or delete this line")
            continue
        except StepsStoreError as e:
            problems.append(str(e))
            continue
        records[record.task_name] = record
    return records, problems


def read_steps_store(path: str | os.PathLike) -> dict[str, StepsRecord]:
    """All records by task name; raises on the first problem (see :func:`scan_steps_store`)."""
    records, problems = scan_steps_store(path)
    if problems:
        more = f" (and {len(problems) - 1} more; run `stepinst validate`)" if len(problems) > 1 else ""
        raise StepsStoreError(problems[0] + more)
    return records


def check_steps_for_tasks(records: dict[str, StepsRecord], tasks: Iterable[Task | TaskInfo], path: str) -> list[str]:
    """Every problem that keeps ``records`` from serving ``tasks``: missing or stale steps."""
    problems = []
    missing, stale = [], []
    for task in tasks:
        record = records.get(task.name)
        if record is None:
            missing.append(task.name)
        elif record.definition_sha256 != task.definition_sha256:
            stale.append(task.name)
    if missing:
        problems.append(
            f"{path}: no steps for {len(missing)} task(s): {', '.join(missing)}. Generate them with "
            "`stepinst steps generate --natinst ... --out <store>`."
        )
    if stale:
        problems.append(
            f"{path}: stale steps for {len(stale)} task(s) whose definition changed since the steps "
            f"were generated: {', '.join(stale)}. Regenerate them with `stepinst steps generate --regenerate-stale`."
        )
    return problems


def append_records(path: str | os.PathLike, records: Iterable[StepsRecord]) -> int:
    """Append records one line at a time, each flushed and fsynced before the next."""
    return append_json_lines(path, (record.to_json() for record in records))


def append_json_lines(path: str | os.PathLike, lines: Iterable[str]) -> int:
    """Append JSON lines (steps records, failures) one at a time, each flushed and fsynced."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ensure_line_boundary(path)
    count = 0
    with open(path, "a", encoding="utf-8") as f:
        for line in lines:
            f.write(line + "\n")
            f.flush()
            os.fsync(f.fileno())
            count += 1
    return count


def ensure_line_boundary(path: Path) -> None:
    """After a crash the file may end mid-line. A whole record that only lacks its newline is
    kept; a torn fragment was never a record: it is moved to ``<store>.torn`` (kept for
    inspection, never parsed) and cut off, so it cannot become a malformed middle line."""
    if not path.is_file() or not path.stat().st_size:
        return
    with open(path, "rb+") as f:
        f.seek(-1, os.SEEK_END)
        if f.read(1) == b"\n":
            return
        f.seek(0)
        data = f.read()
        start = data.rfind(b"\n") + 1
        try:
            json.loads(data[start:])
            f.write(b"\n")
            return
        except ValueError:
            with open(path.with_name(path.name + ".torn"), "ab") as torn:
                torn.write(data[start:] + b"\n")
            f.truncate(start)
            f.flush()
            os.fsync(f.fileno())
    logger.warning("%s: moved a truncated last line (interrupted write) to %s.torn", path, path.name)


def store_lock(path: str | os.PathLike) -> FileLock:
    """An exclusive lock beside the store: two writers on one store are refused, not interleaved."""
    return FileLock(str(path) + ".lock", timeout=0)


def acquire_store_lock(path: str | os.PathLike) -> FileLock:
    lock = store_lock(path)
    try:
        lock.acquire()
    except Timeout:
        raise StepsStoreError(
            f"{path} is locked by another running process ({path}.lock). Wait for it to finish; "
            "two runs on one store would interleave records."
        ) from None
    return lock

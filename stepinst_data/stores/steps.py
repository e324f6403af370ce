"""The steps store: JSONL, one record per task, append-only.

Generated steps cost money, so the store is written through :mod:`.jsonl` (whole fsynced lines,
a torn tail moved aside, one lock) and a truncated last line (a crash mid-write) is ignored on
reading rather than making the store unreadable. When a task appears more than once, the last
record wins (regeneration appends). A generation run holds the store's lock for the whole run.
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

from ..source.natinst import Task
from .jsonl import append_lines

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

    def is_stale_for(self, task: Task | TaskInfo) -> bool:
        """The steps were made for another definition text than the task's (it changed since)."""
        return self.definition_sha256 != task.definition_sha256


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class StepsLimits:
    """The most steps a task, and the most characters a step, that a build accepts.

    Every prompt of a task repeats its steps, so an unbounded list (5,000 steps of 1,000 characters
    made 5 MB prompts) is a broken record, not data. The defaults leave room around what real steps
    hold: the generation prompt asks for 2 to 8 one-sentence steps (the embedded sample has 3-4, of
    at most 78 characters), so 32 steps is four times the most it asks for; a step may quote a
    definition's list (one sentence of task584's definition, its tag set, is 1,266 characters), and
    4,000 characters is more than the longest definition of the real SUP-NATINST sample (3,027).
    At both limits a task's steps stay under 130,000 characters. Raise them with
    ``--max-num-steps-per-task`` / ``--max-chars-per-step`` for steps written on purpose that way.
    """

    max_num_steps_per_task: int = 32
    max_chars_per_step: int = 4000

    def problem(self, task_name: str, steps: list[str]) -> str | None:
        """Why ``steps`` exceed the limits (naming the task, the count and the flag), or None."""
        if len(steps) > self.max_num_steps_per_task:
            return (f"task {task_name!r} has {len(steps)} steps, more than the limit of {self.max_num_steps_per_task} "
                    f"per task; regenerate fewer steps, or pass --max-num-steps-per-task {len(steps)} to accept them")
        for i, step in enumerate(steps, start=1):
            if len(step) > self.max_chars_per_step:
                return (f"task {task_name!r}: step {i} has {len(step):,} characters, more than the limit of "
                        f"{self.max_chars_per_step:,}; shorten it, or pass --max-chars-per-step {len(step)} to accept it")
        return None


def _string_field(data: dict, key: str, where: str, required: bool = True) -> str:
    """A record's text field, exactly as stored: a number or null is refused, never turned into text."""
    value = data.get(key, None if required else "")
    if type(value) is not str:
        shown = "null" if value is None else f"{json.dumps(value)[:40]} (a JSON {type(value).__name__})"
        raise StepsStoreError(f"{where}: {key!r} must be a string, got {shown}; fix or delete this line")
    return value


def _parse_record(line: str, where: str) -> StepsRecord:
    data = json.loads(line)
    if not isinstance(data, dict):
        raise StepsStoreError(f"{where}: a record must be a JSON object")
    missing = [k for k in REQUIRED_FIELDS if k not in data]
    if missing:
        raise StepsStoreError(f"{where}: record is missing field(s) {missing}")
    name = _string_field(data, "task_name", where)
    if not name or name != name.strip():
        raise StepsStoreError(
            f"{where}: task name {name!r} is empty or has leading/trailing spaces; no task is named so "
            "(stepinst never strips a name silently): write the name exactly as in the split list"
        )
    steps = data["steps"]
    if not isinstance(steps, list) or not all(isinstance(s, str) for s in steps):
        raise StepsStoreError(f"{where}: 'steps' must be a list of strings (task {name!r})")
    if not steps or not all(s.strip() for s in steps):
        raise StepsStoreError(
            f"{where}: task {name!r} has empty steps; regenerate them with "
            "`stepinst steps generate` or delete the line."
        )
    usage = data.get("usage")
    if usage is not None and not isinstance(usage, dict):
        raise StepsStoreError(f"{where}: 'usage' must be an object of token counts or null (task {name!r})")
    return StepsRecord(
        task_name=name,
        steps=steps,
        raw=_string_field(data, "raw", where, required=False),
        model=_string_field(data, "model", where),
        prompt_version=_string_field(data, "prompt_version", where),
        definition_sha256=_string_field(data, "definition_sha256", where),
        created_at=_string_field(data, "created_at", where, required=False),
        usage=usage,
    )


def scan_steps_store(path: str | os.PathLike, limits: StepsLimits | None = None) -> tuple[dict[str, StepsRecord], list[str]]:
    """Records by task name (last record wins) and every problem found, each naming its line.

    A torn last line (no newline after it: the write was interrupted) is skipped with a warning.
    ``limits``: refuse a task whose record in force (its last one) has more or longer steps than a
    build accepts; None: no limit. An earlier record a regeneration replaced never counts.
    """
    path = Path(path)
    if not path.is_file():
        return {}, [f"{path}: steps store not found"]
    records: dict[str, StepsRecord] = {}
    lines_of: dict[str, str] = {}
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
        lines_of[record.task_name] = where
    for name, record in records.items() if limits else ():
        too_many = limits.problem(name, record.steps)
        if too_many:
            problems.append(f"{lines_of[name]}: {too_many}")
    return records, problems


def read_steps_store(path: str | os.PathLike, limits: StepsLimits | None = None) -> dict[str, StepsRecord]:
    """All records by task name; raises on the first problem (see :func:`scan_steps_store`)."""
    records, problems = scan_steps_store(path, limits)
    if problems:
        more = f" (and {len(problems) - 1} more; run `stepinst validate`)" if len(problems) > 1 else ""
        raise StepsStoreError(problems[0] + more)
    return records


@dataclass
class StepsMatch:
    """The tasks a store serves: ``fresh`` (task, record) pairs, and the names of the tasks with no
    record (``missing``) or with steps made for another definition text (``stale``)."""

    fresh: list[tuple[Task | TaskInfo, StepsRecord]]
    missing: list[str]
    stale: list[str]


def match_steps(records: dict[str, StepsRecord], tasks: Iterable[Task | TaskInfo]) -> StepsMatch:
    """Pair each task with its steps; the one place that decides whether steps are stale."""
    match = StepsMatch([], [], [])
    for task in tasks:
        record = records.get(task.name)
        if record is None:
            match.missing.append(task.name)
        elif record.is_stale_for(task):
            match.stale.append(task.name)
        else:
            match.fresh.append((task, record))
    return match


def check_steps_for_tasks(records: dict[str, StepsRecord], tasks: Iterable[Task | TaskInfo], path: str) -> list[str]:
    """Every problem that keeps ``records`` from serving ``tasks``: missing or stale steps."""
    match = match_steps(records, tasks)
    problems = []
    if match.missing:
        problems.append(
            f"{path}: no steps for {len(match.missing)} task(s): {', '.join(match.missing)}. Generate them with "
            f"`stepinst steps generate --natinst ... --steps {path}`."
        )
    if match.stale:
        problems.append(
            f"{path}: stale steps for {len(match.stale)} task(s) whose definition changed since the steps "
            f"were generated: {', '.join(match.stale)}. Regenerate them with "
            f"`stepinst steps generate --natinst ... --steps {path} --regenerate-stale`."
        )
    return problems


def append_records(path: str | os.PathLike, records: Iterable[StepsRecord]) -> int:
    """Append records as whole fsynced lines (the caller holds the store's run lock)."""
    return append_lines(path, [record.to_json() for record in records])

"""The ratings store: JSONL, a rubric header line, then one record per task x annotator.

The rubric travels in the store's first line (``{"rubric": {...}}``) so a store is
self-describing: which criteria, on which scale, with which definitions shown to annotators.
Every other line is ``{"task_name", "annotator", <criterion>: int, ..., "comment"?}``.

A rating is corrected by appending a new record for the same task and annotator marked
``"correction": true`` (``stepinst rate import --correct``): the latest record is the rating, the
earlier ones stay in the file as its history (:attr:`RatingsStore.history`). An unmarked second
record for one task and annotator is an error, not a silent overwrite.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from statistics import mean
from typing import Any

from .jsonl import APPEND_WAIT_S, append_lines, store_lock, write_lines

logger = logging.getLogger(__name__)

LLM_PREFIX = "llm:"


def is_llm(annotator: str) -> bool:
    """LLM judges are recorded as ``llm:<model>``; agreement is reported for humans separately."""
    return annotator.startswith(LLM_PREFIX)


class RatingsError(ValueError):
    """A ratings store or import that cannot be used; the message names the file and line."""


@dataclass(frozen=True)
class Criterion:
    name: str
    description: str


@dataclass(frozen=True)
class Rubric:
    name: str
    criteria: tuple[Criterion, ...]
    min_score: int = 1
    max_score: int = 5
    aggregate_criterion: str = "overall"

    @property
    def criterion_names(self) -> list[str]:
        return [c.name for c in self.criteria]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["criteria"] = [asdict(c) for c in self.criteria]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Rubric:
        criteria = tuple(Criterion(**c) for c in data["criteria"])
        return cls(
            name=data["name"],
            criteria=criteria,
            min_score=int(data.get("min_score", 1)),
            max_score=int(data.get("max_score", 5)),
            aggregate_criterion=data.get("aggregate_criterion", "overall"),
        )


DEFAULT_RUBRIC = Rubric(
    name="stepinst-default-v1",
    criteria=(
        Criterion("correctness", "Following the steps on an instance gives a correct output."),
        Criterion("completeness", "No step needed to solve the task is missing."),
        Criterion("order", "The steps come in an order in which they can be carried out."),
        Criterion("overall", "Overall, how much these steps would help someone solve the task."),
    ),
)


@dataclass
class RatingsStore:
    """The current rating of each (task, annotator), and the ones later corrected (``history``).

    ``records`` keep the position of each pair's first rating, with the content of its latest;
    ``history`` holds ``(file:line, record)`` of every superseded rating, oldest first.
    """

    rubric: Rubric
    records: list[dict[str, Any]] = field(default_factory=list)
    history: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def rated_by(self, annotator: str) -> set[str]:
        """The tasks this annotator has already rated (where the rating page resumes)."""
        return {r["task_name"] for r in self.records if r["annotator"] == annotator}

    @property
    def human_records(self) -> list[dict[str, Any]]:
        """The ratings of people: ``llm:<model>`` judges never count as human ratings."""
        return [r for r in self.records if not is_llm(r["annotator"])]

    def overall_by_task(self) -> dict[str, float]:
        """The aggregated human score (mean over human annotators of the aggregate criterion) per task."""
        scores: dict[str, list[int]] = {}
        for r in self.human_records:
            scores.setdefault(r["task_name"], []).append(r[self.rubric.aggregate_criterion])
        return {task: float(mean(values)) for task, values in scores.items()}


def validate_record(data: Any, rubric: Rubric, where: str) -> dict[str, Any]:
    """One rating record, checked against the rubric; errors name ``where`` (file:line)."""
    if not isinstance(data, dict):
        raise RatingsError(f"{where}: a rating must be a JSON object")
    for key in ("task_name", "annotator"):
        if not isinstance(data.get(key), str) or not data[key].strip():
            raise RatingsError(f"{where}: missing or empty {key!r}")
    if "correction" in data and data["correction"] is not True:
        raise RatingsError(f"{where}: 'correction' must be true (a corrected rating) or absent, got {data['correction']!r}")
    unknown = set(data) - {"task_name", "annotator", "comment", "correction", *rubric.criterion_names}
    if unknown:
        raise RatingsError(f"{where}: unknown criterion/field(s) {sorted(unknown)}; the rubric has {rubric.criterion_names}")
    record = {"task_name": data["task_name"], "annotator": data["annotator"]}
    for name in rubric.criterion_names:
        score = data.get(name)
        if isinstance(score, bool) or not isinstance(score, int):
            raise RatingsError(f"{where}: {name!r} must be an integer score, got {score!r}")
        if not rubric.min_score <= score <= rubric.max_score:
            raise RatingsError(
                f"{where}: {name}={score} is outside the scale {rubric.min_score}-{rubric.max_score}"
            )
        record[name] = score
    comment = data.get("comment")
    if comment is not None and type(comment) is not str:
        raise RatingsError(f"{where}: 'comment' must be text (a JSON string) or absent, got {json.dumps(comment)[:40]}")
    record["comment"] = comment or ""
    return record


def read_ratings_store(path: str | os.PathLike) -> RatingsStore:
    """Read and validate a ratings store; a store without a rubric header uses the default rubric."""
    path = Path(path)
    if not path.is_file():
        raise RatingsError(f"{path}: ratings store not found")
    rubric, records, history, seen = DEFAULT_RUBRIC, [], [], {}
    with open(path, "rb") as f:  # bytes: a crash can cut the last line inside a UTF-8 character
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                data = json.loads(line.decode("utf-8"))
            except (json.JSONDecodeError, UnicodeDecodeError) as e:
                if not line.endswith(b"\n"):  # the last line, cut short by a crash mid-write
                    logger.warning("%s: ignoring a truncated last line (interrupted write)", where)
                    break
                if lineno == 1 and _looks_like_csv(path, line):
                    raise RatingsError(_csv_given_message(path)) from None
                reason = f"malformed JSON ({e.msg})" if isinstance(e, json.JSONDecodeError) else f"not UTF-8 ({e.reason})"
                raise RatingsError(f"{where}: {reason}") from None
            if isinstance(data, dict) and "rubric" in data:
                if records:
                    raise RatingsError(f"{where}: the rubric header must be the first line")
                rubric = parse_rubric(data["rubric"], where)
                continue
            record = validate_record(data, rubric, where)
            key = (record["task_name"], record["annotator"])
            if key not in seen:
                seen[key] = (len(records), lineno)
                records.append(record)
                continue
            index, previous = seen[key]
            if data.get("correction") is not True:
                raise RatingsError(
                    f"{where}: task {key[0]!r} is rated twice by {key[1]!r} (first at line {previous}); a later "
                    "rating must be a correction (`stepinst rate import --correct`), or delete one of the lines"
                )
            history.append((f"{path}:{previous}", records[index]))
            records[index] = record
            seen[key] = (index, lineno)
    return RatingsStore(rubric, records, history)


def parse_rubric(data: Any, where: str) -> Rubric:
    """A rubric from its JSON form; a malformed one is refused naming ``where``, never a KeyError."""
    try:
        rubric = Rubric.from_dict(data)
        names = rubric.criterion_names
        if not names or len(set(names)) != len(names) or not all(isinstance(n, str) and n for n in names):
            raise ValueError("the criteria need distinct, non-empty names")
        if rubric.min_score > rubric.max_score:
            raise ValueError("min_score is above max_score")
        if rubric.aggregate_criterion not in rubric.criterion_names:
            raise ValueError(f"aggregate_criterion {rubric.aggregate_criterion!r} is not one of the criteria")
        return rubric
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise RatingsError(
            f"{where}: not a valid rubric ({type(e).__name__}: {e}); the format is DEFAULT_RUBRIC.to_dict(): "
            '{"name", "criteria": [{"name", "description"}], "min_score", "max_score", "aggregate_criterion"}'
        ) from None


def _looks_like_csv(path: Path, first_line: bytes) -> bool:
    return path.suffix.lower() in (".csv", ".tsv") or first_line.lstrip(b"\xef\xbb\xbf").startswith(b"task_name")


def _csv_given_message(path: Path) -> str:
    return (
        f"{path}: this is a CSV sheet, not a ratings store (JSONL with a rubric header); import it into a store "
        f"first: `stepinst rate import {path} --ratings ratings.jsonl`, then pass --ratings ratings.jsonl"
    )


def write_ratings_store(path: str | os.PathLike, store: RatingsStore) -> None:
    """Write a whole store (header + records), atomically, under the store's lock."""
    header = json.dumps({"rubric": store.rubric.to_dict()}, ensure_ascii=False)
    with store_lock(path, wait=APPEND_WAIT_S):
        write_lines(path, [header, *(json.dumps(record, ensure_ascii=False) for record in store.records)])


def read_rubric(path: str | os.PathLike) -> Rubric:
    """A rubric from a JSON file (``{"name", "criteria": [{"name", "description"}], ...}``)."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        return Rubric.from_dict(data.get("rubric", data))
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as e:
        raise RatingsError(f"{path}: not a rubric JSON file ({e}); see DEFAULT_RUBRIC.to_dict() for the format") from None


def store_rubric(path: str | os.PathLike, default: Rubric = DEFAULT_RUBRIC) -> Rubric:
    """The rubric of an existing store, or ``default`` for a store not yet created."""
    return read_ratings_store(path).rubric if Path(path).is_file() else default


def append_ratings(
    path: str | os.PathLike, records: Iterable[dict[str, Any]], rubric: Rubric = DEFAULT_RUBRIC,
    correct: bool = False,
) -> int:
    """Append validated records atomically: one write of whole lines, fsynced, under the store's lock.

    The one writer of a ratings store (the rating page, ``rate import`` and the LLM judge all
    append here, each holding the lock for one append only, so they can run side by side). A
    new store gets the rubric header first. Under the lock the store is re-read so that a
    (task, annotator) already rated by a concurrent writer is refused instead of duplicated, and
    a store made with another rubric is refused instead of mixed. With ``correct``, a record for
    a rated (task, annotator) is appended marked ``"correction": true``: it becomes the rating and
    the earlier one stays in the file as history.
    """
    path = Path(path)
    records = [validate_record(r, rubric, f"{path}:<new record>") for r in records]
    with store_lock(path, wait=APPEND_WAIT_S):
        append_lines(path, _lines_to_append(path, records, rubric, correct))  # a torn last line is moved aside first
    return len(records)


def _lines_to_append(path: Path, records: list[dict[str, Any]], rubric: Rubric, correct: bool = False) -> list[str]:
    pairs = [(r["task_name"], r["annotator"]) for r in records]
    repeated = sorted({pair for pair in pairs if pairs.count(pair) > 1})
    if repeated:  # two unmarked records for one pair would make the whole store unreadable
        raise RatingsError(
            f"{path}: the new ratings rate {', '.join(f'{t!r} by {a!r}' for t, a in repeated)} more than once; "
            "append one rating per task and annotator (correct a rating with a later append and --correct)"
        )
    lines: list[str] = []
    if not path.is_file() or path.stat().st_size == 0:
        lines.append(json.dumps({"rubric": rubric.to_dict()}, ensure_ascii=False))
    else:
        existing = read_ratings_store(path)
        if existing.rubric != rubric:
            raise RatingsError(
                f"{path}: the store was made with rubric {existing.rubric.name!r}, not {rubric.name!r}; "
                "use another store for another rubric"
            )
        seen = {(r["task_name"], r["annotator"]) for r in existing.records}
        for i, r in enumerate(records):
            if (r["task_name"], r["annotator"]) in seen:
                if not correct:
                    raise RatingsError(f"{path}: task {r['task_name']!r} is already rated by {r['annotator']!r}")
                records[i] = {**r, "correction": True}
    lines += [json.dumps(r, ensure_ascii=False) for r in records]
    return lines

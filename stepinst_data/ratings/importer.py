"""``stepinst rate import``: ratings made elsewhere (a spreadsheet, an annotation tool) into a store.

Everything is checked before anything is written: unknown tasks, tasks without steps, unknown
criteria, scores that are not integers on the rubric's scale, a (task, annotator) rated twice with
different scores, and two spellings of one annotator name. Each problem names its line. Either
nothing is imported, or (``skip_invalid``) the valid rows are and the skipped ones are reported.

A rating already in the store with other scores is refused, unless the import is a correction
(``correct``, ``stepinst rate import --correct``): then the new record is appended marked as a
correction, becomes the rating, and the earlier one stays in the store as its history.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..stores.ratings import (
    DEFAULT_RUBRIC,
    RatingsError,
    RatingsStore,
    Rubric,
    append_ratings,
    parse_rubric,
    read_ratings_store,
    validate_record,
)

logger = logging.getLogger(__name__)

OTHER_DELIMITERS = {";": "semicolon", "\t": "tab", "|": "pipe"}
_INTEGER = re.compile(r"^[+-]?[0-9]+$")  # ASCII digits: "٣" is not silently read as 3


@dataclass
class ImportResult:
    """What an import did: the records written, the rows skipped as invalid, the rows already stored."""

    imported: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    already_stored: list[str] = field(default_factory=list)
    corrected: list[str] = field(default_factory=list)


def read_text(path: Path, encoding: str = "utf-8") -> str:
    """The whole file as text; a file that is not UTF-8 (a Latin-1 or Windows-1252 export) is refused
    naming the file, the line and the fix, instead of Python's bare codec error."""
    data = path.read_bytes()
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise RatingsError(
            f"{path}:{line}: not UTF-8 (byte 0x{data[e.start]:02x} at offset {e.start}); the file was saved in another "
            "encoding (Latin-1, Windows-1252?): re-save it as UTF-8 (a spreadsheet's \"CSV UTF-8\") and import it again"
        ) from None


def read_csv_rows(path: Path, rubric: Rubric, delimiter: str = ",") -> Iterator[tuple[str, dict[str, Any]]]:
    """(``file:line``, row) pairs of a CSV whose header is ``task_name,annotator,<criterion>...[,comment]``."""
    with io.StringIO(read_text(path, "utf-8-sig"), newline="") as f:
        reader = csv.reader(f, delimiter=delimiter)
        header = [h.strip() for h in next(reader, [])]
        _check_header(path, header, rubric, delimiter)
        for row in reader:
            where = f"{path}:{reader.line_num}"
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                yield where, {"__error__": f"{len(row)} cells, the header has {len(header)}"}
                continue
            yield where, {key: _cell(key, value, rubric) for key, value in zip(header, row)}


def _check_header(path: Path, header: list[str], rubric: Rubric, delimiter: str) -> None:
    if len(header) <= 1:
        joined = header[0] if header else ""
        for other, name in OTHER_DELIMITERS.items():
            if other != delimiter and other in joined:
                raise RatingsError(
                    f"{path}:1: the header is one column; the file seems to use the {name} ({other!r}) as "
                    f"delimiter, not {delimiter!r}. Pass --delimiter {other!r} (or save the sheet as CSV)."
                )
    expected = ["task_name", "annotator", *rubric.criterion_names]
    missing = [c for c in expected if c not in header]
    if missing:
        raise RatingsError(
            f"{path}:1: missing column(s) {missing}; the header must be "
            f"{','.join(expected)}[,comment] (rubric {rubric.name!r}), found {header}"
        )
    unknown = [c for c in header if c not in expected and c != "comment"]
    if unknown:
        raise RatingsError(f"{path}:1: unknown criterion column(s) {unknown}; the rubric has {rubric.criterion_names}")
    duplicated = sorted({c for c in header if header.count(c) > 1})
    if duplicated:
        raise RatingsError(f"{path}:1: column(s) {duplicated} appear more than once in the header")


def _cell(key: str, value: str, rubric: Rubric) -> Any:
    """CSV cells are text: scores become ints when they look like integers, so validation can say why."""
    value = value.strip()
    if key in rubric.criterion_names and _INTEGER.match(value):
        return int(value)
    return value


def read_jsonl_rows(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """(``file:line``, record) pairs of a JSONL file; a rubric header line is checked by the caller."""
    for lineno, line in enumerate(read_text(path).split("\n"), start=1):
        if not line.strip():
            continue
        try:
            yield f"{path}:{lineno}", json.loads(line)
        except json.JSONDecodeError as e:
            yield f"{path}:{lineno}", {"__error__": f"malformed JSON ({e.msg})"}


def read_rows(path: Path, rubric: Rubric, delimiter: str = ",") -> list[tuple[str, Any]]:
    if not path.is_file():
        raise RatingsError(f"{path}: file not found")
    if path.suffix.lower() in (".jsonl", ".json"):
        rows = list(read_jsonl_rows(path))
        if rows and isinstance(rows[0][1], dict) and "rubric" in rows[0][1]:
            other = parse_rubric(rows[0][1]["rubric"], rows[0][0])
            if other != rubric:
                raise RatingsError(f"{rows[0][0]}: made with rubric {other.name!r}, the target store uses {rubric.name!r}")
            rows = rows[1:]
        return rows
    return list(read_csv_rows(path, rubric, delimiter))


class _Checker:
    """Checks rows one by one against the rubric, the known tasks and what came before."""

    def __init__(self, rubric: Rubric, existing: RatingsStore | None, tasks: set[str] | None, tasks_source: str,
                 correct: bool = False):
        self.rubric, self.tasks, self.tasks_source, self.correct = rubric, tasks, tasks_source, correct
        self.stored = {(r["task_name"], r["annotator"]): r for r in (existing.records if existing else [])}
        self.spelling: dict[str, tuple[str, str]] = {
            _norm(r["annotator"]): (r["annotator"], "the store") for r in (existing.records if existing else [])
        }
        self.first: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {}
        self.conflicts: set[tuple[str, str]] = set()

    def check(self, where: str, row: Any, result: ImportResult) -> dict[str, Any] | None:
        if isinstance(row, dict) and "__error__" in row:
            raise RatingsError(f"{where}: {row['__error__']}")
        record = validate_record(row, self.rubric, where)
        task, annotator = record["task_name"], record["annotator"]
        if self.tasks is not None and task not in self.tasks:
            raise RatingsError(f"{where}: unknown task {task!r} ({self.tasks_source})")
        self._check_spelling(where, annotator)
        key = (task, annotator)
        if key in self.stored and not self._is_correction(where, self.stored[key], record, result):
            result.already_stored.append(f"{where}: {task} by {annotator} is already in the store (same scores)")
            return None
        if key in self.first:
            first_where, first = self.first[key]
            if _scores(first, self.rubric) != _scores(record, self.rubric):
                self.conflicts.add(key)
                raise RatingsError(f"{where}: task {task!r} is rated twice by {annotator!r} with different scores (first at {first_where})")
            result.already_stored.append(f"{where}: repeats {first_where} (same scores), imported once")
            return None
        self.first[key] = (where, record)
        return record

    def _is_correction(self, where: str, stored: dict[str, Any], record: dict[str, Any], result: ImportResult) -> bool:
        """Whether ``record`` corrects the stored rating (other scores or comment, with ``correct``)."""
        task, annotator = record["task_name"], record["annotator"]
        if not self.correct:
            if _scores(stored, self.rubric) != _scores(record, self.rubric):
                raise RatingsError(
                    f"{where}: task {task!r} is already rated by {annotator!r} in the store with other scores; "
                    "pass --correct to record these as a correction (the earlier rating stays in the store's history)"
                )
            return False
        if stored == record:
            return False
        old, new = _scores(stored, self.rubric), _scores(record, self.rubric)
        result.corrected.append(f"{where}: {task} by {annotator}: {dict(zip(self.rubric.criterion_names, old))} -> "
                                f"{dict(zip(self.rubric.criterion_names, new))}")
        return True

    def _check_spelling(self, where: str, annotator: str) -> None:
        seen = self.spelling.setdefault(_norm(annotator), (annotator, where))
        if seen[0] != annotator:
            raise RatingsError(
                f"{where}: annotator {annotator!r} and {seen[0]!r} ({seen[1]}) differ only in case or spaces; "
                "two people need two distinct names, one person one spelling"
            )


def _norm(name: str) -> str:
    return " ".join(name.split()).casefold()


def _scores(record: dict[str, Any], rubric: Rubric) -> tuple[int, ...]:
    return tuple(record[c] for c in rubric.criterion_names)


def import_ratings(
    source: str | os.PathLike,
    into: str | os.PathLike,
    tasks: set[str] | None = None,
    tasks_source: str = "",
    rubric: Rubric | None = None,
    delimiter: str = ",",
    skip_invalid: bool = False,
    correct: bool = False,
) -> ImportResult:
    """Validate every row of ``source`` (CSV or JSONL), then append the valid ones to ``into``.

    ``tasks`` are the task names a rating may name (those with steps); None skips that check.
    Without ``skip_invalid`` any problem raises (listing all of them) and nothing is written.
    With ``correct``, rows that differ from the stored rating of their (task, annotator) are
    appended as corrections (listed in ``result.corrected``); the earlier ratings stay as history.
    """
    source, into = Path(source), Path(into)
    existing = read_ratings_store(into) if into.is_file() and into.stat().st_size else None
    if existing is not None and rubric is not None and rubric != existing.rubric:
        raise RatingsError(f"{into}: the store uses rubric {existing.rubric.name!r}; --rubric gives {rubric.name!r}")
    rubric = existing.rubric if existing else (rubric or DEFAULT_RUBRIC)
    checker = _Checker(rubric, existing, tasks, tasks_source, correct)
    result = ImportResult()
    for where, row in read_rows(source, rubric, delimiter):
        try:
            record = checker.check(where, row, result)
        except RatingsError as e:
            result.problems.append(str(e))
            continue
        if record is not None:
            result.imported.append(record)
    result.imported = _drop_conflicts(result, checker)
    if result.problems and not skip_invalid:
        shown = "\n  ".join(result.problems)
        raise RatingsError(
            f"{source}: {len(result.problems)} invalid row(s), nothing imported (fix them, or pass "
            f"--skip-invalid to import the valid rows):\n  {shown}"
        )
    if not (result.imported or result.problems or result.already_stored):
        logger.warning("%s holds no rating rows (a header only, or blank lines): 0 ratings imported; "
                       "is it the sheet you meant to export?", source)
    if result.imported:
        append_ratings(into, result.imported, rubric, correct=correct)
    logger.info("%s: imported %d rating(s) into %s", source, len(result.imported), into)
    return result


def _drop_conflicts(result: ImportResult, checker: _Checker) -> list[dict[str, Any]]:
    """A (task, annotator) rated twice with different scores: neither row can be trusted."""
    for key in sorted(checker.conflicts):
        first_where = checker.first[key][0]
        result.problems.append(f"{first_where}: skipped too, it conflicts with a later row for the same task and annotator")
    return [r for r in result.imported if (r["task_name"], r["annotator"]) not in checker.conflicts]

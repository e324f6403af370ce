"""Property tests: generated rating sheets (CSV) and JSONL files through ``rate import``, against a
reference reader of the documented format (README "Rate steps", DESIGN "Stores").

A sheet is UTF-8 (a byte order mark allowed), its header ``task_name,annotator,<criteria>[,comment]``
(cells stripped of padding, blank rows skipped); every row needs a task, an annotator and an
integer 1-5 per criterion; one (task, annotator) rated twice must carry the same scores (then it
is imported once), and one annotator has one spelling. The import either writes exactly the
reference's records after the rubric header, or exits 1 naming the file and writes nothing.
"""

from __future__ import annotations

import csv
import io
import json
import re
import tempfile
from pathlib import Path

from hypothesis import example, given, settings
from hypothesis import strategies as st

from fuzz_helpers import BOM, CHARS, assert_one_error_naming, examples, run_cli, snapshot
from stepinst_data.stores.ratings import DEFAULT_RUBRIC

CRITERIA = DEFAULT_RUBRIC.criterion_names
HEADER = ["task_name", "annotator", *CRITERIA]
SCORE_CELLS = st.one_of(st.integers(1, 5).map(str), st.sampled_from(["0", "6", "x", "3.5", "", " 4 ", "+3", "-1", "٣"]))
SCORE_VALUES = st.one_of(st.integers(1, 5), st.sampled_from([0, 6, 3.0, 3.5, "3", True, None, [3]]))
TASKS = st.sampled_from(["task1_a", "task2_b", "task3_c"])
ANNOTATORS = st.sampled_from(["alice", "bob", "Alice", "bob ", "carol"])
COMMENTS = st.one_of(st.just(""), st.text(CHARS, max_size=15))
INTEGER = re.compile(r"^[+-]?\d+$")


def _norm(name: str) -> str:
    return " ".join(name.split()).casefold()


def ref_records(rows: list[dict]) -> list[dict] | None:
    """The records an import writes (first appearance order), or None when it must refuse."""
    records, seen, spelling = [], {}, {}
    for row in rows:
        if not isinstance(row, dict):
            return None
        extra = set(row) - {"task_name", "annotator", "comment", "correction", *CRITERIA}
        if extra or ("correction" in row and row["correction"] is not True):
            return None
        task, annotator = row.get("task_name"), row.get("annotator")
        if type(task) is not str or type(annotator) is not str or not task.strip() or not annotator.strip():
            return None
        scores = [row.get(c) for c in CRITERIA]
        if not all(type(s) is int and 1 <= s <= 5 for s in scores):
            return None
        comment = row.get("comment")
        if comment is not None and type(comment) is not str:
            return None
        if spelling.setdefault(_norm(annotator), annotator) != annotator:
            return None
        record = {"task_name": task, "annotator": annotator, **dict(zip(CRITERIA, scores)), "comment": comment or ""}
        key = (task, annotator)
        if key in seen:
            if [seen[key][c] for c in CRITERIA] != scores:
                return None
            continue
        seen[key] = record
        records.append(record)
    return records


def ref_read_csv(raw: bytes) -> list[dict] | None:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    table = list(csv.reader(io.StringIO(text, newline="")))
    if not table:
        return None
    header = [h.strip() for h in table[0]]
    if sorted(set(header) - {"comment"}) != sorted(HEADER) or len(set(header)) != len(header):
        return None
    rows = []
    for cells in table[1:]:
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(header):
            return None
        row = {k: v.strip() for k, v in zip(header, cells)}
        for c in CRITERIA:
            if INTEGER.match(row[c]) and row[c].isascii():
                row[c] = int(row[c])
        rows.append(row)
    return rows


@st.composite
def sheets(draw) -> bytes:
    header = list(HEADER) + (["comment"] if draw(st.booleans()) else [])
    kind = draw(st.sampled_from(["ok", "ok", "missing_column", "extra_column", "duplicate_column", "header_only"]))
    if kind == "missing_column":
        header.remove(draw(st.sampled_from(HEADER)))
    elif kind == "extra_column":
        header.append(draw(st.sampled_from(["clarity", "notes"])))
    elif kind == "duplicate_column":
        header.append(draw(st.sampled_from(header)))
    rows = [] if kind == "header_only" else draw(st.lists(st.fixed_dictionaries({
        "task_name": TASKS, "annotator": ANNOTATORS, "comment": COMMENTS,
        **{c: st.integers(1, 5).map(str) if draw(st.booleans()) else SCORE_CELLS for c in CRITERIA}}), min_size=1, max_size=5))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=draw(st.sampled_from(["\n", "\r\n"])))
    writer.writerow([f" {h}" if draw(st.booleans()) and h == "annotator" else h for h in header])
    for row in rows:
        cells = [row.get(h, draw(st.sampled_from(["", "3"]))) for h in header]
        if draw(st.integers(0, 9)) == 0:
            cells = cells[:-1]  # a short row
        writer.writerow(cells)
        if draw(st.integers(0, 9)) == 0:
            writer.writerow([])  # a blank row
    raw = buffer.getvalue().encode("utf-8")
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "bom", "latin-1", "torn"]))
    if encoding == "bom":
        raw = BOM + raw
    elif encoding == "latin-1":
        raw = raw.decode("utf-8").encode("latin-1", "replace")
    elif encoding == "torn":
        raw = raw[: draw(st.integers(0, len(raw)))]
    return raw


@st.composite
def jsonl_files(draw) -> bytes:
    rows = draw(st.lists(st.fixed_dictionaries({
        "task_name": TASKS, "annotator": ANNOTATORS, **{c: st.integers(1, 5) for c in CRITERIA}},
        optional={"comment": st.one_of(COMMENTS, st.none(), st.just(5))}), min_size=1, max_size=4))
    if draw(st.booleans()):
        rows[0][draw(st.sampled_from([*CRITERIA, "task_name", "annotator", "correction", "extra"]))] = draw(SCORE_VALUES)
    lines = [json.dumps(r, ensure_ascii=draw(st.booleans())) for r in rows]
    header = draw(st.sampled_from(["none", "default", "other"]))
    if header != "none":
        rubric = DEFAULT_RUBRIC.to_dict() if header == "default" else {**DEFAULT_RUBRIC.to_dict(), "name": "other"}
        lines.insert(0, json.dumps({"rubric": rubric}))
    tail = draw(st.sampled_from(["none", "none", "torn", "not_an_object", "blank"]))
    if tail == "torn":
        lines.append(lines[-1][: draw(st.integers(1, len(lines[-1]) - 1))])
    elif tail == "not_an_object":
        lines.append(draw(st.sampled_from(["5", "[1]", "null", '"x"'])))
    elif tail == "blank":
        lines.insert(1, "   ")
    return ("\n".join(lines) + "\n").encode("utf-8")


def ref_read_jsonl(raw: bytes) -> list[dict] | None:
    try:
        values = [json.loads(line) for line in raw.decode("utf-8").split("\n") if line.strip()]
    except ValueError:
        return None
    if values and isinstance(values[0], dict) and "rubric" in values[0]:
        if values[0]["rubric"] != DEFAULT_RUBRIC.to_dict():
            return None
        values = values[1:]
    return values


def _check_import(source: Path, rows: list[dict] | None, tmp: Path) -> None:
    store = tmp / "ratings.jsonl"
    expected = ref_records(rows) if rows is not None else None
    before = snapshot(source)
    run = run_cli(["rate", "import", source, "--ratings", store])
    assert snapshot(source) == before
    if expected is None:
        assert_one_error_naming(run, str(source))
        assert not store.exists(), "a refused import wrote the store"
        return
    assert run.code == 0, run.err
    if not expected:
        assert not store.exists()
        return
    lines = [json.loads(line) for line in store.read_text(encoding="utf-8").splitlines()]
    assert lines[0] == {"rubric": DEFAULT_RUBRIC.to_dict()}
    assert lines[1:] == expected


@settings(max_examples=examples(80))
@given(raw=sheets())
@example(raw="task_name,annotator,correctness,completeness,order,overall\ntask1_a,alice,1,1,1,٣\n".encode())  # was read as 3
def test_csv_import_writes_the_reference_records_or_one_error(raw):
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "sheet.csv"
        source.write_bytes(raw)
        _check_import(source, ref_read_csv(raw), Path(tmp))


@settings(max_examples=examples(60))
@given(raw=jsonl_files())
def test_jsonl_import_writes_the_reference_records_or_one_error(raw):
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "ratings_in.jsonl"
        source.write_bytes(raw)
        _check_import(source, ref_read_jsonl(raw), Path(tmp))

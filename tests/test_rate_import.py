"""`rate import` and the store's atomic append: validation with line numbers, all-or-nothing, locks."""

from __future__ import annotations

import json
import multiprocessing

import pytest
from rate_helpers import HEADER, SAMPLE_TASKS, rating, write_jsonl

from stepinst_data.cli import main
from stepinst_data.ratings.importer import import_ratings
from stepinst_data.stores.ratings import DEFAULT_RUBRIC, RatingsError, append_ratings, read_ratings_store
from stepinst_data.sample import SAMPLE_NATINST, SAMPLE_STEPS

T1, T2, T3 = SAMPLE_TASKS[:3]
TASKS = set(SAMPLE_TASKS)


def _csv(tmp_path, *rows: str, header: str = HEADER, name: str = "sheet.csv"):
    path = tmp_path / name
    path.write_text(header + "".join(r + "\n" for r in rows), encoding="utf-8")
    return path


def test_valid_csv_is_imported_with_the_rubric_header(tmp_path):
    sheet = _csv(tmp_path, f"{T1},alice,5,4,5,5,clear", f"{T2},alice,3,3,2,3,", f"{T1},bob,4,4,4,4,")
    store = tmp_path / "ratings.jsonl"
    result = import_ratings(sheet, store, TASKS)
    assert len(result.imported) == 3 and not result.problems
    assert json.loads(store.read_text().splitlines()[0]) == {"rubric": DEFAULT_RUBRIC.to_dict()}
    records = read_ratings_store(store).records
    assert records[0] == {"task_name": T1, "annotator": "alice", "correctness": 5, "completeness": 4,
                          "order": 5, "overall": 5, "comment": "clear"}
    again = import_ratings(sheet, store, TASKS)  # re-importing the same sheet changes nothing
    assert again.imported == [] and len(again.already_stored) == 3
    assert len(read_ratings_store(store).records) == 3


def test_every_problem_is_reported_with_its_line_and_nothing_is_written(tmp_path):
    sheet = _csv(
        tmp_path,
        f"{T1},alice,5,5,5,5,",          # line 2: fine
        "task_nope,alice,5,5,5,5,",      # 3: unknown task
        f"{T2},alice,6,5,5,5,",          # 4: out of the scale
        f"{T3},alice,five,5,5,5,",       # 5: not an integer
        f"{T1},alice,4,4,4,4,",          # 6: T1 by alice again, other scores
        f"{T2},Alice,3,3,3,3,",          # 7: one person, two spellings
        f"{T3},bob,3,3,3",               # 8: too few cells
    )
    store = tmp_path / "ratings.jsonl"
    with pytest.raises(RatingsError) as err:
        import_ratings(sheet, store, TASKS, "not in steps.jsonl: a rating needs the task's steps")
    message = str(err.value)
    assert "7 invalid row(s), nothing imported" in message
    assert f"{sheet}:3: unknown task 'task_nope' (not in steps.jsonl: a rating needs the task's steps)" in message
    assert f"{sheet}:4: correctness=6 is outside the scale 1-5" in message
    assert f"{sheet}:5: 'correctness' must be an integer score, got 'five'" in message
    assert f"{sheet}:6: task {T1!r} is rated twice by 'alice' with different scores (first at {sheet}:2)" in message
    assert f"{sheet}:7: annotator 'Alice' and 'alice' ({sheet}:2) differ only in case or spaces" in message
    assert f"{sheet}:8: 5 cells, the header has 7" in message
    assert f"{sheet}:2: skipped too" in message
    assert not store.exists()


def test_skip_invalid_imports_the_rest_and_reports_what_it_skipped(tmp_path, capsys):
    sheet = _csv(tmp_path, f"{T1},alice,5,5,5,5,", f"{T2},alice,0,5,5,5,", f"{T3},alice,2,2,2,2,")
    store = tmp_path / "ratings.jsonl"
    code = main(["rate", "import", str(sheet), "--ratings", str(store), "--steps", str(SAMPLE_STEPS), "--skip-invalid"])
    captured = capsys.readouterr()
    assert code == 0
    assert "imported 2 rating(s)" in captured.out and "skipped 1 invalid row(s)" in captured.out
    assert f"skipped: {sheet}:3: correctness=0 is outside the scale 1-5" in captured.err
    assert [r["task_name"] for r in read_ratings_store(store).records] == [T1, T3]


def test_a_task_without_steps_is_refused(tmp_path, capsys):
    steps = tmp_path / "steps.jsonl"
    steps.write_text(SAMPLE_STEPS.read_text().splitlines()[0] + "\n")  # only the first task has steps
    sheet = _csv(tmp_path, f"{T1},alice,5,5,5,5,", f"{T2},alice,5,5,5,5,")
    store = tmp_path / "r.jsonl"
    code = main(["rate", "import", str(sheet), "--ratings", str(store), "--natinst", str(SAMPLE_NATINST), "--steps", str(steps)])
    err = capsys.readouterr().err
    assert code == 1 and f"{sheet}:3: unknown task {T2!r}" in err and "a rating needs the task's steps" in err
    assert not store.exists()


def test_header_problems_name_the_fix(tmp_path):
    semicolons = _csv(tmp_path, f"{T1};alice;5;5;5;5;", header=HEADER.replace(",", ";"), name="semi.csv")
    with pytest.raises(RatingsError, match=r"semi.csv:1: .* semicolon \(';'\) as delimiter.* --delimiter ';'"):
        import_ratings(semicolons, tmp_path / "r.jsonl")
    assert len(import_ratings(semicolons, tmp_path / "r.jsonl", delimiter=";").imported) == 1
    missing = _csv(tmp_path, f"{T1},alice,5,5", header="task_name,annotator,correctness,overall\n", name="m.csv")
    with pytest.raises(RatingsError, match=r"m.csv:1: missing column\(s\) \['completeness', 'order'\]"):
        import_ratings(missing, tmp_path / "r2.jsonl")
    extra = _csv(tmp_path, f"{T1},alice,5,5,5,5,5", header=HEADER.replace(",comment", ",clarity"), name="x.csv")
    with pytest.raises(RatingsError, match=r"x.csv:1: unknown criterion column\(s\) \['clarity'\]"):
        import_ratings(extra, tmp_path / "r3.jsonl")


def test_jsonl_import_and_conflict_with_the_store(tmp_path):
    store = write_jsonl(tmp_path / "main.jsonl", [rating(T1, "alice", 5)])
    other = write_jsonl(tmp_path / "bob.jsonl", [rating(T1, "bob", 4), rating(T2, "bob", 3)])
    assert len(import_ratings(other, store, TASKS).imported) == 2
    clash = write_jsonl(tmp_path / "clash.jsonl", [rating(T1, "alice", 2)], rubric=None)
    with pytest.raises(RatingsError, match=r"clash.jsonl:1: task .* already rated by 'alice' in the store with other scores"):
        import_ratings(clash, store, TASKS)
    unknown = write_jsonl(tmp_path / "u.jsonl", [{**rating(T3, "bob", 3), "clarity": 2}], rubric=None)
    with pytest.raises(RatingsError, match=r"u.jsonl:1: unknown criterion/field\(s\) \['clarity'\]"):
        import_ratings(unknown, store, TASKS)
    assert len(read_ratings_store(store).records) == 3


def test_append_refuses_a_duplicate_and_a_bad_score(tmp_path):
    store = tmp_path / "r.jsonl"
    append_ratings(store, [rating(T1, "alice", 5)])
    with pytest.raises(RatingsError, match="already rated by 'alice'"):
        append_ratings(store, [rating(T1, "alice", 4)])
    with pytest.raises(RatingsError, match="outside the scale"):
        append_ratings(store, [rating(T2, "alice", 9)])
    assert len(read_ratings_store(store).records) == 1


def _append_many(args: tuple[str, str]) -> None:
    store, annotator = args
    for task in SAMPLE_TASKS:
        append_ratings(store, [rating(task, annotator, 3, comment="x" * 2000)])


def test_concurrent_appends_never_interleave(tmp_path):
    store = str(tmp_path / "r.jsonl")
    with multiprocessing.get_context("fork").Pool(3) as pool:
        pool.map(_append_many, [(store, f"annotator{i}") for i in range(3)])
    lines = (tmp_path / "r.jsonl").read_text().splitlines()
    assert len(lines) == 1 + 3 * len(SAMPLE_TASKS)
    assert len(read_ratings_store(store).records) == 3 * len(SAMPLE_TASKS)  # every line parses

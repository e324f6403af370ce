"""A rating can be corrected: `rate import --correct` appends the new scores and keeps the old ones."""

from __future__ import annotations

import json

import pytest
from rate_helpers import HEADER, SAMPLE_TASKS, rating

from stepinst_data.cli import main
from stepinst_data.ratings.report import build_report
from stepinst_data.sample import SAMPLE_STEPS
from stepinst_data.stores.ratings import RatingsError, read_ratings_store

T1, T2 = SAMPLE_TASKS[:2]


def _sheet(tmp_path, name: str, *rows: str):
    path = tmp_path / name
    path.write_text(HEADER + "".join(r + "\n" for r in rows), encoding="utf-8")
    return path


def _import(sheet, store, *extra: str) -> int:
    return main(["rate", "import", str(sheet), "--ratings", str(store), "--steps", str(SAMPLE_STEPS), *extra])


def test_a_rating_is_corrected_only_when_asked_and_the_earlier_one_is_kept(tmp_path, capsys):
    store = tmp_path / "ratings.jsonl"
    assert _import(_sheet(tmp_path, "first.csv", f"{T1},alice,5,5,5,5,fine", f"{T2},alice,4,4,4,4,"), store) == 0
    fix = _sheet(tmp_path, "fix.csv", f"{T1},alice,2,3,2,2,step 2 is wrong")
    before = store.read_bytes()
    capsys.readouterr()

    assert _import(fix, store) == 1  # a different score for a stored rating: refused, naming the flag
    assert (f"{fix}:2: task {T1!r} is already rated by 'alice' in the store with other scores; pass --correct to "
            "record these as a correction (the earlier rating stays in the store's history)") in capsys.readouterr().err
    assert store.read_bytes() == before

    assert _import(fix, store, "--correct") == 0
    captured = capsys.readouterr()
    assert (f"corrected: {fix}:2: {T1} by alice: {{'correctness': 5, 'completeness': 5, 'order': 5, 'overall': 5}} -> "
            "{'correctness': 2, 'completeness': 3, 'order': 2, 'overall': 2}") in captured.err
    assert "imported 1 rating(s)" in captured.out
    lines = store.read_text().splitlines()
    assert store.read_bytes().startswith(before) and len(lines) == 4  # appended; nothing rewritten
    assert json.loads(lines[-1]) == {**rating(T1, "alice", 2, 3, 2, 2, comment="step 2 is wrong"), "correction": True}

    ratings = read_ratings_store(store)
    assert ratings.records == [rating(T1, "alice", 2, 3, 2, 2, comment="step 2 is wrong"), rating(T2, "alice", 4)]
    assert ratings.history == [(f"{store}:2", rating(T1, "alice", 5, comment="fine"))]
    assert ratings.overall_by_task()[T1] == 2.0  # the dataset's steps_quality uses the latest rating
    report = build_report(ratings, 5, str(store))  # `rate report` counts the latest rating only
    assert report["records"] == 2 and report["criteria"]["overall"]["distribution"]["2"] == 1
    assert report["criteria"]["overall"]["distribution"]["5"] == 0

    assert _import(fix, store, "--correct") == 0  # the same correction again changes nothing
    assert len(store.read_text().splitlines()) == 4


def test_an_unmarked_second_rating_in_the_store_is_an_error(tmp_path):
    store = tmp_path / "ratings.jsonl"
    assert _import(_sheet(tmp_path, "first.csv", f"{T1},alice,5,5,5,5,"), store) == 0
    with open(store, "a", encoding="utf-8") as f:
        f.write(json.dumps(rating(T1, "alice", 1)) + "\n")  # appended by hand, not as a correction
    with pytest.raises(RatingsError) as error:
        read_ratings_store(store)
    assert str(error.value) == (f"{store}:3: task {T1!r} is rated twice by 'alice' (first at line 2); a later rating "
                                "must be a correction (`stepinst rate import --correct`), or delete one of the lines")

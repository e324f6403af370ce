"""The steps store: validation, torn last lines, stale/missing steps, appends and the lock."""

from __future__ import annotations

import json

import pytest

from stepinst_data.source.natinst import Sampling, read_task
from stepinst_data.sample import SAMPLE_NATINST, SAMPLE_STEPS
from stepinst_data.stores.jsonl import StoreBusyError, store_lock
from stepinst_data.stores.steps import (
    StepsRecord,
    StepsStoreError,
    append_records,
    check_steps_for_tasks,
    read_steps_store,
    scan_steps_store,
)


def _record(name: str = "task1_x", steps=("Do a.", "Do b."), sha: str = "0" * 64) -> StepsRecord:
    return StepsRecord(name, list(steps), "1. Do a.\n2. Do b.", "m", "v1", sha, "2026-01-01T00:00:00+00:00", None)


def test_sample_store_reads():
    records = read_steps_store(SAMPLE_STEPS)
    assert len(records) == 12
    assert all(len(r.steps) >= 3 for r in records.values())


def test_torn_last_line_is_ignored_and_the_next_append_starts_a_new_line(tmp_path):
    store = tmp_path / "steps.jsonl"
    append_records(store, [_record("task1_a")])
    with open(store, "a") as f:
        f.write('{"task_name": "task2_b", "ste')  # a crash mid-write
    assert list(read_steps_store(store)) == ["task1_a"]
    append_records(store, [_record("task3_c")])
    assert list(read_steps_store(store)) == ["task1_a", "task3_c"]
    assert (tmp_path / "steps.jsonl.torn").read_text() == '{"task_name": "task2_b", "ste\n'


def test_a_last_line_cut_inside_a_utf8_character_is_a_torn_line(tmp_path):
    """Steps are written with ensure_ascii=False: a crash can stop in the middle of a character."""
    store = tmp_path / "steps.jsonl"
    append_records(store, [_record("task1_a", steps=("Lire l'entrée.", "Répondre."))])
    line = _record("task2_b", steps=("Étape un.", "Étape deux.")).to_json().encode("utf-8")
    with open(store, "ab") as f:
        f.write(line[: line.index("É".encode()) + 1])  # the first byte of a two-byte character
    assert list(read_steps_store(store)) == ["task1_a"]
    append_records(store, [_record("task3_c")])
    assert list(read_steps_store(store)) == ["task1_a", "task3_c"]


def test_malformed_middle_line_names_the_line(tmp_path):
    store = tmp_path / "steps.jsonl"
    store.write_text(_record("task1_a").to_json() + "\n{oops\n" + _record("task2_b").to_json() + "\n")
    with pytest.raises(StepsStoreError, match=r"steps.jsonl:2: malformed JSON"):
        read_steps_store(store)


def test_every_problem_is_scanned(tmp_path):
    store = tmp_path / "steps.jsonl"
    empty = json.loads(_record("task2_b").to_json()) | {"steps": []}
    lines = ["{oops", json.dumps(empty), json.dumps({"task_name": "task3_c"}), _record("task4_d").to_json()]
    store.write_text("\n".join(lines) + "\n")
    records, problems = scan_steps_store(store)
    assert list(records) == ["task4_d"]
    assert len(problems) == 3
    assert "steps.jsonl:2: task 'task2_b' has empty steps" in problems[1]
    assert "steps.jsonl:3: record is missing field(s)" in problems[2]


def test_last_record_of_a_task_wins(tmp_path):
    store = tmp_path / "steps.jsonl"
    append_records(store, [_record("task1_a", ["Old."]), _record("task1_a", ["New one.", "Two."])])
    assert read_steps_store(store)["task1_a"].steps == ["New one.", "Two."]


def test_missing_and_stale_steps_are_reported():
    task = read_task(SAMPLE_NATINST, "task9001_stepinst_sample_integer_addition", "train", Sampling())
    other = read_task(SAMPLE_NATINST, "task9002_stepinst_sample_list_maximum", "train", Sampling())
    records = {task.name: _record(task.name, sha="f" * 64)}
    problems = check_steps_for_tasks(records, [task, other], "steps.jsonl")
    assert "no steps for 1 task(s): task9002_stepinst_sample_list_maximum" in problems[0]
    assert "stale steps for 1 task(s)" in problems[1] and task.name in problems[1]
    records = {task.name: _record(task.name, sha=task.definition_sha256)}
    assert check_steps_for_tasks(records, [task], "steps.jsonl") == []


def test_a_second_writer_is_refused(tmp_path):
    store = tmp_path / "steps.jsonl"
    with store_lock(store):
        with pytest.raises(StoreBusyError, match="locked by another running process"):
            store_lock(store).acquire()
    store_lock(store).acquire().release()

"""The SUP-NATINST reader: schema variants, sampling rules and bad input."""

from __future__ import annotations

import json

import pytest
from natinst_helpers import minimal_task, write_task

from stepinst_data.source.natinst import NatInstError, Sampling, definition_sha256, read_splits, read_task, sample_indices
from stepinst_data.sample import SAMPLE_NATINST
from stepinst_data.source.table import carve_validation, load_task_table


def test_current_schema_is_normalized(tmp_path):
    write_task(tmp_path, "task1_x", minimal_task(URL=[float("nan")], **{"Instance License": ["MIT"]}))
    task = read_task(tmp_path, "task1_x", "train", Sampling())
    assert task.definition == "Copy the input"
    assert task.category == "Misc."
    assert task.url == []  # task162 upstream has URL [NaN]
    assert task.instance_license == ["MIT"]
    assert [i.id for i in task.instances] == ["t-0", "t-1", "t-2"]
    assert task.instances[0].outputs == ["out 0"]
    assert task.schema == "current"


def test_old_schema_strings_and_missing_ids():
    task = read_task(SAMPLE_NATINST, "task9008_stepinst_sample_sort_words", "train", Sampling())
    assert task.schema == "old"
    assert task.definition.startswith("Sort the given words")
    assert task.categories == ["Program Execution"]
    ids = [i.id for i in task.instances]
    assert len(set(ids)) == len(ids) == 24
    assert all(i.startswith("task9008-") and len(i) == len("task9008-") + 32 for i in ids)
    again = read_task(SAMPLE_NATINST, "task9008_stepinst_sample_sort_words", "train", Sampling())
    assert [i.id for i in again.instances] == ids  # derived ids are stable


def test_definition_hash_is_of_the_first_definition_exactly(tmp_path):
    write_task(tmp_path, "task2_x", minimal_task(Definition=["  Spaced def. ", "second"]))
    task = read_task(tmp_path, "task2_x", "train", Sampling())
    assert task.definition == "  Spaced def. "
    assert task.definition_sha256 == definition_sha256("  Spaced def. ")


def test_test_split_keeps_the_first_instances_in_file_order():
    assert sample_indices("t", "test", 250, Sampling()) == list(range(100))
    assert sample_indices("t", "test", 40, Sampling()) == list(range(40))


def test_train_split_is_a_seeded_sample():
    first = sample_indices("task1_a", "train", 500, Sampling(seed=1))
    assert len(first) == 100 and first == sorted(first) and len(set(first)) == 100
    assert first == sample_indices("task1_a", "train", 500, Sampling(seed=1))
    assert first != sample_indices("task1_a", "train", 500, Sampling(seed=2))
    assert first != sample_indices("task2_b", "train", 500, Sampling(seed=1))  # per-task seeds
    assert sample_indices("task1_a", "train", 60, Sampling()) == list(range(60))
    assert len(sample_indices("task1_a", "train", 500, Sampling(max_num_instances_per_task=None))) == 500


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        (json.dumps({"Definition": ["d"], "Categories": ["c"]}), r"missing required key\(s\) \['Positive Examples', 'Instances'\]"),
        (json.dumps(minimal_task(Definition=[""])), "'Definition' is empty"),
        (json.dumps([1, 2]), "must hold a JSON object"),
    ],
)
def test_bad_task_files_name_the_file(tmp_path, content, message):
    path = write_task(tmp_path, "task3_bad", content)
    with pytest.raises(NatInstError, match=message) as info:
        read_task(tmp_path, "task3_bad", "train", Sampling())
    assert str(path) in str(info.value)


def test_duplicate_instance_ids_are_refused(tmp_path):
    data = minimal_task()
    data["Instances"][2]["id"] = "t-0"
    write_task(tmp_path, "task4_dup", data)
    with pytest.raises(NatInstError, match=r"duplicate instance id 't-0' at Instances\[0\] and Instances\[2\]"):
        read_task(tmp_path, "task4_dup", "train", Sampling())


def test_empty_output_is_refused(tmp_path):
    data = minimal_task()
    data["Instances"][1]["output"] = []
    write_task(tmp_path, "task5_empty", data)
    with pytest.raises(NatInstError, match=r"instance t-1 \(Instances\[1\]\) has an empty 'output'"):
        read_task(tmp_path, "task5_empty", "train", Sampling())


@pytest.mark.parametrize("name", ["../etc/passwd", "tasks/x", "a..b", "x\\y"])
def test_task_names_with_path_parts_are_refused(tmp_path, name):
    split = tmp_path / "splits" / "default"
    split.mkdir(parents=True)
    (split / "train_tasks.txt").write_text(f"task1_ok\n{name}\n")
    (split / "test_tasks.txt").write_text("")
    with pytest.raises(NatInstError, match=r"train_tasks.txt:2: invalid task name"):
        read_splits(tmp_path)


def test_missing_tasks_are_all_listed_or_skipped_when_allowed(tmp_path):
    write_task(tmp_path, "task1_here", minimal_task())
    split = tmp_path / "splits" / "default"
    (split / "train_tasks.txt").write_text("task1_here\ntask2_gone\n")
    (split / "test_tasks.txt").write_text("task3_gone\n")
    with pytest.raises(NatInstError, match=r"2 task\(s\).*task2_gone, task3_gone.*--allow-missing-tasks"):
        load_task_table(tmp_path)
    table = load_task_table(tmp_path, allow_missing_tasks=True)
    assert [t.name for t in table.tasks] == ["task1_here"]
    assert table.missing == ["task2_gone", "task3_gone"]


def test_every_bad_file_is_reported_at_once(tmp_path):
    write_task(tmp_path, "task1_bad", "{", split="train")
    write_task(tmp_path, "task2_bad", json.dumps({"Definition": "d"}), split="test")
    with pytest.raises(NatInstError, match=r"2 task file\(s\)") as info:
        load_task_table(tmp_path)
    assert "task1_bad.json" in str(info.value) and "task2_bad.json" in str(info.value)


def test_task_table_is_cached_and_parsed_in_parallel(tmp_path):
    cold = load_task_table(SAMPLE_NATINST, num_proc=2, cache_dir=tmp_path)
    assert len(list((tmp_path / "tables").glob("*.jsonl"))) == 1
    warm = load_task_table(SAMPLE_NATINST, cache_dir=tmp_path)
    assert warm.tasks == cold.tasks
    serial = load_task_table(SAMPLE_NATINST)
    assert serial.tasks == cold.tasks
    other = load_task_table(SAMPLE_NATINST, Sampling(max_num_instances_per_task=5), cache_dir=tmp_path)
    assert len(list((tmp_path / "tables").glob("*.jsonl"))) == 2  # sampling is part of the key
    assert max(len(t.instances) for t in other.split("train")) == 5


def test_embedded_sample_sizes():
    table = load_task_table(SAMPLE_NATINST)
    assert len(table.split("train")) == 8 and len(table.split("test")) == 4
    assert len({t.category for t in table.tasks}) >= 4
    assert all(t.num_instances_total >= 20 for t in table.tasks)
    counts = {t.name: len(t.instances) for t in table.tasks}
    assert counts["task9001_stepinst_sample_integer_addition"] == 100  # 150 in the file, sampled
    assert counts["task9101_stepinst_sample_integer_subtraction"] == 100  # the first 100 of 120


def test_validation_is_carved_from_train_tasks_by_seed():
    table = load_task_table(SAMPLE_NATINST)
    carved = carve_validation(table, 2, seed=42)
    assert carved.split_names == ["train", "validation", "test"]
    assert len(carved.split("validation")) == 2 and len(carved.split("train")) == 6
    assert {t.name for t in carved.split("validation")} <= {t.name for t in table.split("train")}
    assert [t.name for t in carve_validation(table, 2, seed=42).split("validation")] == [
        t.name for t in carved.split("validation")
    ]
    with pytest.raises(ValueError, match=r"--num-validation-tasks 8 \(`validation_tasks`\) must be smaller than the 8 train tasks"):
        carve_validation(table, 8, seed=42)

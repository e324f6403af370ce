"""The ratings in the built dataset: the `ratings` config, `steps_quality`, and `steps_ordered_hq`."""

from __future__ import annotations

from datasets import load_dataset
from rate_helpers import rating, write_jsonl

from stepinst_data.cli import main
from stepinst_data.stores.ratings import read_ratings_store
from stepinst_data.sample import SAMPLE_NATINST, SAMPLE_RATINGS, SAMPLE_STEPS
from stepinst_data.dataset.validate import validate_inputs

# Sample train tasks whose mean human "overall" is below 4: task9004 (2.67) and task9006 (3.67).
LOW_QUALITY = {"task9004_stepinst_sample_topic_classification", "task9006_stepinst_sample_antonyms"}


def test_ratings_config_and_high_quality_preset_load(tmp_path):
    out = tmp_path / "stepinst"
    args = ["build", "--sample", "--out", str(out), "--configs", "ratings,steps_ordered,steps_ordered_hq",
            "--max-num-instances-per-task", "5", "--max-num-instances-per-eval-task", "5",
            "--cache-dir", str(tmp_path / "cache")]
    assert main(args) == 0
    cache = str(tmp_path / "hf")
    ratings = load_dataset(str(out), "ratings", cache_dir=cache)
    assert {s: ratings[s].num_rows for s in ratings} == {"train": 24, "test": 12}  # 3 annotators x (8 + 4) tasks
    assert ratings["train"].column_names == ["task_name", "annotator", "correctness", "completeness", "order", "overall", "comment"]
    store = read_ratings_store(SAMPLE_RATINGS)
    first = store.records[0]
    assert ratings["train"][0] == first

    ordered = load_dataset(str(out), "steps_ordered", cache_dir=cache)
    quality = store.overall_by_task()
    for row in ordered["train"].select_columns(["task_name", "steps_quality"]):
        assert row["steps_quality"] == quality[row["task_name"]]
    hq = load_dataset(str(out), "steps_ordered_hq", cache_dir=cache)
    kept = set(hq["train"]["task_name"])
    assert kept == set(ordered["train"]["task_name"]) - LOW_QUALITY and len(kept) == 6
    assert min(hq["train"]["steps_quality"]) >= 4.0
    assert set(hq["test"]["task_name"]) == set(ordered["test"]["task_name"])  # test keeps every task


def test_unrated_tasks_get_null_quality(tmp_path):
    store = write_jsonl(tmp_path / "r.jsonl", [rating("task9001_stepinst_sample_integer_addition", "alice", 3)])
    out = tmp_path / "stepinst"
    args = ["build", "--natinst", str(SAMPLE_NATINST), "--steps", str(SAMPLE_STEPS), "--ratings", str(store),
            "--out", str(out), "--configs", "steps_ordered", "--max-num-instances-per-task", "2",
            "--max-num-instances-per-eval-task", "2", "--cache-dir", str(tmp_path / "cache")]
    assert main(args) == 0
    rows = load_dataset(str(out), "steps_ordered", cache_dir=str(tmp_path / "hf"))["train"]
    by_task = dict(zip(rows["task_name"], rows["steps_quality"]))
    assert by_task.pop("task9001_stepinst_sample_integer_addition") == 3.0
    assert set(by_task.values()) == {None}


def test_validate_reports_ratings_of_tasks_without_steps(tmp_path):
    steps = tmp_path / "steps.jsonl"
    steps.write_text(SAMPLE_STEPS.read_text().splitlines()[0] + "\n")
    problems = validate_inputs(SAMPLE_NATINST, None, SAMPLE_RATINGS) + validate_inputs(SAMPLE_NATINST, steps, SAMPLE_RATINGS)
    assert [p for p in problems if "ratings of 11 task(s) that have no steps" in p]

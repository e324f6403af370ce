"""Integration on the real, truncated SUP-NATINST sample in ../shared/natinst (skipped when absent)."""

from __future__ import annotations

import csv
import json

import pytest
from datasets import load_dataset

from stepinst_data.cli import main
from stepinst_data.card.release import release
from stepinst_data.dataset.plan import BuildPlan
from stepinst_data.source.natinst import NatInstError, Sampling, read_task
from stepinst_data.source.table import load_task_table


def _manifest(root):
    with open(root / "MANIFEST.tsv", encoding="utf-8") as f:
        return {row["name"]: row for row in csv.DictReader(f, delimiter="\t")}


def _synthetic_steps(table, path):
    """Steps made from each definition's sentences: not from an API, so usage is null."""
    with open(path, "w", encoding="utf-8") as f:
        for task in table.tasks:
            sentences = [s.strip() for s in task.definition.replace("\n", " ").split(". ") if s.strip()]
            steps = [f"Step about: {s}" for s in sentences[:4]] + ["Write the answer."]
            record = {"task_name": task.name, "steps": steps, "raw": "", "model": "test", "prompt_version": "test",
                      "definition_sha256": task.definition_sha256, "created_at": "2026-11-24T00:00:00+00:00", "usage": None}
            f.write(json.dumps(record) + "\n")


def test_listed_but_missing_tasks_are_refused_by_default(shared_natinst):
    with pytest.raises(NatInstError, match=r"750 task\(s\) listed in splits/default/ have no file") as info:
        load_task_table(shared_natinst)
    assert "task033_winogrande_answer_generation" not in str(info.value)  # present test tasks are not listed


def test_every_file_reads_including_old_schema_and_quirks(shared_natinst):
    table = load_task_table(shared_natinst, allow_missing_tasks=True, num_proc=2)
    manifest = _manifest(shared_natinst)
    assert len(table.tasks) == len(manifest) == 125
    assert len(table.split("test")) == 101 and len(table.split("train")) == 24
    for task in table.tasks:
        row = manifest[task.name]
        assert task.split == row["split"], task.name
        assert task.num_instances_total == int(row["n_instances"]), task.name
        assert len(task.instances) == min(100, task.num_instances_total), task.name
        assert task.category == row["categories0"], task.name
        assert task.schema == ("old" if row["schema"] == "old" else "current"), task.name
    old = read_task(shared_natinst, "task304_numeric_fused_head_resolution", "test", Sampling())
    assert old.definition.startswith("In this task, you will use your knowledge about language")
    assert len({i.id for i in old.instances}) == len(old.instances)
    nan_url = read_task(shared_natinst, "task162_count_words_starting_with_letter", "train", Sampling())
    assert nan_url.url == []
    two_definitions = read_task(shared_natinst, "task288_gigaword_summarization", "test", Sampling())
    assert two_definitions.definition == "In this task, you are given a text of the article. Your task is to generate a headline (title) for this article."


def test_test_split_is_the_first_instances_of_each_file(shared_natinst):
    raw = json.loads((shared_natinst / "tasks" / "task033_winogrande_answer_generation.json").read_text())
    task = read_task(shared_natinst, "task033_winogrande_answer_generation", "test", Sampling())
    assert [i.id for i in task.instances] == [i["id"] for i in raw["Instances"][:100]]
    assert [i.outputs for i in task.instances] == [i["output"] for i in raw["Instances"][:100]]


def test_build_and_load_every_config(shared_natinst, tmp_path, hf_cache):
    table = load_task_table(shared_natinst, allow_missing_tasks=True)
    steps = tmp_path / "steps.jsonl"
    _synthetic_steps(table, steps)
    out = tmp_path / "stepinst"
    written = release(BuildPlan(allow_missing_tasks=True), shared_natinst, out, steps, num_proc=2).written
    expected = {s: sum(len(t.instances) for t in table.split(s)) for s in ("train", "test")}
    assert {w.config.name for w in written} == {"definition", "definition_pos", "steps_ordered", "steps_ordered_pos",
                                                "steps_shuffled", "steps_reversed", "steps_only"}
    for w in written:
        assert w.num_examples == expected, w.config.name
    ds = load_dataset(str(out), "steps_shuffled", split="test", cache_dir=hf_cache)
    assert ds.num_rows == expected["test"]
    by_task = {}
    for row in ds:
        by_task.setdefault(row["task_name"], row)
    assert all(r["step_order"] != sorted(r["step_order"]) for r in by_task.values())
    assert "missing" not in json.dumps(written[0].files)


def test_validate_reports_missing_tasks_and_passes_when_allowed(shared_natinst, capsys):
    assert main(["validate", "--natinst", str(shared_natinst)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1  # 750 missing tasks: one line with the count, the first few names and the flag
    assert ": 750 task(s) listed in splits/default/ have no file in tasks/: " in out[0]
    assert out[0].endswith(", ... (and 745 more). Restore them, or pass --allow-missing-tasks to skip them.")
    assert main(["validate", "--natinst", str(shared_natinst), "--allow-missing-tasks"]) == 0

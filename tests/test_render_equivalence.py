"""The columnar renderer writes exactly the prompts the one template renders, row by row.

Export builds prompts in Arrow (a task's prefix joined to each instance block); these tests
render every written row again through ``template.render_prompt`` from the task table and the
steps store, and compare. Every preset, plus a custom config with negative examples and
explanations, on the embedded sample and on the real SUP-NATINST sample in ../shared/natinst.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from stepinst_data.card.release import release
from stepinst_data.dataset.configs import PRESETS, StepInstConfig
from stepinst_data.dataset.inputs import BuildInputs, load_build_inputs
from stepinst_data.dataset.plan import BuildPlan
from stepinst_data.dataset.orderings import step_order
from stepinst_data.dataset.render import keeps_task
from stepinst_data.dataset.template import render_prompt
from stepinst_data.sample import SAMPLE_NATINST, SAMPLE_RATINGS, SAMPLE_STEPS
from stepinst_data.source.table import load_task_table

CUSTOM = StepInstConfig(name="steps_all_examples", steps="shuffled", num_pos_examples=2, num_neg_examples=1,
                        add_explanation=True)


def _expected_rows(config: StepInstConfig, inputs: BuildInputs, split: str) -> list[tuple[str, str]]:
    """(id, prompt) of every row of one split, rendered one instance at a time by the template."""
    quality = inputs.quality_by_task()
    rows = []
    for task in inputs.table.iter_tasks():
        if task.split != split or not keeps_task(config, task.name, split, quality):
            continue
        steps: list[str] = []
        if config.steps != "none":
            generated = inputs.steps[task.name].steps
            steps = [generated[i] for i in step_order(generated, config.steps, inputs.plan.sampling.seed, task.name)]
        for instance in task.instances:
            prompt = render_prompt(
                instance.input,
                definition=task.definition if config.add_definition else None,
                steps=steps,
                positive_examples=task.positive_examples[: config.num_pos_examples],
                negative_examples=task.negative_examples[: config.num_neg_examples],
                add_explanation=config.add_explanation,
            )
            rows.append((instance.id, prompt))
    return rows


def _assert_written_prompts_match_template(inputs: BuildInputs, out: Path, configs: list[StepInstConfig], natinst: Path) -> int:
    written = release(inputs.plan.with_configs(configs), natinst, out, inputs.steps and inputs.steps_path, inputs.ratings_path,
                      cache_dir=out.parent / "cache").written
    checked = 0
    for files in written:
        assert files.files, files.config.name
        for split, relative in files.files.items():
            table = pq.read_table(out / relative, columns=["id", "prompt"])
            actual = list(zip(table["id"].to_pylist(), table["prompt"].to_pylist()))
            expected = _expected_rows(files.config, inputs, split)
            assert len(actual) == len(expected), (files.config.name, split)
            for got, want in zip(actual, expected):
                assert got == want, f"{files.config.name}/{split}: row {got[0]} differs from the template"
            checked += len(actual)
    return checked


def test_every_config_on_the_sample_renders_like_the_template(tmp_path):
    inputs = load_build_inputs(SAMPLE_NATINST, SAMPLE_STEPS, SAMPLE_RATINGS, cache_dir=tmp_path / "cache")
    configs = [c for c in PRESETS.values() if not c.ratings_only] + [CUSTOM]
    rows = _assert_written_prompts_match_template(inputs, tmp_path / "out", configs, SAMPLE_NATINST)
    assert rows > 0
    assert any(t.negative_examples for t in inputs.table.tasks)  # the custom config shows some


def test_every_config_on_the_real_sample_renders_like_the_template(shared_natinst, tmp_path):
    table = load_task_table(shared_natinst, allow_missing_tasks=True, cache_dir=tmp_path / "cache")
    steps = tmp_path / "steps.jsonl"
    with open(steps, "w", encoding="utf-8") as f:
        for task in table.tasks:  # steps from the definition's sentences, so real text reaches the steps block
            sentences = [s.strip() for s in task.definition.replace("\n", " ").split(". ") if s.strip()]
            record = {"task_name": task.name, "steps": [f"Consider: {s}" for s in sentences[:4]] + ["Answer."],
                      "raw": "", "model": "test", "prompt_version": "test", "definition_sha256": task.definition_sha256,
                      "created_at": "2026-11-24T00:00:00+00:00", "usage": None}
            f.write(json.dumps(record) + "\n")
    inputs = load_build_inputs(shared_natinst, steps, plan=BuildPlan(allow_missing_tasks=True), cache_dir=tmp_path / "cache")
    configs = [c for c in PRESETS.values() if not c.ratings_only and c.min_steps_quality is None] + [CUSTOM]
    rows = _assert_written_prompts_match_template(inputs, tmp_path / "out", configs, shared_natinst)
    assert rows == len(configs) * sum(len(t.instances) for t in table.tasks)


@pytest.mark.parametrize("threads", [1, 3])
def test_thread_count_does_not_change_a_byte(tmp_path, threads):
    """Configs are written side by side by threads; each file must still get its rows in table order."""
    for out, count in ((tmp_path / "one", 1), (tmp_path / "many", threads)):
        release(BuildPlan(), SAMPLE_NATINST, out, SAMPLE_STEPS, SAMPLE_RATINGS, cache_dir=tmp_path / "cache", threads=count)
    one = {p.relative_to(tmp_path / "one"): p.read_bytes() for p in (tmp_path / "one").rglob("*") if p.is_file()}
    many = {p.relative_to(tmp_path / "many"): p.read_bytes() for p in (tmp_path / "many").rglob("*") if p.is_file()}
    assert one == many

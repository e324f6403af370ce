"""Render rows of a configuration from the task table, the steps store and the ratings store.

All instance configurations share :data:`INSTANCE_FEATURES`, so they concatenate and compare.
The builder (``datasets`` API) and the exporter (Parquet folder) both take their rows from here.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import asdict

import datasets

from .configs import StepInstConfig
from .natinst import Task
from .orderings import step_order
from .inputs import BuildInputs
from .ratings_store import DEFAULT_RUBRIC, Rubric
from .template import render_prompt

logger = logging.getLogger(__name__)

_EXAMPLE = {"input": datasets.Value("string"), "output": datasets.Value("string"), "explanation": datasets.Value("string")}

INSTANCE_FEATURES = datasets.Features(
    {
        "id": datasets.Value("string"),
        "task_name": datasets.Value("string"),
        "category": datasets.Value("string"),
        "categories": datasets.List(datasets.Value("string")),
        "definition": datasets.Value("string"),
        "steps": datasets.List(datasets.Value("string")),
        "step_order": datasets.List(datasets.Value("int32")),
        "positive_examples": datasets.List(_EXAMPLE),
        "negative_examples": datasets.List(_EXAMPLE),
        "input": datasets.Value("string"),
        "outputs": datasets.List(datasets.Value("string")),
        "prompt": datasets.Value("string"),
        "completion": datasets.Value("string"),
        "steps_quality": datasets.Value("float64"),
    }
)


def ratings_features(rubric: Rubric = DEFAULT_RUBRIC) -> datasets.Features:
    """The ``ratings`` configuration's schema: one integer column per rubric criterion."""
    columns = {"task_name": datasets.Value("string"), "annotator": datasets.Value("string")}
    columns.update({name: datasets.Value("int32") for name in rubric.criterion_names})
    columns["comment"] = datasets.Value("string")
    return datasets.Features(columns)


def _task_rows(task: Task, config: StepInstConfig, inputs: BuildInputs, quality: float | None) -> Iterator[dict]:
    """The rows of one task; everything but the instance is rendered once per task."""
    steps: list[str] = []
    order: list[int] = []
    if config.steps != "none":
        generated = inputs.steps[task.name].steps  # type: ignore[index]
        order = step_order(generated, config.steps, config.seed, task.name)
        steps = [generated[i] for i in order]
    positives = task.positive_examples[: config.num_pos_examples]
    negatives = task.negative_examples[: config.num_neg_examples]
    shared = {
        "task_name": task.name,
        "category": task.category,
        "categories": task.categories,
        "definition": task.definition,
        "steps": steps,
        "step_order": order,
        "positive_examples": [asdict(e) for e in task.positive_examples],
        "negative_examples": [asdict(e) for e in task.negative_examples],
        "steps_quality": quality,
    }
    for instance in task.instances:
        prompt = render_prompt(
            instance.input,
            definition=task.definition if config.add_definition else None,
            steps=steps,
            positive_examples=positives,
            negative_examples=negatives,
            add_explanation=config.add_explanation,
        )
        yield {
            "id": instance.id,
            **shared,
            "input": instance.input,
            "outputs": instance.outputs,
            "prompt": prompt,
            # Tk-Instruct samples one reference per epoch; a static dataset keeps the first.
            "completion": instance.outputs[0],
        }


def kept_tasks(config: StepInstConfig, inputs: BuildInputs, split: str) -> list[Task]:
    """The split's tasks, after the quality filter (which never touches the test split)."""
    tasks = inputs.table.split(split)
    if config.min_steps_quality is None or split == "test":
        return tasks
    quality = inputs.quality_by_task()
    return [t for t in tasks if quality.get(t.name, float("-inf")) >= config.min_steps_quality]


def instance_rows(config: StepInstConfig, inputs: BuildInputs, split: str) -> Iterator[dict]:
    """All rows of one split of an instance configuration, in task-list then file order."""
    quality = inputs.quality_by_task()
    for task in kept_tasks(config, inputs, split):
        yield from _task_rows(task, config, inputs, quality.get(task.name))


def ratings_rows(inputs: BuildInputs, split: str) -> Iterator[dict]:
    """The ``ratings`` rows of the tasks of one split; ratings of tasks not in the build are skipped."""
    if inputs.ratings is None:
        return
    split_of = {t.name: t.split for t in inputs.table.tasks}
    for record in inputs.ratings.records:
        if split_of.get(record["task_name"]) == split:
            yield dict(record)


def features_for(config: StepInstConfig, inputs: BuildInputs | None = None) -> datasets.Features:
    if config.ratings_only:
        return ratings_features(inputs.ratings.rubric if inputs and inputs.ratings else DEFAULT_RUBRIC)
    return INSTANCE_FEATURES


def rows_for(config: StepInstConfig, inputs: BuildInputs, split: str) -> Iterator[dict]:
    if config.ratings_only:
        return ratings_rows(inputs, split)
    return instance_rows(config, inputs, split)

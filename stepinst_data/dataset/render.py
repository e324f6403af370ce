"""Render a configuration's rows, as Arrow tables, from the task table and the stores.

All instance configurations share :data:`INSTANCE_FEATURES`, so they concatenate and compare.
The builder (``datasets`` API) and the exporter (Parquet folder) both take their tables from
here. Rendering is columnar: what is constant within a task (definition, steps, examples,
quality) is built once per task and repeated with Arrow's ``take``; each prompt is the task's
prefix plus the instance block.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import asdict

import datasets
import pyarrow as pa
import pyarrow.compute as pc

from .configs import StepInstConfig
from .inputs import BuildInputs
from ..source.natinst import Task
from .orderings import step_order
from ..stores.ratings import DEFAULT_RUBRIC, Rubric
from .template import instance_block, render_prefix

logger = logging.getLogger(__name__)

ROWS_PER_TABLE = 5_000  # rows per Arrow table (= Parquet row group): bounds memory, not output

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
_SCHEMA = INSTANCE_FEATURES.arrow_schema
_PER_TASK = ["task_name", "category", "categories", "definition", "steps", "step_order",
             "positive_examples", "negative_examples", "steps_quality"]


def ratings_features(rubric: Rubric = DEFAULT_RUBRIC) -> datasets.Features:
    """The ``ratings`` configuration's schema: one integer column per rubric criterion."""
    columns = {"task_name": datasets.Value("string"), "annotator": datasets.Value("string")}
    columns.update({name: datasets.Value("int32") for name in rubric.criterion_names})
    columns["comment"] = datasets.Value("string")
    return datasets.Features(columns)


def features_for(config: StepInstConfig, inputs: BuildInputs | None = None) -> datasets.Features:
    if config.ratings_only:
        return ratings_features(inputs.ratings.rubric if inputs and inputs.ratings else DEFAULT_RUBRIC)
    return INSTANCE_FEATURES


def keeps_task(config: StepInstConfig, task_name: str, split: str, quality: dict[str, float]) -> bool:
    """The quality filter of ``*_hq`` configs; it never touches the test split (comparability)."""
    if config.min_steps_quality is None or split == "test":
        return True
    return quality.get(task_name, float("-inf")) >= config.min_steps_quality


def _task_values(task: Task, config: StepInstConfig, inputs: BuildInputs, quality: float | None) -> tuple[dict, str]:
    """The per-task column values and the prompt prefix of one task."""
    steps: list[str] = []
    order: list[int] = []
    if config.steps != "none":
        generated = inputs.steps[task.name].steps  # type: ignore[index]
        order = step_order(generated, config.steps, inputs.plan.sampling.seed, task.name)
        steps = [generated[i] for i in order]
    positives = task.positive_examples[: config.num_pos_examples]
    negatives = task.negative_examples[: config.num_neg_examples]
    prefix = render_prefix(
        definition=task.definition if config.add_definition else None,
        steps=steps,
        positive_examples=positives,
        negative_examples=negatives,
        add_explanation=config.add_explanation,
    )
    values = {
        "task_name": task.name,
        "category": task.category,
        "categories": task.categories,
        "definition": task.definition,
        "steps": steps,
        "step_order": order,
        # Like `steps`, the example columns hold what the prompt shows (none in most configs).
        "positive_examples": [asdict(e) for e in positives],
        "negative_examples": [asdict(e) for e in negatives],
        "steps_quality": quality,
    }
    return values, prefix


def training_target(references: list[str]) -> str:
    """The ``completion``: the first reference that is not blank (upstream lists a few ``""`` first)."""
    return next((r for r in references if r.strip()), references[0])


def instance_columns(tasks: Iterable[Task]) -> dict[str, pa.Array]:
    """The columns that are the same in every configuration; built once per chunk of tasks.

    ``_row_task`` (each row's task, an index into ``tasks``) and ``_block`` (each row's instance
    block of the prompt) are not written: every configuration's prompt is its task prefix
    joined to ``_block``.
    """
    row_task, ids, texts, outputs, completions, blocks = [], [], [], [], [], []
    for index, task in enumerate(tasks):
        for instance in task.instances:
            row_task.append(index)
            ids.append(instance.id)
            texts.append(instance.input)
            outputs.append(instance.outputs)
            # Tk-Instruct samples one reference per epoch; a static dataset keeps the first.
            completions.append(training_target(instance.outputs))
            blocks.append(instance_block(instance.input))
    return {
        "_row_task": pa.array(row_task, pa.int32()),
        "_block": pa.array(blocks, pa.string()),
        "id": pa.array(ids, pa.string()),
        "input": pa.array(texts, pa.string()),
        "outputs": pa.array(outputs, _SCHEMA.field("outputs").type),
        "completion": pa.array(completions, pa.string()),
    }


def render_table(
    config: StepInstConfig, inputs: BuildInputs, tasks: list[Task], shared: dict[str, pa.Array] | None = None
) -> pa.Table:
    """One Arrow table holding the rows of ``tasks`` (already filtered) for ``config``.

    ``shared`` is :func:`instance_columns` of the same ``tasks``, when already built. Python
    touches each task once (its values and prompt prefix); the rows are made by Arrow, which
    repeats the per-task values with ``take`` and joins each prefix to the instance blocks.
    """
    shared = shared if shared is not None else instance_columns(tasks)
    quality = inputs.quality_by_task()
    per_task: dict[str, list] = {name: [] for name in _PER_TASK}
    prefixes = []
    for task in tasks:
        values, prefix = _task_values(task, config, inputs, quality.get(task.name))
        for name in _PER_TASK:
            per_task[name].append(values[name])
        prefixes.append(prefix)
    rows = shared["_row_task"]
    columns = {name: pa.array(per_task[name], _SCHEMA.field(name).type).take(rows) for name in _PER_TASK}
    columns.update(shared, prompt=pc.binary_join_element_wise(pa.array(prefixes, pa.string()).take(rows), shared["_block"], ""))
    return pa.Table.from_arrays([columns[f.name] for f in _SCHEMA], schema=_SCHEMA)


def task_chunks(tasks: Iterable[Task], rows: int = ROWS_PER_TABLE) -> Iterator[list[Task]]:
    """Consecutive tasks grouped into chunks of about ``rows`` instances (never splitting a task)."""
    chunk: list[Task] = []
    size = 0
    for task in tasks:
        chunk.append(task)
        size += len(task.instances)
        if size >= rows:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk


def ratings_table(inputs: BuildInputs, split: str) -> pa.Table:
    """The ``ratings`` rows of the tasks of one split (ratings of tasks not in the build are skipped)."""
    split_of = {info.name: info.split for info in inputs.table.infos}
    records = [dict(r) for r in (inputs.ratings.records if inputs.ratings else []) if split_of.get(r["task_name"]) == split]
    rubric = inputs.ratings.rubric if inputs.ratings else DEFAULT_RUBRIC
    return pa.Table.from_pylist(records, schema=ratings_features(rubric).arrow_schema)


def split_tables(config: StepInstConfig, inputs: BuildInputs, split: str) -> Iterator[pa.Table]:
    """The tables of one split of a configuration (used by the builder; export streams all at once)."""
    if config.ratings_only:
        yield ratings_table(inputs, split)
        return
    quality = inputs.quality_by_task()
    tasks = (t for t in inputs.table.iter_tasks() if t.split == split and keeps_task(config, t.name, split, quality))
    for chunk in task_chunks(tasks):
        yield render_table(config, inputs, chunk)

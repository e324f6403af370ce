"""The figures of the dataset card's body: how the steps were made, ratings, statistics, licences.

Each function returns Markdown computed from this build's inputs and written files, so the card
never states a figure that the data does not carry. Two parts belong to other packages and are
read through guarded imports, so a card still renders when they are absent:

* ``stepinst_data.generation`` (the step-generation pipeline): the prompt text of a
  ``prompt_version`` (``prompt_text(version)`` or a ``PROMPTS`` mapping) and the cost of the
  reported token usage (``cost_usd(model, usage)``, from its dated price table);
* ``stepinst_data.ratings.agreement``: ``alpha_by_criterion(store)``; without it, Krippendorff's
  alpha is computed with the ``krippendorff`` package when installed, else omitted with a note.
"""

from __future__ import annotations

import importlib
import logging
from collections import Counter
from statistics import mean
from typing import Any

from .configs import DEFAULT_MIN_STEPS_QUALITY
from .inputs import BuildInputs
from .ratings_store import RatingsStore
from .steps_store import StepsRecord

logger = logging.getLogger(__name__)


def _optional_module(name: str) -> Any | None:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def prompt_text(version: str) -> str | None:
    """The generation prompt of ``version``, when the generation package knows it."""
    generation = _optional_module("stepinst_data.generation")
    if generation is None:
        return None
    if callable(getattr(generation, "prompt_text", None)):
        try:
            return generation.prompt_text(version)
        except (KeyError, ValueError):
            return None
    prompts = getattr(generation, "PROMPTS", None)
    return prompts.get(version) if isinstance(prompts, dict) else None


def _cost(records: list[StepsRecord]) -> float | None:
    """Total API cost in USD from each record's usage, when the generation package prices it."""
    generation = _optional_module("stepinst_data.generation")
    price = getattr(generation, "cost_usd", None) if generation else None
    if not callable(price):
        return None
    try:
        return sum(price(r.model, r.usage) or 0.0 for r in records if r.usage)
    except (KeyError, ValueError) as e:
        logger.warning("cannot price the steps' token usage: %s", e)
        return None


def generation_section(inputs: BuildInputs) -> str:
    """Model, prompt version and text, dates, token usage and cost of the steps in this build."""
    if not inputs.steps:
        return "This build has no steps store: only the definition configurations are included."
    built = {t.name for t in inputs.table.tasks}
    records = [r for name, r in inputs.steps.items() if name in built]
    models = Counter(r.model for r in records)
    versions = Counter(r.prompt_version for r in records)
    dates = sorted(r.created_at[:10] for r in records if r.created_at)
    lines = [
        "| | |", "|---|---|",
        f"| tasks with steps | {len(records)} |",
        "| model | " + ", ".join(f"`{m}` ({n} tasks)" for m, n in models.most_common()) + " |",
        "| prompt version | " + ", ".join(f"`{v}` ({n} tasks)" for v, n in versions.most_common()) + " |",
    ]
    if dates:
        lines.append(f"| generated | {dates[0]}" + (f" to {dates[-1]}" if dates[-1] != dates[0] else "") + " |")
    usage = [r.usage for r in records if r.usage]
    if usage:
        prompt = sum(u.get("prompt_tokens", 0) for u in usage)
        completion = sum(u.get("completion_tokens", 0) for u in usage)
        lines.append(f"| tokens (API-reported) | {prompt:,} prompt + {completion:,} completion, {len(usage)} requests |")
        cost = _cost(records)
        lines.append(f"| cost | {'$%.2f' % cost if cost is not None else 'not priced (no price table available)'} |")
    else:
        lines.append("| tokens, cost | none: these steps were not made through an API (`usage` is null) |")
    text = "\n".join(lines) + "\n"
    for version in versions:
        prompt = prompt_text(version)
        if prompt:
            text += f"\nThe prompt of version `{version}` (the task definition is filled in):\n\n```text\n{prompt.strip()}\n```\n"
        else:
            text += (
                f"\nThe prompt text of version `{version}` is not known to this installation "
                "(the generation package, `stepinst_data.generation`, holds the prompts).\n"
            )
    text += (
        "\nEach record of the steps store keeps the model's raw answer (`raw`), the parsed steps and the "
        "sha256 of the definition they were made from, so stale steps are refused at build time. "
        "Regenerate them with `stepinst steps estimate` (cost) and `stepinst steps generate`."
    )
    return text


def _ratings_matrix(store: RatingsStore, criterion: str) -> tuple[list[str], list[list[float]]]:
    annotators = sorted({r["annotator"] for r in store.records})
    tasks = sorted({r["task_name"] for r in store.records})
    score = {(r["annotator"], r["task_name"]): r[criterion] for r in store.records}
    nan = float("nan")
    return annotators, [[score.get((a, t), nan) for t in tasks] for a in annotators]


def agreement(store: RatingsStore) -> dict[str, float] | None:
    """Krippendorff's alpha (ordinal) per criterion, or None when it cannot be computed here."""
    module = _optional_module("stepinst_data.ratings.agreement")
    if module is not None and callable(getattr(module, "alpha_by_criterion", None)):
        return dict(module.alpha_by_criterion(store))
    krippendorff = _optional_module("krippendorff")
    if krippendorff is None or len({r["annotator"] for r in store.records}) < 2:
        return None
    alphas = {}
    for criterion in store.rubric.criterion_names:
        _, matrix = _ratings_matrix(store, criterion)
        domain = list(range(store.rubric.min_score, store.rubric.max_score + 1))
        try:
            alphas[criterion] = float(krippendorff.alpha(matrix, value_domain=domain, level_of_measurement="ordinal"))
        except ValueError as e:  # e.g. every rating identical: alpha is undefined
            logger.warning("alpha of %r is undefined: %s", criterion, e)
    return alphas


def ratings_section(inputs: BuildInputs) -> str:
    """The rating protocol, agreement and score figures of this build's ratings."""
    store = inputs.ratings
    if not store or not store.records:
        return "This build includes no human ratings."
    rubric = store.rubric
    annotators = Counter(r["annotator"] for r in store.records)
    per_task = Counter(r["task_name"] for r in store.records)
    low, high = min(per_task.values()), max(per_task.values())
    lines = [
        f"Protocol: annotators read a task's definition and its steps and score every criterion of "
        f"rubric `{rubric.name}` with an integer from {rubric.min_score} to {rubric.max_score}. "
        f"{len(store.records)} ratings of {len(per_task)} tasks by {len(annotators)} annotators "
        f"({low if low == high else f'{low}-{high}'} ratings per task). "
        f"`steps_quality` is the mean `{rubric.aggregate_criterion}` score over a task's annotators; "
        f"`steps_ordered_hq` keeps the train tasks whose `steps_quality` is at least {DEFAULT_MIN_STEPS_QUALITY:g}.",
        "",
    ]
    alphas = agreement(store)
    lines += ["| criterion | definition shown to annotators | mean score | Krippendorff's alpha (ordinal) |", "|---|---|---:|---:|"]
    for c in rubric.criteria:
        score = mean(r[c.name] for r in store.records)
        alpha = f"{alphas[c.name]:.3f}" if alphas and c.name in alphas else "-"
        lines.append(f"| `{c.name}` | {c.description} | {score:.2f} | {alpha} |")
    if alphas is None:
        lines.append("\nAgreement is not reported: it needs two or more annotators and the `krippendorff` package.")
    quality = store.overall_by_task()
    passing = sum(q >= DEFAULT_MIN_STEPS_QUALITY for q in quality.values())
    lines.append(f"\n{passing} of {len(quality)} rated tasks reach `steps_quality` >= {DEFAULT_MIN_STEPS_QUALITY:g}.")
    return "\n".join(lines)


def stats_section(stats: dict[str, Any], inputs: BuildInputs) -> str:
    """Tasks, instances, categories, steps per task and prompt lengths, as Markdown tables."""
    table = inputs.table
    lines = ["| split | tasks | categories | instances |", "|---|---:|---:|---:|"]
    for split in table.split_names:
        tasks = table.split(split)
        lines.append(
            f"| {split} | {len(tasks)} | {len({t.category for t in tasks})} | {sum(len(t.instances) for t in tasks)} |"
        )
    steps = next((c["steps_per_task"] for c in stats.values() if "steps_per_task" in c), None)
    if steps:
        lines.append(
            f"\nSteps per task: min {steps['min']}, mean {steps['mean']}, median {steps['median']:g}, "
            f"95th percentile {steps['p95']}, max {steps['max']}."
        )
    lines += ["", "Prompt length in characters, per configuration:", "",
              "| config | split | tasks | rows | median | p95 | max |", "|---|---|---:|---:|---:|---:|---:|"]
    for name, config in stats.items():
        for split, s in config["splits"].items():
            p = s.get("prompt_chars")
            cells = f"{p['median']:g} | {p['p95']} | {p['max']}" if p else "- | - | -"
            lines.append(f"| `{name}` | {split} | {s['tasks']} | {s['rows']} | {cells} |")
    return "\n".join(lines)


def license_section(inputs: BuildInputs) -> str:
    """A summary of instance licences and the per-task table (task -> ``Instance License``)."""
    def name(task) -> str:
        return ", ".join(task.instance_license) or "not stated (older task file)"

    counts = Counter(name(t) for t in inputs.table.tasks)
    summary = "; ".join(f"{lic} ({n} task{'s' if n != 1 else ''})" for lic, n in counts.most_common())
    rows = "\n".join(f"| `{t.name}` | {t.split} | {name(t)} |" for t in sorted(inputs.table.tasks, key=lambda t: t.name))
    return (
        f"{summary}.\n\nEvery row carries its `task_name`; this table gives the licence of its instance.\n\n"
        f"<details>\n<summary>Instance licence of each task</summary>\n\n"
        f"| task | split | Instance License |\n|---|---|---|\n{rows}\n\n</details>"
    )

"""The figures of the dataset card's body: how the steps were made, ratings, statistics, licences.

Each function returns Markdown computed from this build's inputs and written files, so the card
never states a figure that the data does not carry.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import replace
from statistics import mean
from typing import Any

from ..dataset.configs import DEFAULT_MIN_STEPS_QUALITY
from ..generation.prompt import prompt_text
from ..generation.tokens import resolve_price
from ..dataset.inputs import BuildInputs
from ..dataset.manifest import Manifest
from ..ratings.agreement import annotators, format_agreement, ordinal_alpha, reliability_matrix
from ..stores.ratings import RatingsStore
from ..stores.steps import StepsRecord

logger = logging.getLogger(__name__)


def _cost(records: list[StepsRecord]) -> float | None:
    """Total API cost in USD from each record's usage and the dated price table; None if unpriced."""
    total = 0.0
    for record in records:
        if not record.usage:
            continue
        price = resolve_price(record.model)
        if price is None:
            return None
        usage = record.usage
        total += price.cost(usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0), batch=bool(usage.get("batch_requests")))
    return total


def generation_section(inputs: BuildInputs) -> str:
    """Model, prompt version and text, dates, token usage and cost of the steps in this build."""
    if not inputs.steps:
        return "This build has no steps store: only the definition configurations are included."
    built = {info.name for info in inputs.table.infos}
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
        requests = sum(u.get("requests", 1) for u in usage)
        lines.append(f"| tokens (API-reported) | {prompt:,} prompt + {completion:,} completion, {requests:,} requests |")
        cost = _cost(records)
        lines.append(f"| cost | {'$%.2f' % cost if cost is not None else 'not priced (a model missing from the price table)'} |")
    else:
        lines.append("| tokens, cost | none: these steps were not made through an API (`usage` is null) |")
    text = "\n".join(lines) + "\n"
    for version in versions:
        prompt = prompt_text(version)
        if prompt:
            text += f"\nThe prompt of version `{version}` (the task definition is filled in):\n\n```text\n{prompt.strip()}\n```\n"
        else:
            text += f"\nThe steps of prompt version `{version}` were not made by `stepinst steps generate`.\n"
    text += (
        "\nEach record of the steps store keeps the model's raw answer (`raw`), the parsed steps and the "
        "sha256 of the definition they were made from, so stale steps are refused at build time. "
        "Regenerate them with `stepinst steps estimate` (cost) and `stepinst steps generate`."
    )
    return text


def agreement(store: RatingsStore) -> dict[str, float] | None:
    """Krippendorff's alpha (ordinal) of the human annotators per criterion; None with fewer than 2."""
    humans = annotators(store.records)
    if len(humans) < 2:
        return None
    alphas = {}
    for criterion in store.rubric.criterion_names:
        alpha = ordinal_alpha(reliability_matrix(store.records, criterion, humans), store.rubric)
        if alpha is not None:
            alphas[criterion] = alpha
    return alphas


def ratings_section(inputs: BuildInputs) -> str:
    """The rating protocol, agreement and score figures of this build's ratings."""
    store = inputs.ratings
    if store is not None:  # the figures describe this build: ratings of tasks it left out are not in it
        built = {info.name for info in inputs.table.infos}
        store = replace(store, records=[r for r in store.records if r["task_name"] in built])
    humans = store.human_records if store else []
    if not humans:
        judged = len(store.records) if store else 0
        return "This build includes no human ratings." + (
            f" The `ratings` configuration holds {judged} ratings by LLM judges (`llm:<model>`); "
            "they never count as human ratings." if judged else "")
    rubric = store.rubric
    raters = Counter(r["annotator"] for r in humans)
    per_task = Counter(r["task_name"] for r in humans)
    low, high = min(per_task.values()), max(per_task.values())
    lines = [
        f"Protocol: annotators read a task's definition and its steps and score every criterion of "
        f"rubric `{rubric.name}` with an integer from {rubric.min_score} to {rubric.max_score}. "
        f"{len(humans)} ratings of {len(per_task)} tasks by {len(raters)} annotators "
        f"({low if low == high else f'{low}-{high}'} ratings per task). "
        f"`steps_quality` is the mean `{rubric.aggregate_criterion}` score over a task's human annotators; "
        f"`steps_ordered_hq` keeps the train tasks whose `steps_quality` is at least {DEFAULT_MIN_STEPS_QUALITY:g}; "
        "`definition_hq`, its control, trains the definition alone on the same tasks.",
        "",
    ]
    alphas = agreement(store)
    lines += ["| criterion | definition shown to annotators | mean score | Krippendorff's alpha (ordinal) |", "|---|---|---:|---:|"]
    for c in rubric.criteria:
        score = mean(r[c.name] for r in humans)
        alpha = format_agreement(alphas.get(c.name), "-") if alphas else "-"
        lines.append(f"| `{c.name}` | {c.description} | {score:.2f} | {alpha} |")
    if alphas is None:
        lines.append("\nAgreement is not reported: it needs two or more human annotators.")
    quality = store.overall_by_task()
    passing = sum(q >= DEFAULT_MIN_STEPS_QUALITY for q in quality.values())
    lines.append(f"\n{passing} of {len(quality)} rated tasks reach `steps_quality` >= {DEFAULT_MIN_STEPS_QUALITY:g}.")
    judges = sorted({r["annotator"] for r in store.records} - set(raters))
    if judges:
        lines.append(
            f"\nThe `ratings` configuration also holds {len(store.records) - len(humans)} ratings by LLM judges "
            f"({', '.join(f'`{j}`' for j in judges)}); they are left out of the figures above and of `steps_quality`."
        )
    return "\n".join(lines)


def stats_section(stats: dict[str, Any], inputs: BuildInputs) -> str:
    """Tasks, instances, categories, steps per task and prompt lengths, as Markdown tables."""
    table = inputs.table
    lines = ["| split | tasks | categories | instances |", "|---|---:|---:|---:|"]
    for split in table.split_names:
        tasks = [info for info in table.infos if info.split == split]
        lines.append(
            f"| {split} | {len(tasks)} | {len({t.category for t in tasks})} | {sum(t.num_instances for t in tasks)} |"
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

    counts = Counter(name(t) for t in inputs.table.infos)
    summary = "; ".join(f"{lic} ({n} task{'s' if n != 1 else ''})" for lic, n in counts.most_common())
    rows = "\n".join(f"| `{t.name}` | {t.split} | {name(t)} |" for t in sorted(inputs.table.infos, key=lambda t: t.name))
    return (
        f"{summary}.\n\nEvery row carries its `task_name`; this table gives the licence of its instance.\n\n"
        f"<details>\n<summary>Instance licence of each task</summary>\n\n"
        f"| task | split | Instance License |\n|---|---|---|\n{rows}\n\n</details>"
    )


def excluded_tasks_section(inputs: BuildInputs) -> str:
    """The listed tasks this build left out, by reason (a task never disappears without a word)."""
    table, lines = inputs.table, []
    if table.missing:
        lines.append(f"- {len(table.missing)} listed task(s) had no task file and are not included.")
    if table.skipped_empty:
        names = ", ".join(f"`{name}`" for name in table.skipped_empty)
        lines.append(f"- {len(table.skipped_empty)} listed task(s) have no instances and are not included "
                     f"(built with `--skip-empty-tasks`): {names}.")
    return "\n".join(lines)


def _short(sha256: str | None) -> str:
    return f"`{sha256[:16]}…`" if sha256 else "not recorded"


def _counts(counter: dict[str, int]) -> str:
    return ", ".join(f"`{name}` ({n})" for name, n in counter.items()) or "-"


def provenance_section(manifest: Manifest) -> str:
    """What this release was built from and with, from the build manifest (the full hashes are there)."""
    natinst, steps, ratings = manifest.inputs.natinst, manifest.inputs.steps, manifest.inputs.ratings
    plan = manifest.plan
    lines = ["| input | identified by |", "|---|---|"]
    if natinst:
        origin = f"archive {natinst.url}, sha256 {_short(natinst.archive_sha256)}; " if natinst.url else "a checkout folder; "
        tasks = sum(path.startswith("tasks/") for path in natinst.files)
        lists = len(natinst.files) - tasks
        lines.append(f"| SUP-NATINST | {origin}{tasks} task files and {lists} split lists, digest {_short(natinst.digest)} |")
    if steps:
        lines.append(
            f"| steps store | `{steps.file}`, sha256 {_short(steps.sha256)}; {steps.records_used} records used; "
            f"models {_counts(steps.models)}; prompt versions {_counts(steps.prompt_versions)} |"
        )
    if ratings:
        lines.append(
            f"| ratings store | `{ratings.file}`, sha256 {_short(ratings.sha256)}; {ratings.records} ratings "
            f"by {ratings.annotators} annotator{'' if ratings.annotators == 1 else 's'}, rubric `{ratings.rubric}` |"
        )
    sampling = plan.sampling
    lines += [
        "",
        f"- Parameters: up to {sampling.max_num_instances_per_task} instances per train task, the first "
        f"{sampling.max_num_instances_per_eval_task} of each test task, seed {sampling.seed}, "
        f"{plan.validation_tasks} validation tasks; steps records of at most {plan.steps_limits.max_num_steps_per_task} "
        f"steps of at most {plan.steps_limits.max_chars_per_step:,} characters; {len(plan.configs or ())} configurations "
        "(every parameter of each is in the manifest).",
        "- Built with " + ", ".join(f"{name} {version}" for name, version in manifest.versions.items()) + ".",
        "",
        "`stepinst_build.json` holds the full sha256 of every input, task file and data file. Check that "
        "this release was built from these inputs, by rebuilding it, with "
        "`stepinst verify REPO --natinst PATH_OR_URL --steps STEPS [--ratings RATINGS]`; rebuild it with the "
        "same parameters with `stepinst build --like REPO --natinst ... --steps ...`. `croissant.json` describes "
        "the same data files (with their sha256) as MLCommons Croissant 1.1 metadata.",
    ]
    return "\n".join(lines)

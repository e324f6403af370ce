"""Render the dataset card (``README.md``) of a built folder from ``dataset_card/``.

The YAML header is what ``load_dataset`` and the Hub read (``configs``, ``dataset_info``); the
body carries the real figures of this build, computed from the written files.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from huggingface_hub import DatasetCard, DatasetCardData

from .inputs import BuildInputs
from .stats import format_stats

if TYPE_CHECKING:
    from .export import ConfigFiles

logger = logging.getLogger(__name__)

CARD_DIR = Path(__file__).resolve().parent.parent / "dataset_card"
TEMPLATE = CARD_DIR / "template.md.j2"
CITATION = CARD_DIR / "citation.bib"
DEFAULT_REPO_ID = "stepinst/stepinst"


def _size_category(rows: int) -> str:
    for limit, label in [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")]:
        if rows < limit:
            return label
    return "1M<n<10M"


def _steps_text(inputs: BuildInputs) -> str:
    if not inputs.steps:
        return "This build has no steps store: only the definition configurations are included."
    records = list(inputs.steps.values())
    models = Counter(r.model for r in records)
    versions = Counter(r.prompt_version for r in records)
    dates = sorted(r.created_at for r in records if r.created_at)
    tokens = [r.usage for r in records if r.usage]
    text = (
        f"{len(records)} tasks have steps, made by {', '.join(f'`{m}` ({n})' for m, n in models.most_common())} "
        f"with prompt version(s) {', '.join(f'`{v}`' for v in versions)}"
    )
    if dates:
        text += f", between {dates[0][:10]} and {dates[-1][:10]}"
    if tokens:
        prompt = sum(u.get("prompt_tokens", 0) for u in tokens)
        completion = sum(u.get("completion_tokens", 0) for u in tokens)
        text += f"; the API reported {prompt:,} prompt and {completion:,} completion tokens"
    return text + ". Steps are regenerated with `stepinst steps generate` (see the project README)."


def _ratings_text(inputs: BuildInputs) -> str:
    if not inputs.ratings or not inputs.ratings.records:
        return "This build includes no human ratings."
    store = inputs.ratings
    annotators = {r["annotator"] for r in store.records}
    tasks = {r["task_name"] for r in store.records}
    criteria = "; ".join(f"`{c.name}`: {c.description}" for c in store.rubric.criteria)
    return (
        f"{len(store.records)} ratings of {len(tasks)} tasks by {len(annotators)} annotators, rubric "
        f"`{store.rubric.name}` (integers {store.rubric.min_score}-{store.rubric.max_score}). Criteria: {criteria} "
        f"`steps_quality` is the mean `{store.rubric.aggregate_criterion}` score over annotators."
    )


def _license_text(inputs: BuildInputs) -> str:
    licences = Counter(", ".join(i.instance_license) or "not stated (older task file)" for i in inputs.table.infos)
    return "; ".join(f"{name} ({n} tasks)" for name, n in licences.most_common())


def render_card(
    folder: Path,
    inputs: BuildInputs,
    written: Sequence[ConfigFiles],
    yaml_configs: list[dict],
    yaml_infos: list[dict],
    repo_id: str = DEFAULT_REPO_ID,
) -> str:
    """The full README.md text of a built folder."""
    stats = {w.config.name: w.stats for w in written}
    total_rows = max((sum(w.num_examples.values()) for w in written if not w.config.ratings_only), default=0)
    card_data = DatasetCardData(
        language=["en"],
        license="apache-2.0",
        task_categories=["text-generation"],
        size_categories=[_size_category(total_rows)],
        source_datasets=["extended|natural-instructions"],
        pretty_name="SUP-NATINST with Step-by-Step Instructions",
        tags=["instruction-tuning", "step-by-step", "super-natural-instructions"],
        configs=yaml_configs,
        dataset_info=yaml_infos,
    )
    first = written[0].config if written else None
    missing = inputs.table.missing
    card = DatasetCard.from_template(
        card_data,
        template_path=str(TEMPLATE),
        pretty_name=card_data.pretty_name,
        repo_id=repo_id,
        split_names=inputs.table.split_names,
        config_rows=[
            {"name": w.config.name, "description": w.config.description, "rows": w.num_examples} for w in written
        ],
        max_eval=first.max_num_instances_per_eval_task if first else 100,
        max_train=first.max_num_instances_per_task if first else 100,
        seed=first.seed if first else 42,
        rubric_fields=", ".join(f"`{c}`" for c in ["task_name", "annotator", *(inputs.ratings.rubric.criterion_names if inputs.ratings else []), "comment"]),
        stats_text="```\n" + format_stats(stats) + "\n```",
        steps_text=_steps_text(inputs),
        ratings_text=_ratings_text(inputs),
        license_text=_license_text(inputs),
        missing_text=(f"- {len(missing)} listed task(s) had no task file and are not included." if missing else ""),
        citation=CITATION.read_text(encoding="utf-8").strip(),
    )
    return str(card)

"""Render the dataset card (``README.md``) of a built folder from ``dataset_card/``.

The YAML header is what ``load_dataset`` and the Hub read (``configs``, ``dataset_info``); the
body carries the real figures of this build, computed from the written files.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from huggingface_hub import DatasetCard, DatasetCardData

from ..resources import card_template, citation_bib
from . import hub_metadata
from .sections import excluded_tasks_section, generation_section, license_section, provenance_section, ratings_section, stats_section
from ..dataset.inputs import BuildInputs
from ..dataset.manifest import Manifest

if TYPE_CHECKING:
    from ..dataset.export import ConfigFiles

logger = logging.getLogger(__name__)


DEFAULT_REPO_ID = "stepinst/stepinst"


def _size_category(rows: int) -> str:
    """The Hub's size bucket of ``rows`` (the buckets come from :func:`.hub_metadata.size_categories`)."""
    for label in hub_metadata.size_categories():
        bounds = re.findall(r"(\d+)([KMBT]?)", label)
        if label.startswith("n<") and rows < _count(*bounds[0]):
            return label
        if "<n<" in label and _count(*bounds[0]) <= rows < _count(*bounds[1]):
            return label
    return "n>1T"


def _count(number: str, unit: str) -> int:
    return int(number) * {"": 1, "K": 10**3, "M": 10**6, "B": 10**9, "T": 10**12}[unit]


def render_card(
    manifest: Manifest,
    inputs: BuildInputs,
    written: Sequence[ConfigFiles],
    yaml_configs: list[dict],
    yaml_infos: list[dict],
) -> str:
    """The full README.md text of a build, from its manifest (plan, provenance) and written files."""
    repo_id = manifest.plan.repo or DEFAULT_REPO_ID
    stats = {w.config.name: w.stats for w in written}
    total_rows = max((sum(w.num_examples.values()) for w in written if not w.config.ratings_only), default=0)
    card_data = DatasetCardData(
        language=["en"],
        license="apache-2.0",
        task_categories=["text-generation", "text2text-generation"],
        size_categories=[_size_category(total_rows)],
        source_datasets=["extended|natural-instructions"],
        annotations_creators=["machine-generated", "expert-generated"],
        language_creators=["found"],
        multilinguality="monolingual",
        pretty_name="SUP-NATINST with Step-by-Step Instructions",
        tags=["instruction-tuning", "step-by-step", "super-natural-instructions", "arxiv:2305.04429"],
        configs=yaml_configs,
        dataset_info=yaml_infos,
    )
    sampling = manifest.plan.sampling
    card = DatasetCard.from_template(
        card_data,
        template_path=str(card_template()),
        pretty_name=card_data.pretty_name,
        repo_id=repo_id,
        split_names=inputs.table.split_names,
        config_rows=[
            {"name": w.config.name, "description": w.config.description, "rows": w.num_examples} for w in written
        ],
        max_eval=sampling.max_num_instances_per_eval_task,
        max_train=sampling.max_num_instances_per_task,
        seed=sampling.seed,
        rubric_fields=", ".join(f"`{c}`" for c in ["task_name", "annotator", *(inputs.ratings.rubric.criterion_names if inputs.ratings else []), "comment"]),
        stats_text=stats_section(stats, inputs),
        license_text=license_section(inputs),
        provenance_text=provenance_section(manifest),
        missing_text=excluded_tasks_section(inputs),
        steps_text=generation_section(inputs),
        ratings_text=ratings_section(inputs),
        citation=citation_bib().strip().replace(f"datasets/{DEFAULT_REPO_ID}", f"datasets/{repo_id}"),
    )
    return str(card)

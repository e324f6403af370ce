"""The values the Hugging Face Hub accepts in a dataset card's YAML header.

The Hub validates a card on every commit (``POST /api/validate-yaml``), but that endpoint is not
reachable from every machine (CI here has no network), so :mod:`stepinst_data.card.check` checks
the same vocabulary locally, before anything is sent. Sources, so these lists can be refreshed:

* size categories: ``datasets/utils/resources/size_categories.json`` (read from the installed
  ``datasets`` when present);
* task categories: the keys of ``PIPELINE_DATA`` in huggingface.js
  ``packages/tasks/src/pipelines.ts`` (the Hub's task list);
* licences: https://huggingface.co/docs/hub/repositories-licenses.
"""

from __future__ import annotations

import json
from importlib import resources

REQUIRED_KEYS = (
    "license",
    "language",
    "task_categories",
    "size_categories",
    "pretty_name",
    "source_datasets",
    "configs",
    "dataset_info",
)

_SIZE_CATEGORIES_FALLBACK = (
    "unknown", "n<1K", "1K<n<10K", "10K<n<100K", "100K<n<1M", "1M<n<10M", "10M<n<100M",
    "100M<n<1B", "1B<n<10B", "10B<n<100B", "100B<n<1T", "n>1T",
)


def _datasets_resource(name: str):
    """A JSON vocabulary shipped by the installed ``datasets``; None when it ships none."""
    try:
        return json.loads(resources.files("datasets.utils.resources").joinpath(name).read_text())
    except (ModuleNotFoundError, FileNotFoundError, json.JSONDecodeError):
        return None


def size_categories() -> tuple[str, ...]:
    """The Hub's size buckets, from the installed ``datasets`` resources when it ships them."""
    return tuple(_datasets_resource("size_categories.json") or _SIZE_CATEGORIES_FALLBACK)


def creators(kind: str) -> frozenset[str]:
    """Values of ``annotations_creators`` (kind ``annotations``) or ``language_creators`` (``language``)."""
    known = _datasets_resource("creators.json") or _CREATORS_FALLBACK
    return frozenset(known[kind])


def multilinguality() -> frozenset[str]:
    return frozenset(_datasets_resource("multilingualities.json") or _MULTILINGUALITY_FALLBACK)


TASK_CATEGORIES = frozenset(
    """
    text-classification token-classification table-question-answering question-answering
    zero-shot-classification translation summarization feature-extraction text-generation
    text2text-generation fill-mask sentence-similarity text-to-speech text-to-audio
    automatic-speech-recognition audio-to-audio audio-classification voice-activity-detection
    depth-estimation image-classification object-detection image-segmentation text-to-image
    image-to-text image-to-image image-to-video unconditional-image-generation
    video-classification reinforcement-learning robotics tabular-classification tabular-regression
    tabular-to-text table-to-text multiple-choice text-ranking text-retrieval
    time-series-forecasting text-to-video visual-question-answering zero-shot-image-classification
    graph-ml mask-generation zero-shot-object-detection text-to-3d image-to-3d
    image-feature-extraction video-text-to-text other
    """.split()
)

LICENSES = frozenset(
    """
    apache-2.0 mit openrail bigscience-openrail-m creativeml-openrail-m bigscience-bloom-rail-1.0
    bigcode-openrail-m afl-3.0 artistic-2.0 bsl-1.0 bsd bsd-2-clause bsd-3-clause
    bsd-3-clause-clear c-uda cc cc0-1.0 cc-by-2.0 cc-by-2.5 cc-by-3.0 cc-by-4.0 cc-by-sa-3.0
    cc-by-sa-4.0 cc-by-nc-2.0 cc-by-nc-3.0 cc-by-nc-4.0 cc-by-nd-4.0 cc-by-nc-nd-3.0
    cc-by-nc-nd-4.0 cc-by-nc-sa-2.0 cc-by-nc-sa-3.0 cc-by-nc-sa-4.0 cdla-sharing-1.0
    cdla-permissive-1.0 cdla-permissive-2.0 wtfpl ecl-2.0 epl-1.0 epl-2.0 etalab-2.0 eupl-1.1
    eupl-1.2 agpl-3.0 gfdl gpl gpl-2.0 gpl-3.0 lgpl lgpl-2.1 lgpl-3.0 isc h-research
    intel-research lppl-1.3c ms-pl apple-ascl apple-amlr mpl-2.0 odc-by odbl openrail++ osl-3.0
    postgresql ofl-1.1 ncsa unlicense zlib pddl lgpl-lr deepfloyd-if-license llama2 llama3
    llama3.1 llama3.2 llama3.3 llama4 gemma unknown other
    """.split()
)

_MULTILINGUALITY_FALLBACK = ("monolingual", "multilingual", "translation", "other")
_CREATORS_FALLBACK = {
    "language": ["found", "crowdsourced", "expert-generated", "machine-generated", "other"],
    "annotations": ["found", "crowdsourced", "expert-generated", "machine-generated", "no-annotation", "other"],
}


def language_codes() -> frozenset[str] | None:
    """ISO 639 codes the Hub knows, from the installed ``datasets`` resources (None: unchecked)."""
    try:
        text = resources.files("datasets.utils.resources").joinpath("languages.json").read_text()
        return frozenset(json.loads(text)) | {"multilingual"}
    except (ModuleNotFoundError, FileNotFoundError, json.JSONDecodeError):
        return None

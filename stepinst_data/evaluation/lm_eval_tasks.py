"""lm-evaluation-harness tasks for a stepinst dataset, scored with stepinst's own official metrics.

``stepinst lm-eval-tasks --dataset FOLDER_OR_REPO --out DIR`` writes, for each instance
configuration of the dataset, ``DIR/stepinst_<config>.yaml``; a group ``stepinst`` that runs them
all; and ``DIR/utils.py``, which imports the hooks below. Then::

    lm_eval --model hf --model_args pretrained=MODEL --include_path DIR --tasks stepinst_steps_ordered

* The model reads exactly the dataset's ``prompt`` column (``doc_to_text: prompt``, no few-shot
  examples, no description), and generates greedily until EOS, at most 128 new tokens.
* Each document hands the harness ``(prediction, references)``; the aggregation is
  :func:`~.metrics.compute_metrics`, the one implementation of the official EM and ROUGE-L
  (max over references, ``round(100 * mean, 4)``): the harness's numbers are ``stepinst score``'s.
* Overall (``exact_match``, ``rougeL``) and per category (``rougeL_for_<category>``, named as the
  official script names groups). Per task is left to ``stepinst score`` (119 rows per config).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from .metrics import METRICS, category_key, compute_metrics

logger = logging.getLogger(__name__)

GROUP = "stepinst"
HEADER = "# Written by `stepinst lm-eval-tasks`: rerun it to update this file (it is replaced)."
MAX_NEW_TOKENS = 128  # the official evaluation's generation length
UTILS = f'''{HEADER}
"""The harness hooks of the stepinst tasks: stepinst's official EM and ROUGE-L (stepinst_data.evaluation.metrics)."""

from stepinst_data.evaluation.lm_eval_tasks import exact_match_aggregate, process_results, rougeL_aggregate  # noqa: F401
'''


class TasksError(ValueError):
    """A dataset or output folder the tasks cannot be written from or to; the message says what to do."""


def process_results(doc: dict, results: Sequence[str]) -> dict[str, tuple[str, list[str]]]:
    """The harness hook: the generation and the references, under the overall and the category's metric names."""
    item = (results[0], list(doc["outputs"]))
    group = category_key(doc["category"])
    return {name: item for metric in METRICS for name in (metric, f"{metric}_for_{group}")}


def _aggregate(metric: str, items: Sequence[tuple[str, list[str]]]) -> float:
    return compute_metrics([p for p, _ in items], [refs for _, refs in items])[metric]


def exact_match_aggregate(items: Sequence[tuple[str, list[str]]]) -> float:
    """Official exact match (percent) over the items a metric name collected."""
    return _aggregate("exact_match", items)


def rougeL_aggregate(items: Sequence[tuple[str, list[str]]]) -> float:  # noqa: N802 (the official metric's name)
    """Official ROUGE-L (percent) over the items a metric name collected."""
    return _aggregate("rougeL", items)


def task_config(dataset: str, config: str, categories: Sequence[str], split: str = "test") -> dict[str, Any]:
    """The harness YAML of one configuration (the ``!function`` hooks are added when written)."""
    groups = [category_key(c) for c in dict.fromkeys(categories)]
    names = [name for metric in METRICS for name in (metric, *(f"{metric}_for_{g}" for g in groups))]
    return {
        "task": f"{GROUP}_{config}",
        "dataset_path": dataset,
        "dataset_name": config,
        "test_split": split,
        "output_type": "generate_until",
        "doc_to_text": "prompt",
        "doc_to_target": "completion",
        "num_fewshot": 0,
        "generation_kwargs": {"until": [], "do_sample": False, "max_gen_toks": MAX_NEW_TOKENS},
        "metric_list": [{"metric": name, "aggregation": name.split("_for_")[0], "higher_is_better": True} for name in names],
        "metadata": {"version": 1.0, "stepinst_config": config},
    }


def _dump(config: dict[str, Any]) -> str:
    """YAML with the harness's ``!function`` tags for the hooks (plain YAML cannot hold them)."""
    text = yaml.safe_dump(config, sort_keys=False, allow_unicode=True, width=1000)
    text = text.replace("process_results: process_results", "process_results: !function utils.process_results")
    for metric in METRICS:
        text = text.replace(f"aggregation: {metric}\n", f"aggregation: !function utils.{metric}_aggregate\n")
    return f"{HEADER}\n{text}"


def _check_out(out: Path, names: Sequence[str]) -> None:
    """Refuse to replace a file of ``out`` that this command did not write."""
    foreign = [n for n in names if (out / n).is_file()
               and not (out / n).read_text(encoding="utf-8", errors="replace").startswith(HEADER)]
    if foreign:
        raise TasksError(f"--out {out} holds {', '.join(foreign)}, not written by `stepinst lm-eval-tasks`; "
                         "stepinst never replaces a file it did not write: choose another --out or move them")


def write_tasks(dataset: str, out: str | os.PathLike, cache_dir: str | os.PathLike | None = None,
                configs: Sequence[str] | None = None, split: str = "test") -> list[Path]:
    """Write one task per instance configuration of ``dataset``, the group and ``utils.py``; return the files."""
    from .training import available_configs, load_instance_split

    if Path(dataset).is_dir():
        dataset = str(Path(dataset).resolve())  # the harness loads it from wherever lm_eval runs
    names = list(configs) if configs else [c for c in available_configs(dataset, cache_dir) if c != "ratings"]
    if not names:
        raise TasksError(f"dataset {dataset!r} has no instance configuration; build one with `stepinst build`")
    tasks = {}
    for name in names:
        rows = load_instance_split(dataset, name, split, cache_dir)
        tasks[name] = {**task_config(dataset, name, rows["category"], split), "process_results": "process_results"}
    out = Path(out)
    files = [f"{GROUP}_{n}.yaml" for n in names] + [f"{GROUP}.yaml", "utils.py"]
    _check_out(out, files)
    out.mkdir(parents=True, exist_ok=True)
    for name, config in tasks.items():
        (out / f"{GROUP}_{name}.yaml").write_text(_dump(config), encoding="utf-8")
    group = {"group": GROUP, "task": [f"{GROUP}_{n}" for n in names], "metadata": {"version": 1.0}}
    (out / f"{GROUP}.yaml").write_text(_dump(group), encoding="utf-8")
    (out / "utils.py").write_text(UTILS, encoding="utf-8")
    logger.info("wrote %d tasks of %s to %s", len(names), dataset, out)
    return [out / f for f in files]

"""The two records a run leaves beside its files: what a model was trained from, and what was evaluated.

* ``stepinst_run.json`` in a trained model's folder (written by ``recipes/sft.py`` and
  ``recipes/seq2seq.py``): the base model, the dataset and config, the seed, the truncation
  report and the logged losses. Evaluation reads it to label the run.
* ``grid_request.json`` in a grid run's folder (written by ``recipes/grid.py`` before training): the
  recipe, its YAML, the flags after ``--``, the batch layout, the dataset build and the evaluation
  flags; a rerun refuses to skip or resume a run that was started with other ones.
* ``run.json`` in an evaluation folder (written by ``recipes/evaluate.py``, beside
  ``metrics.json``, ``predictions.jsonl``, ``references.jsonl`` and ``scores.jsonl``): the model,
  its label, the configs trained and evaluated on, the seed, how many test rows and whether they
  were a ``--limit`` subset. :mod:`.report` and ``recipes/compare.py`` read it.

This module is the one home of both formats: nothing else opens these files by name.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from ..atomic import atomic_write

TRAIN_RECORD = "stepinst_run.json"
GRID_REQUEST = "grid_request.json"
EVAL_RECORD = "run.json"
METRICS = "metrics.json"
PREDICTIONS = "predictions.jsonl"
REFERENCES = "references.jsonl"
SCORES = "scores.jsonl"


class RunRecordError(ValueError):
    """A run folder whose record is missing or unreadable; the message names the file and the fix."""


def _write_json_atomically(path: Path, data: dict[str, Any]) -> Path:
    """Write ``data`` as JSON through a temporary file, so a killed process never leaves half a record."""
    with atomic_write(path) as f:
        f.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")
    return path


def _read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise RunRecordError(f"{path.parent} has no {path.name}: {what}") from e
    except json.JSONDecodeError as e:
        raise RunRecordError(f"{path}: not valid JSON ({e.msg} at line {e.lineno}); rerun the step that writes it") from e


def write_train_record(output_dir: str | os.PathLike, **info: Any) -> Path:
    """Record what a model was trained from (``stepinst_run.json``), so evaluation can label it."""
    return _write_json_atomically(Path(output_dir) / TRAIN_RECORD, info)


def read_train_record(model_dir: str | os.PathLike) -> dict[str, Any]:
    """The training record of a model folder, or ``{}`` for a model stepinst did not train (a Hub id)."""
    path = Path(model_dir) / TRAIN_RECORD
    return _read_json(path, "not trained by a stepinst recipe") if path.is_file() else {}


@dataclass
class EvalRecord:
    """What one evaluation folder holds (``run.json``).

    Args:
        model: the evaluated model folder or Hub id.
        label: the row label in comparisons (the base model's folder name by default).
        train_config / eval_config: the configuration trained on (``None`` for an untrained model)
            and the one whose prompts were evaluated.
        column: the comparison column: ``eval_config``, or ``train→eval`` when they differ.
        seed: the training seed (``None`` when unknown); runs of one cell differ by seed.
        num_instances / limit: test rows scored, and ``--limit`` when only the first rows were.
        settings: every setting that changes a result, training and evaluation together (recipe
            YAML and overrides, learning rate, steps, batch layout, precision, sampler, lengths,
            dataset manifest digest, library versions, max_new_tokens, dtype, backend, limit),
            the seed left out: runs of one cell must agree on all of it (:func:`settings_diff`).
        truncation: how the test prompts were fitted to the model's budget: ``total``,
            ``examples_dropped``, ``steps_cut`` (prompts that lost any example / any step) and
            ``instance_cut`` (prompts whose instance itself had to be cut; 0 unless one instance
            alone exceeds the budget). ``train_truncation`` is the same for the training rows.
        compute: what training cost: ``gpu_hours`` (wall hours × processes), ``train_tokens``
            (non-padding tokens seen), ``train_seconds``, ``num_processes``, ``device``.
    """

    model: str
    label: str
    train_config: str | None
    eval_config: str
    column: str
    split: str
    dataset: str
    num_instances: int
    seed: int | None = None
    limit: int | None = None
    truncated_prompts: int = 0
    backend: str = "hf"
    categories: list[str] = field(default_factory=list)
    tasks: list[str] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    truncation: dict[str, Any] = field(default_factory=dict)
    train_truncation: dict[str, Any] = field(default_factory=dict)
    compute: dict[str, Any] = field(default_factory=dict)

    @property
    def subset(self) -> str | None:
        """``None`` for the whole split; else a short description used to keep subsets apart."""
        return None if self.limit is None else f"first {self.num_instances} rows"


def settings_diff(a: dict[str, Any], b: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """The settings two runs disagree on (``key -> (value in a, value in b)``); the seed never counts.

    A key one record lacks counts as a difference (``None`` on that side): a record written
    before the key existed cannot prove the runs were trained alike.
    """
    keys = sorted((set(a) | set(b)) - {"seed"})
    return {k: (a.get(k), b.get(k)) for k in keys if a.get(k) != b.get(k)}


def write_grid_request(folder: str | os.PathLike, request: dict[str, Any]) -> Path:
    """What the grid asked of a run (``grid_request.json``), written before it trains: a rerun compares against it."""
    Path(folder).mkdir(parents=True, exist_ok=True)
    return _write_json_atomically(Path(folder) / GRID_REQUEST, request)


def read_grid_request(folder: str | os.PathLike) -> dict[str, Any] | None:
    """The request a grid run was started with, or ``None`` for a run started before grids recorded it."""
    path = Path(folder) / GRID_REQUEST
    return _read_json(path, "") if path.is_file() else None


def write_eval_record(folder: str | os.PathLike, record: EvalRecord) -> Path:
    return _write_json_atomically(Path(folder) / EVAL_RECORD, asdict(record))


def read_eval_record(folder: str | os.PathLike) -> EvalRecord:
    """The ``run.json`` of an evaluation folder; unknown keys from newer versions are ignored."""
    data = _read_json(Path(folder) / EVAL_RECORD, "run recipes/evaluate.py on it first")
    known = {f.name for f in fields(EvalRecord)}
    try:
        return EvalRecord(**{k: v for k, v in data.items() if k in known})
    except TypeError as e:
        raise RunRecordError(f"{Path(folder) / EVAL_RECORD}: {e}; re-evaluate the model to rewrite it") from e


def write_metrics(folder: str | os.PathLike, metrics: dict[str, float]) -> Path:
    return _write_json_atomically(Path(folder) / METRICS, metrics)


def read_metrics(folder: str | os.PathLike) -> dict[str, float]:
    return _read_json(Path(folder) / METRICS, "run recipes/evaluate.py on it first")


def write_scores(folder: str | os.PathLike, rows, predictions: list[str]) -> dict[str, float]:
    """Write references, predictions, per-instance scores and the official ``metrics.json``; return the metrics.

    ``rows`` are dataset rows (``id``, ``outputs``, ``task_name``, ``category``) in the order of
    ``predictions``.
    """
    from .metrics import instance_scores, reference_records, score, write_jsonl

    folder = Path(folder)
    references = reference_records(rows)
    by_id = {r["id"]: r for r in references}
    predicted = dict(zip(rows["id"], predictions, strict=True))
    write_jsonl(references, folder / REFERENCES)
    write_jsonl(({"id": i, "prediction": p} for i, p in predicted.items()), folder / PREDICTIONS)
    write_jsonl(instance_scores(predicted, by_id), folder / SCORES)
    metrics = score(predicted, by_id)
    write_metrics(folder, metrics)
    return metrics


def read_scores(folder: str | os.PathLike) -> list[dict[str, Any]]:
    """The per-instance scores of an evaluation folder (``id``, ``task_id``, ``task_category``, ``exact_match``, ``rougeL``)."""
    path = Path(folder) / SCORES
    if not path.is_file():
        raise RunRecordError(f"{folder} has no {SCORES} (evaluated by an older version); "
                             f"re-run recipes/evaluate.py on it to get per-instance scores")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def is_evaluated(folder: str | os.PathLike) -> bool:
    """True when an evaluation finished in ``folder``: ``run.json`` is written last, atomically."""
    return (Path(folder) / EVAL_RECORD).is_file() and (Path(folder) / METRICS).is_file()


def find_eval_folders(paths: list[str | os.PathLike]) -> list[Path]:
    """Evaluation folders among ``paths``: each path is one, or holds them one level down (a grid's ``runs/``)."""
    found = []
    for path in map(Path, paths):
        if (path / EVAL_RECORD).is_file():
            found.append(path)
            continue
        children = sorted(p for p in path.glob(f"*/{EVAL_RECORD}"))
        if not children:
            raise RunRecordError(f"{path} holds no evaluation ({EVAL_RECORD}) itself or one level down; "
                                 "pass evaluation folders or a grid's output folder")
        found.extend(p.parent for p in children)
    return found

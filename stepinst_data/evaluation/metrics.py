"""Exact match and ROUGE-L exactly as the official SUP-NATINST evaluation computes them.

Reimplements ``allenai/natural-instructions`` ``eval/automatic/evaluation.py`` so that numbers are
comparable with published ones (Tk-Instruct 3B: 54.33 ROUGE-L on the English track):

* ``normalize_answer`` (exact match only): lowercase, drop ``string.punctuation``, collapse
  whitespace. Unlike SQuAD it does NOT remove articles ("adapted from Squad v1.1 evaluation,
  without removing the articles").
* ROUGE-L: ``rouge_score.RougeScorer(['rougeL'], use_stemmer=True)`` with the library's default
  tokenizer on the raw strings for the ``default`` (English) track. The ``xlingual`` track uses a
  GPT-2 tokenizer upstream; it is not part of this dataset and is refused here.
* Per instance the max over references; per group ``round(100 * sum / n, 4)``.
* Result keys: ``{metric}_{track}_track``, ``{metric}_for_{category}_{track}_track`` (category
  lowercased, whitespace joined with ``_``) and ``{metric}_for_{task}_{track}_track``.
* A missing prediction scores as the empty string (with a warning); a prediction whose id is not
  in the references is an error that lists the ids.

File formats (JSONL, one object a line): predictions ``{"id", "prediction"}``; references
``{"id", "references", "task_id", "task_category", "track"}``.
"""

from __future__ import annotations

import json
import logging
import os
import string
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache
from pathlib import Path

from ..stores.jsonl import write_lines

logger = logging.getLogger(__name__)

METRICS = ("exact_match", "rougeL")
TRACKS = ("default", "xlingual")


class MetricsInputError(ValueError):
    """A predictions or references file that cannot be scored; the message says what and how to fix it."""


_PUNCTUATION = set(string.punctuation)


def normalize_answer(text: str) -> str:
    """Lowercase, remove punctuation, collapse whitespace (articles are kept, as upstream)."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(text.split())


def exact_match(prediction: str, reference: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(reference))


@lru_cache(maxsize=1)
def _default_scorer():
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)


def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F-measure with the default tokenizer and the Porter stemmer, on the raw strings."""
    return _default_scorer().score(target=reference, prediction=prediction)["rougeL"].fmeasure


def metric_max_over_references(metric: Callable[[str, str], float], prediction: str, references: Sequence[str]) -> float:
    return max(metric(prediction, reference) for reference in references)


def compute_metrics(predictions: Sequence[str], references: Sequence[Sequence[str]]) -> dict[str, float]:
    """``{"exact_match", "rougeL"}`` in percent, rounded to 4 decimals, as the official script."""
    if len(predictions) != len(references):
        raise MetricsInputError(f"{len(predictions)} predictions but {len(references)} references")
    if not references:
        raise MetricsInputError("nothing to score: no references")
    em = sum(metric_max_over_references(exact_match, p, refs) for p, refs in zip(predictions, references))
    rl = sum(metric_max_over_references(rouge_l, p, refs) for p, refs in zip(predictions, references))
    n = len(references)
    return {"exact_match": round(100.0 * em / n, 4), "rougeL": round(100.0 * rl / n, 4)}


def compute_grouped_metrics(
    predictions: Sequence[str], references: Sequence[Sequence[str]], groups: Sequence[str]
) -> dict[str, float]:
    """``{metric}_for_{group}`` for every group, in order of first appearance."""
    by_group: dict[str, tuple[list[str], list[Sequence[str]]]] = {}
    for prediction, refs, group in zip(predictions, references, groups, strict=True):
        preds, golds = by_group.setdefault(group, ([], []))
        preds.append(prediction)
        golds.append(refs)
    results = {}
    for group, (preds, golds) in by_group.items():
        for metric, value in compute_metrics(preds, golds).items():
            results[f"{metric}_for_{group}"] = value
    return results


def category_key(category: str) -> str:
    """``"Question Answering"`` -> ``"question_answering"``, as the official script names groups."""
    return "_".join(category.lower().split())


def _read_jsonl(path: str | os.PathLike, required: Iterable[str], what: str) -> list[tuple[int, dict]]:
    """(line number, object) of each non-blank line; a line that is not a JSON object with the
    ``required`` keys and a string ``id`` is refused, naming the file and line."""
    rows = []
    with open(path, "rb") as f:
        for line_number, raw in enumerate(f, start=1):
            where = f"{path}:{line_number}"
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise MetricsInputError(f"{where}: not UTF-8 ({e.reason}); re-save the file as UTF-8") from None
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise MetricsInputError(f"{where}: not valid JSON ({e.msg}); each line must be one {what} object") from None
            if not isinstance(row, dict):
                raise MetricsInputError(f"{where}: a {what} must be a JSON object, got {_describe(row)}")
            missing = [k for k in required if k not in row]
            if missing:
                raise MetricsInputError(f"{where}: a {what} needs the key(s) {missing}; got {sorted(row)}")
            if type(row["id"]) is not str:
                raise MetricsInputError(f"{where}: the {what}'s `id` must be a string, got {_describe(row['id'])}")
            rows.append((line_number, row))
    return rows


def _describe(value: object) -> str:
    """A JSON value's type and a short repr, for messages (``null``, ``5 (a number)``, ...)."""
    if value is None:
        return "null"
    kind = {bool: "a boolean", int: "a number", float: "a number", list: "a list", dict: "an object", str: "a string"}
    return f"{json.dumps(value, ensure_ascii=False)[:40]} ({kind.get(type(value), type(value).__name__)})"


def _index_by_id(rows: list[tuple[int, dict]], path: str | os.PathLike) -> dict[str, dict]:
    indexed: dict[str, dict] = {}
    duplicates = []
    for _, row in rows:
        if row["id"] in indexed:
            duplicates.append(row["id"])
        indexed[row["id"]] = row
    if duplicates:
        raise MetricsInputError(f"{path}: duplicate id(s) {sorted(set(duplicates))[:20]}; each id must appear once")
    return indexed


def read_references(path: str | os.PathLike) -> dict[str, dict]:
    """id -> reference record; ``track`` defaults to ``default`` when absent, as upstream."""
    rows = _read_jsonl(path, ("id", "references"), "reference")
    for line_number, row in rows:
        row.setdefault("track", "default")
        refs = row["references"]
        if not isinstance(refs, list) or not refs or not all(type(r) is str for r in refs):
            raise MetricsInputError(f"{path}:{line_number}: id {row['id']!r}: `references` must be a non-empty list of "
                                    f"strings, got {_describe(refs)}")
        for key in ("track", "task_id", "task_category"):
            if key in row and type(row[key]) is not str:
                raise MetricsInputError(f"{path}:{line_number}: id {row['id']!r}: `{key}` must be a string, got {_describe(row[key])}")
        if row["track"] not in TRACKS:
            raise MetricsInputError(f"{path}:{line_number}: id {row['id']!r}: unknown `track` {row['track']!r}; "
                                    f"one of {list(TRACKS)} (or leave it out: `default`)")
    return _index_by_id(rows, path)


def read_predictions(path: str | os.PathLike) -> dict[str, str]:
    """id -> prediction text; a prediction that is not text (null, a number, a list) is refused:
    scoring ``null`` as the text "None" or ``5`` as "5" would silently change the metrics."""
    rows = _read_jsonl(path, ("id", "prediction"), "prediction")
    for line_number, row in rows:
        if type(row["prediction"]) is not str:
            raise MetricsInputError(
                f"{path}:{line_number}: id {row['id']!r}: `prediction` is {_describe(row['prediction'])}, not text; "
                "write the model's output as a JSON string (an empty output is \"\")"
            )
    return {i: r["prediction"] for i, r in _index_by_id(rows, path).items()}


def score(predictions: dict[str, str], references: dict[str, dict], source: str = "predictions") -> dict[str, float]:
    """The official result dict: overall, per category and per task, for each track present.

    ``source`` names the predictions in an error (the file, for :func:`score_files`)."""
    extra = sorted(set(predictions) - set(references))
    if extra:
        shown = ", ".join(extra[:20]) + (f" … (+{len(extra) - 20} more)" if len(extra) > 20 else "")
        raise MetricsInputError(
            f"{source}: {len(extra)} prediction id(s) are not in the references: {shown}. "
            "Score against the references of the same split and config, or drop those lines."
        )
    results: dict[str, float] = {}
    for track in TRACKS:
        ids = [i for i, r in references.items() if r["track"] == track]
        if not ids:
            continue
        if track == "xlingual":
            raise MetricsInputError("the `xlingual` track needs the GPT-2 tokenizer of the official script; stepinst scores the English (`default`) track only")
        missing = [i for i in ids if i not in predictions]
        if missing:
            logger.warning("no prediction for %d of %d instances (e.g. %s): scored as the empty string", len(missing), len(ids), missing[:5])
        preds = [predictions.get(i, "") for i in ids]
        golds = [references[i]["references"] for i in ids]
        groups = [compute_metrics(preds, golds)]
        if "task_category" in references[ids[0]]:
            groups.append(compute_grouped_metrics(preds, golds, [category_key(references[i]["task_category"]) for i in ids]))
        if "task_id" in references[ids[0]]:
            groups.append(compute_grouped_metrics(preds, golds, [references[i]["task_id"] for i in ids]))
        for group in groups:
            results.update({f"{key}_{track}_track": value for key, value in group.items()})
    return results


def instance_scores(predictions: dict[str, str], references: dict[str, dict]) -> list[dict]:
    """Per-instance exact match and ROUGE-L (0-100, max over references), for paired significance tests.

    The mean of each column over the instances is the overall score of :func:`score`; a missing
    prediction scores as the empty string, as there.
    """
    rows = []
    for i, ref in references.items():
        prediction = predictions.get(i, "")
        rows.append({
            "id": i, "task_id": ref.get("task_id"), "task_category": ref.get("task_category"),
            "exact_match": 100.0 * metric_max_over_references(exact_match, prediction, ref["references"]),
            "rougeL": 100.0 * metric_max_over_references(rouge_l, prediction, ref["references"]),
        })
    return rows


def score_files(predictions: str | os.PathLike, references: str | os.PathLike) -> dict[str, float]:
    return score(read_predictions(predictions), read_references(references), str(predictions))


def reference_records(rows: Iterable[dict], track: str = "default") -> list[dict]:
    """Reference records from dataset rows (``id``, ``outputs``, ``task_name``, ``category``)."""
    return [
        {"id": r["id"], "references": list(r["outputs"]), "task_id": r["task_name"], "task_category": r["category"], "track": track}
        for r in rows
    ]


def write_jsonl(records: Iterable[dict], path: str | os.PathLike) -> Path:
    """Write a references or predictions file whole and atomically: a crash during a long
    prediction run leaves the previous file, never a prefix that would score as a partial run."""
    write_lines(path, (json.dumps(record, ensure_ascii=False) for record in records))
    return Path(path)


def group_values(results: dict[str, float], groups: Iterable[str], metric: str = "rougeL", track: str = "default") -> dict[str, float]:
    """``{group: value}`` read back from a result dict; pass task ids, or categories through :func:`category_key`."""
    found = {}
    for group in groups:
        key = f"{metric}_for_{group}_{track}_track"
        if key in results:
            found[group] = results[key]
    return found

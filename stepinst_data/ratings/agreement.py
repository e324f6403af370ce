"""Aggregation and inter-annotator agreement of a ratings store.

Agreement comes from the field's libraries: Krippendorff's alpha (ordinal) from ``krippendorff``,
which handles missing ratings (not every annotator rates every task), and Cohen's kappa from
``sklearn.metrics.cohen_kappa_score`` for every pair of annotators, on the tasks both rated.

Kappa uses **quadratic** weights: the scores are an ordinal 1-5 scale on which a 1-vs-5
disagreement is much worse than 4-vs-5; quadratic weights are the convention for such scales
(quadratic-weighted kappa approaches the intraclass correlation) and match alpha's squared
distances, so the two figures tell the same kind of story. Linear weights would treat the gap from
4 to 5 the same as any other one-point gap but grow only linearly with distance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations
from statistics import mean
from typing import Any

from ..stores.ratings import Rubric, is_llm

KAPPA_WEIGHTS = "quadratic"
AGREEMENT_DECIMALS = 3


def round_agreement(value: float | None) -> float | None:
    """An agreement figure (alpha, kappa, rho) as every output shows it: the card, and ``rate report``
    as text and JSON. One rounding, here: rounding to 4 decimals and then printing 3 turned the
    alpha 0.92651 into 0.926 in the report while the card said 0.927."""
    return None if value is None else round(value, AGREEMENT_DECIMALS)


def format_agreement(value: float | None, missing: str = "n/a") -> str:
    """``value`` rounded by :func:`round_agreement`, with its 3 decimals; ``missing`` when undefined."""
    rounded = round_agreement(value)
    return missing if rounded is None else f"{rounded:.{AGREEMENT_DECIMALS}f}"


@dataclass
class PairKappa:
    a: str
    b: str
    n: int
    kappa: float | None


def annotators(records: list[dict[str, Any]], llm: bool = False) -> list[str]:
    """Human (or, with ``llm``, LLM judge) annotator names in first-seen order."""
    names = dict.fromkeys(r["annotator"] for r in records)
    return [n for n in names if is_llm(n) == llm]


def task_names(records: list[dict[str, Any]]) -> list[str]:
    return list(dict.fromkeys(r["task_name"] for r in records))


def scores_by_task(records: list[dict[str, Any]], criterion: str, who: list[str]) -> dict[str, dict[str, int]]:
    """task -> annotator -> score, for the annotators in ``who``."""
    wanted = set(who)
    table: dict[str, dict[str, int]] = {}
    for r in records:
        if r["annotator"] in wanted:
            table.setdefault(r["task_name"], {})[r["annotator"]] = r[criterion]
    return table


def reliability_matrix(records: list[dict[str, Any]], criterion: str, who: list[str]) -> list[list[float]]:
    """Annotators x tasks, NaN where an annotator did not rate a task (krippendorff's layout)."""
    table = scores_by_task(records, criterion, who)
    tasks = list(table)
    return [[float(table[t].get(a, math.nan)) for t in tasks] for a in who]


def _finite(value: float) -> float | None:
    return None if value is None or math.isnan(value) else float(value)


def ordinal_alpha(matrix: list[list[float]], rubric: Rubric) -> float | None:
    """Krippendorff's alpha, ordinal; None when undefined (fewer than 2 annotators, or no variation)."""
    import krippendorff
    import numpy as np

    data = np.asarray(matrix, dtype=float)
    pairable = (np.sum(~np.isnan(data), axis=0) >= 2).sum() if data.size else 0
    if data.shape[0] < 2 or pairable == 0:
        return None
    try:
        with np.errstate(divide="ignore", invalid="ignore"):
            value = krippendorff.alpha(
                reliability_data=data,
                level_of_measurement="ordinal",
                value_domain=list(range(rubric.min_score, rubric.max_score + 1)),
            )
    except (ValueError, ZeroDivisionError):  # a single distinct value: no expected disagreement
        return None
    return _finite(value)


def weighted_kappa(a: list[int], b: list[int], rubric: Rubric) -> float | None:
    """Cohen's kappa with quadratic weights over the full scale; None when undefined (no variation)."""
    import warnings

    from sklearn.exceptions import UndefinedMetricWarning
    from sklearn.metrics import cohen_kappa_score

    if len(a) < 2:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", UndefinedMetricWarning)  # no variation: None below
        value = cohen_kappa_score(a, b, labels=list(range(rubric.min_score, rubric.max_score + 1)), weights=KAPPA_WEIGHTS)
    return _finite(value)


def pairwise_kappas(records: list[dict[str, Any]], criterion: str, who: list[str], rubric: Rubric) -> list[PairKappa]:
    """Weighted kappa of every pair of annotators in ``who``, on the tasks both rated."""
    table = scores_by_task(records, criterion, who)
    pairs = []
    for a, b in combinations(who, 2):
        both = [t for t, s in table.items() if a in s and b in s]
        kappa = weighted_kappa([table[t][a] for t in both], [table[t][b] for t in both], rubric)
        pairs.append(PairKappa(a, b, len(both), kappa))
    return pairs


def judge_vs_humans(records: list[dict[str, Any]], judge: str, criterion: str, rubric: Rubric) -> dict[str, Any]:
    """An LLM judge against the human mean of each task it rated: kappa (vs the rounded mean), Spearman, MAE."""
    from scipy.stats import spearmanr

    humans = annotators(records)
    human = scores_by_task(records, criterion, humans)
    own = scores_by_task(records, criterion, [judge])
    tasks = [t for t in own if human.get(t)]
    means = [mean(human[t].values()) for t in tasks]
    scores = [own[t][judge] for t in tasks]
    rho = None
    if len(tasks) >= 2 and len(set(means)) > 1 and len(set(scores)) > 1:
        rho = _finite(float(spearmanr(scores, means).statistic))
    return {
        "n": len(tasks),
        "kappa": weighted_kappa(scores, [round_half_up(m) for m in means], rubric),
        "spearman": rho,
        "mae": round(mean(abs(s - m) for s, m in zip(scores, means)), 4) if tasks else None,
    }


def round_half_up(value: float) -> int:
    """Python's round() goes to even (3.5 -> 4, 4.5 -> 4); scores round half up (4.5 -> 5)."""
    return math.floor(value + 0.5)


def task_summaries(records: list[dict[str, Any]], rubric: Rubric, who: list[str]) -> list[dict[str, Any]]:
    """Per task: annotators, mean and range of each criterion, over the annotators in ``who``."""
    wanted = set(who)
    by_task: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        if r["annotator"] in wanted:
            by_task.setdefault(r["task_name"], []).append(r)
    summaries = []
    for task, rows in by_task.items():
        means = {c: round(mean(r[c] for r in rows), 4) for c in rubric.criterion_names}
        ranges = {c: max(r[c] for r in rows) - min(r[c] for r in rows) for c in rubric.criterion_names}
        summaries.append({"task_name": task, "n": len(rows), "mean": means, "range": ranges})
    return summaries


def most_disputed(summaries: list[dict[str, Any]], top: int) -> list[dict[str, Any]]:
    """Tasks with 2+ annotators, largest disagreement first: the widest range on any criterion, then the summed ranges."""
    rated = [s for s in summaries if s["n"] >= 2]
    rated.sort(key=lambda s: (-max(s["range"].values()), -sum(s["range"].values()), s["task_name"]))
    return [s for s in rated if max(s["range"].values()) > 0][:top]

"""Is a difference between two configurations real? A test whose unit is the test task and whose noise includes the seed.

The claim of the paper is cross-task (steps help on *unseen tasks*), and a configuration is a
training procedure (another seed gives another model). So a difference ``b - a`` has two sources
of chance: which tasks happen to be in the test split, and which training runs happen to have
been made. The test here is the variance-components (mixed-model) t-test of a crossed design —
tasks random and shared by both configurations (paired), seeds random and nested in each
configuration — with a Welch–Satterthwaite degrees of freedom:

* per run and test task the mean score ``X[s, t]``; ``D_t`` the difference of the seed-averaged
  task means; ``delta = sum_t w_t D_t`` with the official instance weights ``w_t = n_t / N``,
  so ``delta`` is the difference of the two configurations' mean official scores;
* task variance: ``T/(T-1) sum_t w_t^2 (D_t - delta)^2`` (the tasks resampled as clusters;
  the run offsets cancel in ``D_t - delta``), ``T - 1`` degrees of freedom;
* seed variance of each configuration: the variance of its runs' overall scores, less the part
  of it that is seed × task noise (already in the task variance): ``var(Y_s) - sum w_t^2 MS_res``
  from a two-way (seed × task) ANOVA, divided by the configuration's number of seeds; ``S - 1``
  degrees of freedom; never below zero;
* ``t = delta / SE`` against Student's t with Satterthwaite's degrees of freedom; the confidence
  interval is ``delta ± t_q SE``.

When every task moves alike it is Welch's t-test on the runs' overall scores; when every seed
agrees it is the paired t-test over tasks (tests/test_significance.py checks both against scipy).
A two-level bootstrap over seeds and tasks was the alternative: with three seeds it underestimates
the seed variance by a third and has no t tails; on simulated grids where the seed dominates it
calls 15% of null differences significant (recipes/README.md, "Statistics"). A cell with one seed
has no seed variance to estimate: no p-value, only a task-only interval, labelled so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

UNIT = "task"
Covers = Literal["tasks and seeds", "tasks only"]
NEEDS_SEEDS = "needs ≥ 2 seeds"
NEEDS_TASKS = "needs ≥ 2 tasks"


@dataclass(frozen=True)
class Difference:
    """``b - a`` with its confidence interval and two-sided p-value (``None`` with ``reason`` when untestable).

    Args:
        delta: the difference of the configurations' mean (instance-weighted) scores, in points.
        ci: the ``confidence`` interval of ``delta``; ``covers`` says which chances it includes.
        p_value: two-sided, against "no difference"; ``None`` when a cell has one seed or one task.
        se / df: standard error and Satterthwaite degrees of freedom of ``delta``.
        tasks / seeds_a / seeds_b: the units behind it.
    """

    delta: float
    ci: tuple[float, float] | None
    p_value: float | None
    se: float
    df: float
    tasks: int
    seeds_a: int
    seeds_b: int
    covers: Covers
    reason: str | None = None


def _components(x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seed variance of one configuration's mean (``x``: ``(..., S, T)``) and its two mean squares for the df.

    Returns ``(variance, var(Y)/S, sum w^2 MS_res / S)``, the variance floored at zero.
    """
    seeds, tasks = x.shape[-2:]
    overall = x @ w  # (..., S): each run's weighted overall score
    var_y = overall.var(axis=-1, ddof=1)
    resid = x - x.mean(axis=-1, keepdims=True) - x.mean(axis=-2, keepdims=True) + x.mean(axis=(-2, -1), keepdims=True)
    ms_res = (resid**2).sum(axis=(-2, -1)) / ((seeds - 1) * (tasks - 1))
    between, within = var_y / seeds, (w**2).sum() * ms_res / seeds
    return np.maximum(between - within, 0.0), between, within


def seed_task_test(a: np.ndarray, b: np.ndarray, weights: np.ndarray | None = None,
                   confidence: float = 0.95) -> dict[str, np.ndarray]:
    """The test on arrays of run × task mean scores; leading axes are independent comparisons (vectorised).

    Args:
        a / b: ``(..., S_a, T)`` and ``(..., S_b, T)``, the same tasks in the same order.
        weights: per-task weights (instance counts, normalised here); equal weights when ``None``.
        confidence: the interval's coverage.

    Returns ``delta``, ``se``, ``df``, ``low``, ``high`` and ``p`` (each of the leading shape);
    with one seed in ``a`` or ``b`` the interval covers the tasks only and ``p`` is NaN.
    """
    from scipy import stats

    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    seeds_a, tasks = a.shape[-2:]
    seeds_b = b.shape[-2]
    if b.shape[-1] != tasks or tasks < 2:
        raise ValueError(f"a and b need the same tasks, at least 2; got {tasks} and {b.shape[-1]}")
    w = np.full(tasks, 1.0 / tasks) if weights is None else np.asarray(weights, dtype=float) / np.sum(weights)
    d = b.mean(axis=-2) - a.mean(axis=-2)
    delta = d @ w
    v_task = tasks / (tasks - 1) * ((d - delta[..., None]) ** 2 @ w**2)
    variance, dof_terms = v_task.copy(), v_task**2 / (tasks - 1)
    testable = seeds_a > 1 and seeds_b > 1
    if testable:
        for x, s in ((a, seeds_a), (b, seeds_b)):
            v_seed, between, within = _components(x, w)
            variance += v_seed
            dof_terms += np.where(v_seed > 0, between**2 / (s - 1) + within**2 / ((s - 1) * (tasks - 1)), 0.0)
    se = np.sqrt(variance)
    with np.errstate(divide="ignore", invalid="ignore"):
        df = np.where(dof_terms > 0, variance**2 / dof_terms, np.inf)
        t = np.where(se > 0, np.abs(delta) / se, np.where(delta == 0, 0.0, np.inf))
    half = stats.t.ppf(0.5 + confidence / 2, df) * se
    p = 2 * stats.t.sf(t, df) if testable else np.full(np.shape(delta), np.nan)
    return {"delta": delta, "se": se, "df": df, "low": delta - half, "high": delta + half, "p": np.minimum(p, 1.0)}


def compare_runs(a: np.ndarray, b: np.ndarray, weights: Sequence[float] | None = None,
                 confidence: float = 0.95) -> Difference:
    """:func:`seed_task_test` for one pair of cells (``a``: seeds × tasks, ``b`` likewise), as a :class:`Difference`."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    seeds_a, tasks = a.shape
    seeds_b = b.shape[0]
    if tasks < 2:
        delta = float(b.mean() - a.mean())
        return Difference(delta, None, None, float("nan"), float("nan"), tasks, seeds_a, seeds_b, "tasks only", NEEDS_TASKS)
    r = seed_task_test(a, b, None if weights is None else np.asarray(weights, dtype=float), confidence)
    testable = seeds_a > 1 and seeds_b > 1
    return Difference(
        delta=float(r["delta"]), ci=(float(r["low"]), float(r["high"])),
        p_value=float(r["p"]) if testable else None, se=float(r["se"]), df=float(r["df"]), tasks=tasks,
        seeds_a=seeds_a, seeds_b=seeds_b, covers="tasks and seeds" if testable else "tasks only",
        reason=None if testable else NEEDS_SEEDS,
    )


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm's step-down adjustment (Holm, 1979) of a family of p-values; ``None`` entries stay ``None``.

    Controls the family-wise error rate under any dependence between the tests, and is uniformly
    more powerful than Bonferroni.
    """
    present = [(p, i) for i, p in enumerate(p_values) if p is not None]
    adjusted: list[float | None] = [None] * len(p_values)
    running, m = 0.0, len(present)
    for rank, (p, i) in enumerate(sorted(present)):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[i] = running
    return adjusted

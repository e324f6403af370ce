"""Is a difference of one ROUGE-L point between two configurations real? Paired tests over the test set.

Both configurations are scored on the same test instances (the prompts differ, the instances and
references do not), so the comparison is paired: per instance, the difference of the two scores.
The paired bootstrap (Koehn, 2004; Berg-Kirkpatrick et al., 2012) resamples the units with
replacement and asks how often a resampled mean difference lies as far from the observed one as
the observed one lies from zero (two-sided). Resampling *tasks* instead of instances respects that
the instances of one task are not independent (the claim is about cross-task generalization).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Unit = Literal["instance", "task"]
DEFAULT_RESAMPLES = 10_000
_CHUNK = 500


@dataclass
class PairedResult:
    """The observed mean difference ``b - a`` (in score points), its two-sided p-value, and the units resampled."""

    delta: float
    p_value: float
    units: int
    unit: Unit


def paired_bootstrap(
    a: Sequence[float], b: Sequence[float], groups: Sequence[str] | None = None,
    resamples: int = DEFAULT_RESAMPLES, seed: int = 0,
) -> PairedResult:
    """Two-sided paired bootstrap of ``mean(b) - mean(a)`` over instances, or over ``groups`` (tasks) when given.

    Args:
        a / b: per-instance scores of the baseline and the other system, in the same instance order.
        groups: per-instance task names; when given, tasks are resampled (each with all its
            instances) and the difference stays instance-weighted, as the official overall score.
        resamples: bootstrap samples; the smallest reachable p-value is ``1 / (resamples + 1)``.
        seed: the resampling seed (the same inputs give the same p-value).
    """
    import numpy as np

    if len(a) != len(b) or not len(a):
        raise ValueError(f"a paired test needs two equally long, non-empty score lists; got {len(a)} and {len(b)}")
    diff = np.asarray(b, dtype=float) - np.asarray(a, dtype=float)
    if groups is None:
        sums, counts, unit = diff, np.ones_like(diff), "instance"
    else:
        names, index = np.unique(np.asarray(groups), return_inverse=True)
        sums = np.bincount(index, weights=diff, minlength=len(names))
        counts = np.bincount(index, minlength=len(names)).astype(float)
        unit = "task"
    observed = float(sums.sum() / counts.sum())
    rng = np.random.default_rng(seed)
    extreme = 0
    for start in range(0, resamples, _CHUNK):  # bounded memory: 11,900 test instances x 10,000 resamples
        picks = rng.integers(0, len(sums), size=(min(_CHUNK, resamples - start), len(sums)))
        means = sums[picks].sum(axis=1) / counts[picks].sum(axis=1)
        extreme += int(np.count_nonzero(np.abs(means - observed) >= abs(observed)))
    return PairedResult(observed, (extreme + 1) / (resamples + 1), len(sums), unit)

"""The seed × task test: it reduces to the textbook tests, Holm adjusts as Holm, and it is calibrated on simulated grids.

The calibration simulates whole grids whose answer is known: per (configuration, seed, task,
instance) a score = task effect + instance effect (shared by every run) + configuration × task
effect + run offset (the seed) + seed × task effect + instance noise. With no configuration
effect, at most 7% of comparisons may reach p < 0.05; with a 5-point effect, at least 80% must.
The test compare.py used before (a bootstrap over test instances of seed-averaged scores) and a
two-level bootstrap over seeds and tasks are run on the same grids: the simulation is strong
enough to show that both call seed noise an effect. Figures: recipes/README.md, "Statistics".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from scipy import stats

from stepinst_data.evaluation.significance import NEEDS_SEEDS, compare_runs, holm, seed_task_test


def test_when_every_task_moves_alike_it_is_welchs_t_test_on_the_runs():
    rng = np.random.default_rng(0)
    profile = rng.normal(50, 10, size=8)  # the same task profile in every run: no task noise at all
    runs_a, runs_b = np.array([0.0, 2.0, 1.0]), np.array([4.0, 7.0, 5.0, 6.0])
    a, b = profile + runs_a[:, None], profile + runs_b[:, None]
    got = compare_runs(a, b)
    welch = stats.ttest_ind(runs_b, runs_a, equal_var=False)
    assert got.delta == pytest.approx(runs_b.mean() - runs_a.mean())
    assert got.p_value == pytest.approx(welch.pvalue)
    assert got.ci == pytest.approx(tuple(welch.confidence_interval(0.95)))
    assert (got.covers, got.reason, got.seeds_a, got.seeds_b, got.tasks) == ("tasks and seeds", None, 3, 4, 8)


def test_when_every_seed_agrees_it_is_the_paired_t_test_over_tasks():
    rng = np.random.default_rng(1)
    task_a = rng.normal(40, 10, size=12)
    task_b = task_a + rng.normal(2, 3, size=12)
    got = compare_runs(np.tile(task_a, (3, 1)), np.tile(task_b, (2, 1)))  # identical seeds: no seed variance
    paired = stats.ttest_rel(task_b, task_a)
    assert got.delta == pytest.approx((task_b - task_a).mean())
    assert got.p_value == pytest.approx(paired.pvalue)
    assert got.ci == pytest.approx(tuple(paired.confidence_interval(0.95)))


def test_instance_weights_make_delta_the_difference_of_the_official_scores():
    a = np.array([[10.0, 50.0, 90.0], [20.0, 40.0, 80.0]])
    b = a + np.array([[5.0, 0.0, 1.0], [7.0, 2.0, 3.0]])
    counts = np.array([100, 50, 10])
    got = compare_runs(a, b, weights=counts)
    official = lambda x: (x * counts).sum(axis=1) / counts.sum()  # noqa: E731 - the instance-weighted overall per run
    assert got.delta == pytest.approx(official(b).mean() - official(a).mean())
    assert got.ci[0] < got.delta < got.ci[1]


def test_one_seed_gives_a_task_only_interval_and_no_p_value():
    a = np.array([[10.0, 30.0, 50.0, 20.0]])
    b = np.array([[15.0, 32.0, 57.0, 21.0], [14.0, 35.0, 50.0, 25.0]])
    got = compare_runs(a, b)
    assert (got.p_value, got.reason, got.covers) == (None, NEEDS_SEEDS, "tasks only")
    d = b.mean(axis=0) - a[0]
    paired = stats.ttest_1samp(d, 0.0)  # the interval is the paired one over tasks: seeds are not in it
    assert got.ci == pytest.approx(tuple(paired.confidence_interval(0.95)))


def test_one_task_and_mismatched_tasks():
    one = compare_runs(np.array([[10.0], [12.0]]), np.array([[20.0], [22.0]]))
    assert (one.delta, one.ci, one.p_value, one.reason) == (10.0, None, None, "needs ≥ 2 tasks")
    with pytest.raises(ValueError, match="the same tasks"):
        seed_task_test(np.zeros((2, 3)), np.zeros((2, 4)))


def test_holm_step_down():
    # sorted 0.005, 0.01, 0.03, 0.04 -> x4, x3, x2, x1 = 0.02, 0.03, 0.06, 0.04 -> running max 0.06 for the last
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, None, 0.6]) == [pytest.approx(1.0), None, pytest.approx(1.0)]
    assert holm([]) == []


# --- calibration ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Design:
    """A simulated grid (score points, standard deviations); the defaults are the stated reference design."""

    tasks: int = 60
    instances: int = 20
    seeds: int = 3
    task: float = 15.0  # task difficulty, shared by every run
    instance: float = 20.0  # instance difficulty, shared by every run
    config_task: float = 3.0  # configuration x task: each configuration helps some tasks and hurts others
    run: float = 1.0  # the run offset: one seed's model is better or worse everywhere
    seed_task: float = 3.0  # seed x task
    noise: float = 25.0  # instance noise of one run
    effect: float = 0.0  # configuration b's true mean gain

    def true_se(self) -> float:
        """The standard error of delta implied by the design (what the test must estimate)."""
        cell = self.seed_task**2 + self.noise**2 / self.instances
        return float(np.sqrt(2 * self.run**2 / self.seeds + (2 * self.config_task**2 + 2 * cell / self.seeds) / self.tasks))


ISSUE = Design(tasks=12, instances=15)  # the 180 test instances of issue 21's measurement
SEED_HEAVY = Design(run=3.0, seed_task=1.0, config_task=0.5)
TASK_HEAVY = Design(run=0.3, config_task=5.0)
GRIDS = 1000


def simulate(design: Design, grids: int, rng: np.random.Generator) -> np.ndarray:
    """Scores ``(grids, 2 configurations, seeds, tasks, instances)``."""
    d = design
    shape = (grids, 2, d.seeds, d.tasks, d.instances)
    scores = rng.normal(0, d.task, (grids, 1, 1, d.tasks, 1)) + rng.normal(0, d.instance, (grids, 1, 1, d.tasks, d.instances))
    scores = scores + rng.normal(0, d.config_task, (grids, 2, 1, d.tasks, 1))
    scores = scores + rng.normal(0, d.run, (grids, 2, d.seeds, 1, 1)) + rng.normal(0, d.seed_task, (grids, 2, d.seeds, d.tasks, 1))
    scores = scores + rng.normal(0, d.noise, shape)
    scores[:, 1] += d.effect
    return 40.0 + scores


def new_p(scores: np.ndarray) -> np.ndarray:
    """The library's test (what compare.py runs), on each grid's seed x task means."""
    means = scores.mean(axis=-1)
    return seed_task_test(means[:, 0], means[:, 1])["p"]


def _counts(rng: np.random.Generator, draws: int, size: int) -> np.ndarray:
    """Bootstrap multiplicities: ``(draws, size)``, each row ``size`` picks with replacement."""
    counts = np.zeros((draws, size))
    np.add.at(counts, (np.arange(draws)[:, None], rng.integers(0, size, (draws, size))), 1.0)
    return counts / size


def old_p(scores: np.ndarray, rng: np.random.Generator, resamples: int = 1000) -> np.ndarray:
    """compare.py before issue 21: paired bootstrap over test instances of the seed-averaged scores."""
    grids = scores.shape[0]
    diff = (scores[:, 1].mean(axis=1) - scores[:, 0].mean(axis=1)).reshape(grids, -1)
    observed = diff.mean(axis=1, keepdims=True)
    means = diff @ _counts(rng, resamples, diff.shape[1]).T
    return (np.count_nonzero(np.abs(means - observed) >= np.abs(observed), axis=1) + 1) / (resamples + 1)


def two_level_p(scores: np.ndarray, rng: np.random.Generator, resamples: int = 1000) -> np.ndarray:
    """The alternative not chosen: resample tasks (paired) and, within each configuration, seeds; percentile p."""
    means = scores.mean(axis=-1)  # (grids, 2, seeds, tasks)
    seeds, tasks = means.shape[-2:]
    by_task = _counts(rng, resamples, tasks)
    b, a = (np.einsum("rs,gst,rt->gr", _counts(rng, resamples, seeds), means[:, c], by_task) for c in (1, 0))
    d = b - a
    return np.minimum(1.0, 2 * np.minimum((d <= 0).mean(axis=1), (d >= 0).mean(axis=1)))


def rejection_rate(design: Design, test, seed: int, grids: int = GRIDS, chunk: int = 250) -> float:
    """Share of ``grids`` simulated grids whose comparison reaches p < 0.05 (in chunks: bounded memory)."""
    rng = np.random.default_rng(seed)
    hits = 0
    for start in range(0, grids, chunk):
        scores = simulate(design, min(chunk, grids - start), rng)
        hits += int(np.count_nonzero(test(scores, rng) < 0.05))
    return hits / grids


@pytest.mark.parametrize("design", [Design(), ISSUE, SEED_HEAVY, TASK_HEAVY], ids=["reference", "issue", "seed-heavy", "task-heavy"])
def test_null_grids_reach_p_below_005_at_most_7_percent_of_the_time(design):
    rate = rejection_rate(design, lambda scores, rng: new_p(scores), seed=21)
    assert rate <= 0.07, f"false-positive rate {rate:.1%} on {GRIDS} null grids of {design}"


def test_a_5_point_gain_is_detected_at_least_80_percent_of_the_time():
    design = Design(effect=5.0)  # about 4 standard errors of delta with 3 seeds per configuration
    assert design.effect / design.true_se() == pytest.approx(4.2, abs=0.1)
    rate = rejection_rate(design, lambda scores, rng: new_p(scores), seed=22)
    assert rate >= 0.80, f"power {rate:.1%} at a {design.effect}-point gain"


def test_the_seed_blind_tests_fail_the_same_null_grids():
    """The harness can tell: the old instance bootstrap, and a two-level bootstrap with 3 seeds, over-reject."""
    assert rejection_rate(ISSUE, old_p, seed=21) > 0.12
    assert rejection_rate(SEED_HEAVY, old_p, seed=21) > 0.4
    assert rejection_rate(SEED_HEAVY, two_level_p, seed=21) > 0.1

"""Step orderings: seeded, and shuffled never equals the original when it can differ."""

from __future__ import annotations

import pytest

from stepinst_data.dataset.orderings import shuffled_order, step_order


def test_reversed_and_ordered():
    steps = ["a", "b", "c"]
    assert step_order(steps, "ordered", 0, "t") == [0, 1, 2]
    assert step_order(steps, "reversed", 0, "t") == [2, 1, 0]


@pytest.mark.parametrize("steps", [["a", "b"], ["a", "b", "c"], ["a", "a", "b"], ["x", "y", "x", "y"]])
def test_shuffled_never_shows_the_original_order(steps):
    for seed in range(200):
        order = shuffled_order(steps, seed, f"task{seed}")
        assert sorted(order) == list(range(len(steps)))
        assert [steps[i] for i in order] != steps


def test_shuffled_is_deterministic_per_seed_and_task():
    steps = [f"s{i}" for i in range(8)]
    assert shuffled_order(steps, 1, "t") == shuffled_order(steps, 1, "t")
    assert shuffled_order(steps, 1, "t") != shuffled_order(steps, 2, "t")


def test_shuffled_with_one_distinct_step_is_a_permutation():
    assert shuffled_order(["same", "same"], 0, "t") in ([0, 1], [1, 0])
    assert shuffled_order(["only"], 0, "t") == [0]


def test_unknown_order():
    with pytest.raises(ValueError, match="unknown step order 'sideways'"):
        step_order(["a"], "sideways", 0, "t")  # type: ignore[arg-type]

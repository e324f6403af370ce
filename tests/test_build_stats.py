"""Prompt-length and steps figures computed in Arrow equal what ``statistics`` gives, types included."""

from __future__ import annotations

import random
import statistics

import pyarrow as pa
import pytest

from stepinst_data.dataset.stats import _summary


def _by_statistics(values: list[int]) -> dict:
    ordered = sorted(values)
    return {"min": ordered[0], "mean": round(statistics.mean(ordered), 1), "median": float(statistics.median(ordered)),
            "p95": ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], "max": ordered[-1]}


@pytest.mark.parametrize("values", [[7], [2, 4], [1, 2], [5, 1, 3], [10, 10, 11], list(range(1, 101)), [3, 1, 2, 2, 9, 40]])
def test_summary_matches_statistics(values):
    chunked = pa.chunked_array([pa.array(values[: len(values) // 2], pa.int32()), pa.array(values[len(values) // 2 :], pa.int32())])
    summary = _summary(chunked)
    expected = _by_statistics(values)
    assert summary == expected
    assert {k: type(v) for k, v in summary.items()} == {k: type(v) for k, v in expected.items()}  # 3 stays 3, not 3.0


def test_summary_matches_statistics_on_random_lengths():
    rng = random.Random(0)
    for _ in range(300):
        values = [rng.randint(0, 20_000) for _ in range(rng.randint(1, 400))]
        assert _summary(pa.array(values, pa.int64())) == _by_statistics(values)


def test_no_values():
    assert _summary(pa.array([], pa.int32())) == {"min": 0, "mean": 0.0, "median": 0.0, "p95": 0, "max": 0}

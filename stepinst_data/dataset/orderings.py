"""Step orderings: the paper's finding is that the order of the steps matters.

Each ordering returns a permutation (indices into the generated steps), so a row can record
exactly which order it shows (``step_order``).
"""

from __future__ import annotations

import random
from typing import Literal

StepOrder = Literal["ordered", "shuffled", "reversed"]
STEP_ORDERS: tuple[str, ...] = ("ordered", "shuffled", "reversed")


def shuffled_order(steps: list[str], seed: int, task_name: str) -> list[int]:
    """A seeded shuffle that never shows the original order when ≥2 distinct steps exist.

    If the shuffle happens to reproduce the original text sequence, it is rotated by one; a
    rotation of a sequence equals the sequence only when all its items are equal.
    """
    order = list(range(len(steps)))
    random.Random(f"{seed}:shuffle:{task_name}").shuffle(order)
    if len(set(steps)) >= 2 and [steps[i] for i in order] == steps:
        order = order[1:] + order[:1]
    return order


def step_order(steps: list[str], order: StepOrder, seed: int, task_name: str) -> list[int]:
    if order == "ordered":
        return list(range(len(steps)))
    if order == "reversed":
        return list(range(len(steps)))[::-1]
    if order == "shuffled":
        return shuffled_order(steps, seed, task_name)
    raise ValueError(f"unknown step order {order!r}; use one of {STEP_ORDERS}")

"""Which tasks can be rated: those listed in the SUP-NATINST splits that have steps in the store.

A rating of steps that do not exist means nothing, so both the importer and the rating page
accept only these tasks.
"""

from __future__ import annotations

import os

from ..source.natinst import read_splits
from ..source.fetch import resolve_natinst
from ..stores.steps import read_steps_store


def rateable_tasks(
    natinst: str | os.PathLike | None, steps: str | os.PathLike | None, cache_dir: str | os.PathLike | None = None
) -> tuple[dict[str, str] | None, str]:
    """Task name -> split (train, then test order) of the rateable tasks, and where that list came from.

    With only ``steps`` every task of the steps store counts (split ``""``); with neither,
    ``None``: the caller cannot check task names.
    """
    with_steps = list(read_steps_store(steps)) if steps else None
    if natinst is None:
        if with_steps is None:
            return None, ""
        return dict.fromkeys(with_steps, ""), f"not in {steps}: a rating needs the task's steps"
    root = resolve_natinst(natinst, cache_dir)
    listed = {name: split for split, names in read_splits(root).items() for name in names}
    if with_steps is None:
        return listed, f"not in the SUP-NATINST splits of {natinst}"
    keep = set(with_steps)
    return {n: s for n, s in listed.items() if n in keep}, (
        f"not in the SUP-NATINST splits of {natinst} with steps in {steps}: a rating needs the task's steps"
    )

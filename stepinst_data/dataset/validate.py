"""``stepinst validate``: every problem in the inputs at once, not one per run."""

from __future__ import annotations

import os
from pathlib import Path

from ..source.natinst import NatInstError, Sampling, Task, read_splits, read_task
from ..stores.ratings import RatingsError, read_ratings_store
from ..source.fetch import resolve_natinst
from ..stores.steps import check_steps_for_tasks, scan_steps_store


def _check_tasks(root: Path, allow_missing_tasks: bool) -> tuple[list[Task], list[str]]:
    splits = read_splits(root)
    tasks, problems = [], []
    present = {p.stem for p in (root / "tasks").glob("*.json")}
    for split, names in splits.items():
        for name in names:
            if name not in present:
                if not allow_missing_tasks:
                    problems.append(f"{root}/tasks/{name}.json: listed in the {split} split but missing")
                continue
            try:
                tasks.append(read_task(root, name, split, Sampling()))
            except NatInstError as e:
                problems.append(str(e))
    return tasks, problems


def validate_inputs(
    natinst: str | os.PathLike,
    steps: str | os.PathLike | None = None,
    ratings: str | os.PathLike | None = None,
    allow_missing_tasks: bool = False,
    cache_dir: str | os.PathLike | None = None,
) -> list[str]:
    """All problems found in the task files, the steps store and the ratings store."""
    try:
        root = resolve_natinst(natinst, cache_dir)
        tasks, problems = _check_tasks(root, allow_missing_tasks)
    except NatInstError as e:
        return [str(e)]
    if steps:
        records, step_problems = scan_steps_store(steps)
        problems += step_problems
        if records or not step_problems:
            problems += check_steps_for_tasks(records, tasks, str(steps))
    if ratings:
        try:
            store = read_ratings_store(ratings)
            unrated_steps = sorted({r["task_name"] for r in store.records} - {t.name for t in tasks})
            if unrated_steps:
                problems.append(f"{ratings}: ratings for task(s) not in the SUP-NATINST splits: {unrated_steps}")
            if steps:
                without_steps = sorted({r["task_name"] for r in store.records} - set(records))
                if without_steps:
                    problems.append(
                        f"{ratings}: ratings of {len(without_steps)} task(s) that have no steps in {steps}: "
                        f"{without_steps}; a rating rates steps, so generate them or drop these ratings"
                    )
        except RatingsError as e:
            problems.append(str(e))
    return problems

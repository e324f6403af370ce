"""``stepinst validate``: every problem in the inputs at once, not one per run."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from ..source.natinst import NatInstError, Sampling, Task, read_splits, read_task
from ..stores.ratings import RatingsError, read_ratings_store
from ..source.fetch import resolve_natinst
from ..source.table import empty_tasks_message, missing_tasks_message
from .store_audit import audit_steps_store
from ..stores.steps import StepsLimits, check_steps_for_tasks, scan_steps_store

logger = logging.getLogger(__name__)


def _check_tasks(root: Path, allow_missing_tasks: bool, skip_empty_tasks: bool) -> tuple[list[Task], list[str]]:
    splits = read_splits(root)
    tasks, problems, missing = [], [], []
    present = {p.stem for p in (root / "tasks").glob("*.json")}
    for split, names in splits.items():
        for name in names:
            if name not in present:
                missing.append(name)
                continue
            try:
                tasks.append(read_task(root, name, split, Sampling()))
            except NatInstError as e:
                problems.append(str(e))
    if missing and not allow_missing_tasks:
        problems.insert(0, missing_tasks_message(root, missing))
    empty = [task.name for task in tasks if task.num_instances_total == 0]
    if empty and not skip_empty_tasks:
        problems.append(empty_tasks_message(root, empty))
    return tasks, problems


def validate_inputs(
    natinst: str | os.PathLike,
    steps: str | os.PathLike | None = None,
    ratings: str | os.PathLike | None = None,
    allow_missing_tasks: bool = False,
    cache_dir: str | os.PathLike | None = None,
    skip_empty_tasks: bool = False,
    steps_limits: StepsLimits = StepsLimits(),
) -> list[str]:
    """All problems found in the task files, the steps store and the ratings store.

    Records of the steps store that a build would ignore (superseded by a later record of the
    same task, or of tasks not in the corpus) are not problems; they are logged as warnings.
    """
    try:
        root = resolve_natinst(natinst, cache_dir)
        tasks, problems = _check_tasks(root, allow_missing_tasks, skip_empty_tasks)
    except NatInstError as e:
        return [str(e)]
    if steps:
        records, step_problems = scan_steps_store(steps, steps_limits)
        problems += step_problems
        if records or not step_problems:
            built = [t for t in tasks if t.num_instances_total or not skip_empty_tasks]
            problems += check_steps_for_tasks(records, built, str(steps))
        if Path(steps).is_file():
            for note in audit_steps_store(steps, (t.name for t in tasks)).notes():
                logger.warning(note)
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

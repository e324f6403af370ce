"""Which tasks a generation run covers: ``all``, ``train``, ``test`` or the names listed in a file."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from .natinst import NatInstError, Sampling, Task

logger = logging.getLogger(__name__)

NO_INSTANCES = Sampling(0, 0, 0)  # generation reads definitions only


def load_tasks(
    natinst: str,
    which: str = "all",
    allow_missing_tasks: bool = False,
    cache_dir: str | os.PathLike | None = None,
    num_proc: int = 1,
) -> list[Task]:
    """The selected tasks in split order (train, then test), definitions parsed once and cached."""
    from .fetch import resolve_natinst
    from .table import load_task_table

    root = resolve_natinst(natinst, cache_dir)
    table = load_task_table(root, NO_INSTANCES, num_proc, allow_missing_tasks, cache_dir)
    if which == "all":
        return list(table.tasks)
    if which in ("train", "test"):
        return table.split(which)
    return _tasks_from_file(Path(which), {t.name: t for t in table.iter_tasks()}, allow_missing_tasks)


def _tasks_from_file(path: Path, by_name: dict[str, Task], allow_missing: bool) -> list[Task]:
    if not path.is_file():
        raise NatInstError(f"--tasks {path}: not all/train/test and no such file (one task name per line)")
    names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    unknown = [n for n in names if n not in by_name]
    if unknown and not allow_missing:
        raise NatInstError(
            f"--tasks {path}: {len(unknown)} name(s) not in the train/test splits: {', '.join(unknown[:10])}. "
            "Fix the list or pass --allow-missing-tasks to skip them."
        )
    if unknown:
        logger.warning("skipping %d unknown task name(s) listed in %s", len(unknown), path)
    return [by_name[n] for n in dict.fromkeys(names) if n in by_name]

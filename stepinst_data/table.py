"""The normalized task table: every task file parsed and sampled ONCE, then cached.

Every configuration is rendered from this table, so building nine configurations costs one pass
over the (multi-GB) task files. The cache key covers the reader version, the sampling
parameters, the split lists and each task file's size and mtime; it never hashes file contents
(that would cost as much as parsing).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import tempfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from functools import partial
from multiprocessing import get_context
from pathlib import Path

from tqdm.auto import tqdm

from .natinst import NatInstError, Sampling, Task, read_splits, read_task

logger = logging.getLogger(__name__)

READER_VERSION = "1"


@dataclass
class TaskTable:
    """Tasks in split order (train, validation, test), each holding its sampled instances."""

    tasks: list[Task]
    missing: list[str] = field(default_factory=list)

    def split(self, name: str) -> list[Task]:
        return [t for t in self.tasks if t.split == name]

    @property
    def split_names(self) -> list[str]:
        return [s for s in ("train", "validation", "test") if any(t.split == s for t in self.tasks)]

    def by_name(self) -> dict[str, Task]:
        return {t.name: t for t in self.tasks}


def _cache_key(root: Path, splits: dict[str, list[str]], sampling: Sampling) -> str:
    h = hashlib.sha256()
    h.update(json.dumps({"reader": READER_VERSION, "sampling": asdict(sampling)}, sort_keys=True).encode())
    for split, names in splits.items():
        for name in names:
            st = (root / "tasks" / f"{name}.json").stat()
            h.update(f"{split}\0{name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:24]


def _read_one(item: tuple[str, str], root: Path, sampling: Sampling) -> Task | str:
    """Worker: a parsed task, or the error message (so one bad file doesn't hide the others)."""
    name, split = item
    try:
        return read_task(root, name, split, sampling)
    except NatInstError as e:
        return str(e)


def _parse_all(root: Path, items: list[tuple[str, str]], sampling: Sampling, num_proc: int) -> list[Task]:
    worker = partial(_read_one, root=root, sampling=sampling)
    progress = dict(total=len(items), desc="Parsing task files", unit="task", disable=None)
    if num_proc > 1 and len(items) > 1:
        with get_context("spawn").Pool(num_proc) as pool:
            results = list(tqdm(pool.imap(worker, items, chunksize=1), **progress))
    else:
        results = [worker(item) for item in tqdm(items, **progress)]
    errors = [r for r in results if isinstance(r, str)]
    if errors:
        raise NatInstError(f"{len(errors)} task file(s) could not be read:\n  " + "\n  ".join(errors))
    return results  # type: ignore[return-value]


def _missing_tasks(root: Path, splits: dict[str, list[str]]) -> list[str]:
    present = {p.stem for p in (root / "tasks").glob("*.json")}
    return [name for names in splits.values() for name in names if name not in present]


def load_task_table(
    root: Path,
    sampling: Sampling = Sampling(),
    num_proc: int = 1,
    allow_missing_tasks: bool = False,
    cache_dir: Path | None = None,
) -> TaskTable:
    """Parse (or reload from cache) every task of the English-track train and test splits."""
    splits = read_splits(root)
    missing = _missing_tasks(root, splits)
    if missing and not allow_missing_tasks:
        raise NatInstError(
            f"{root}: {len(missing)} task(s) listed in splits/default/ have no file in tasks/: "
            f"{', '.join(missing)}. Restore them, or pass --allow-missing-tasks to skip them."
        )
    if missing:
        logger.warning("skipping %d listed task(s) with no file in %s/tasks (--allow-missing-tasks)", len(missing), root)
    splits = {s: [n for n in names if n not in set(missing)] for s, names in splits.items()}
    cache_file = None
    if cache_dir is not None:
        cache_file = cache_dir / "tables" / f"{_cache_key(root, splits, sampling)}.jsonl"
        if cache_file.is_file():
            logger.info("reusing the parsed task table %s", cache_file)
            return TaskTable(_read_cache(cache_file), missing)
    items = [(name, split) for split, names in splits.items() for name in names]
    tasks = _parse_all(root, items, sampling, num_proc)
    if cache_file is not None:
        _write_cache(cache_file, tasks)
    return TaskTable(tasks, missing)


def _read_cache(path: Path) -> list[Task]:
    with open(path, encoding="utf-8") as f:
        return [Task.from_dict(json.loads(line)) for line in f]


def _write_cache(path: Path, tasks: Iterable[Task]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".part-")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        for task in tasks:
            f.write(json.dumps(task.to_dict(), ensure_ascii=False) + "\n")
    os.replace(tmp, path)


def carve_validation(table: TaskTable, num_tasks: int, seed: int) -> TaskTable:
    """Move a seeded choice of ``num_tasks`` train tasks into a ``validation`` split."""
    if num_tasks <= 0:
        return table
    train = [t.name for t in table.split("train")]
    if num_tasks >= len(train):
        raise ValueError(f"`validation_tasks={num_tasks}` must be smaller than the {len(train)} train tasks")
    chosen = set(random.Random(f"{seed}:validation").sample(train, num_tasks))
    tasks = []
    for task in table.tasks:
        if task.name in chosen:
            task = Task(**{**task.__dict__, "split": "validation"})
        tasks.append(task)
    order = {"train": 0, "validation": 1, "test": 2}
    tasks.sort(key=lambda t: order[t.split])  # stable: keeps list order inside each split
    return TaskTable(tasks, table.missing)

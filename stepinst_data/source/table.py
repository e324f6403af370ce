"""The normalized task table: every task file parsed and sampled ONCE, then cached on disk.

Every configuration is rendered from this table, so building all configurations costs one pass
over the (multi-GB) task files. Parsed tasks are streamed to the cache file as they arrive and
only light per-task metadata (:class:`TaskInfo`) stays in memory, so peak memory is set by the
largest task file being parsed, not by the corpus. The cache key covers the digest of the
reader's own code (:func:`reader_digest`: an edit to the reader, or an upgrade, never reuses rows
of the old one), the sampling parameters, the split lists and each task file's
:func:`~stepinst_data.source.digest.file_key` (size, mtime, ctime, inode: a restored mtime does
not hide an edit); it never hashes file contents (that would cost as much as parsing).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field, replace
from functools import cache, partial
from multiprocessing import get_context
from pathlib import Path
from types import ModuleType

import msgspec
from tqdm.auto import tqdm

from ..atomic import atomic_write
from ..bulk import gc_paused
from .. import __version__
from . import natinst, text_checks
from .digest import file_key, spare_cores
from .natinst import NatInstError, Sampling, Task, read_splits, read_task

logger = logging.getLogger(__name__)

SPLIT_ORDER = ("train", "validation", "test")


@dataclass
class TaskInfo:
    """What the card, the checks and the filters need of a task, without its instances."""

    name: str
    split: str
    category: str
    definition_sha256: str
    num_instances: int
    num_instances_total: int
    instance_license: list[str]
    schema: str

    @classmethod
    def of(cls, task: Task) -> TaskInfo:
        return cls(task.name, task.split, task.category, task.definition_sha256, len(task.instances),
                   task.num_instances_total, task.instance_license, task.schema)


@dataclass
class TaskTable:
    """The parsed tasks: metadata in memory, instances streamed from the cache file."""

    path: Path
    infos: list[TaskInfo]
    missing: list[str] = field(default_factory=list)
    skipped_empty: list[str] = field(default_factory=list)

    def iter_tasks(self) -> Iterator[Task]:
        """Every task, in split order (train, validation, test), with its sampled instances.

        The cache file is in train-then-test order, so one pass suffices unless validation
        tasks were carved out of train (then one pass per split).
        """
        split_of = {info.name: info.split for info in self.infos}
        passes: list[str | None] = list(self.split_names) if "validation" in self.split_names else [None]
        decoder = msgspec.json.Decoder(Task)
        for wanted in passes:
            with open(self.path, "rb") as f:
                for line in f:
                    task = decoder.decode(line)
                    split = split_of.get(task.name)
                    if split is not None and wanted in (None, split):
                        task.split = split
                        yield task

    @property
    def tasks(self) -> list[Task]:
        """All tasks loaded at once; for small tables (tests, notebooks)."""
        return list(self.iter_tasks())

    def split(self, name: str) -> list[Task]:
        return [t for t in self.iter_tasks() if t.split == name]

    @property
    def split_names(self) -> list[str]:
        present = {info.split for info in self.infos}
        return [s for s in SPLIT_ORDER if s in present]


def code_digest(modules: Iterable[ModuleType], salt: str = "") -> str:
    """A digest of the source of ``modules`` (and stepinst's version): what a cache of their output is keyed on."""
    h = hashlib.sha256(f"{__version__}\0{salt}\n".encode())
    for module in modules:
        h.update(Path(module.__file__).read_bytes())
    return h.hexdigest()[:16]


@cache
def reader_digest() -> str:
    """The digest of the code that turns a task file into a cached task: the reader, its text
    checks and this module (the cache's line format). Any edit to them keys a new table."""
    import sys

    return code_digest([natinst, text_checks, sys.modules[__name__]])


def _cache_key(root: Path, splits: dict[str, list[str]], sampling: Sampling) -> str:
    h = hashlib.sha256()
    h.update(json.dumps({"reader": reader_digest(), "sampling": asdict(sampling)}, sort_keys=True).encode())
    for split, names in splits.items():
        for name in names:
            h.update(f"{split}\0{name}\0{file_key(root / 'tasks' / f'{name}.json')}\n".encode())
    return h.hexdigest()[:24]


_ENCODER = msgspec.json.Encoder()  # the cache holds only strings, ints and lists: plain JSON, a task a line


def _read_one(item: tuple[str, str], root: Path, sampling: Sampling) -> tuple[TaskInfo, bytes] | str:
    """Worker: a task's metadata and its cache line, or the error message (so one bad file doesn't
    hide the others). The line is encoded here, in the worker: the parent only writes bytes."""
    name, split = item
    try:
        with gc_paused():
            task = read_task(root, name, split, sampling)
            return TaskInfo.of(task), _ENCODER.encode(task) + b"\n"
    except NatInstError as e:
        return str(e)


def _parse_to_cache(
    root: Path, items: list[tuple[str, str]], sampling: Sampling, num_proc: int, path: Path, progress: bool | None
) -> list[TaskInfo]:
    """Parse every task (in ``num_proc`` processes) and stream them to ``path``, atomically."""
    worker = partial(_read_one, root=root, sampling=sampling)
    bar = dict(total=len(items), desc="Parsing task files", unit="task", disable=None if progress is None else not progress)
    infos, errors = [], []
    processes = worker_processes(num_proc, len(items))
    pool = get_context("spawn").Pool(processes) if processes > 1 else None
    try:
        results = pool.imap(worker, items, chunksize=1) if pool else map(worker, items)
        with gc_paused(), atomic_write(path, "wb") as f:  # an error leaves no partial table behind
            for result in tqdm(results, **bar):
                if isinstance(result, str):
                    errors.append(result)
                    continue
                info, line = result
                f.write(line)
                infos.append(info)
            if len(errors) == 1:
                raise NatInstError(errors[0])  # one line naming the file
            if errors:
                raise NatInstError(f"{len(errors)} task file(s) could not be read:\n  " + "\n  ".join(errors))
    finally:
        if pool:
            pool.terminate()
    return infos


def worker_processes(num_proc: int, tasks: int) -> int:
    """``num_proc``, capped at the work (one task file a process at least) and the cores; says so when capped."""
    cores = spare_cores(0)
    processes = max(1, min(num_proc, tasks, cores))
    if processes < num_proc:
        logger.info("--num-proc %d: parsing with %d process(es) (%d task file(s) to parse, %d core(s))",
                    num_proc, processes, tasks, cores)
    return processes


def first_names(names: list[str], shown: int = 5) -> str:
    """``a, b, c, ... (and N more)``: a partial corpus lists hundreds of names; one line names a few."""
    more = f", ... (and {len(names) - shown} more)" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def missing_tasks_message(root: Path, missing: list[str]) -> str:
    """The one error for listed tasks without a file: the count, the first few, and the flag."""
    return (
        f"{root}: {len(missing)} task(s) listed in splits/default/ have no file in tasks/: "
        f"{first_names(missing)}. Restore them, or pass --allow-missing-tasks to skip them."
    )


def check_count(value: int, name: str = "num_proc", hint: str = "--num-proc 1 parses in this process") -> int:
    """A count of processes or threads (>= 1); 0 or a negative number is a typo, not "auto"."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"`{name}={value!r}` must be an integer >= 1 ({hint})")
    return value


def empty_tasks_message(root: Path, empty: list[str]) -> str:
    return (
        f"{root}/tasks: {len(empty)} listed task(s) have an empty 'Instances' list: {first_names(empty)}. "
        "A task without instances has no rows in any configuration: fix the task file(s), or pass "
        "--skip-empty-tasks to build without them (they are then listed in the build summary, "
        "stepinst_build.json and the dataset card)."
    )


def without_empty_tasks(table: TaskTable, root: Path, skip: bool) -> TaskTable:
    """Refuse listed tasks whose ``Instances`` list is empty, or (``skip``) leave them out, on record.

    Such a task has no rows in any configuration, so building it would silently drop a task the
    split list names; the skipped ones are listed in the build summary, manifest and card.
    """
    empty = [info.name for info in table.infos if info.num_instances_total == 0]
    if not empty:
        return table
    if not skip:
        raise NatInstError(empty_tasks_message(root, empty))
    logger.warning("skipping %d listed task(s) with no instances (--skip-empty-tasks): %s", len(empty), first_names(empty))
    infos = [info for info in table.infos if info.num_instances_total > 0]
    return replace(table, infos=infos, skipped_empty=[*table.skipped_empty, *empty])


def _missing_tasks(root: Path, splits: dict[str, list[str]]) -> list[str]:
    present = {p.stem for p in (root / "tasks").glob("*.json")}
    return [name for names in splits.values() for name in names if name not in present]


def _infos_from_cache(path: Path) -> list[TaskInfo]:
    decoder = msgspec.json.Decoder(Task)
    with open(path, "rb") as f:
        return [TaskInfo.of(decoder.decode(line)) for line in f]


def load_task_table(
    root: Path,
    sampling: Sampling = Sampling(),
    num_proc: int = 1,
    allow_missing_tasks: bool = False,
    cache_dir: str | os.PathLike | None = None,
    progress: bool | None = None,
) -> TaskTable:
    """Parse (or reuse the cached parse of) every task of the English-track train and test splits.

    ``progress``: a bar on stderr while parsing (None: only on a terminal).
    """
    from .fetch import default_cache_dir

    check_count(num_proc)
    splits = read_splits(root)
    missing = _missing_tasks(root, splits)
    if missing and not allow_missing_tasks:
        raise NatInstError(missing_tasks_message(root, missing))
    if missing:
        logger.warning("skipping %d listed task(s) with no file in %s/tasks (--allow-missing-tasks)", len(missing), root)
    skipped = set(missing)
    splits = {s: [n for n in names if n not in skipped] for s, names in splits.items()}
    path = Path(cache_dir or default_cache_dir()) / "tables" / f"{_cache_key(root, splits, sampling)}.jsonl"
    if path.is_file():
        logger.info("reusing the parsed task table %s", path)
        return TaskTable(path, _infos_from_cache(path), missing)
    items = [(name, split) for split, names in splits.items() for name in names]
    return TaskTable(path, _parse_to_cache(root, items, sampling, num_proc, path, progress), missing)


def carve_validation(table: TaskTable, num_tasks: int, seed: int) -> TaskTable:
    """Move a seeded choice of ``num_tasks`` train tasks into a ``validation`` split."""
    if num_tasks <= 0:
        return table
    train = [info.name for info in table.infos if info.split == "train"]
    if num_tasks >= len(train):
        raise ValueError(f"--num-validation-tasks {num_tasks} (`validation_tasks`) must be smaller than the {len(train)} "
                         f"train tasks of this corpus; choose at most {len(train) - 1}")
    chosen = set(random.Random(f"{seed}:validation").sample(train, num_tasks))
    infos = [TaskInfo(**{**asdict(i), "split": "validation"}) if i.name in chosen else i for i in table.infos]
    infos.sort(key=lambda i: SPLIT_ORDER.index(i.split))  # stable: keeps list order inside each split
    return replace(table, infos=infos)

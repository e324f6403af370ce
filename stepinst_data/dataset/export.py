"""Write the data files of a release folder: ``data/<config>/<split>-<digest>.parquet``.

* ``load_dataset(out, name)`` reads it through the README's YAML ``configs:`` block.
* File names carry a digest of their bytes: datasets caches a local folder's configs by file
  names and sizes, so a rebuild with new content under old names would silently load OLD rows.
* The release function (:func:`stepinst_data.card.release.release`) writes them into a folder
  beside ``--out`` and swaps it in at the end: an interrupted build never leaves a half-written
  dataset that loads.
* Rebuilding from the same inputs gives byte-identical files (no timestamps anywhere).
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from ..bulk import gc_paused
from .configs import PRESETS, StepInstConfig
from .inputs import BuildInputs
from ..source.digest import sha256_file
from ..source.natinst import Task
from ..source.table import check_count
from .render import features_for, instance_columns, keeps_task, ratings_table, render_table, task_chunks
from .outdir import ExportError
from .stats import StatsCollector

logger = logging.getLogger(__name__)

@dataclass
class ConfigFiles:
    """What was written for one configuration: per split, the file and its row count."""

    config: StepInstConfig
    files: dict[str, str] = field(default_factory=dict)
    num_examples: dict[str, int] = field(default_factory=dict)
    num_bytes: dict[str, int] = field(default_factory=dict)
    download_size: int = 0
    sha256: dict[str, str] = field(default_factory=dict)
    stats: dict = field(default_factory=dict)


def default_configs(inputs: BuildInputs) -> list[StepInstConfig]:
    """The presets these inputs can serve: step configs need steps, the hq filter needs ratings."""
    chosen = []
    for config in PRESETS.values():
        if config.uses_steps and inputs.steps is None:
            logger.warning("skipping %r: no steps store given (--steps)", config.name)
        elif (config.min_steps_quality is not None or config.ratings_only) and inputs.ratings is None:
            logger.warning("skipping %r: no ratings store given (--ratings)", config.name)
        elif config.min_steps_quality is not None and not inputs.quality_by_task():
            logger.warning("skipping %r: %s holds no human rating (LLM-judge ratings never count)",
                           config.name, inputs.ratings_path)
        else:
            chosen.append(config)
    return chosen


# Parquet settings, chosen by measurement (benchmarks/build.py): dictionary encoding only for the
# columns that repeat one value per task (hashing unique prompts, inputs and references is wasted
# work), min/max statistics only on short columns (comparing long strings cost 25% of the write).
PER_TASK_COLUMNS = ("task_name", "annotator", "category", "categories", "definition", "steps", "step_order",
                    "positive_examples", "negative_examples", "comment")
STATISTICS_COLUMNS = ("id", "task_name", "category", "annotator", "steps_quality")


class _SplitWriter:
    """Streams Arrow tables into ``data/<config>/<split>.parquet``; named by digest on close."""

    def __init__(self, folder: Path, config: str, split: str, schema: pa.Schema, stats: StatsCollector):
        self.folder, self.config, self.split, self.schema, self.stats = folder, config, split, schema, stats
        self.path = folder / "data" / config / f"{split}.parquet.part"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.writer = pq.ParquetWriter(
            self.path,
            schema,
            use_dictionary=[n for n in PER_TASK_COLUMNS if n in schema.names],
            write_statistics=[n for n in STATISTICS_COLUMNS if n in schema.names],
        )
        self.rows = self.num_bytes = 0
        self.sha256 = ""
        self.relative: str | None = None  # the final path, content-addressed: set by close()

    def write(self, table: pa.Table) -> None:
        if table.num_rows:
            self.writer.write_table(table, row_group_size=table.num_rows)
            self.rows += table.num_rows
            self.num_bytes += table.nbytes
            self.stats.add(self.split, table)

    def close(self) -> None:
        """Name the file by its digest (``relative``), or drop it when no row was written."""
        self.writer.close()
        if not self.rows:  # datasets cannot read a Parquet file without rows
            self.path.unlink()
            logger.warning("%s: the %s split has no rows; it is left out", self.config, self.split)
            return
        self.sha256 = sha256_file(self.path)  # the manifest records it in full
        self.relative = f"data/{self.config}/{self.split}-{self.sha256[:16]}.parquet"
        os.replace(self.path, self.folder / self.relative)


@dataclass
class _Chunk:
    """One chunk of the task table, split by split, with the columns every configuration shares."""

    tasks: list[Task]
    shared: dict[tuple[str, ...], dict[str, pa.Array]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def parts(self, config: StepInstConfig, quality: dict[str, float]) -> Iterator[tuple[str, list[Task], dict]]:
        """(split, kept tasks, their shared columns) for ``config``; shared columns built once."""
        for split in dict.fromkeys(t.split for t in self.tasks):
            kept = [t for t in self.tasks if t.split == split and keeps_task(config, t.name, split, quality)]
            if kept:
                key = tuple(t.name for t in kept)
                with self.lock:  # configurations on other threads may ask for the same columns
                    if key not in self.shared:
                        self.shared[key] = instance_columns(kept)
                yield split, kept, self.shared[key]


class _Lanes:
    """One lane per configuration: its chunks go into its files in table order, one at a time,
    while the lanes of the other configurations run beside it. At most ``threads`` lanes work at
    once (one per core), and the table is read at most ``lag`` chunks ahead of the slowest lane,
    so memory is bounded by a few chunks, not by the corpus. No barrier between configurations:
    a lane with short prompts never waits for one with long ones, and a lane that has written its
    last chunk closes its files (``finish``: footer, digest) while the others still write."""

    def __init__(self, names: Sequence[str], work: Callable[[str, _Chunk], int], threads: int, report: Callable[[int], None],
                 finish: Callable[[str], None], lag: int = 2):
        self.work, self.report, self.finish, self.lag = work, report, finish, lag
        self.running = threading.BoundedSemaphore(threads)
        self.done = threading.Condition()
        self.finished = {name: 0 for name in names}  # chunks each lane has written
        self.errors: list[BaseException] = []
        self.cancelled = False
        self.queues: dict[str, queue.SimpleQueue] = {name: queue.SimpleQueue() for name in names}
        self.threads = [threading.Thread(target=self._run, args=(name,), name=f"stepinst-write-{name}", daemon=True) for name in names]
        for t in self.threads:
            t.start()

    def _run(self, name: str) -> None:
        while (chunk := self.queues[name].get()) is not None:
            if not (self.errors or self.cancelled):
                try:
                    with self.running:
                        tasks = self.work(name, chunk)
                    self.report(tasks)
                except BaseException as e:  # noqa: BLE001 - handed to the reading thread, which re-raises it
                    self.errors.append(e)
            with self.done:
                self.finished[name] += 1
                self.done.notify_all()
        if not (self.errors or self.cancelled):  # the table is read to its end: close this lane's files
            try:
                with self.running:
                    self.finish(name)
            except BaseException as e:  # noqa: BLE001 - handed to the reading thread, which re-raises it
                with self.done:
                    self.errors.append(e)
                    self.done.notify_all()

    def _wait(self, chunks: int) -> None:
        """Until every lane has written ``chunks`` chunks (or one failed); re-raise a lane's error."""
        with self.done:
            self.done.wait_for(lambda: self.errors or min(self.finished.values()) >= chunks)
        if self.errors:
            raise self.errors[0]

    def feed(self, chunks: Iterable[_Chunk]) -> None:
        """Hand every chunk to every lane, then the end (each lane closes its files once it has
        written its last chunk); wait for every lane; re-raise the first error of any."""
        fed, ended = 0, False
        try:
            for chunk in chunks:
                self._wait(fed - self.lag)
                for lane in self.queues.values():
                    lane.put(chunk)
                fed += 1
            self._end_lanes()
            ended = True
            self._wait(fed)
        except BaseException:
            self.cancelled = True  # the lanes drop what is queued; none closes its files after this
            raise
        finally:
            if not ended:
                self._end_lanes()
            for thread in self.threads:
                thread.join()
        if self.errors:
            raise self.errors[0]

    def _end_lanes(self) -> None:
        for lane in self.queues.values():
            lane.put(None)


def writer_threads(requested: int | None = None) -> int:
    """Threads that render and write configurations: ``requested``, or one per usable core.

    Threads, not processes: Arrow's ``take``/string joins and Parquet's encoding and compression
    run without the GIL, so threads share the cores without copying the task table to workers."""
    if requested is not None:
        return check_count(requested, "threads", "or None: one per core")
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def write_configs(
    inputs: BuildInputs,
    configs: Sequence[StepInstConfig],
    folder: Path,
    threads: int | None = None,
    progress: bool | None = None,
) -> list[ConfigFiles]:
    """Render every configuration in ONE streaming pass over the task table.

    Tasks are read from the table once, in chunks; while the next chunks are read, each
    configuration's lane renders the chunks it was handed and appends them to its Parquet file of
    each split, ``threads`` lanes at a time (default: one per core). A file takes chunk N+1 only
    once chunk N is in it, so the bytes do not depend on the number of threads. ``progress``: a
    bar on stderr over tasks x configurations (None: on a terminal).
    """
    quality = inputs.quality_by_task()
    collectors = {c.name: StatsCollector() for c in configs}
    writers = {  # every split of every config exists, in a fixed order
        (c.name, split): _SplitWriter(folder, c.name, split, features_for(c, inputs).arrow_schema, collectors[c.name])
        for split in inputs.table.split_names
        for c in configs
    }
    instance_configs = [c for c in configs if not c.ratings_only]
    # The lanes with the longest prompts (examples double a prompt) start first.
    by_size = sorted(instance_configs, key=lambda c: -(c.num_pos_examples + c.num_neg_examples))
    by_name = {c.name: c for c in instance_configs}

    def write_chunk(name: str, chunk: _Chunk) -> int:
        for split, kept, shared in chunk.parts(by_name[name], quality):
            writers[name, split].write(render_table(by_name[name], inputs, kept, shared))
        return len(chunk.tasks)

    def chunks() -> Iterator[_Chunk]:
        for tasks in task_chunks(inputs.table.iter_tasks()):
            chunk = _Chunk(tasks)  # read, and its shared columns built, while the lanes write the last ones
            for _ in chunk.parts(instance_configs[0], quality):
                pass
            yield chunk

    bar = tqdm(total=len(inputs.table.infos) * len(instance_configs), desc=f"Writing {len(instance_configs)} configurations",
               unit="task", disable=None if progress is None else not progress)
    bar_lock = threading.Lock()

    def report(tasks: int) -> None:
        with bar_lock:
            bar.update(tasks)

    def finish(name: str) -> None:
        for split in inputs.table.split_names:
            writers[name, split].close()

    with bar, gc_paused():
        if instance_configs:
            lanes = _Lanes([c.name for c in by_size], write_chunk, min(writer_threads(threads), len(by_size)), report, finish)
            lanes.feed(chunks())
        for config in configs:
            if config.ratings_only:
                for split in inputs.table.split_names:
                    writers[config.name, split].write(ratings_table(inputs, split))
                finish(config.name)
    results = {c.name: ConfigFiles(c) for c in configs}
    for (name, split), w in writers.items():
        if relative := w.relative:
            files = results[name]
            files.files[split] = relative
            files.num_examples[split] = w.rows
            files.num_bytes[split] = w.num_bytes
            files.download_size += (folder / relative).stat().st_size
            files.sha256[split] = w.sha256
    for name, files in results.items():
        files.stats = collectors[name].result()
    return list(results.values())


def yaml_metadata(written: Sequence[ConfigFiles], inputs: BuildInputs) -> tuple[list[dict], list[dict]]:
    """The card's ``configs`` and ``dataset_info`` blocks, as ``load_dataset`` reads them."""
    configs, infos = [], []
    for w in written:
        entry = {"config_name": w.config.name, "data_files": [{"split": s, "path": p} for s, p in w.files.items()]}
        if w.config.name == "steps_ordered":
            entry["default"] = True
        configs.append(entry)
        splits = datasets.SplitDict()
        for split, n in w.num_examples.items():
            splits.add(datasets.SplitInfo(name=split, num_bytes=w.num_bytes[split], num_examples=n))
        info = datasets.DatasetInfo(
            features=features_for(w.config, inputs),
            config_name=w.config.name,
            splits=splits,
            download_size=w.download_size,
            dataset_size=sum(w.num_bytes.values()),
        )
        infos.append(info._to_yaml_dict())
    return configs, infos


def check_rows(written: Sequence[ConfigFiles]) -> None:
    """Refuse a configuration that wrote no row in any split (its filters keep nothing)."""
    empty = [w.config.name for w in written if not w.files]
    if empty:
        raise ExportError(
            f"configuration(s) {empty} have no rows in any split: their filters (--configs parameters such as "
            "min_steps_quality) keep nothing of this corpus; loosen them or leave those configurations out of --configs"
        )

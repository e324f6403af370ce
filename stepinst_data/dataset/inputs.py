"""Load what every configuration is rendered from, once: task table, steps store, ratings store."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..source.digest import BackgroundDigest
from ..source.natinst import Sampling
from ..stores.ratings import RatingsError, RatingsStore, read_ratings_store
from ..source.fetch import default_cache_dir, resolve_natinst
from ..stores.steps import StepsLimits, StepsRecord, StepsStoreError, check_steps_for_tasks, read_steps_store
from .store_audit import audit_steps_store
from ..source.table import TaskTable, carve_validation, check_count, load_task_table, without_empty_tasks

if TYPE_CHECKING:
    from .configs import StepInstConfig

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BuildRequest:
    """What the inputs were loaded from and with: the build manifest records it, ``--like`` replays it."""

    natinst: str
    root: Path
    sampling: Sampling
    validation_tasks: int
    allow_missing_tasks: bool
    cache_dir: Path
    skip_empty_tasks: bool = False


@dataclass
class BuildInputs:
    """Everything a configuration is rendered from; parsed once, shared by all configurations."""

    table: TaskTable
    steps: dict[str, StepsRecord] | None = None
    ratings: RatingsStore | None = None
    steps_path: str = "<steps store>"
    ratings_path: str | None = None
    request: BuildRequest | None = None
    source_digest: BackgroundDigest | None = field(default=None, repr=False, compare=False)
    """The digests of the task files, hashed while they were parsed (the manifest records them)."""

    def __getstate__(self) -> dict:
        """Picklable (the datasets builder and DataLoader workers copy it): the thread stays here;
        a copy hashes again if it is ever built into a folder."""
        return {**self.__dict__, "source_digest": None}

    def quality_by_task(self) -> dict[str, float]:
        return self.ratings.overall_by_task() if self.ratings else {}

    def check_serves(self, configs: Iterable[StepInstConfig]) -> None:
        """Refuse configurations these inputs cannot fill whole (never a half config).

        Step configurations need the steps store; ``steps_ordered_hq`` (a quality threshold) and
        ``ratings`` need the ratings store: without it the threshold would keep no train task.
        """
        configs = list(configs)
        self._check_sampling(configs)
        with_steps = [c.name for c in configs if c.uses_steps]
        if with_steps:
            self.check_steps(with_steps)
        need_ratings = [c.name for c in configs if c.min_steps_quality is not None or c.ratings_only]
        if need_ratings and self.ratings is None:
            raise RatingsError(
                f"configuration(s) {need_ratings} need human ratings: pass a ratings store (--ratings), "
                "or leave them out of --configs"
            )
        thresholded = [c.name for c in configs if c.min_steps_quality is not None]
        if thresholded and not self.quality_by_task():
            raise RatingsError(
                f"configuration(s) {thresholded} keep train tasks by their human quality rating, but "
                f"{self.ratings_path} holds no human rating (LLM-judge ratings, `llm:<model>`, never count): "
                "their train split would be empty. Add human ratings, or leave them out of --configs"
            )

    def _check_sampling(self, configs: list[StepInstConfig]) -> None:
        """Refuse a configuration whose sampling differs from the one the task table was built with.

        Rows come from the table, sampled once per build: a configuration asking for other instance
        counts, another seed or another validation split would be written with the build's rows
        while its manifest and card claimed its own (a silent difference)."""
        if self.request is None:
            return
        built = {**asdict(self.request.sampling), "validation_tasks": self.request.validation_tasks}
        for config in configs:
            asked = {**asdict(config.sampling), "validation_tasks": config.validation_tasks}
            differ = [f"{key}={asked[key]} (this build: {built[key]})" for key in built if asked[key] != built[key]]
            if differ:
                flags = ", ".join("--" + key.replace("_", "-").replace("validation-tasks", "num-validation-tasks") for key in built)
                raise ValueError(
                    f"configuration {config.name!r} asks for {', '.join(differ)}, but every configuration of a build "
                    f"shares the build's sampling: build it with those values ({flags}) or drop them from the configuration"
                )

    def check_steps(self, configs: Sequence[str] = ()) -> None:
        """Refuse to render step configurations (``configs``, by name) from missing or stale steps."""
        if self.steps is None:
            which = f"configuration(s) {list(configs)} need" if configs else "this configuration needs"
            raise StepsStoreError(f"{which} step-by-step instructions: pass a steps store (--steps), or leave them out of --configs")
        problems = check_steps_for_tasks(self.steps, self.table.infos, self.steps_path)
        if problems:
            raise StepsStoreError("\n".join(problems))


def _log_ignored_steps(steps: str | os.PathLike, table: TaskTable) -> None:
    """Say how many records of the steps store no row comes from, and which record each task got."""
    audit = audit_steps_store(steps, (info.name for info in table.infos))
    if audit.ignored:
        logger.warning("%s: ignoring %d record(s) of the steps store", steps, audit.ignored)
        for note in audit.notes():
            logger.warning(note)


def load_build_inputs(
    natinst: str | os.PathLike,
    steps: str | os.PathLike | None = None,
    ratings: str | os.PathLike | None = None,
    sampling: Sampling = Sampling(),
    validation_tasks: int = 0,
    num_proc: int = 1,
    allow_missing_tasks: bool = False,
    cache_dir: str | os.PathLike | None = None,
    skip_empty_tasks: bool = False,
    progress: bool | None = None,
    hash_sources: bool = True,
    steps_limits: StepsLimits = StepsLimits(),
) -> BuildInputs:
    """Parse the task files (or reuse the cached table) and read the stores.

    A listed task with an empty ``Instances`` list is refused unless ``skip_empty_tasks``.
    ``hash_sources``: hash the task files beside the parse, for the manifest of a build folder
    (the datasets builder, which writes no manifest, turns it off). ``steps_limits``: a steps
    record with more or longer steps is refused, naming its task and line.
    """
    check_count(num_proc)
    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    root = resolve_natinst(natinst, cache)
    request = BuildRequest(str(natinst), root, sampling, validation_tasks, allow_missing_tasks, cache, skip_empty_tasks)
    hashing = BackgroundDigest(root, allow_missing_tasks, cache, num_proc) if hash_sources else None
    try:
        return _read_inputs(request, steps, ratings, num_proc, progress, hashing, steps_limits)
    except BaseException:
        if hashing:
            hashing.cancel()  # a failed load: nobody will read the digests
        raise


def _read_inputs(
    request: BuildRequest,
    steps: str | os.PathLike | None,
    ratings: str | os.PathLike | None,
    num_proc: int,
    progress: bool | None,
    hashing: BackgroundDigest | None,
    steps_limits: StepsLimits = StepsLimits(),
) -> BuildInputs:
    """The task table and the stores, once the source is resolved (and its hashing started)."""
    root = request.root
    table = load_task_table(root, request.sampling, num_proc, request.allow_missing_tasks, request.cache_dir, progress)
    table = without_empty_tasks(table, root, request.skip_empty_tasks)
    table = carve_validation(table, request.validation_tasks, request.sampling.seed)
    records = read_steps_store(steps, steps_limits) if steps else None
    if steps:
        _log_ignored_steps(steps, table)
    store = read_ratings_store(ratings) if ratings else None
    if store is not None:
        known = {info.name for info in table.infos}
        unknown = sorted({r["task_name"] for r in store.records} - known)
        if unknown:
            logger.warning("%s: ignoring ratings of %d task(s) not in this build: %s", ratings, len(unknown), unknown)
    return BuildInputs(
        table, records, store, str(steps) if steps else "<steps store>", str(ratings) if ratings else None, request, hashing
    )

"""Load what every configuration is rendered from, once: task table, steps store, ratings store."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from ..source.natinst import Sampling
from ..stores.ratings import RatingsStore, read_ratings_store
from ..source.fetch import default_cache_dir, resolve_natinst
from ..stores.steps import StepsRecord, StepsStoreError, check_steps_for_tasks, read_steps_store
from ..source.table import TaskTable, carve_validation, load_task_table

logger = logging.getLogger(__name__)


@dataclass
class BuildInputs:
    """Everything a configuration is rendered from; parsed once, shared by all configurations."""

    table: TaskTable
    steps: dict[str, StepsRecord] | None = None
    ratings: RatingsStore | None = None
    steps_path: str = "<steps store>"
    ratings_path: str | None = None

    def quality_by_task(self) -> dict[str, float]:
        return self.ratings.overall_by_task() if self.ratings else {}

    def check_steps(self) -> None:
        """Refuse to render step configurations from missing or stale steps."""
        if self.steps is None:
            raise StepsStoreError("this configuration needs step-by-step instructions: pass a steps store (--steps)")
        problems = check_steps_for_tasks(self.steps, self.table.infos, self.steps_path)
        if problems:
            raise StepsStoreError("\n".join(problems))


def load_build_inputs(
    natinst: str | os.PathLike,
    steps: str | os.PathLike | None = None,
    ratings: str | os.PathLike | None = None,
    sampling: Sampling = Sampling(),
    validation_tasks: int = 0,
    num_proc: int = 1,
    allow_missing_tasks: bool = False,
    cache_dir: str | os.PathLike | None = None,
    progress: bool | None = None,
) -> BuildInputs:
    """Parse the task files (or reuse the cached table) and read the stores."""
    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    root = resolve_natinst(natinst, cache)
    table = load_task_table(root, sampling, num_proc, allow_missing_tasks, cache, progress)
    table = carve_validation(table, validation_tasks, sampling.seed)
    records = read_steps_store(steps) if steps else None
    store = read_ratings_store(ratings) if ratings else None
    if store is not None:
        known = {info.name for info in table.infos}
        unknown = sorted({r["task_name"] for r in store.records} - known)
        if unknown:
            logger.warning("%s: ignoring ratings of %d task(s) not in this build: %s", ratings, len(unknown), unknown)
    return BuildInputs(table, records, store, str(steps) if steps else "<steps store>", str(ratings) if ratings else None)

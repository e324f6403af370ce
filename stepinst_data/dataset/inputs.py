"""Load what every configuration is rendered from, once: task table, steps store, ratings store."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..stores.ratings import RatingsError, RatingsStore, read_ratings_store
from ..stores.steps import StepsRecord, StepsStoreError, check_steps_for_tasks, read_steps_store
from .store_audit import audit_steps_store
from ..source.table import TaskTable, carve_validation, load_task_table, without_empty_tasks
from .plan import BuildPlan

if TYPE_CHECKING:
    from .configs import StepInstConfig

logger = logging.getLogger(__name__)


@dataclass
class BuildInputs:
    """Everything a configuration is rendered from; parsed once, shared by all configurations."""

    table: TaskTable
    steps: dict[str, StepsRecord] | None = None
    ratings: RatingsStore | None = None
    steps_path: str = "<steps store>"
    ratings_path: str | None = None
    plan: BuildPlan = field(default_factory=BuildPlan)
    """The plan the table was read and sampled with (its seed also orders shuffled steps)."""

    def quality_by_task(self) -> dict[str, float]:
        return self.ratings.overall_by_task() if self.ratings else {}

    def check_serves(self, configs: Iterable[StepInstConfig]) -> None:
        """Refuse configurations these inputs cannot fill whole (never a half config).

        Step configurations need the steps store; ``steps_ordered_hq`` (a quality threshold) and
        ``ratings`` need the ratings store: without it the threshold would keep no train task.
        """
        configs = list(configs)
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

    def check_steps(self, configs: Sequence[str] = ()) -> None:
        """Refuse to render step configurations (``configs``, by name) from missing or stale steps."""
        if self.steps is None:
            which = f"configuration(s) {list(configs)} need" if configs else "this configuration needs"
            raise StepsStoreError(f"{which} step-by-step instructions: pass a steps store (--steps), or leave them out of --configs")
        problems = check_steps_for_tasks(self.steps, self.table.infos, self.steps_path)
        if problems:
            raise StepsStoreError("\n".join(problems))


def _log_ignored(steps: str | os.PathLike | None, ratings: str | os.PathLike | None, store: RatingsStore | None,
                 table: TaskTable) -> None:
    """Say which records of the stores no row comes from (and which record each task got)."""
    known = {info.name for info in table.infos}
    if steps:
        audit = audit_steps_store(steps, known)
        if audit.ignored:
            logger.warning("%s: ignoring %d record(s) of the steps store", steps, audit.ignored)
            for note in audit.notes():
                logger.warning(note)
    unknown = sorted({r["task_name"] for r in store.records} - known) if store else []
    if unknown:
        logger.warning("%s: ignoring ratings of %d task(s) not in this build: %s", ratings, len(unknown), unknown)


def load_build_inputs(
    root: str | os.PathLike,
    steps: str | os.PathLike | None = None,
    ratings: str | os.PathLike | None = None,
    plan: BuildPlan = BuildPlan(),
    num_proc: int = 1,
    cache_dir: str | os.PathLike | None = None,
    progress: bool | None = None,
) -> BuildInputs:
    """Read the stores, then parse the task files of the checkout ``root`` (or reuse the cached
    table), as ``plan`` says. ``root`` is a folder: an archive URL is resolved by the caller
    (:func:`~stepinst_data.source.fetch.resolve_natinst`).

    A listed task with an empty ``Instances`` list is refused unless ``plan.skip_empty_tasks``; a
    steps record with more or longer steps than ``plan.steps_limits`` is refused, naming its task and line.
    """
    records = read_steps_store(steps, plan.steps_limits) if steps else None
    store = read_ratings_store(ratings) if ratings else None
    root = Path(root)
    table = load_task_table(root, plan.sampling, num_proc, plan.allow_missing_tasks, cache_dir, progress)
    table = without_empty_tasks(table, root, plan.skip_empty_tasks)
    table = carve_validation(table, plan.validation_tasks, plan.sampling.seed)
    _log_ignored(steps, ratings, store, table)
    return BuildInputs(table, records, store, str(steps) if steps else "<steps store>", str(ratings) if ratings else None, plan)

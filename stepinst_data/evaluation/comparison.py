"""Runs pooled into cells (model × configuration over seeds) and the comparisons a table shows.

A cell pools the runs of one model label and configuration; they must differ by the seed only
(:func:`.run_record.settings_diff`): runs trained or evaluated otherwise are refused, naming the
settings and folders, never averaged into one cell. Which configurations are compared is one
table, :data:`PAIRS` (the paper's questions: do steps help, does their order matter); each pair
is tested with :func:`.significance.compare_runs` on the cells' run × task mean scores, and the
p-values of one metric's table are adjusted together (Holm).
"""

from __future__ import annotations

import logging
import statistics
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..dataset.configs import INSTANCE_CONFIGS
from .report import Run
from .run_record import read_scores, settings_diff
from .significance import UNIT, Difference, compare_runs, holm

logger = logging.getLogger(__name__)

# (a, b): delta = b - a. Steps vs the definition they extend, then the order of the steps against
# the generated order, then the same questions with examples, without the definition, and on the
# rated task subset against `definition` trained on that same subset (the size control).
PAIRS: list[tuple[str, str]] = [
    ("definition", "steps_ordered"),
    ("steps_ordered", "steps_shuffled"),
    ("steps_ordered", "steps_reversed"),
    ("definition_pos", "steps_ordered_pos"),
    ("definition", "steps_only"),
    ("definition_hq", "steps_ordered_hq"),
]
METRICS = ("rougeL", "exact_match")
METRIC_NAMES = {"rougeL": "ROUGE-L", "exact_match": "Exact match"}


class ReportError(ValueError):
    """Evaluation folders that cannot be compared; the message names them and the fix."""


@dataclass
class TaskScores:
    """One cell's scores per run and test task: ``matrix[s, t]`` is run ``s``'s mean on task ``tasks[t]``."""

    ids: frozenset[str]
    tasks: list[str]
    counts: np.ndarray
    matrix: np.ndarray


@dataclass
class Cell:
    """The runs of one (row, configuration): one per seed, every other setting equal."""

    runs: list[Run]
    _scores: dict[str, TaskScores] = field(default_factory=dict, repr=False)

    def values(self, metric: str, category: str | None = None) -> list[float]:
        if category is None:
            return [r.metric(metric) for r in self.runs]
        return [r.by_category(metric)[category] for r in self.runs if category in r.by_category(metric)]

    def mean_std(self, metric: str, category: str | None = None) -> tuple[float, float | None]:
        values = self.values(metric, category)
        return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else None)

    def task_scores(self, metric: str) -> TaskScores:
        """Each run's per-task mean of ``metric`` from its ``scores.jsonl``; every run must hold the same instances."""
        if metric not in self._scores:
            self._scores[metric] = self._read(metric)
        return self._scores[metric]

    def _read(self, metric: str) -> TaskScores:
        per_run: list[dict[str, float]] = []
        ids: frozenset[str] | None = None
        counts: dict[str, int] = {}  # instances per task: equal in every run once the ids are
        for run in self.runs:
            rows = read_scores(run.folder)
            run_ids = frozenset(r["id"] for r in rows)
            if ids is not None and run_ids != ids:
                raise ReportError(f"{self.runs[0].folder} and {run.folder} (seeds of one cell) scored different test "
                                  f"instances ({len(ids)} vs {len(run_ids)}); evaluate both on the same split and `--limit`")
            ids, sums, counts = run_ids, {}, {}
            for r in rows:
                sums[r["task_id"]] = sums.get(r["task_id"], 0.0) + r[metric]
                counts[r["task_id"]] = counts.get(r["task_id"], 0) + 1
            per_run.append(sums)
        tasks = sorted(counts)
        matrix = np.array([[sums[t] / counts[t] for t in tasks] for sums in per_run])
        return TaskScores(ids, tasks, np.array([counts[t] for t in tasks], dtype=float), matrix)


@dataclass
class Result:
    """One comparison of a table: configuration ``b`` against ``a`` for one model and metric."""

    model: str
    metric: str
    a: str
    b: str
    difference: Difference
    p_adjusted: float | None = None

    def record(self) -> dict[str, Any]:
        """The JSON object of ``compare.py --json`` (non-finite numbers as ``null``)."""
        d = self.difference
        return {
            "model": self.model, "metric": self.metric, "a": self.a, "b": self.b, "delta": _finite(d.delta),
            "ci": None if d.ci is None else [_finite(d.ci[0]), _finite(d.ci[1])],
            "p": d.p_value, "p_adjusted": self.p_adjusted, "unit": UNIT, "seeds_a": d.seeds_a, "seeds_b": d.seeds_b,
            "tasks": d.tasks, "ci_covers": d.covers, "df": _finite(d.df), "reason": d.reason,
        }


def _finite(x: float) -> float | None:
    return x if np.isfinite(x) else None


@dataclass
class Comparison:
    """Rows (models) × configurations of cells, read from evaluation folders, and the tests between them."""

    rows: list[str]
    columns: list[str]
    cells: dict[tuple[str, str], Cell]
    subset: str | None = None  # when every run shares one --limit subset
    confidence: float = 0.95
    _results: dict[str, list[Result]] = field(default_factory=dict, repr=False)

    @classmethod
    def from_runs(cls, runs: list[Run], confidence: float = 0.95) -> Comparison:
        """Pool ``runs`` into cells; refuse two runs of one seed, or runs whose settings differ, in one cell."""
        subsets = {r.record.subset for r in runs}
        mixed = len(subsets) > 1
        cells: dict[tuple[str, str], Cell] = {}
        for run in runs:
            cell = cells.setdefault((run.row(mixed), run.config), Cell([]))
            twin = next((r for r in cell.runs if r.record.seed == run.record.seed), None)
            if twin is not None:
                raise ReportError(f"two runs of {run.row(mixed)} on {run.config} with seed {run.record.seed}: {twin.folder} "
                                  f"and {run.folder}; pass only one of them (runs of a cell must differ by seed)")
            cell.runs.append(run)
        for (row, column), cell in cells.items():
            _check_settings(row, column, cell)
        rows = list(dict.fromkeys(r.row(mixed) for r in runs))
        seen = {r.config for r in runs}
        columns = [c for c in INSTANCE_CONFIGS if c in seen] + sorted(seen - set(INSTANCE_CONFIGS))
        return cls(rows, columns, cells, None if mixed else next(iter(subsets)), confidence)

    def pairs(self, row: str) -> list[tuple[str, str]]:
        """The pairs of :data:`PAIRS` whose two cells exist in ``row``."""
        return [(a, b) for a, b in PAIRS if (row, a) in self.cells and (row, b) in self.cells]

    def results(self, metric: str) -> list[Result]:
        """Every comparison of ``metric``'s table, p-values Holm-adjusted together (one family per metric)."""
        if metric not in self._results:
            found = [Result(row, metric, a, b, self._test(row, a, b, metric)) for row in self.rows for a, b in self.pairs(row)]
            for result, adjusted in zip(found, holm([r.difference.p_value for r in found])):
                result.p_adjusted = adjusted
            self._results[metric] = found
        return self._results[metric]

    def _test(self, row: str, a: str, b: str, metric: str) -> Difference:
        sa, sb = self.cells[row, a].task_scores(metric), self.cells[row, b].task_scores(metric)
        if sa.ids != sb.ids:
            raise ReportError(f"{row}: `{a}` and `{b}` were evaluated on different test instances "
                              f"({len(sa.ids)} vs {len(sb.ids)}); evaluate both on the same split and `--limit`")
        return compare_runs(sa.matrix, sb.matrix, sa.counts, self.confidence)


def _check_settings(row: str, column: str, cell: Cell) -> None:
    """Refuse to pool runs whose recorded settings differ; pool records that predate settings only with each other."""
    first = cell.runs[0]
    for run in cell.runs[1:]:
        diff = settings_diff(first.record.settings, run.record.settings)
        if diff:
            shown = "; ".join(f"{key}: {va!r} vs {vb!r}" for key, (va, vb) in diff.items())
            raise ReportError(f"runs of {row} on {column} differ in more than the seed, so they cannot be pooled: "
                              f"{first.folder} vs {run.folder}: {shown}; pass the folders of one setting "
                              "(or re-run the others with it)")
    if len(cell.runs) > 1 and not first.record.settings:
        logger.warning("%s on %s: %d runs pooled whose records predate `settings` (%s): nothing shows they were "
                       "trained alike", row, column, len(cell.runs), ", ".join(str(r.folder) for r in cell.runs))

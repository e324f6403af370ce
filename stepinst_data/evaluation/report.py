"""Markdown tables and bar charts of evaluation results: one run, and the paper-style comparison over seeds.

A run is a folder written by ``recipes/evaluate.py`` (format: :mod:`.run_record`). The comparison
puts models in rows and configurations in columns (in the order of
:data:`stepinst_data.dataset.configs.INSTANCE_CONFIGS`); a cell holds the runs of one (model,
configuration) over seeds: mean ± standard deviation, and for each configuration other than
``definition`` the difference with a paired bootstrap p-value over the same test instances
(:mod:`.significance`). Runs evaluated on a ``--limit`` subset form their own rows and are only
compared with each other; a cell without runs reads ``missing``.
"""

from __future__ import annotations

import logging
import os
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from ..dataset.configs import INSTANCE_CONFIGS
from .metrics import category_key, group_values
from .run_record import EvalRecord, read_eval_record, read_metrics, read_scores
from .significance import DEFAULT_RESAMPLES, PairedResult, Unit, paired_bootstrap

logger = logging.getLogger(__name__)

BASELINE = INSTANCE_CONFIGS[0]  # "definition", the paper's baseline
TRACK = "default"
METRIC_NAMES = {"rougeL": "ROUGE-L", "exact_match": "Exact match"}


class ReportError(ValueError):
    """Evaluation folders that cannot be compared; the message names them and the fix."""


@dataclass
class Run:
    """One evaluated (model, configuration, seed)."""

    folder: Path
    record: EvalRecord
    metrics: dict[str, float]

    @property
    def label(self) -> str:
        return self.record.label

    @property
    def config(self) -> str:
        return self.record.column

    def row(self, mark_subset: bool) -> str:
        """The table row: the model, marked with its subset when runs of different subsets share the table."""
        return f"{self.label} [{self.record.subset}]" if mark_subset and self.record.subset else self.label

    @property
    def rouge_l(self) -> float:
        return self.metric("rougeL")

    @property
    def exact_match(self) -> float:
        return self.metric("exact_match")

    def metric(self, metric: str) -> float:
        return self.metrics[f"{metric}_{TRACK}_track"]

    def by_category(self, metric: str = "rougeL") -> dict[str, float]:
        keyed = group_values(self.metrics, [category_key(c) for c in self.record.categories], metric=metric)
        return {c: keyed[category_key(c)] for c in self.record.categories if category_key(c) in keyed}

    def category_rouge_l(self) -> dict[str, float]:
        return self.by_category("rougeL")


def read_run(folder: str | os.PathLike) -> Run:
    folder = Path(folder)
    return Run(folder, read_eval_record(folder), read_metrics(folder))


def run_table(run: Run) -> str:
    """Overall and per-category exact match / ROUGE-L of one run, as markdown."""
    em, rl = run.by_category("exact_match"), run.by_category("rougeL")
    lines = [
        f"# {run.label} on `{run.config}`", "",
        "| | Exact match | ROUGE-L |", "|---|---:|---:|",
        f"| **overall** | {run.exact_match:.2f} | {run.rouge_l:.2f} |",
    ]
    lines += [f"| {c} | {em[c]:.2f} | {rl[c]:.2f} |" for c in sorted(rl)]
    return "\n".join(lines) + "\n"


def write_run_reports(run: Run) -> list[Path]:
    """``metrics.md`` and ``categories.png`` in the run's folder."""
    table = run.folder / "metrics.md"
    table.write_text(run_table(run), encoding="utf-8")
    return [table, run_chart(run, run.folder / "categories.png")]


def run_chart(run: Run, path: str | os.PathLike) -> Path:
    """Per-category ROUGE-L bars of one run."""
    rl = run.category_rouge_l()
    names = sorted(rl)
    fig, (ax,) = _figure(len(names))
    _bars(ax, names, {run.config: ([rl[c] for c in names], None)})
    ax.set_title(f"{run.label} · {run.config} (ROUGE-L by category)")
    return _save(fig, Path(path))


@dataclass
class Cell:
    """The runs of one (row, configuration): one per seed."""

    runs: list[Run]

    def values(self, metric: str, category: str | None = None) -> list[float]:
        if category is None:
            return [r.metric(metric) for r in self.runs]
        return [r.by_category(metric)[category] for r in self.runs if category in r.by_category(metric)]

    def mean_std(self, metric: str, category: str | None = None) -> tuple[float, float | None]:
        values = self.values(metric, category)
        return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else None)

    def instance_means(self, metric: str) -> dict[str, tuple[float, str]]:
        """id -> (score averaged over the cell's seeds, task), from each run's ``scores.jsonl``."""
        per_id: dict[str, list[float]] = {}
        tasks: dict[str, str] = {}
        for run in self.runs:
            for row in read_scores(run.folder):
                per_id.setdefault(row["id"], []).append(row[metric])
                tasks[row["id"]] = row["task_id"]
        return {i: (statistics.fmean(v), tasks[i]) for i, v in per_id.items()}


@dataclass
class Comparison:
    """Rows × configurations of cells, read from evaluation folders."""

    rows: list[str]
    columns: list[str]
    cells: dict[tuple[str, str], Cell]
    unit: Unit = "instance"
    resamples: int = DEFAULT_RESAMPLES
    subset: str | None = None  # when every run shares one --limit subset
    _tests: dict[tuple[str, str, str], PairedResult | None] = field(default_factory=dict, repr=False)

    @classmethod
    def from_runs(cls, runs: list[Run], unit: Unit = "instance", resamples: int = DEFAULT_RESAMPLES) -> Comparison:
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
        rows = list(dict.fromkeys(r.row(mixed) for r in runs))
        seen = {r.config for r in runs}
        columns = [c for c in INSTANCE_CONFIGS if c in seen] + sorted(seen - set(INSTANCE_CONFIGS))
        return cls(rows, columns, cells, unit, resamples, None if mixed else next(iter(subsets)))

    def paired(self, row: str, column: str, metric: str) -> PairedResult | None:
        """``column`` against the baseline on the same instances; ``None`` without a baseline cell."""
        key = (row, column, metric)
        if key not in self._tests:
            self._tests[key] = self._paired(row, column, metric)
        return self._tests[key]

    def _paired(self, row: str, column: str, metric: str) -> PairedResult | None:
        base, other = self.cells.get((row, BASELINE)), self.cells.get((row, column))
        if base is None or other is None or column == BASELINE:
            return None
        a, b = base.instance_means(metric), other.instance_means(metric)
        if set(a) != set(b):
            raise ReportError(f"{row}: `{BASELINE}` and `{column}` were evaluated on different test instances "
                              f"({len(a)} vs {len(b)}); evaluate both on the same split and `--limit`")
        ids = sorted(a)
        groups = [a[i][1] for i in ids] if self.unit == "task" else None
        return paired_bootstrap([a[i][0] for i in ids], [b[i][0] for i in ids], groups, self.resamples)


def _mean_std(mean: float, std: float | None, seeds: int) -> str:
    spread = f" ± {std:.2f}" if std is not None else ""
    return f"{mean:.2f}{spread} [{seeds} seed{'s' if seeds != 1 else ''}]"


def _overall_table(comparison: Comparison, metric: str) -> list[str]:
    lines = [f"## {METRIC_NAMES[metric]}", "", "| model | " + " | ".join(comparison.columns) + " |",
             "|---|" + "---:|" * len(comparison.columns)]
    for row in comparison.rows:
        cells = []
        for column in comparison.columns:
            cell = comparison.cells.get((row, column))
            if cell is None:
                cells.append("missing")
                continue
            text = _mean_std(*cell.mean_std(metric), len(cell.runs))
            test = comparison.paired(row, column, metric)
            if test is not None:
                text += f"; Δ {test.delta:+.2f}, p={test.p_value:.3g}"
            cells.append(text)
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    return lines


def _category_table(comparison: Comparison, row: str) -> list[str]:
    columns = [c for c in comparison.columns if (row, c) in comparison.cells]
    cells = {c: comparison.cells[row, c] for c in columns}
    categories = sorted({cat for cell in cells.values() for run in cell.runs for cat in run.by_category()})
    lines = ["", f"## {row}: exact match / ROUGE-L by category (mean over seeds)", "",
             "| category | " + " | ".join(columns) + " |", "|---|" + "---:|" * len(columns)]
    for category in categories:
        texts = []
        for column in columns:
            em, rl = cells[column].values("exact_match", category), cells[column].values("rougeL", category)
            texts.append(f"{statistics.fmean(em):.2f} / {statistics.fmean(rl):.2f}" if rl else "missing")
        lines.append(f"| {category} | " + " | ".join(texts) + " |")
    return lines


def comparison_table(runs: list[Run], unit: Unit = "instance", resamples: int = DEFAULT_RESAMPLES) -> str:
    """ROUGE-L and exact match, models × configurations, then exact match / ROUGE-L per category per model."""
    comparison = Comparison.from_runs(runs, unit, resamples)
    unit_text = "test instances" if unit == "instance" else "test tasks (all instances of a task together)"
    out = ["# Scores on the test split", "",
           f"Mean ± standard deviation over seeds. Δ: difference of the seed means against `{BASELINE}`; p: two-sided "
           f"paired bootstrap over {unit_text} ({resamples:,} resamples) of the seed-averaged per-instance scores: "
           "it measures test-set sampling, the ± the seed-to-seed spread. Rows marked [first N rows] were "
           "evaluated with `--limit` and are compared only with each other.", ""]
    if comparison.subset:
        out += [f"**Every run was evaluated on the {comparison.subset} of the test split (`--limit`): a smoke test, "
                    "not comparable with published numbers.**", ""]
    out += _overall_table(comparison, "rougeL") + [""] + _overall_table(comparison, "exact_match")
    for row in comparison.rows:
        out += _category_table(comparison, row)
    return "\n".join(out) + "\n"


def _figure(groups: int, panels: int = 1):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    width = max(6.0, 0.9 * groups + 2)
    fig, axes = plt.subplots(panels, 1, figsize=(width, 4.2 * panels), squeeze=False)
    return fig, list(axes.flat)


def _bars(ax, labels: list[str], series: dict[str, tuple[list[float | None], list[float | None] | None]]) -> None:
    """Grouped bars with error bars; a ``None`` value is a missing cell, drawn as the word, never as a zero bar."""
    import numpy as np

    x = np.arange(len(labels))
    width = 0.8 / max(1, len(series))
    for k, (name, (values, errors)) in enumerate(series.items()):
        offset = x + (k - (len(series) - 1) / 2) * width
        present = [i for i, v in enumerate(values) if v is not None]
        yerr = None if errors is None else [errors[i] or 0.0 for i in present]
        ax.bar(offset[present], [values[i] for i in present], width, yerr=yerr, capsize=3, label=name)
        for i in (i for i, v in enumerate(values) if v is None):
            ax.text(offset[i], 0, "missing", rotation=90, ha="center", va="bottom", fontsize="x-small", color="gray")
    ax.set_xticks(x, labels, rotation=30, ha="right")
    ax.set_ylabel("ROUGE-L")
    if len(series) > 1:
        ax.legend(fontsize="small")


def _save(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def comparison_charts(runs: list[Run], path: str | os.PathLike) -> list[Path]:
    """``<path>``: ROUGE-L by model and config (error bars: std over seeds); ``<stem>_categories.png``: one panel per model."""
    path = Path(path)
    comparison = Comparison.from_runs(runs)

    def series(row: str, category: str | None) -> dict:
        out = {}
        for column in comparison.columns:
            cell = comparison.cells.get((row, column))
            has = cell is not None and cell.values("rougeL", category)
            out[column] = cell.mean_std("rougeL", category) if has else (None, None)
        return out

    by_row = {row: series(row, None) for row in comparison.rows}
    fig, (ax,) = _figure(len(comparison.rows))
    _bars(ax, comparison.rows, {c: ([by_row[r][c][0] for r in comparison.rows], [by_row[r][c][1] for r in comparison.rows])
                                for c in comparison.columns})
    ax.set_title("ROUGE-L by model and configuration (mean ± std over seeds)")
    written = [_save(fig, path)]

    categories = sorted({cat for r in runs for cat in r.category_rouge_l()})
    fig, axes = _figure(len(categories), panels=len(comparison.rows))
    for ax, row in zip(axes, comparison.rows):
        per = {cat: series(row, cat) for cat in categories}
        _bars(ax, categories, {c: ([per[cat][c][0] for cat in categories], [per[cat][c][1] for cat in categories])
                               for c in comparison.columns})
        ax.set_title(f"{row}: ROUGE-L by category (mean ± std over seeds)")
    written.append(_save(fig, path.with_name(path.stem + "_categories.png")))
    return written

"""One evaluated run: its folder read back, its markdown table and chart; the bar-chart helpers of every report.

A run is a folder written by ``recipes/evaluate.py`` (format: :mod:`.run_record`). The comparison
of many runs over seeds is :mod:`.comparison` (cells and tests) and :mod:`.comparison_report`
(its tables, JSON and charts).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from .metrics import category_key, group_values
from .run_record import EvalRecord, read_eval_record, read_metrics

logger = logging.getLogger(__name__)

TRACK = "default"


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

    def macro(self, metric: str, over: str) -> float | None:
        """The mean over test tasks (``over="task"``) or categories (``"category"``), each counting once.

        The official overall weighs instances; a macro average shows whether a few large groups carry
        it. ``None`` when the record does not list the groups (runs evaluated by an older version).
        """
        if over == "category":
            values = list(self.by_category(metric).values())
        else:
            values = list(group_values(self.metrics, self.record.tasks, metric=metric).values())
        return sum(values) / len(values) if values else None


def read_run(folder: str | os.PathLike) -> Run:
    """The record and official metrics of one evaluation folder."""
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
    fig, (ax,) = figure(len(names))
    bars(ax, names, {run.config: ([rl[c] for c in names], None)})
    ax.set_title(f"{run.label} · {run.config} (ROUGE-L by category)")
    return save_figure(fig, Path(path))


def figure(groups: int, panels: int = 1):
    """A figure wide enough for ``groups`` bar groups, with ``panels`` stacked axes (matplotlib, headless)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    width = max(6.0, 0.9 * groups + 2)
    fig, axes = plt.subplots(panels, 1, figsize=(width, 4.2 * panels), squeeze=False)
    return fig, list(axes.flat)


def bars(ax, labels: list[str], series: dict[str, tuple[list[float | None], list[float | None] | None]]) -> None:
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


def save_figure(fig, path: Path) -> Path:
    """Write ``fig`` as a PNG (parents created) and close it."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path

"""Markdown tables and bar charts of evaluation results: one run, and the paper-style comparison.

A run is a folder written by ``recipes/evaluate.py``: ``metrics.json`` (the official keys) and
``run.json`` (model label, configs, categories, tasks). The comparison puts models in rows and
configurations in columns, each cell the ROUGE-L with its delta against ``definition``, as the
paper's tables do.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from .metrics import category_key, group_values

logger = logging.getLogger(__name__)

BASELINE = "definition"
PAPER_ORDER = ["definition", "definition_pos", "steps_ordered", "steps_ordered_pos", "steps_shuffled",
               "steps_reversed", "steps_only", "steps_ordered_hq"]
TRACK = "default"


class ReportError(ValueError):
    """An evaluation folder that cannot be read; the message names it."""


@dataclass
class Run:
    """One evaluated (model, configuration) pair."""

    folder: Path
    label: str
    config: str
    metrics: dict[str, float]
    categories: list[str]

    @property
    def rouge_l(self) -> float:
        return self.metrics[f"rougeL_{TRACK}_track"]

    @property
    def exact_match(self) -> float:
        return self.metrics[f"exact_match_{TRACK}_track"]

    def category_rouge_l(self) -> dict[str, float]:
        keyed = group_values(self.metrics, [category_key(c) for c in self.categories])
        return {c: keyed[category_key(c)] for c in self.categories if category_key(c) in keyed}


def read_run(folder: str | os.PathLike) -> Run:
    folder = Path(folder)
    try:
        info = json.loads((folder / "run.json").read_text(encoding="utf-8"))
        metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise ReportError(f"{folder} is not an evaluation folder (no {Path(e.filename).name}); run recipes/evaluate.py first") from e
    return Run(folder, info["label"], info["column"], metrics, info.get("categories", []))


def run_table(run: Run) -> str:
    """Overall and per-category exact match / ROUGE-L of one run, as markdown."""
    em = group_values(run.metrics, [category_key(c) for c in run.categories], metric="exact_match")
    rl = run.category_rouge_l()
    lines = [
        f"# {run.label} on `{run.config}`", "",
        "| | Exact match | ROUGE-L |", "|---|---:|---:|",
        f"| **overall** | {run.exact_match:.2f} | {run.rouge_l:.2f} |",
    ]
    lines += [f"| {c} | {em.get(category_key(c), float('nan')):.2f} | {rl[c]:.2f} |" for c in sorted(rl)]
    return "\n".join(lines) + "\n"


def _bar_chart(labels: list[str], series: dict[str, list[float]], title: str, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    x = np.arange(len(labels))
    width = 0.8 / max(1, len(series))
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(labels) * max(1, len(series)) ** 0.5 + 2), 4.5))
    for k, (name, values) in enumerate(series.items()):
        ax.bar(x + (k - (len(series) - 1) / 2) * width, values, width, label=name)
    ax.set_xticks(x, labels, rotation=30, ha="right")
    ax.set_ylabel("ROUGE-L")
    ax.set_title(title)
    if len(series) > 1:
        ax.legend(fontsize="small")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def run_chart(run: Run, path: str | os.PathLike) -> Path:
    """Per-category ROUGE-L bars of one run."""
    rl = run.category_rouge_l()
    names = sorted(rl)
    return _bar_chart(names, {run.config: [rl[c] for c in names]}, f"{run.label} · {run.config} (ROUGE-L by category)", Path(path))


def _columns(runs: list[Run]) -> list[str]:
    seen = {r.config for r in runs}
    known = [c for c in PAPER_ORDER if c in seen]
    return known + sorted(seen - set(known))


def _grid(runs: list[Run]) -> tuple[list[str], list[str], dict[tuple[str, str], Run]]:
    grid: dict[tuple[str, str], Run] = {}
    for run in runs:
        if (run.label, run.config) in grid:
            raise ReportError(f"two runs of {run.label} on {run.config}: {grid[run.label, run.config].folder} and {run.folder}")
        grid[run.label, run.config] = run
    labels = list(dict.fromkeys(r.label for r in runs))
    return labels, _columns(runs), grid


def _cell(value: float | None, baseline: float | None, column: str) -> str:
    if value is None:
        return "–"
    if baseline is None or column == BASELINE:
        return f"{value:.2f}"
    return f"{value:.2f} ({value - baseline:+.2f})"


def comparison_table(runs: list[Run]) -> str:
    """Models × configurations (ROUGE-L, delta vs ``definition``), then one per-category table per model."""
    labels, columns, grid = _grid(runs)
    out = ["# ROUGE-L on the test split (delta against `definition`)", "",
           "| model | " + " | ".join(columns) + " |", "|---|" + "---:|" * len(columns)]
    for label in labels:
        base = grid.get((label, BASELINE))
        cells = [_cell(grid[label, c].rouge_l if (label, c) in grid else None, base.rouge_l if base else None, c) for c in columns]
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    for label in labels:
        by_config = {c: grid[label, c].category_rouge_l() for c in columns if (label, c) in grid}
        categories = sorted({cat for values in by_config.values() for cat in values})
        out += ["", f"## {label}: ROUGE-L by category", "", "| category | " + " | ".join(by_config) + " |",
                "|---|" + "---:|" * len(by_config)]
        base = by_config.get(BASELINE, {})
        for cat in categories:
            cells = [_cell(values.get(cat), base.get(cat), c) for c, values in by_config.items()]
            out.append(f"| {cat} | " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def comparison_charts(runs: list[Run], path: str | os.PathLike) -> list[Path]:
    """``<path>``: overall ROUGE-L, models × configs; ``<stem>_categories.png``: by category, one series per config."""
    path = Path(path)
    labels, columns, grid = _grid(runs)
    overall = {c: [grid[l, c].rouge_l if (l, c) in grid else 0.0 for l in labels] for c in columns}
    written = [_bar_chart(labels, overall, "ROUGE-L by model and configuration", path)]
    categories = sorted({cat for r in runs for cat in r.category_rouge_l()})
    series = {}
    for c in columns:
        cells = [grid[l, c].category_rouge_l() for l in labels if (l, c) in grid]
        series[c] = [sum(v.get(cat, 0.0) for v in cells) / max(1, len(cells)) for cat in categories]
    written.append(_bar_chart(categories, series, "ROUGE-L by category (mean over models)", path.with_name(path.stem + "_categories.png")))
    return written

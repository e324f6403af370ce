"""The paper's comparison as markdown, JSON and charts: scores over seeds, tested differences, macro averages, cost.

Models in rows, configurations in columns (in the order of
:data:`stepinst_data.dataset.configs.INSTANCE_CONFIGS`, then any custom configuration by name); a
cell holds the runs of one (model, configuration) over seeds. Under each metric's table, the
comparisons of :data:`.comparison.PAIRS` whose cells exist: Δ, its confidence interval, p and the
Holm-adjusted p (:mod:`.significance`). Then macro averages, the truncation shares and compute per
cell, and exact match / ROUGE-L per category per model. A cell without runs reads ``missing``; a
value older records lack reads ``n/a``.
"""

from __future__ import annotations

import os
import statistics
from pathlib import Path
from typing import Any

from .comparison import METRIC_NAMES, METRICS, Cell, Comparison, Result
from .report import bars, figure, save_figure
from .significance import NEEDS_SEEDS

NA = "n/a"
TRUNCATION = ("examples_dropped", "steps_cut", "definition_cut", "instance_cut")


def _mean_std(mean: float, std: float | None, seeds: int) -> str:
    spread = f" ± {std:.2f}" if std is not None else ""
    return f"{mean:.2f}{spread} [{seeds} seed{'s' if seeds != 1 else ''}]"


def _scores_table(comparison: Comparison, metric: str) -> list[str]:
    lines = [f"## {METRIC_NAMES[metric]}", "", "| model | " + " | ".join(comparison.columns) + " |",
             "|---|" + "---:|" * len(comparison.columns)]
    for row in comparison.rows:
        cells = [comparison.cells.get((row, c)) for c in comparison.columns]
        texts = [_mean_std(*cell.mean_std(metric), len(cell.runs)) if cell else "missing" for cell in cells]
        lines.append(f"| {row} | " + " | ".join(texts) + " |")
    return lines


def _p(p: float | None) -> str:
    return "—" if p is None else f"{p:.2g}" if p < 0.001 else f"{p:.3f}"


def _difference_row(result: Result) -> str:
    d = result.difference
    if d.ci is None:
        ci = "—"
    else:
        ci = f"[{d.ci[0]:+.2f}, {d.ci[1]:+.2f}]" + (" (tasks only)" if d.covers == "tasks only" else "")
    p = d.reason if d.p_value is None else _p(d.p_value)
    return (f"| {result.model} | {result.b} − {result.a} | {d.delta:+.2f} | {ci} | {p} | {_p(result.p_adjusted)} "
            f"| {d.seeds_a} / {d.seeds_b} |")


def _differences_table(comparison: Comparison, metric: str) -> list[str]:
    results = comparison.results(metric)
    if not results:
        return []
    tested = sum(r.p_adjusted is not None for r in results)
    confidence = f"{comparison.confidence:.0%}"
    return ["", f"{METRIC_NAMES[metric]}, b − a: Δ with its {confidence} confidence interval, two-sided p, and p adjusted "
                f"(Holm) over the {tested} tested comparison{'s' if tested != 1 else ''} of this table.", "",
            f"| model | b − a | Δ | {confidence} CI | p | p (Holm) | seeds (a / b) |",
            "|---|---|---:|---|---:|---:|---:|"] + [_difference_row(r) for r in results]


def _macro_table(comparison: Comparison) -> list[str]:
    lines = ["", "## Macro averages", "",
             "Each test task (or category) counts once; the official score above weighs instances. Mean ± std over seeds.",
             "", "| model | average | " + " | ".join(comparison.columns) + " |", "|---|---|" + "---:|" * len(comparison.columns)]
    for row in comparison.rows:
        for metric in METRICS:
            for over in ("task", "category"):
                texts = [_macro(comparison.cells.get((row, c)), metric, over) for c in comparison.columns]
                lines.append(f"| {row} | {METRIC_NAMES[metric]}, {over} macro | " + " | ".join(texts) + " |")
    return lines


def _macro(cell: Cell | None, metric: str, over: str) -> str:
    if cell is None:
        return "missing"
    values = [run.macro(metric, over) for run in cell.runs]
    if any(v is None for v in values):
        return NA
    return _mean_std(statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None, len(values))


def _share(records: list[dict[str, Any]], key: str) -> str:
    """Summed ``key`` over summed ``total`` of the runs' truncation reports, as a percentage; ``n/a`` if one lacks it."""
    if not records or any(not isinstance(r.get(key), int | float) or not r.get("total") for r in records):
        return NA
    return f"{100 * sum(r[key] for r in records) / sum(r['total'] for r in records):.1f}%"


def _total(cell: Cell, key: str, fmt: str) -> str:
    values = [run.record.compute.get(key) for run in cell.runs]
    if any(not isinstance(v, int | float) for v in values):
        return NA
    return format(sum(values), fmt)


def _cost_table(comparison: Comparison) -> list[str]:
    lines = ["", "## Truncation and compute", "",
             "Share of prompts that lost examples, steps, part of the definition or part of the instance to fit the "
             "model's budget "
             "(test prompts, then training rows); GPU-hours and tokens trained summed over the cell's runs. "
             f"{NA}: not in the run records (runs made by an older version).", "",
             "| model | configuration | seeds | test: examples dropped | test: steps cut | test: definition cut "
             "| test: instance cut | train: examples dropped | train: steps cut | train: definition cut "
             "| train: instance cut | GPU-hours | tokens trained |",
             "|---|---|---:|" + "---:|" * 10]
    for row in comparison.rows:
        for column in comparison.columns:
            cell = comparison.cells.get((row, column))
            if cell is None:
                continue
            test = [_share([r.record.truncation for r in cell.runs], k) for k in TRUNCATION]
            train = [_share([r.record.train_truncation for r in cell.runs], k) for k in TRUNCATION]
            cost = [_total(cell, "gpu_hours", ".2f"), _total(cell, "train_tokens", ",.0f")]
            lines.append(f"| {row} | {column} | {len(cell.runs)} | " + " | ".join(test + train + cost) + " |")
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


def comparison_table(comparison: Comparison) -> str:
    """The markdown report: per metric the scores and the tested differences, then macro averages, cost, categories."""
    out = ["# Scores on the test split", "",
           "Cells: the official (instance-weighted) score, mean ± standard deviation over training seeds. "
           "Differences b − a of the seed means, for the pairs of configurations the paper asks about: the test's unit is "
           "the test task (paired: both configurations answer the same tasks) and its variance includes the training seeds "
           "(a t-test over seed × task means with Welch–Satterthwaite degrees of freedom; recipes/README.md, \"Statistics\"). "
           f"A cell with one seed gets no p-value (\"{NEEDS_SEEDS}\") and an interval over the tasks only. Rows marked "
           "[first N rows] were evaluated with `--limit` and are compared only with each other.", ""]
    if comparison.subset:
        out += [f"**Every run was evaluated on the {comparison.subset} of the test split (`--limit`): a smoke test, "
                "not comparable with published numbers.**", ""]
    for metric in METRICS:
        out += _scores_table(comparison, metric) + _differences_table(comparison, metric) + [""]
    out += _macro_table(comparison) + _cost_table(comparison)
    for row in comparison.rows:
        out += _category_table(comparison, row)
    return "\n".join(out) + "\n"


def comparison_records(comparison: Comparison) -> list[dict[str, Any]]:
    """One JSON object per comparison, every metric (``compare.py --json``)."""
    return [result.record() for metric in METRICS for result in comparison.results(metric)]


def comparison_charts(comparison: Comparison, path: str | os.PathLike) -> list[Path]:
    """``<path>``: ROUGE-L by model and config (error bars: std over seeds); ``<stem>_categories.png``: one panel per model."""
    path = Path(path)

    def series(row: str, category: str | None) -> dict:
        out = {}
        for column in comparison.columns:
            cell = comparison.cells.get((row, column))
            has = cell is not None and cell.values("rougeL", category)
            out[column] = cell.mean_std("rougeL", category) if has else (None, None)
        return out

    by_row = {row: series(row, None) for row in comparison.rows}
    fig, (ax,) = figure(len(comparison.rows))
    bars(ax, comparison.rows, {c: ([by_row[r][c][0] for r in comparison.rows], [by_row[r][c][1] for r in comparison.rows])
                               for c in comparison.columns})
    ax.set_title("ROUGE-L by model and configuration (mean ± std over seeds)")
    written = [save_figure(fig, path)]

    runs = [run for cell in comparison.cells.values() for run in cell.runs]
    categories = sorted({cat for r in runs for cat in r.category_rouge_l()})
    fig, axes = figure(len(categories), panels=len(comparison.rows))
    for ax, row in zip(axes, comparison.rows):
        per = {cat: series(row, cat) for cat in categories}
        bars(ax, categories, {c: ([per[cat][c][0] for cat in categories], [per[cat][c][1] for cat in categories])
                              for c in comparison.columns})
        ax.set_title(f"{row}: ROUGE-L by category (mean ± std over seeds)")
    written.append(save_figure(fig, path.with_name(path.stem + "_categories.png")))
    return written

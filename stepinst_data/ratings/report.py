"""``stepinst rate report``: score distributions, agreement, LLM judges vs humans, disputed tasks.

:func:`build_report` makes one JSON-able dict (``--json`` prints it as is); :func:`format_report`
renders it as text and :func:`plot_report` draws it. Human agreement never includes ``llm:``
annotators; each LLM judge is compared with the human mean separately.
"""

from __future__ import annotations

import os
from collections import Counter
from statistics import mean
from typing import Any

from ..stores.ratings import RatingsStore
from . import agreement as ag


def build_report(store: RatingsStore, top: int = 5, source: str = "") -> dict[str, Any]:
    """Everything ``rate report`` shows, as plain data."""
    rubric, records = store.rubric, store.records
    humans, judges = ag.annotators(records), ag.annotators(records, llm=True)
    human_records = [r for r in records if r["annotator"] in set(humans)]
    criteria = {}
    for c in rubric.criterion_names:
        counts = Counter(r[c] for r in human_records)
        pairs = ag.pairwise_kappas(records, c, humans, rubric)
        defined = [p.kappa for p in pairs if p.kappa is not None]
        criteria[c] = {
            "distribution": {str(s): counts.get(s, 0) for s in range(rubric.min_score, rubric.max_score + 1)},
            "mean": round(mean(r[c] for r in human_records), 4) if human_records else None,
            "alpha_ordinal": ag.round_agreement(ag.ordinal_alpha(ag.reliability_matrix(records, c, humans), rubric)),
            "kappa_pairs": [{"a": p.a, "b": p.b, "n": p.n, "kappa": ag.round_agreement(p.kappa)} for p in pairs],
            "kappa_mean": ag.round_agreement(mean(defined)) if defined else None,
        }
    summaries = ag.task_summaries(records, rubric, humans)
    return {
        "store": source,
        "rubric": rubric.name,
        "aggregate_criterion": rubric.aggregate_criterion,
        "scale": [rubric.min_score, rubric.max_score],
        "kappa_weights": ag.KAPPA_WEIGHTS,
        "records": len(records),
        "tasks": len(ag.task_names(records)),
        "humans": humans,
        "llm_judges": judges,
        "criteria": criteria,
        "judges": {j: {c: _rounded(ag.judge_vs_humans(records, j, c, rubric)) for c in rubric.criterion_names} for j in judges},
        "disputed": ag.most_disputed(summaries, top),
        "per_task": summaries,
    }


def _rounded(values: dict[str, Any]) -> dict[str, Any]:
    return {k: ag.round_agreement(v) if isinstance(v, float) else v for k, v in values.items()}


def _fmt(value: float | None) -> str:
    """Agreement figures are already rounded once (:func:`~.agreement.round_agreement`): no second rounding."""
    return ag.format_agreement(value)


def format_report(report: dict[str, Any]) -> str:
    """The report as text: one table of criteria, then pairs, judges and disputed tasks."""
    lo, hi = report["scale"]
    lines = [
        f"ratings store: {report['store']}  (rubric {report['rubric']}, scores {lo}-{hi})",
        f"{report['records']} rating(s) of {report['tasks']} task(s); {len(report['humans'])} human annotator(s)"
        f" ({', '.join(report['humans']) or '-'}); {len(report['llm_judges'])} LLM judge(s)"
        f" ({', '.join(report['llm_judges']) or '-'})",
        "",
        "Humans only. alpha = Krippendorff's alpha (ordinal); kappa = Cohen's kappa "
        f"({report['kappa_weights']} weights), mean over annotator pairs",
        f"{'criterion':<14}{'mean':>6}  " + " ".join(f"{s:>4}" for s in range(lo, hi + 1)) + f"{'alpha':>9}{'kappa':>9}",
    ]
    for name, c in report["criteria"].items():
        dist = " ".join(f"{c['distribution'][str(s)]:>4}" for s in range(lo, hi + 1))
        lines.append(f"{name:<14}{_fmt(c['mean']):>6}  {dist}{_fmt(c['alpha_ordinal']):>9}{_fmt(c['kappa_mean']):>9}")
    lines += _pair_lines(report)
    lines += _judge_lines(report)
    lines += ["", "Most disputed tasks (widest score range across human annotators):"]
    if not report["disputed"]:
        lines.append("  none: every task rated by 2+ annotators got identical scores")
    for s in report["disputed"]:
        ranges = ", ".join(f"{c} {r}" for c, r in s["range"].items())
        agg = report["aggregate_criterion"]
        lines.append(f"  {s['task_name']}  n={s['n']}  mean {agg} {s['mean'][agg]:.2f}  range: {ranges}")
    return "\n".join(lines)


def _pair_lines(report: dict[str, Any]) -> list[str]:
    criteria = list(report["criteria"])
    first = report["criteria"][criteria[0]]["kappa_pairs"] if criteria else []
    if not first:
        return []
    width = max(len(f"{p['a']} ~ {p['b']}") for p in first) + 2
    lines = ["", "Pairwise kappa (humans):", f"  {'pair':<{width}}{'n':>4}" + "".join(f"{c:>14}" for c in criteria)]
    for i, p in enumerate(first):
        values = "".join(f"{_fmt(report['criteria'][c]['kappa_pairs'][i]['kappa']):>14}" for c in criteria)
        lines.append(f"  {p['a'] + ' ~ ' + p['b']:<{width}}{p['n']:>4}{values}")
    return lines


def _judge_lines(report: dict[str, Any]) -> list[str]:
    if not report["judges"]:
        return []
    lines = ["", "LLM judges vs the human mean (kappa vs the rounded mean / Spearman rho / mean abs. difference):"]
    for judge, per in report["judges"].items():
        n = next(iter(per.values()))["n"] if per else 0
        lines.append(f"  {judge}  ({n} task(s) rated by both)")
        for c, v in per.items():
            lines.append(f"    {c:<14} kappa {_fmt(v['kappa'])}  rho {_fmt(v['spearman'])}  mae {_fmt(v['mae'])}")
    return lines


def plot_report(report: dict[str, Any], path: str | os.PathLike) -> None:
    """One bar chart per criterion: the human score distribution, titled with alpha and kappa."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    criteria = report["criteria"]
    lo, hi = report["scale"]
    fig, axes = plt.subplots(1, len(criteria), figsize=(3.2 * len(criteria), 3), sharey=True, squeeze=False)
    for ax, (name, c) in zip(axes[0], criteria.items()):
        scores = list(range(lo, hi + 1))
        ax.bar(scores, [c["distribution"][str(s)] for s in scores], color="#4c72b0")
        ax.set_title(f"{name}\nalpha {_fmt(c['alpha_ordinal'])}, kappa {_fmt(c['kappa_mean'])}", fontsize=9)
        ax.set_xticks(scores)
        ax.set_xlabel("score")
    axes[0][0].set_ylabel("human ratings")
    fig.suptitle(f"{report['store']} ({report['records']} ratings, {len(report['humans'])} humans)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)

"""The paper's comparison table from evaluation folders (a grid's ``runs/``, or folders of ``recipes/evaluate.py``).

Rows are models, columns configurations; each cell is ROUGE-L (then exact match) as mean ± std over
seeds. Under each table, the comparisons the paper asks about (steps vs definition, shuffled and
reversed vs ordered steps, with examples, steps only, the rated subset vs its `definition_hq`
control), each only when both cells exist: Δ = b − a with a 95% confidence interval and a
two-sided p-value from a test whose unit is the test task and whose variance includes the training
seeds, and p adjusted across the table (Holm). A cell with one seed gets "needs ≥ 2 seeds", never a
p-value. Then macro averages, truncation shares and compute per cell, exact match / ROUGE-L per
category. Runs of one cell whose recorded settings differ (anything but the seed) are refused.
Writes the markdown table, the charts beside it (``<out stem>.png``, ``<out stem>_categories.png``)
and, with ``--json``, one object per comparison. The test: recipes/README.md, "Statistics".

```bash
python recipes/compare.py runs/ --out table.md --json comparisons.json
python recipes/compare.py eval/*/ --out table.md --confidence 0.99
```
"""

from __future__ import annotations

import argparse
import sys


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("runs", nargs="+", help="evaluation folders (each with run.json), or folders holding them (runs/)")
    parser.add_argument("--out", default="table.md", help="markdown output; the charts are written beside it")
    parser.add_argument("--json", default=None, help="also write the comparisons as a JSON list (model, metric, a, b, "
                                                     "delta, ci, p, p_adjusted, unit, seeds_a, seeds_b, ...)")
    parser.add_argument("--confidence", type=float, default=0.95, help="coverage of the confidence intervals")
    return parser


def main(args: argparse.Namespace) -> None:
    import json
    from pathlib import Path

    from stepinst_data.evaluation.comparison import Comparison
    from stepinst_data.evaluation.comparison_report import comparison_charts, comparison_records, comparison_table
    from stepinst_data.evaluation.report import read_run
    from stepinst_data.evaluation.run_record import find_eval_folders

    if not 0 < args.confidence < 1:
        raise ValueError(f"--confidence {args.confidence}: give a coverage between 0 and 1, e.g. 0.95")
    comparison = Comparison.from_runs([read_run(folder) for folder in find_eval_folders(args.runs)], args.confidence)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    table = comparison_table(comparison)
    out.write_text(table, encoding="utf-8")
    written = [out, *comparison_charts(comparison, out.with_suffix(".png"))]
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(comparison_records(comparison), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(path)
    print(table)
    print("wrote " + ", ".join(map(str, written)), file=sys.stderr)


if __name__ == "__main__":
    try:
        main(make_parser().parse_args())
    except ValueError as e:  # ReportError, RunRecordError: one line naming the folder and the fix
        sys.exit(f"error: {e}")

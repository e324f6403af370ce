"""The paper's comparison table from evaluation folders (a grid's ``runs/``, or folders of ``recipes/evaluate.py``).

Rows are models, columns configurations. Each cell: ROUGE-L (then exact match) as mean ± std over
seeds; for every configuration against ``definition``, the difference and a paired bootstrap
p-value over the same test instances. Then exact match / ROUGE-L per category per model. Runs
evaluated with ``--limit`` get their own rows; a configuration without runs reads ``missing``.
Writes the markdown table and two charts with error bars beside it (``<out stem>.png`` overall,
``<out stem>_categories.png`` by category, one panel per model).

```bash
python recipes/compare.py runs/ --out table.md
python recipes/compare.py eval/*/ --out table.md --bootstrap-unit task    # resample whole tasks
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
    parser.add_argument("--bootstrap-unit", choices=["instance", "task"], default="instance",
                        help="what the paired bootstrap resamples: test instances, or whole tasks")
    parser.add_argument("--resamples", type=int, default=10_000, help="bootstrap resamples")
    return parser


def main(args: argparse.Namespace) -> None:
    from pathlib import Path

    from stepinst_data.evaluation.report import comparison_charts, comparison_table, read_run
    from stepinst_data.evaluation.run_record import find_eval_folders

    runs = [read_run(folder) for folder in find_eval_folders(args.runs)]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    table = comparison_table(runs, args.bootstrap_unit, args.resamples)
    out.write_text(table, encoding="utf-8")
    charts = comparison_charts(runs, out.with_suffix(".png"))
    print(table)
    print(f"wrote {out}, " + ", ".join(map(str, charts)), file=sys.stderr)


if __name__ == "__main__":
    try:
        main(make_parser().parse_args())
    except ValueError as e:  # ReportError, RunRecordError: one line naming the folder and the fix
        sys.exit(f"error: {e}")

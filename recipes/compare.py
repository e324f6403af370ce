"""The paper's comparison table from several evaluation folders (written by ``recipes/evaluate.py``).

Rows are models, columns configurations, each cell the ROUGE-L with its delta against
``definition``; then a per-category breakdown per model. Writes the markdown table and two
charts beside it (``<out stem>.png`` overall, ``<out stem>_categories.png`` by category).

```bash
python recipes/compare.py eval/*/ --out table.md
```
"""

from __future__ import annotations

import argparse
import sys


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="evaluation folders (each has run.json and metrics.json)")
    parser.add_argument("--out", default="table.md", help="markdown output; charts are written beside it")
    return parser


def main(args: argparse.Namespace) -> None:
    from pathlib import Path

    from stepinst_data.evaluation.report import comparison_charts, comparison_table, read_run

    runs = [read_run(folder) for folder in args.runs]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    table = comparison_table(runs)
    out.write_text(table, encoding="utf-8")
    charts = comparison_charts(runs, out.with_suffix(".png"))
    print(table)
    print(f"wrote {out}, " + ", ".join(map(str, charts)), file=sys.stderr)


if __name__ == "__main__":
    try:
        main(make_parser().parse_args())
    except ValueError as e:
        sys.exit(f"error: {e}")

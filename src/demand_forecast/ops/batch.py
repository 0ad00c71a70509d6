"""The monthly batch, end to end: dbt build per as-of month, the Elementary report, the dashboard.

``python -m demand_forecast.ops.batch run`` runs the batch for the latest complete month of the data;
``--replay-months N`` first replays the N-1 months before it, in order, so a new installation
starts with a forecast history, accuracy over time and monitoring baselines. Every step is logged
to ``logs/batch-<run id>.log`` with its duration and peak memory; a failing step stops the batch,
sends the configured notification (see :mod:`demand_forecast.ops.notify`) and exits non-zero.

Everything runs one step after another: DuckDB allows one writing process at a time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import duckdb

from demand_forecast.months import add_months
from demand_forecast.ops.dbt_results import load_run_results
from demand_forecast.ops.notify import Notifier
from demand_forecast.ops.runlog import BatchFailed, BatchRun, write_metrics_to_duckdb

PROJECT_DIR = Path(os.environ.get("DEMAND_PROJECT_DIR", Path(__file__).resolve().parents[3]))


def _env_path(name: str, default: str) -> Path:
    path = Path(os.environ.get(name, default))
    return path if path.is_absolute() else PROJECT_DIR / path


def warehouse_path() -> Path:
    return _env_path("DEMAND_DUCKDB_PATH", "warehouse/demand.duckdb")


def raw_dir() -> Path:
    return _env_path("DEMAND_RAW_DIR", "data/raw")


def reports_dir() -> Path:
    return _env_path("DEMAND_REPORTS_DIR", "reports")


def last_complete_month(raw: Path, today: dt.date | None = None) -> dt.date:
    """The month of the latest usable sale date if that month is complete, else the month before.

    A month is complete when its last day has sales or when lines of it were loaded after it ended
    (monthly totals dated on the 1st). A usable sale date is not after the day its line was loaded
    (nor after today). Mirrors the SQL default of the ``as_of_month`` var (int_batch_parameters),
    read straight from the raw files so the batch can plan its months before dbt runs.
    """
    today = today or dt.date.today()
    fmt = os.environ.get("DEMAND_RAW_FORMAT", "parquet")
    if fmt == "csv":
        source = f"read_csv('{raw}/sales_lines/*.csv', header = true, all_varchar = true)"
    else:
        source = f"read_parquet('{raw}/sales_lines/*.parquet')"
    lines = (
        f"select try_cast(sale_date as date) as sale_day, "
        f"cast(try_cast(loaded_at as timestamp) as date) as loaded_day from {source}"
    )
    with duckdb.connect() as connection:
        row = connection.execute(
            f"""
            with usable as (
                select sale_day, loaded_day from ({lines})
                where sale_day <= loaded_day and sale_day <= ?
            ),
            latest as (select date_trunc('month', max(sale_day)) as month_start from usable)
            select
                cast(latest.month_start as date),
                max(usable.sale_day) = last_day(latest.month_start)
                or max(usable.loaded_day) > last_day(latest.month_start)
            from latest join usable on usable.sale_day >= latest.month_start
            group by latest.month_start
            """,
            [today],
        ).fetchone()
    if row is None or row[0] is None:
        raise SystemExit(f"No valid sale_date in {raw}/sales_lines: is the raw data there? (make data)")
    month, complete = row
    return month if complete else add_months(month, -1)


def _dbt(*args: str) -> list[str]:
    dbt = Path(sys.executable).with_name("dbt")
    return [str(dbt), *args, "--project-dir", str(PROJECT_DIR)]


def _read_summary(database: Path) -> dict[str, object]:
    """Figures for the closing summary, read from the warehouse after the last build."""
    figures: dict[str, object] = {}
    queries = {
        "as-of month": "select strftime(max(as_of_month), '%Y-%m') from marts.fct_forecasts",
        "sales lines in scope": "select max(in_scope_line_count) from marts.mart_quarantine_summary",
        "lines quarantined": "select sum(line_count) from marts.mart_quarantine_summary "
        "where line_status = 'quarantined'",
        "products forecast": "select count(distinct product_id) from marts.fct_forecasts "
        "where is_selected and as_of_month = (select max(as_of_month) from marts.fct_forecasts)",
        "last month WAPE (h1, selected)": "select round(wape, 3) from marts.mart_accuracy_by_segment "
        "where segment_type = 'all' and horizon = 1 "
        "and forecast_month = (select max(forecast_month) from marts.mart_accuracy_by_segment)",
    }
    try:
        with duckdb.connect(str(database), read_only=True) as connection:
            for label, sql in queries.items():
                try:
                    value = connection.execute(sql).fetchone()
                    figures[label] = value[0] if value else None
                except duckdb.Error:
                    figures[label] = "n/a"
    except duckdb.Error as error:
        figures["warehouse"] = f"unreadable: {error}"
    return figures


def _read_probe(database: Path) -> str:
    """What a BI tool sees: time to read the whole wide forecast mart, and the warehouse's size."""
    try:
        size_mb = database.stat().st_size / 1e6
        started = time.perf_counter()
        with duckdb.connect(str(database), read_only=True) as connection:
            rows = connection.execute("select * from marts.mart_forecast_wide").fetchall()
        seconds = time.perf_counter() - started
    except (OSError, duckdb.Error) as error:
        return f"n/a ({error})"
    return f"{size_mb:,.0f} MB file; mart_forecast_wide read in full: {len(rows):,} rows in {seconds:.2f} s"


def elementary_report_command(out_file: Path) -> list[str]:
    """``edr report`` with the project's profile and Elementary CLI settings, writing ``out_file``."""
    edr = Path(sys.executable).with_name("edr")
    return [
        str(edr),
        "report",
        "--project-dir",
        str(PROJECT_DIR),
        "--profiles-dir",
        os.environ.get("DBT_PROFILES_DIR", str(PROJECT_DIR / "profiles")),
        "--config-dir",
        str(PROJECT_DIR / "config/edr"),
        "--file-path",
        str(out_file),
        "--open-browser",
        "false",
    ]


def run_batch(replay_months: int, as_of: str | None, skip_reports: bool) -> int:
    database = warehouse_path()
    database.parent.mkdir(parents=True, exist_ok=True)
    reports = reports_dir()
    reports.mkdir(parents=True, exist_ok=True)
    _env_path("DEMAND_EXPORT_DIR", "exports").mkdir(parents=True, exist_ok=True)

    last = dt.date.fromisoformat(f"{as_of}-01") if as_of else last_complete_month(raw_dir())
    months = [add_months(last, -k) for k in range(max(replay_months, 1) - 1, -1, -1)]
    target_path = Path(os.environ.get("DBT_TARGET_PATH", PROJECT_DIR / "target"))

    planned = ["dbt deps", "elementary models", *[f"dbt build {m.strftime('%Y-%m')}" for m in months]]
    if not skip_reports:
        planned += ["elementary report", "dashboard"]
    with BatchRun(
        name="monthly",
        log_dir=_env_path("DEMAND_LOG_DIR", "logs"),
        notifier=Notifier.from_env(),
        planned_steps=planned,
        dbt_project_dir=PROJECT_DIR,
        metrics_db=database,
        print_summary_on_exit=True,
    ) as run:
        run.step("dbt deps", ["bash", str(PROJECT_DIR / "scripts/dbt_deps.sh")], cwd=PROJECT_DIR)
        # Elementary's tables must exist before its source tests run in the first build.
        run.step("elementary models", _dbt("run", "--select", "elementary"), cwd=PROJECT_DIR)
        for month in months:
            label = month.strftime("%Y-%m")
            variables = json.dumps({"as_of_month": label})
            run.step(f"dbt build {label}", _dbt("build", "--vars", variables), cwd=PROJECT_DIR)
            write_metrics_to_duckdb(database, run.metrics)
        results = load_run_results(PROJECT_DIR, target_path=target_path)
        if not skip_reports:
            run.step(
                "elementary report", elementary_report_command(reports / "elementary_report.html"), cwd=PROJECT_DIR
            )
            run.step(
                "dashboard",
                [
                    sys.executable,
                    "-m",
                    "demand_forecast.dashboard",
                    "--warehouse",
                    str(database),
                    "--out",
                    str(reports / "dashboard.html"),
                ],
                cwd=PROJECT_DIR,
            )
        write_metrics_to_duckdb(database, run.metrics)
        for label, value in _read_summary(database).items():
            run.summary_line(label, value)
        run.summary_line("dbt tests (last build)", results.tests_line() if results else "n/a")
        run.summary_line("warehouse", str(database))
        run.summary_line("warehouse size and BI read", _read_probe(database))
        if not skip_reports:
            run.summary_line("Elementary report", str(reports / "elementary_report.html"))
            run.summary_line("dashboard", str(reports / "dashboard.html"))
    return 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``demand-forecast run`` (also ``python -m demand_forecast.ops.batch run``)."""
    parser.add_argument(
        "--replay-months", type=int, default=1, help="how many as-of months to run, ending with the latest (default 1)"
    )
    parser.add_argument("--as-of", help="last as-of month to run, YYYY-MM (default: last complete month)")
    parser.add_argument("--skip-reports", action="store_true", help="no Elementary report, no dashboard")


def run(args: argparse.Namespace) -> int:
    try:
        return run_batch(args.replay_months, args.as_of, args.skip_reports)
    except BatchFailed as failure:
        print(f"\nBATCH FAILED: {failure}", file=sys.stderr)
        return 1


def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``demand-forecast report``."""
    parser.add_argument(
        "--out", default=None, help="HTML file to write (default: $DEMAND_REPORTS_DIR/elementary_report.html)"
    )


def run_report(args: argparse.Namespace) -> int:
    """Write the Elementary report of the warehouse's last runs (no dbt build)."""
    out = Path(args.out) if args.out else reports_dir() / "elementary_report.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    return subprocess.call(elementary_report_command(out.resolve()), cwd=PROJECT_DIR)


def main(argv: list[str] | None = None) -> int:
    from ..cli import main as cli_main

    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["run"]:  # the former ``python -m demand_forecast.batch run`` spelling
        argv = argv[1:]
    return cli_main(["run", *argv])


if __name__ == "__main__":
    raise SystemExit(main())

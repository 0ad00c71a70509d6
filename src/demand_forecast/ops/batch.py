"""The monthly batch, end to end: dbt build per as-of month, exports, the Elementary report, the
dashboard, published to readers only when every step and every test passed.

``demand-forecast run`` builds the last complete month of the data (the month ``int_batch_parameters``
derives); ``--as-of YYYY-MM`` picks another, ``--replay-months N`` first builds the N-1 months before
it, in order, so a new installation starts with a forecast history, accuracy over time and
monitoring baselines. Every step is logged to ``logs/batch-<run id>.log`` with its duration and peak
memory; any failure, from a bad argument to a failed dbt test, is logged, sends one notification
(see :mod:`demand_forecast.ops.notify`), exits non-zero and publishes nothing.

Write-audit-publish (:mod:`demand_forecast.ops.publish`, docs/operations.md): the run works on a
copy of the published warehouse and on staging folders; readers switch at the end, all at once.
Replaying a month older than the latest published one rebuilds that month's history on a second
copy and merges it in, so the marts readers use keep describing the latest month.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import duckdb

from demand_forecast.data.contract import check_raw_files
from demand_forecast.months import add_months, parse_month
from demand_forecast.ops.dbt_results import load_run_results, run_results_path
from demand_forecast.ops.dbt_rows import built_rows, parquet_rows
from demand_forecast.ops.logfiles import dbt_log_env, keep_batch_logs, prune_batch_logs
from demand_forecast.ops.notify import Notifier, NotifyConfigError
from demand_forecast.ops.publish import (
    BatchLock,
    Layout,
    Stage,
    checkpoint,
    copy_published,
    export_marts,
    publish,
    recover,
)
from demand_forecast.ops.runlog import BatchFailed, BatchRun, BatchStop, write_metrics_to_duckdb

PROJECT_DIR = Path(os.environ.get("DEMAND_PROJECT_DIR", Path(__file__).resolve().parents[3]))
#: Tables that keep every as-of month (incremental): what a replay of an older month rebuilds.
VARS_EXAMPLE = '{"stockout_policy": "exclude"}'
HISTORY_TABLES = ("marts.fct_forecasts", "marts.fct_model_registry")
NOTHING_PUBLISHED = "nothing was published: readers still see the warehouse, exports and reports of the last good run"


def _env_path(name: str, default: str) -> Path:
    path = Path(os.environ.get(name, default))
    return path if path.is_absolute() else PROJECT_DIR / path


def warehouse_path() -> Path:
    return _env_path("DEMAND_DUCKDB_PATH", "warehouse/demand.duckdb")


def raw_dir() -> Path:
    return _env_path("DEMAND_RAW_DIR", "data/raw")


def reports_dir() -> Path:
    return _env_path("DEMAND_REPORTS_DIR", "reports")


def readers_layout() -> Layout:
    return Layout(warehouse=warehouse_path(), exports=_env_path("DEMAND_EXPORT_DIR", "exports"), reports=reports_dir())


def month_label(month: dt.date) -> str:
    return f"{month:%Y-%m}"


def _dbt(*args: str) -> list[str]:
    dbt = Path(sys.executable).with_name("dbt")
    return [str(dbt), *args, "--project-dir", str(PROJECT_DIR)]


def _dbt_env(warehouse: Path, stage: Stage) -> dict[str, str]:
    """A dbt step's environment: the warehouse it builds, exports kept in the staging folder."""
    return {"DEMAND_DUCKDB_PATH": str(warehouse), "DEMAND_EXPORT_DIR": str(stage.exports), **dbt_log_env()}


def _rows_built(warehouse: Path) -> Callable[[], int | None]:
    """The ``rows`` of a dbt step about to start: what its run_results name, counted in ``warehouse``."""
    started = time.time()
    results = run_results_path(PROJECT_DIR, os.environ.get("DBT_TARGET_PATH"))
    return partial(built_rows, results, warehouse, newer_than=started - 2)


# ---------------------------------------------------------------------- arguments
@dataclass
class Request:
    """The checked arguments of one run."""

    as_of: dt.date | None
    replay_months: int
    extra_vars: dict = field(default_factory=dict)
    skip_reports: bool = False


def check_arguments(as_of: str | None, replay_months: str | int, extra_vars: str | None, skip_reports: bool) -> Request:
    """Turn the command-line values into a :class:`Request`, or stop with what to type instead."""
    month = None
    if as_of is not None:
        try:
            month = parse_month(as_of)
        except ValueError as exc:
            raise BatchStop(f"--as-of: {exc}") from None
    try:
        replay = int(str(replay_months).strip())
    except ValueError:
        replay = 0
    if replay < 1:
        raise BatchStop(f"--replay-months must be a whole number of at least 1, got {replay_months!r}")
    variables: dict = {}
    if extra_vars:
        try:
            variables = json.loads(extra_vars)
        except ValueError as exc:
            raise BatchStop(f"--vars must be a JSON object, e.g. '{VARS_EXAMPLE}': {exc}") from None
        if not isinstance(variables, dict):
            raise BatchStop(f"--vars must be a JSON object, got {extra_vars!r}")
        if "as_of_month" in variables:
            raise BatchStop("--vars may not set as_of_month: use --as-of YYYY-MM")
    return Request(as_of=month, replay_months=replay, extra_vars=variables, skip_reports=skip_reports)


def check_raw_data() -> str:
    """The raw contract, file by file, before dbt reads anything; one message names every bad file."""
    fmt = os.environ.get("DEMAND_RAW_FORMAT", "parquet")
    problems = check_raw_files(raw_dir(), fmt)
    if problems:
        raise BatchStop(
            f"{len(problems)} raw file(s) break the contract (docs/contracts.md): "
            + " | ".join(problems)
            + ". Fix or remove them (the importer writes valid files: demand-forecast import)"
        )
    return f"raw files in {raw_dir()} match the contract"


# ---------------------------------------------------------------------- planning
@dataclass
class Plan:
    """The months a run builds, and whether they are a replay of months older than the readers'.

    ``months == [None]`` is the default run: one month, the last complete month of the data, which
    ``int_batch_parameters`` resolves during the build itself (the var as_of_month left empty).
    """

    months: list[dt.date | None]
    readers_month: dt.date | None  # latest as-of month readers see now (None: nothing published)

    @property
    def is_replay(self) -> bool:
        last = self.months[-1]
        return self.readers_month is not None and last is not None and last < self.readers_month


def _one_row(warehouse: Path, sql: str) -> tuple | None:
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        try:
            return connection.execute(sql).fetchone()
        except duckdb.CatalogException:
            return None


def readers_month(staged: Path) -> dt.date | None:
    """The latest as-of month of the published (and just staged) forecasts; None when there are none."""
    if not staged.exists():
        return None
    row = _one_row(staged, "select cast(max(as_of_month) as date) from marts.fct_forecasts")
    return row[0] if row else None


def plan_months(request: Request, plan_db: Path, staged: Path) -> Plan:
    """Months to build, from the as-of month ``int_batch_parameters`` derived from the data."""
    row = _one_row(
        plan_db,
        "select last_complete_month, data_first_sale_date, data_last_sale_date, data_first_month "
        "from intermediate.int_batch_parameters",
    )
    if row is None or row[0] is None:
        raise BatchStop(f"int_batch_parameters found no usable sale date in {raw_dir()}: is the raw data there?")
    last_complete, first_sale, last_sale, first_month = row
    holds = f"the data holds usable sales dated {first_sale:%Y-%m-%d} to {last_sale:%Y-%m-%d}"
    last = request.as_of or last_complete
    if last > last_complete:
        raise BatchStop(
            f"--as-of {month_label(last)} is after the last complete month of the data, {month_label(last_complete)} "
            f"({holds}; a month is complete when its last day has sales or its lines were loaded after it ended). "
            f"Use --as-of {month_label(last_complete)} or earlier, or load the missing months first"
        )
    months = [add_months(last, -k) for k in range(request.replay_months - 1, -1, -1)]
    if months[0] < first_month:
        raise BatchStop(
            f"the run would start in {month_label(months[0])}, before the data's first month "
            f"{month_label(first_month)} ({holds}): lower --replay-months or pick a later --as-of"
        )
    return Plan(months=months, readers_month=readers_month(staged))


def check_built_month(staged: Path, readers: dt.date | None) -> dt.date:
    """After a default run: the month the build resolved, which must not move readers back in time."""
    row = _one_row(staged, "select as_of_month from intermediate.int_batch_parameters")
    built = row[0] if row else None
    if built is None:
        raise BatchStop("the build left no int_batch_parameters row: no as-of month was resolved")
    if readers is not None and built < readers:
        raise BatchStop(
            f"the data's last complete month, {month_label(built)}, is before the month readers see, "
            f"{month_label(readers)}: were raw files removed? Restore them, or replay that month with "
            f"--as-of {month_label(built)}"
        )
    return built


def elementary_package_version() -> str | None:
    """The version of the installed Elementary dbt package (its dbt_project.yml)."""
    folder = Path(os.environ.get("DBT_PACKAGES_FOLDER", PROJECT_DIR / "dbt_packages"))
    try:
        text = (folder / "elementary" / "dbt_project.yml").read_text(encoding="utf-8")
    except OSError:
        return None
    match = re.search(r"^version:\s*[\"']?([^\"'\s]+)", text, re.MULTILINE)
    return match.group(1) if match else None


def elementary_tables_version(warehouse: Path) -> str | None:
    """The package version that built the warehouse's Elementary tables, None when they are missing."""
    if not warehouse.exists():
        return None
    try:
        row = _one_row(warehouse, "select max(dbt_pkg_version) from elementary.metadata")
    except duckdb.Error:
        return None
    return row[0] if row else None


def merge_history(staged: Path, replayed: Path, months: list[dt.date | None]) -> int:
    """Replace the replayed months' rows of every history table in the staged warehouse."""
    rows = 0
    with duckdb.connect(str(staged)) as connection:
        connection.execute("attach ? as replayed (read_only)", [str(replayed)])
        connection.execute("begin transaction")
        for table in HISTORY_TABLES:
            connection.execute(f"delete from {table} where as_of_month in (select unnest(?::date[]))", [months])
            connection.execute(
                f"insert into {table} by name select * from replayed.{table} "
                "where as_of_month in (select unnest(?::date[]))",
                [months],
            )
            rows += connection.execute(
                f"select count(*) from {table} where as_of_month in (select unnest(?::date[]))", [months]
            ).fetchone()[0]
        connection.execute("commit")
        connection.execute("detach replayed")
    return rows


# ---------------------------------------------------------------------- summary
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


# ---------------------------------------------------------------------- the run
def _build_months(run: BatchRun, request: Request, plan: Plan, stage: Stage) -> None:
    """dbt build of each month into the staged warehouse, or for a replay into a second copy first."""
    target = stage.warehouse
    if plan.is_replay:
        target = stage.root / "replay.duckdb"
        run.step("copy for the replay", partial(_copy_warehouse, stage.warehouse, target))
    for month in plan.months:
        variables = json.dumps({**request.extra_vars, "export_marts": False, "as_of_month": _as_of_var(month)})
        run.step(
            _build_step(month),
            # Elementary's own models were refreshed once by the step "elementary models"
            _dbt("build", "--exclude", "package:elementary", "--vars", variables),
            cwd=PROJECT_DIR,
            extra_env=_dbt_env(target, stage),
            rows=_rows_built(target),
        )
    if plan.is_replay:
        assert plan.readers_month is not None
        readers = month_label(plan.readers_month)
        run.step("merge replayed history", partial(merge_history, stage.warehouse, target, plan.months))
        variables = json.dumps({**request.extra_vars, "export_marts": False, "as_of_month": readers})
        run.step(
            f"dbt build readers' marts {readers}",
            _dbt(
                "build",
                "--select",
                "fct_forecasts+",
                "--exclude",
                "fct_forecasts",
                "package:elementary",
                "--vars",
                variables,
            ),
            cwd=PROJECT_DIR,
            extra_env=_dbt_env(stage.warehouse, stage),
            rows=_rows_built(stage.warehouse),
        )


def _as_of_var(month: dt.date | None) -> str:
    return "" if month is None else month_label(month)


def _build_step(month: dt.date | None) -> str:
    return "dbt build (last complete month)" if month is None else f"dbt build {month_label(month)}"


def _copy_warehouse(source: Path, target: Path) -> str:
    checkpoint(source)
    shutil.copy2(source, target)
    return f"copied {source} to {target}"


def _planned_steps(request: Request, plan: Plan) -> list[str]:
    steps = ["copy for the replay"] if plan.is_replay else []
    steps += [_build_step(m) for m in plan.months]
    if plan.is_replay:
        assert plan.readers_month is not None
        steps += ["merge replayed history", f"dbt build readers' marts {month_label(plan.readers_month)}"]
    steps.append("export marts")
    if not request.skip_reports:
        steps += ["elementary report", "dashboard"]
    return [*steps, "publish"]


def run_batch(as_of: str | None, replay_months: str | int, skip_reports: bool, extra_vars: str | None = None) -> int:
    layout = readers_layout()
    notifier, notify_error = None, None
    try:
        notifier = Notifier.from_env()
    except NotifyConfigError as error:
        notify_error = error
    lock = BatchLock(layout.warehouse.parent / ".batch.lock")
    with BatchRun(
        name="monthly",
        log_dir=_env_path("DEMAND_LOG_DIR", "logs"),
        notifier=notifier,
        planned_steps=["lock and recover", "check arguments and raw files", "dbt deps", "stage warehouse"],
        dbt_project_dir=PROJECT_DIR,
        print_summary_on_exit=True,
        failure_hint=NOTHING_PUBLISHED,
    ) as run:
        try:
            if notify_error is not None:
                raise BatchStop(f"the alert settings are broken, so nobody can be notified: {notify_error}")
            _prune_logs(run)
            stage = layout.stage(run.run_id)
            run.step("lock and recover", partial(_lock_and_recover, lock, run, layout, stage))
            request = run.step(
                "check arguments and raw files", partial(_check_inputs, as_of, replay_months, extra_vars, skip_reports)
            ).value
            run.step(
                "dbt deps", ["bash", str(PROJECT_DIR / "scripts/dbt_deps.sh")], cwd=PROJECT_DIR, extra_env=dbt_log_env()
            )
            run.step("stage warehouse", partial(copy_published, layout, stage))
            plan = _plan(run, request, stage)
            # Elementary's tables must exist before its source tests run in the first build; once
            # they do, each build's on-run-end hook keeps them current, so they are built only when
            # missing or made by another version of the package.
            installed = elementary_package_version()
            in_place = elementary_tables_version(stage.warehouse)
            rebuild = in_place is None or in_place != installed
            run.plan_steps(["elementary models"] * rebuild + _planned_steps(request, plan))
            if rebuild:
                run.step(
                    "elementary models",
                    _dbt("run", "--select", "elementary"),
                    cwd=PROJECT_DIR,
                    extra_env=_dbt_env(stage.warehouse, stage),
                    rows=_rows_built(stage.warehouse),
                )
            else:
                run.log(f"Elementary's tables are in place (package {installed}): not rebuilt")
            _build_months(run, request, plan, stage)
            if plan.months == [None]:
                built = check_built_month(stage.warehouse, plan.readers_month)
                run.log(f"built the last complete month of the data: {month_label(built)}")
            write_metrics_to_duckdb(stage.warehouse, run.metrics)  # the dashboard shows this run's builds
            results = load_run_results(PROJECT_DIR, target_path=os.environ.get("DBT_TARGET_PATH"))
            run.step(
                "export marts",
                partial(export_marts, stage.warehouse, stage.exports),
                rows=partial(parquet_rows, stage.exports),
            )
            if not request.skip_reports:
                _reports(run, stage)
            for label, value in _read_summary(stage.warehouse).items():
                run.summary_line(label, value)
            write_metrics_to_duckdb(stage.warehouse, run.metrics)
            run.step("publish", partial(publish, layout, stage))
            run.summary_line("dbt tests (last build)", results.tests_line() if results else "n/a")
            run.summary_line("warehouse", str(layout.warehouse))
            run.summary_line("warehouse size and BI read", _read_probe(layout.warehouse))
            run.summary_line("exports", str(layout.exports))
            if not request.skip_reports:
                run.summary_line("Elementary report", str(layout.reports / "elementary_report.html"))
                run.summary_line("dashboard", str(layout.reports / "dashboard.html"))
        finally:
            lock.release()
    return 0


def _prune_logs(run: BatchRun) -> None:
    """Keep the newest ``DEMAND_LOG_KEEP`` batch logs (this run's included); dbt's log rotates itself."""
    try:
        keep = keep_batch_logs()
    except ValueError as error:
        raise BatchStop(str(error)) from error
    removed = prune_batch_logs(run.log_path.parent, keep, current=run.log_path)
    if removed:
        run.log(f"removed {len(removed)} batch log(s) older than the newest {keep} (DEMAND_LOG_KEEP)")


def _plan(run: BatchRun, request: Request, stage: Stage) -> Plan:
    """The months of the run. The default run (no --as-of, one month) lets its build resolve the last
    complete month; otherwise ``int_batch_parameters`` is run first, on a scratch file, to plan and
    check the months against what the data holds."""
    if request.as_of is None and request.replay_months == 1:
        plan = Plan(months=[None], readers_month=readers_month(stage.warehouse))
        run.log("months: the last complete month of the data, resolved by int_batch_parameters in the build")
        return plan
    plan_db = stage.root / "plan.duckdb"
    run.plan_steps(["read the as-of month", "plan months"])
    run.step(
        "read the as-of month",
        _dbt("run", "--select", "+int_batch_parameters", "--vars", json.dumps(request.extra_vars)),
        cwd=PROJECT_DIR,
        extra_env=_dbt_env(plan_db, stage),
        rows=_rows_built(plan_db),
    )
    plan = run.step("plan months", partial(plan_months, request, plan_db, stage.warehouse)).value
    readers = f" (a replay: readers stay at {month_label(plan.readers_month)})" if plan.is_replay else ""
    run.log(f"months: {', '.join(month_label(m) for m in plan.months)}{readers}")
    return plan


def _lock_and_recover(lock: BatchLock, run: BatchRun, layout: Layout, stage: Stage) -> str:
    lock.acquire(run.run_id, run.log_path)
    notes = recover(layout, keep=stage)
    for note in notes:
        print(note)
    return "; ".join(notes) or "no run left anything behind"


def _check_inputs(as_of: str | None, replay_months: str | int, extra_vars: str | None, skip_reports: bool) -> Request:
    request = check_arguments(as_of, replay_months, extra_vars, skip_reports)
    print(check_raw_data())
    return request


def _reports(run: BatchRun, stage: Stage) -> None:
    run.step(
        "elementary report",
        elementary_report_command(stage.reports / "elementary_report.html"),
        cwd=PROJECT_DIR,
        extra_env={"DEMAND_DUCKDB_PATH": str(stage.warehouse), **dbt_log_env()},
    )
    run.step(
        "dashboard",
        [
            sys.executable,
            "-m",
            "demand_forecast.dashboard",
            "--warehouse",
            str(stage.warehouse),
            "--out",
            str(stage.reports / "dashboard.html"),
        ],
        cwd=PROJECT_DIR,
    )


# ---------------------------------------------------------------------- command line
def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``demand-forecast run`` (also ``python -m demand_forecast.ops.batch run``)."""
    parser.add_argument(
        "--replay-months", default="1", help="how many as-of months to run, ending with the latest (default 1)"
    )
    parser.add_argument("--as-of", help="last as-of month to run, YYYY-MM (default: last complete month of the data)")
    parser.add_argument("--skip-reports", action="store_true", help="no Elementary report, no dashboard")
    parser.add_argument(
        "--vars", dest="extra_vars", help=f"JSON object of dbt vars for every build, e.g. '{VARS_EXAMPLE}'"
    )


def run(args: argparse.Namespace) -> int:
    try:
        return run_batch(args.as_of, args.replay_months, args.skip_reports, getattr(args, "extra_vars", None))
    except BatchFailed as failure:
        print(f"\nBATCH FAILED: {failure}\n{NOTHING_PUBLISHED[0].upper()}{NOTHING_PUBLISHED[1:]}.", file=sys.stderr)
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

"""Write-audit-publish mechanics, the batch lock, the argument and raw-file checks, and how a held
DuckDB lock is explained: fast tests on small files (no dbt). The whole batch under faults is in
test_fault_injection.py.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.util
import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from demand_forecast.data.contract import (
    PRODUCTS_SCHEMA,
    SALES_SCHEMA,
    SNAPSHOT_SCHEMA,
    check_raw_files,
    products_schema,
)
from demand_forecast.ops.batch import (
    check_arguments,
    check_built_month,
    elementary_package_version,
    elementary_tables_version,
    plan_months,
)
from demand_forecast.ops.notify import Notifier
from demand_forecast.ops.publish import (
    BatchLock,
    Layout,
    copy_published,
    export_marts,
    hold_published,
    publish,
    recover,
)
from demand_forecast.ops.runlog import BatchFailed, BatchRun, BatchStop
from demand_forecast.ops.steps import describe_exit, lock_holder

_spec = importlib.util.spec_from_file_location("_notify_sinks", Path(__file__).with_name("test_notify.py"))
_sinks = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_sinks)
HttpSink, alert_env = _sinks.HttpSink, _sinks.alert_env

SRC = str(Path(__file__).resolve().parents[2] / "src")


@pytest.fixture(autouse=True)
def _no_proxies(monkeypatch):
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)


def _holder(code: str, ready: Path) -> subprocess.Popen:
    """A child process that runs ``code`` (which must create ``ready``) and then waits to be killed."""
    script = textwrap.dedent(code) + f"\nopen({str(ready)!r}, 'w').close()\nimport time\ntime.sleep(600)\n"
    proc = subprocess.Popen([sys.executable, "-c", script], env={**os.environ, "PYTHONPATH": SRC})
    deadline = time.monotonic() + 60
    while not ready.exists():
        assert proc.poll() is None, "the holder process died"
        assert time.monotonic() < deadline, "the holder process did not start"
        time.sleep(0.05)
    return proc


def _stop(proc: subprocess.Popen) -> None:
    proc.kill()
    proc.wait(timeout=30)


# --------------------------------------------------------------------------- arguments
@pytest.mark.parametrize(
    ("as_of", "replay", "variables", "message"),
    [
        ("2026-13", "1", None, "a month must be written YYYY-MM"),
        ("2026-1", "1", None, "a month must be written YYYY-MM"),
        ("2026-10", "0", None, "--replay-months must be a whole number of at least 1"),
        ("2026-10", "two", None, "--replay-months must be a whole number of at least 1"),
        (None, "1", "{not json", "--vars must be a JSON object"),
        (None, "1", "[1, 2]", "--vars must be a JSON object"),
        (None, "1", '{"as_of_month": "2026-10"}', "use --as-of"),
    ],
)
def test_bad_arguments_are_refused_with_what_to_type(as_of, replay, variables, message):
    with pytest.raises(BatchStop, match=message):
        check_arguments(as_of, replay, variables, skip_reports=False)


def test_good_arguments_are_parsed():
    request = check_arguments("2026-10", "3", '{"stockout_policy": "exclude"}', skip_reports=True)
    assert (request.as_of.isoformat(), request.replay_months, request.extra_vars) == (
        "2026-10-01",
        3,
        {"stockout_policy": "exclude"},
    )


# --------------------------------------------------------------------------- raw contract
def _write_raw(raw: Path) -> None:
    for source in ("sales_lines", "products", "stock_snapshots"):
        (raw / source).mkdir(parents=True, exist_ok=True)
    pq.write_table(SALES_SCHEMA.empty_table(), raw / "sales_lines" / "part-0.parquet")
    pq.write_table(SALES_SCHEMA.empty_table(), raw / "sales_lines" / "part-1.parquet")
    products = pa.table(
        {name: pa.nulls(2, field.type) for name, field in zip(PRODUCTS_SCHEMA.names, PRODUCTS_SCHEMA, strict=True)}
    ).set_column(0, "product_id", pa.array(["P1", "P2"]))
    pq.write_table(products, raw / "products" / "products.parquet")
    pq.write_table(SNAPSHOT_SCHEMA.empty_table(), raw / "stock_snapshots" / "part-0.parquet")


def test_the_contract_accepts_good_files_and_the_optional_grain(tmp_path):
    _write_raw(tmp_path)
    assert check_raw_files(tmp_path) == []
    pq.write_table(products_schema(sales_grain=True).empty_table(), tmp_path / "products" / "more.parquet")
    assert check_raw_files(tmp_path) == []


def test_each_bad_file_is_named_with_its_column(tmp_path):
    _write_raw(tmp_path)
    extra = SALES_SCHEMA.append(pa.field("sales_channel", pa.string())).empty_table()
    pq.write_table(extra, tmp_path / "sales_lines" / "part-1.parquet")
    renamed = SALES_SCHEMA.set(4, pa.field("price", pa.string())).empty_table()
    pq.write_table(renamed, tmp_path / "sales_lines" / "part-2.parquet")
    problems = check_raw_files(tmp_path)
    assert len(problems) == 2
    assert "sales_lines/part-1.parquet: column 'sales_channel' not in the contract" in problems[0]
    assert (
        "sales_lines/part-2.parquet: missing column 'unit_price'; column 'price' not in the contract (renamed?)"
        in (problems[1])
    )


def test_a_truncated_parquet_file_and_a_missing_folder_are_named(tmp_path):
    _write_raw(tmp_path)
    part = tmp_path / "sales_lines" / "part-1.parquet"
    part.write_bytes(part.read_bytes()[:-20])
    for path in (tmp_path / "stock_snapshots").iterdir():
        path.unlink()
    problems = check_raw_files(tmp_path)
    assert any("part-1.parquet: not a readable parquet file (truncated or corrupt?)" in p for p in problems)
    assert any("stock_snapshots: no *.parquet file" in p for p in problems)


def test_a_product_listed_twice_in_one_file_is_named(tmp_path):
    _write_raw(tmp_path)
    products = pq.read_table(tmp_path / "products" / "products.parquet")
    pq.write_table(pa.concat_tables([products, products.slice(0, 1)]), tmp_path / "products" / "products.parquet")
    (problem,) = check_raw_files(tmp_path)
    assert "products/products.parquet: product_id 'P1' appears more than once (1 repeated rows)" in problem


def test_csv_headers_are_checked(tmp_path):
    for source, names in (
        ("sales_lines", SALES_SCHEMA.names),
        ("products", PRODUCTS_SCHEMA.names),
        ("stock_snapshots", SNAPSHOT_SCHEMA.names),
    ):
        (tmp_path / source).mkdir()
        (tmp_path / source / "a.csv").write_text(",".join(names) + "\n")
    assert check_raw_files(tmp_path, "csv") == []
    (tmp_path / "sales_lines" / "b.csv").write_text("line_id,sale_date,product_id,qty,unit_price,loaded_at\n")
    (problem,) = check_raw_files(tmp_path, "csv")
    assert "sales_lines/b.csv: missing column 'quantity'; column 'qty' not in the contract (renamed?)" in problem


# --------------------------------------------------------------------------- the batch lock
def test_a_second_batch_is_stopped_with_the_holders_pid_and_command(tmp_path):
    lock_path = tmp_path / "warehouse" / ".batch.lock"
    holder = _holder(
        f"""
        from pathlib import Path
        from demand_forecast.ops.publish import BatchLock
        lock = BatchLock(Path({str(lock_path)!r}))
        lock.acquire("20261130T000000Z-aaaaaa", Path("logs/batch-20261130T000000Z-aaaaaa.log"))
        """,
        tmp_path / "ready",
    )
    try:
        with pytest.raises(BatchStop) as stopped:
            BatchLock(lock_path).acquire("second", tmp_path / "second.log")
        message = str(stopped.value)
        assert "another batch is running on this warehouse" in message
        assert f'"pid": {holder.pid}' in message and "20261130T000000Z-aaaaaa" in message
        assert "released when that process ends" in message
    finally:
        _stop(holder)
    lock = BatchLock(lock_path)  # the holder died: the lock is free again, nothing stale
    lock.acquire("third", tmp_path / "third.log")
    assert json.loads(lock_path.read_text())["run_id"] == "third"
    lock.release()


# --------------------------------------------------------------------------- publishing
def _published(tmp_path: Path) -> Layout:
    layout = Layout(tmp_path / "warehouse" / "demand.duckdb", tmp_path / "exports", tmp_path / "reports")
    layout.warehouse.parent.mkdir(parents=True)
    with duckdb.connect(str(layout.warehouse)) as connection:
        connection.execute("create schema marts; create table marts.fct_x as select 1 as month")
    export_marts(layout.warehouse, layout.exports)
    layout.reports.mkdir()
    (layout.reports / "dashboard.html").write_text("month 1")
    return layout


def _stage_next_month(layout: Layout, run_id: str):
    stage = layout.stage(run_id)
    copy_published(layout, stage)
    with duckdb.connect(str(stage.warehouse)) as connection:
        connection.execute("create or replace table marts.fct_x as select 2 as month")
    export_marts(stage.warehouse, stage.exports)
    (stage.reports / "dashboard.html").write_text("month 2")
    return stage


def _readers(layout: Layout) -> dict[str, object]:
    with duckdb.connect(str(layout.warehouse), read_only=True) as connection:
        month = connection.execute("select month from marts.fct_x").fetchone()[0]
    exported = pd.read_parquet(layout.exports / "fct_x.parquet")["month"].tolist()
    return {"warehouse": month, "export": exported, "dashboard": (layout.reports / "dashboard.html").read_text()}


def _checksums(layout: Layout) -> dict[str, str]:
    files = [layout.warehouse, *layout.exports.glob("*.parquet"), *layout.reports.glob("*.html")]
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def _publish_in_a_child(layout: Layout, run_id: str, failpoint: str) -> subprocess.CompletedProcess:
    """Publish a staged run in another process, which DEMAND_FAILPOINT kills on the way."""
    code = (
        "import sys; from pathlib import Path; from demand_forecast.ops.publish import Layout, publish; "
        "layout = Layout(*map(Path, sys.argv[1:4])); publish(layout, layout.stage(sys.argv[4]))"
    )
    paths = [str(layout.warehouse), str(layout.exports), str(layout.reports)]
    env = {**os.environ, "PYTHONPATH": SRC, "DEMAND_FAILPOINT": failpoint}
    return subprocess.run([sys.executable, "-c", code, *paths, run_id], env=env)


def test_publish_switches_every_reader_and_cleans_up(tmp_path):
    layout = _published(tmp_path)
    stage = _stage_next_month(layout, "run-2")
    assert _readers(layout) == {"warehouse": 1, "export": [1], "dashboard": "month 1"}  # staged, not published
    publish(layout, stage)
    assert _readers(layout) == {"warehouse": 2, "export": [2], "dashboard": "month 2"}
    assert not stage.root.exists() and not stage.exports.exists() and not stage.reports.exists()


def test_a_reader_holding_the_old_file_keeps_reading_it(tmp_path):
    layout = _published(tmp_path)
    stage = _stage_next_month(layout, "run-2")
    with duckdb.connect(str(layout.warehouse), read_only=True) as reader:
        publish(layout, stage)  # a read-only reader does not block publishing
        assert reader.execute("select month from marts.fct_x").fetchone()[0] == 1
    assert _readers(layout)["warehouse"] == 2


def test_a_kill_mid_publish_is_completed_by_the_next_run(tmp_path):
    layout = _published(tmp_path)
    _stage_next_month(layout, "run-2")
    before = _checksums(layout)
    killed = _publish_in_a_child(layout, "run-2", failpoint="mid-publish")
    assert killed.returncode == -signal.SIGKILL
    stage = layout.stage("run-2")
    assert stage.journal.exists()
    assert _checksums(layout) != before  # half switched: the first file is new, the warehouse still old
    assert _readers(layout)["warehouse"] == 1
    notes = recover(layout)
    assert any("completed the publish of run run-2" in note for note in notes)
    assert _readers(layout) == {"warehouse": 2, "export": [2], "dashboard": "month 2"}
    assert not stage.root.exists()


def test_a_kill_before_the_journal_leaves_readers_untouched(tmp_path):
    layout = _published(tmp_path)
    _stage_next_month(layout, "run-2")
    before = _checksums(layout)
    killed = _publish_in_a_child(layout, "run-2", failpoint="before-publish")
    assert killed.returncode == -signal.SIGKILL
    assert _checksums(layout) == before
    recover(layout)  # nothing to complete; the staged run is cleared away
    assert _checksums(layout) == before and not layout.stage("run-2").root.exists()


def test_a_writer_on_the_published_warehouse_is_named_and_nothing_moves(tmp_path):
    layout = _published(tmp_path)
    stage = _stage_next_month(layout, "run-2")
    before = _checksums(layout)
    writer = _holder(f"import duckdb\nconnection = duckdb.connect({str(layout.warehouse)!r})", tmp_path / "ready")
    try:
        with pytest.raises(BatchStop) as stopped:
            publish(layout, stage)
        message = str(stopped.value)
        assert "is locked by another process" in message and f"(PID {writer.pid})" in message
        assert "BI tools must open the warehouse read-only" in message
        with pytest.raises(BatchStop, match=f"PID {writer.pid}"):
            copy_published(layout, layout.stage("run-3"))
    finally:
        _stop(writer)
    assert _checksums(layout) == before
    with hold_published(layout.warehouse):  # free again
        pass


# --------------------------------------------------------------------------- explaining failures
DUCKDB_LOCK_LINE = (
    'IO Error: Could not set lock on file "/srv/warehouse/demand.duckdb": Conflicting lock is held in '
    "/usr/bin/python3.11 (PID 4242). See also https://duckdb.org/docs/current/connect/concurrency"
)


def test_a_held_lock_in_dbt_output_becomes_the_error(tmp_path):
    assert "(PID 4242)" in lock_holder(["Runtime Error", DUCKDB_LOCK_LINE, "Done."])
    assert lock_holder(["nothing to see"]) is None
    failure = describe_exit(
        ["dbt", "build"],
        2,
        output_tail=["Encountered an error:", DUCKDB_LOCK_LINE],
        cwd=tmp_path,
        dbt_project_dir=None,
        run_dbt_project_dir=tmp_path,
        started_wall=time.time(),
    )
    assert "/srv/warehouse/demand.duckdb is locked by another process: /usr/bin/python3.11 (PID 4242)" in (
        failure.error
    )
    assert "no dbt node ran: dbt could not open the warehouse" in failure.hints
    assert not any("bad arguments" in hint for hint in failure.hints)


def test_a_checked_stop_is_logged_and_notified_once_without_a_traceback(tmp_path):
    with HttpSink() as http:
        notifier = Notifier.from_env(alert_env(http))
        console = io.StringIO()
        with pytest.raises(BatchFailed) as failed:
            with BatchRun(
                log_dir=tmp_path, notifier=notifier, console=console, failure_hint="nothing was published"
            ) as run:
                raise BatchStop("--as-of 2027-06 is after the last complete month of the data, 2026-10")
        assert len(http.requests) == 1
        text = http.texts[0]
    assert "after the last complete month of the data, 2026-10" in failed.value.error
    assert "failed outside a step" in str(failed.value)
    log = run.log_path.read_text()
    assert "FAILED before the first step: --as-of 2027-06" in log and "Traceback" not in log
    assert "hint: nothing was published" in log and "nothing was published" in text


# --------------------------------------------------------------------------- planning the months
def _plan_db(path: Path, last_complete: str, first_sale: str, last_sale: str) -> Path:
    with duckdb.connect(str(path)) as connection:
        connection.execute(
            "create schema intermediate; create table intermediate.int_batch_parameters as select "
            "?::date as as_of_month, ?::date as last_complete_month, ?::date as data_first_sale_date, "
            "?::date as data_last_sale_date, date_trunc('month', ?::date)::date as data_first_month",
            [last_complete, last_complete, first_sale, last_sale, first_sale],
        )
    return path


def _published_months(path: Path, *months: str) -> Path:
    with duckdb.connect(str(path)) as connection:
        connection.execute("create schema marts; create table marts.fct_forecasts (as_of_month date)")
        connection.executemany("insert into marts.fct_forecasts values (?::date)", [[m] for m in months])
    return path


def test_the_months_come_from_the_as_of_model_and_an_as_of_after_the_data_is_refused(tmp_path):
    plan_db = _plan_db(tmp_path / "plan.duckdb", "2026-10-01", "2024-01-03", "2026-11-29")
    staged = _published_months(tmp_path / "staged.duckdb", "2026-09-01", "2026-10-01")
    plan = plan_months(check_arguments(None, "3", None, False), plan_db, staged)
    assert [f"{m:%Y-%m}" for m in plan.months] == ["2026-08", "2026-09", "2026-10"] and not plan.is_replay
    replay = plan_months(check_arguments("2026-09", "1", None, False), plan_db, staged)
    assert replay.is_replay and f"{replay.readers_month:%Y-%m}" == "2026-10"
    with pytest.raises(BatchStop) as stopped:
        plan_months(check_arguments("2027-06", "1", None, False), plan_db, staged)
    assert str(stopped.value).startswith(
        "--as-of 2027-06 is after the last complete month of the data, 2026-10 "
        "(the data holds usable sales dated 2024-01-03 to 2026-11-29"
    )
    with pytest.raises(BatchStop, match="before the data's first month 2024-01"):
        plan_months(check_arguments("2024-03", "4", None, False), plan_db, staged)


def test_a_default_run_may_not_move_readers_back_in_time(tmp_path):
    staged = _plan_db(tmp_path / "staged.duckdb", "2026-08-01", "2024-01-03", "2026-08-31")
    assert f"{check_built_month(staged, None):%Y-%m}" == "2026-08"
    with pytest.raises(BatchStop, match="2026-08, is before the month readers see, 2026-10: were raw files removed"):
        check_built_month(staged, dt.date(2026, 10, 1))


def test_elementary_tables_are_rebuilt_only_when_missing_or_from_another_version(tmp_path):
    warehouse = tmp_path / "w.duckdb"
    assert elementary_tables_version(warehouse) is None
    with duckdb.connect(str(warehouse)) as connection:
        connection.execute("create schema marts")
    assert elementary_tables_version(warehouse) is None
    with duckdb.connect(str(warehouse)) as connection:
        connection.execute("create schema elementary")
        connection.execute("create table elementary.metadata as select '0.25.1' as dbt_pkg_version")
    assert elementary_tables_version(warehouse) == "0.25.1"
    assert elementary_package_version() == "0.25.1"  # the pinned package (packages.yml)

"""Fault injection: the monthly batch (``demand-forecast run``) under the faults of issue 11.

One small generated dataset (24 products x 3 years, ending with the last complete month M) is
published once at month M-1 (``baseline``) and once more at month M (``reference``).
Every case copies one of them, injects its fault, runs the batch with a local webhook receiving the
alerts, and checks: the exit code, the message naming the cause, that what readers see (the
warehouse file, every export and report) is byte-identical to before, exactly one alert, and that the
raw files are untouched. Every path of the suite contains an apostrophe (``o'clock``), so every case
also runs through paths that must be quoted in SQL.

Faults that a pre-flight check catches fail in seconds, before any dbt build; the others build as
little as the design allows (``--skip-reports`` everywhere: the reports are not what is tested).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.util
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from demand_forecast.months import add_months, previous_month
from demand_forecast.synthetic.datagen import generate

ROOT = Path(__file__).resolve().parents[2]
SRC = str(ROOT / "src")
DBT = str(Path(sys.executable).with_name("dbt"))

_spec = importlib.util.spec_from_file_location("_notify_sinks", Path(__file__).with_name("test_notify.py"))
_sinks = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_sinks)
HttpSink = _sinks.HttpSink

pytestmark = [pytest.mark.dbt, pytest.mark.slow]

# columns that differ between two runs of the same data by design (ids, clocks, timings)
VOLATILE = {"run_id", "dbt_invocation_id", "registered_at", "fit_seconds", "model_blob"}
LAST_MONTH = previous_month()  # the data ends on its last day: M, the last complete month


@pytest.fixture(autouse=True)
def _no_proxies(monkeypatch):
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)


def _label(month: dt.date) -> str:
    return f"{month:%Y-%m}"


@dataclass
class World:
    """One installation: raw data, the published warehouse, exports, reports, logs."""

    root: Path
    target: Path  # dbt's target folder, shared by the whole module so parsing is partial

    @property
    def raw(self) -> Path:
        return self.root / "data" / "raw"

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse" / "demand.duckdb"

    def env(self, **extra: str) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("DEMAND_ALERT_") and key != "DEMAND_FAILPOINT"
        }
        env.update(
            {
                "DBT_PROFILES_DIR": str(ROOT / "profiles"),
                "DBT_PACKAGES_FOLDER": str(ROOT / "dbt_packages"),
                "DEMAND_DUCKDB_PATH": str(self.warehouse),
                "DEMAND_RAW_DIR": str(self.raw),
                "DEMAND_EXPORT_DIR": str(self.root / "exports"),
                "DEMAND_REPORTS_DIR": str(self.root / "reports"),
                "DEMAND_LOG_DIR": str(self.root / "logs"),
                "DBT_TARGET_PATH": str(self.target),
                "DBT_LOG_PATH": str(self.root / "dbt-logs"),
                "OMP_NUM_THREADS": "1",
            }
        )
        env.update(extra)
        return env

    def copy(self, name: str) -> World:
        """A copy of this installation under a folder whose name has an apostrophe, as every path here."""
        other = World(self.root.parent / f"{name}'s", self.target)
        shutil.copytree(self.root, other.root, ignore=shutil.ignore_patterns("logs", "dbt-logs"))
        return other

    def batch(self, *args: str, alerts: HttpSink | None = None, **extra: str) -> subprocess.CompletedProcess[str]:
        if alerts is not None:
            extra["DEMAND_ALERT_WEBHOOK_URL"] = alerts.url
        result = subprocess.run(
            [sys.executable, "-m", "demand_forecast.cli", "run", *args],
            cwd=ROOT,
            env=self.env(**extra),
            capture_output=True,
            text=True,
            timeout=3600,
        )
        with (self.root / "batch-output.log").open("a") as log:
            log.write(f"$ demand-forecast run {' '.join(args)}\n{result.stdout}\n{result.stderr}\n")
        return result

    def readers(self) -> dict[str, str]:
        """Checksums of everything readers use: the warehouse file, exports and reports."""
        files = [self.warehouse, *(self.root / "exports").glob("*"), *(self.root / "reports").glob("*")]
        return {str(p.relative_to(self.root)): _sha(p) for p in files if p.is_file()}

    def raw_files(self) -> dict[str, str]:
        return {str(p.relative_to(self.raw)): _sha(p) for p in sorted(self.raw.rglob("*")) if p.is_file()}

    def query(self, sql: str, params: list | None = None) -> pd.DataFrame:
        with duckdb.connect(str(self.warehouse), read_only=True) as connection:
            return connection.execute(sql, params or []).fetchdf()

    def marts(self) -> dict[str, pd.DataFrame]:
        """Every mart, without the columns that differ between runs by design, in a stable order."""
        with duckdb.connect(str(self.warehouse), read_only=True) as connection:
            tables = [
                name
                for (name,) in connection.execute(
                    "select table_name from information_schema.tables where table_schema = 'marts' order by 1"
                ).fetchall()
            ]
            frames = {}
            for table in tables:
                columns = [
                    c
                    for (c,) in connection.execute(
                        "select column_name from information_schema.columns where table_schema = 'marts' "
                        "and table_name = ? order by ordinal_position",
                        [table],
                    ).fetchall()
                    if c not in VOLATILE
                ]
                listed = ", ".join(f'"{c}"' for c in columns)
                frames[table] = connection.execute(f"select {listed} from marts.{table} order by all").fetchdf()
        return frames


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _ok(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, f"batch failed:\n{result.stdout[-5000:]}\n{result.stderr[-3000:]}"


def _refused(
    world: World,
    result: subprocess.CompletedProcess[str],
    alerts: HttpSink,
    readers: dict[str, str],
    raw: dict[str, str],
    *causes: str,
) -> str:
    """The common outcome of a refused run; returns the failure line for further checks."""
    assert result.returncode == 1, result.stdout[-4000:] + result.stderr[-2000:]
    assert "Traceback" not in result.stdout + result.stderr
    failure = result.stderr.strip().splitlines()
    line = next(text for text in failure if text.startswith("BATCH FAILED:"))
    for cause in causes:
        assert cause in line, (cause, line)
    assert "Nothing was published" in result.stderr
    assert world.readers() == readers, "what readers see changed"
    assert {name: sha for name, sha in world.raw_files().items() if name in raw} == raw, "a raw file changed"
    assert len(alerts.requests) == 1, alerts.texts
    for cause in causes:
        assert cause in alerts.texts[0], (cause, alerts.texts[0])
    logs = list((world.root / "logs").glob("batch-*.log"))
    assert logs and any(causes[0] in log.read_text() for log in logs)
    return line


def _holder(code: str, ready: Path) -> subprocess.Popen:
    """A child process that runs ``code``, then says it is ready and waits to be killed."""
    script = textwrap.dedent(code) + f"\nopen({str(ready)!r}, 'w').close()\nimport time\ntime.sleep(3600)\n"
    proc = subprocess.Popen([sys.executable, "-c", script], env={**os.environ, "PYTHONPATH": SRC})
    deadline = time.monotonic() + 60
    while not ready.exists():
        assert proc.poll() is None and time.monotonic() < deadline, "the holder process did not start"
        time.sleep(0.05)
    return proc


# --------------------------------------------------------------------------- the published worlds
@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> World:
    """Published at M-1, from data that ends with month M."""
    home = tmp_path_factory.mktemp("faults")
    world = World(home / "o'clock", home / "target")
    end = add_months(LAST_MONTH, 1) - dt.timedelta(days=1)
    generate(world.root / "data", products=24, years=3, end_date=end, seed=11, workers=1, progress=False)
    _ok(world.batch("--as-of", _label(add_months(LAST_MONTH, -1)), "--skip-reports"))
    return world


@pytest.fixture(scope="module")
def reference(baseline: World) -> World:
    """The baseline after an uninterrupted run of month M: what every recovered run must equal."""
    world = baseline.copy("reference")
    _ok(world.batch("--skip-reports"))
    return world


def test_the_baseline_and_reference_runs_went_through_apostrophe_paths(baseline: World, reference: World) -> None:
    """Issue 11 case 5: a raw path with an apostrophe (here every path has one) works end to end."""
    assert "'" in str(baseline.raw) and "'" in str(reference.warehouse)
    months = reference.query("select distinct cast(as_of_month as date) as m from marts.fct_forecasts order by 1")
    assert [_label(m) for m in months["m"]] == [_label(add_months(LAST_MONTH, k)) for k in (-1, 0)]
    assert {p.name for p in (reference.root / "exports").glob("*.parquet")} >= {"mart_forecast_wide.parquet"}
    wide = reference.query("select distinct cast(as_of_month as date) as m from marts.mart_forecast_wide")
    assert [_label(m) for m in wide["m"]] == [_label(LAST_MONTH)]


# --------------------------------------------------------------------------- refused before any build
def _extra_column(world: World) -> None:
    lines = pq.read_table(next(world.raw.glob("sales_lines/*.parquet"))).slice(0, 50)
    pq.write_table(
        lines.append_column("sales_channel", pa.array(["web"] * 50)), world.raw / "sales_lines/extra.parquet"
    )


def _missing_price(world: World) -> None:
    lines = pq.read_table(next(world.raw.glob("sales_lines/*.parquet"))).slice(0, 50)
    pq.write_table(lines.drop(["unit_price"]), world.raw / "sales_lines" / "no-price.parquet")


def _duplicate_product(world: World) -> None:
    path = next(world.raw.glob("products/*.parquet"))
    products = pq.read_table(path)
    pq.write_table(pa.concat_tables([products, products.slice(3, 1)]), path)


def _truncated(world: World) -> None:
    path = next(world.raw.glob("sales_lines/*.parquet"))
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


@pytest.mark.parametrize(
    ("fault", "causes"),
    [
        # case 1: the file that failed the build late, and published, now stops the batch first
        (_extra_column, ["sales_lines/extra.parquet: column 'sales_channel' not in the contract"]),
        # case 8: a file missing a column among good ones is one contract break, not lines of bad_price
        (_missing_price, ["sales_lines/no-price.parquet: missing column 'unit_price'"]),
        (_duplicate_product, ["products.parquet: product_id", "appears more than once"]),
        # case 5: a truncated file, no --as-of
        (_truncated, ["not a readable parquet file (truncated or corrupt?)"]),
    ],
    ids=["extra-column", "missing-column", "duplicate-product", "truncated-parquet"],
)
def test_a_raw_file_breaking_the_contract_stops_the_batch_first(baseline: World, fault, causes, request) -> None:
    world = baseline.copy(f"contract-{request.node.callspec.id}")
    readers, raw = world.readers(), world.raw_files()
    fault(world)
    if fault is _duplicate_product or fault is _truncated:
        raw = {name: sha for name, sha in raw.items() if not name.startswith(("products/", "sales_lines/"))}
    with HttpSink() as alerts:
        result = world.batch("--skip-reports", alerts=alerts)
        line = _refused(world, result, alerts, readers, raw, *causes)
    assert "step check arguments and raw files" in line and "break the contract" in line
    assert "dbt build" not in result.stdout  # stopped before any build


def test_a_malformed_as_of_month_is_refused(baseline: World) -> None:
    """Case 5: --as-of 2026-13 ended in a traceback, with no log and no alert."""
    world = baseline.copy("as-of-13")
    readers, raw = world.readers(), world.raw_files()
    with HttpSink() as alerts:
        result = world.batch("--as-of", "2026-13", alerts=alerts)
        _refused(world, result, alerts, readers, raw, "--as-of: a month must be written YYYY-MM", "'2026-13'")


def test_an_as_of_month_after_the_data_is_refused_with_what_the_data_holds(baseline: World) -> None:
    """Case 3: a future --as-of zero-filled the missing months and published a 96% drop."""
    world = baseline.copy("as-of-future")
    readers, raw = world.readers(), world.raw_files()
    future = _label(add_months(LAST_MONTH, 8))
    with HttpSink() as alerts:
        result = world.batch("--as-of", future, "--skip-reports", alerts=alerts)
        line = _refused(
            world, result, alerts, readers, raw, f"--as-of {future} is after the last complete month of the data"
        )
    assert f"the data, {_label(LAST_MONTH)}" in line and "the data holds usable sales dated" in line
    assert "dbt build" not in result.stdout


def _refused_while_held(world: World, holder_code: str, cause: str) -> tuple[str, str, int]:
    """Run the batch while another process holds something; returns (failure line, output, holder PID)."""
    readers, raw = world.readers(), world.raw_files()
    holder = _holder(holder_code, world.root / "ready")
    try:
        with HttpSink() as alerts:
            result = world.batch("--skip-reports", alerts=alerts)
            line = _refused(world, result, alerts, readers, raw, cause)
    finally:
        holder.kill()
        holder.wait()
    return line, result.stdout, holder.pid


def test_a_second_batch_is_told_which_process_holds_the_lock(baseline: World) -> None:
    """Case 7: a second batch failed with a misleading hint; the cause was buried."""
    world = baseline.copy("locked")
    lock_file = world.warehouse.parent / ".batch.lock"
    holder_code = f"""
        from pathlib import Path
        from demand_forecast.ops.publish import BatchLock
        lock = BatchLock(Path({str(lock_file)!r}))
        lock.acquire("20261130T000000Z-first0", Path("first.log"))
        """
    line, output, pid = _refused_while_held(world, holder_code, "another batch is running on this warehouse")
    assert f'"pid": {pid}' in line and "20261130T000000Z-first0" in line
    assert "bad arguments" not in output


def test_a_bi_tool_writing_to_the_warehouse_is_named(baseline: World) -> None:
    """Case 7: a BI tool holding a read-write connection; the message says to open it read-only."""
    world = baseline.copy("bi-writer")
    holder_code = f"import duckdb\nconnection = duckdb.connect({str(world.warehouse)!r})"
    line, _, pid = _refused_while_held(world, holder_code, "is locked by another process")
    assert f"(PID {pid})" in line and "BI tools must open the warehouse read-only" in line


# --------------------------------------------------------------------------- refused by the build
def test_the_quarantine_gate_stops_a_batch_that_would_zero_real_sales(baseline: World) -> None:
    """Gates: a feed where one line in five has a broken quantity is stopped, nothing published."""
    world = baseline.copy("gate")
    readers = world.readers()
    path = next(world.raw.glob("sales_lines/*.parquet"))
    lines = pq.read_table(path).to_pandas()
    lines.loc[lines.index % 5 == 3, "quantity"] = "n/a"
    pq.write_table(pa.Table.from_pandas(lines, preserve_index=False), path)
    raw = {name: sha for name, sha in world.raw_files().items() if not name.startswith("sales_lines/")}
    with HttpSink() as alerts:
        result = world.batch("--skip-reports", alerts=alerts)
        line = _refused(world, result, alerts, readers, raw, "quarantine gate", "max_quarantined_share")
    assert re.search(r"quarantine gate: (19|20|21)\.\d% of the \d+ sales lines in scope", line), line
    assert "bad_quantity" in line and "at step dbt build (last complete month)" in line


def _monthly_totals_csv(path: Path) -> None:
    """12 series x 40 months of monthly totals between about 8,000 and 90,000 (trend and season)."""
    rng = np.random.default_rng(5)
    months = pd.period_range(end=pd.Period(LAST_MONTH, "M"), periods=40, freq="M")
    rows = []
    for s in range(12):
        level = rng.uniform(8_000, 40_000)
        for t, month in enumerate(months):
            season = 1 + 0.35 * np.sin(2 * np.pi * (month.month + s) / 12)
            value = level * (1 + 0.02 * t) * season * rng.uniform(0.9, 1.1)
            rows.append((f"S{s:02d}", f"{month}", round(value)))
    pd.DataFrame(rows, columns=["series_id", "month", "units"]).to_csv(path, index=False)


def test_real_monthly_totals_lose_no_line_and_the_old_absolute_cap_is_stopped(tmp_path_factory, baseline) -> None:
    """Case 2: monthly totals in the tens of thousands were quarantined as absurd (max_line_quantity
    10,000), turning real months into zeros, and the batch was green. Now no line is lost; and with the
    old absolute cap set back on purpose, the quarantine gate stops the batch instead of publishing."""
    home = tmp_path_factory.mktemp("monthly")
    world = World(home / "imp'orted", baseline.target)
    source = home / "monthly.csv"
    _monthly_totals_csv(source)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "demand_forecast.cli",
            "import",
            "--input",
            str(source),
            "--out",
            str(world.root / "data"),
            "--id-col",
            "series_id",
            "--date-col",
            "month",
            "--qty-col",
            "units",
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    # the cleaning alone (as an analytics engineer builds it): every line accepted, totals kept
    scratch = home / "scratch.duckdb"
    (home / "exports").mkdir()
    env = world.env(DEMAND_DUCKDB_PATH=str(scratch), DEMAND_EXPORT_DIR=str(home / "exports"))
    built = subprocess.run(
        [
            DBT,
            "build",
            "--select",
            "+int_monthly_demand",
            "+mart_quarantine_summary",
            "--indirect-selection",
            "cautious",
            "--exclude",
            "tag:monitoring",
            "--target-path",
            str(world.target),
            "--log-path",
            str(home / "dbt-logs"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert built.returncode == 0, built.stdout[-4000:]
    with duckdb.connect(str(scratch), read_only=True) as connection:
        quarantined = connection.execute(
            "select count(*) from intermediate.int_sales_lines_validated where reject_reason is not null"
        ).fetchone()
        capped = connection.execute(
            "select count(*) from intermediate.int_daily_sales_cleaned where is_outlier"
        ).fetchone()
        panel = connection.execute(
            "select product_id, strftime(month, '%Y-%m') as month, demand from intermediate.int_monthly_demand"
        ).fetchdf()
    assert quarantined == (0,) and capped == (0,)
    expected = pd.read_csv(source).rename(columns={"series_id": "product_id", "units": "demand"})
    merged = expected.merge(panel, on=["product_id", "month"], how="outer", suffixes=("_in", "_panel"))
    assert len(merged) == len(expected) == 480
    assert (merged["demand_in"] == merged["demand_panel"]).all()

    # the old absolute cap, on purpose: most lines are "absurd"; the gate refuses to publish zeros
    with HttpSink() as alerts:
        result = world.batch("--skip-reports", "--vars", '{"max_line_quantity": 10000}', alerts=alerts)
        _refused(world, result, alerts, {}, world.raw_files(), "quarantine gate", "absurd_quantity")
    assert not world.warehouse.exists()  # nothing was ever published


# --------------------------------------------------------------------------- replay
def test_replaying_an_older_month_keeps_the_readers_marts(reference: World) -> None:
    """Case 6: replaying M-1 after M emptied accuracy and left NULL last-month demand in the wide mart."""
    world = reference.copy("replay")
    before = world.marts()
    forecasts_before = world.query("select * from marts.fct_forecasts order by all")
    assert len(before["fct_forecast_accuracy"]) > 0
    with HttpSink() as alerts:
        result = world.batch("--as-of", _label(add_months(LAST_MONTH, -1)), "--skip-reports", alerts=alerts)
        _ok(result)
        assert alerts.requests == []
    assert "a replay: readers stay at" in result.stdout
    after = world.marts()
    for table in ("mart_forecast_wide", "fct_forecast_accuracy", "mart_accuracy_by_segment", "dim_products"):
        pd.testing.assert_frame_equal(after[table], before[table], obj=table)
    known = "select count(*) as n, count(demand_last_month) as known from marts.mart_forecast_wide"
    wide, wide_before = world.query(known), reference.query(known)
    assert wide["known"][0] > 0 and wide["known"][0] == wide_before["known"][0]
    # the replayed month's history was rebuilt (same values, new run); the others were not touched
    forecasts_after = world.query("select * from marts.fct_forecasts order by all")
    values = [c for c in forecasts_after.columns if c != "run_id"]
    pd.testing.assert_frame_equal(forecasts_after[values], forecasts_before[values])
    changed = forecasts_after.loc[forecasts_after["run_id"] != forecasts_before["run_id"], "as_of_month"]
    assert {_label(m) for m in changed} == {_label(add_months(LAST_MONTH, -1))}


# --------------------------------------------------------------------------- kills, then a rerun
@pytest.fixture(scope="module")
def killed_then_rerun(baseline: World) -> dict[str, object]:
    """Month M run from the baseline, killed (SIGKILL) at three points, then rerun to completion.

    The data of these runs also has negative stock on hand (-5) for one product on every day of
    month M that was in stock: it must be quarantined, not read as a stock-out, so the rerun's marts
    must still equal the reference's. A BI tool keeps a read-only connection open during the rerun.
    """
    world = baseline.copy("killed")
    readers = world.readers()
    snapshots_path = next(world.raw.glob("stock_snapshots/*.parquet"))
    snapshots = pq.read_table(snapshots_path).to_pandas()
    in_month = pd.to_datetime(snapshots["snapshot_date"]).dt.to_period("M") == pd.Period(LAST_MONTH, "M")
    in_stock = snapshots[in_month & (snapshots["on_hand_qty"] > 0)]
    product = in_stock.groupby("product_id").size().idxmax()
    negative = in_month & (snapshots["product_id"] == product) & (snapshots["on_hand_qty"] > 0)
    snapshots.loc[negative, "on_hand_qty"] = -5
    pq.write_table(
        pa.Table.from_pandas(snapshots, schema=pq.read_schema(snapshots_path), preserve_index=False), snapshots_path
    )
    outcome: dict[str, object] = {"world": world, "product": product, "negative_rows": int(negative.sum())}

    # 1. during the month's dbt build: the whole process group, as a crash would
    proc = subprocess.Popen(
        [sys.executable, "-m", "demand_forecast.cli", "run", "--skip-reports"],
        cwd=ROOT,
        env=world.env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 1800
    started = re.compile(r"START step \d+ dbt build")
    while not any(started.search(log.read_text()) for log in (world.root / "logs").glob("batch-*.log")):
        assert proc.poll() is None and time.monotonic() < deadline, "the batch ended before its build"
        time.sleep(0.5)
    time.sleep(8)  # inside the build
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    outcome["after_build_kill"] = world.readers()

    # 2. everything built, tested and staged; killed before the publish journal is written
    killed = world.batch("--skip-reports", DEMAND_FAILPOINT="before-publish")
    outcome["before_publish_rc"] = killed.returncode
    outcome["after_staged_kill"] = world.readers()

    # 3. killed after the first file was switched: half published
    killed = world.batch("--skip-reports", DEMAND_FAILPOINT="mid-publish")
    outcome["mid_publish_rc"] = killed.returncode
    outcome["journals"] = [str(p) for p in (world.warehouse.parent / ".staging").glob("*/publish.json")]
    outcome["after_mid_publish_kill"] = world.readers()

    # 4. the rerun, with a BI tool reading the old warehouse all along
    with duckdb.connect(str(world.warehouse), read_only=True) as reader:
        month_before = reader.execute("select max(as_of_month) from marts.fct_forecasts").fetchone()[0]
        with HttpSink() as alerts:
            rerun = world.batch("--skip-reports", alerts=alerts)
            outcome["alerts"] = list(alerts.texts)
        outcome["reader_saw"] = (
            month_before,
            reader.execute("select max(as_of_month) from marts.fct_forecasts").fetchone()[0],
        )
    outcome["rerun"] = rerun
    outcome["readers_before"] = readers
    return outcome


def test_a_kill_at_any_point_leaves_readers_on_the_previous_month(killed_then_rerun) -> None:
    readers = killed_then_rerun["readers_before"]
    assert killed_then_rerun["after_build_kill"] == readers
    assert killed_then_rerun["before_publish_rc"] == -signal.SIGKILL
    assert killed_then_rerun["after_staged_kill"] == readers
    assert killed_then_rerun["mid_publish_rc"] == -signal.SIGKILL
    assert len(killed_then_rerun["journals"]) == 1  # the rerun completes it before anything else
    assert killed_then_rerun["after_mid_publish_kill"] != readers


def test_the_rerun_after_the_kills_publishes_exactly_the_reference_marts(killed_then_rerun, reference) -> None:
    rerun = killed_then_rerun["rerun"]
    _ok(rerun)
    assert "completed the publish of run" in rerun.stdout
    assert killed_then_rerun["alerts"] == []
    world: World = killed_then_rerun["world"]
    ours, theirs = world.marts(), reference.marts()
    assert ours.keys() == theirs.keys()
    # The one product whose month-end stock was damaged gets its own purchase suggestion (checked in
    # test_negative_stock_..._never_read_as_zero_stock); every other row of every mart is the reference's.
    damaged = killed_then_rerun["product"]
    for table in theirs:
        a, b = ours[table], theirs[table]
        nullable_ints = False
        if table == "mart_purchase_suggestions":
            assert damaged in set(a["product_id"])
            a, b = (f[f["product_id"] != damaged].reset_index(drop=True) for f in (a, b))
            # the damaged product's null order_qty made that column nullable (Int64) in ours only
            nullable_ints = True
        pd.testing.assert_frame_equal(a, b, obj=table, check_dtype=not nullable_ints)
    assert not list((world.warehouse.parent / ".staging").glob("*/publish.json"))


def test_a_reader_kept_the_old_month_while_the_rerun_published(killed_then_rerun) -> None:
    """A BI tool's read-only connection neither blocks the publish nor sees a half-written file."""
    old, still = killed_then_rerun["reader_saw"]
    assert _label(old) == _label(still) == _label(add_months(LAST_MONTH, -1))
    world: World = killed_then_rerun["world"]
    latest = world.query("select cast(max(as_of_month) as date) as m from marts.fct_forecasts")["m"][0]
    assert _label(latest) == _label(LAST_MONTH)


def test_negative_stock_is_quarantined_not_read_as_a_stockout(killed_then_rerun, reference) -> None:
    """Case 4: on_hand_qty = -5 counted as a stock-out and raised one product's P50 by 68%."""
    world: World = killed_then_rerun["world"]
    product = killed_then_rerun["product"]
    assert killed_then_rerun["negative_rows"] >= 20
    assert "stock_snapshots_with_negative_on_hand_are_quarantined" in killed_then_rerun["rerun"].stdout
    month = f"{LAST_MONTH:%Y-%m-%d}"
    sql = (
        "select demand, is_stockout_month, stockout_days from intermediate.int_monthly_demand "
        "where product_id = ? and month = ?"
    )
    ours, theirs = world.query(sql, [product, month]), reference.query(sql, [product, month])
    assert not ours["is_stockout_month"][0] and ours["stockout_days"][0] == theirs["stockout_days"][0]
    pd.testing.assert_frame_equal(ours, theirs)
    p50 = (
        "select horizon, forecast_p50 from marts.fct_forecasts "
        "where product_id = ? and is_selected and as_of_month = ? order by 1"
    )
    pd.testing.assert_frame_equal(world.query(p50, [product, month]), reference.query(p50, [product, month]))
    quarantined = world.query(
        "select count(*) as n from intermediate.int_stock_snapshots_validated "
        "where product_id = ? and reject_reason = 'negative_on_hand'",
        [product],
    )
    assert quarantined["n"][0] == killed_then_rerun["negative_rows"]


def test_negative_stock_is_never_read_as_zero_stock_by_purchasing(killed_then_rerun) -> None:
    """The suggestion reads the month's latest accepted snapshot (from the raw file), or says on hand is unknown."""
    world: World = killed_then_rerun["world"]
    product = killed_then_rerun["product"]
    snapshots = pq.read_table(next(world.raw.glob("stock_snapshots/*.parquet"))).to_pandas()
    day = pd.to_datetime(snapshots["snapshot_date"])
    mine = snapshots[
        (snapshots["product_id"] == product)
        & (day.dt.to_period("M") == pd.Period(LAST_MONTH, "M"))
        & (snapshots["on_hand_qty"] >= 0)
    ]
    assert (mine["on_hand_qty"] == 0).all()  # the damaged product kept only its stock-out days
    row = world.query(
        "select on_hand_qty, cast(on_hand_date as date) as on_hand_date, order_status, reason "
        "from marts.mart_purchase_suggestions where product_id = ?",
        [product],
    ).iloc[0]
    if mine.empty:
        assert pd.isna(row["on_hand_qty"]) and row["order_status"] == "review"
        assert "on hand is unknown" in row["reason"] and "quarantined" in row["reason"]
    else:
        latest = mine.sort_values("snapshot_date").iloc[-1]
        assert pd.Timestamp(row["on_hand_date"]) == pd.Timestamp(latest["snapshot_date"])
        assert row["on_hand_qty"] == latest["on_hand_qty"] == 0

"""End to end: the monthly batch (`python -m demand_forecast.ops.batch run`, what `make run` calls) on a
small generated dataset: three as-of months replayed in order, each a full `dbt build` (SQL and Python
models, dbt tests, Elementary tests), then the Elementary report and the dashboard.

One replay (the session fixture `replay` of conftest.py, shared with the dashboard tests; a few minutes
on 2 cores) serves the assertions below. Later tests rebuild single months and inject bad data into
copies, so they never disturb the shared warehouse.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from conftest import REPLAY_MONTHS, ROOT, batch_environment

DBT = str(Path(sys.executable).with_name("dbt"))

pytestmark = [pytest.mark.dbt, pytest.mark.slow]


def _dbt(args: list[str], env: dict[str, str], tmp: Path) -> subprocess.CompletedProcess[str]:
    command = [DBT, *args, "--target-path", str(tmp / "target"), "--log-path", str(tmp / "dbt-logs")]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)
    with (tmp / "dbt-output.log").open("a") as log:
        log.write(result.stdout + result.stderr)
    return result


def _failures(output: str) -> str:
    lines = [line for line in output.splitlines() if "FAIL" in line or "ERROR" in line or "Error" in line]
    return "\n".join(lines[-40:])


def _month(value: dt.date) -> str:
    return value.strftime("%Y-%m")


def _query(replay: dict[str, object], sql: str) -> list[tuple]:
    with duckdb.connect(str(replay["database"]), read_only=True) as connection:
        return connection.execute(sql).fetchall()


def test_replay_gives_three_months_of_forecasts_and_two_of_accuracy(replay: dict[str, object]) -> None:
    months = replay["months"]
    assert len(months) == REPLAY_MONTHS
    assert all((b.year * 12 + b.month) - (a.year * 12 + a.month) == 1 for a, b in zip(months, months[1:], strict=False))
    scored = [m for (m,) in _query(replay, "select distinct as_of_month from marts.fct_forecast_accuracy order by 1")]
    assert scored == months[:2]


def test_batch_prints_a_summary_and_writes_the_reports(replay: dict[str, object]) -> None:
    output = replay["output"]
    assert "products forecast" in output and "OK" in output
    assert re.search(r"mart_forecast_wide read in full: [\d,]+ rows in [\d.]+ s", output)
    reports = Path(replay["tmp"]) / "reports"
    report = (reports / "elementary_report.html").read_text(errors="replace")
    assert len(report) > 1_000_000
    # the report embeds its data (base64 JSON): the project's own tests and marts are in it
    encoded = re.search(r"JSON\.parse\(atob\('([^']+)'\)", report)
    assert encoded, "no embedded Elementary data"
    data = base64.b64decode(encoded.group(1)).decode("utf-8", errors="replace")
    assert "forecast_values_are_valid" in data and "fct_forecasts" in data and "schema_changes" in data
    assert (reports / "dashboard.html").stat().st_size > 100_000
    logs = list((Path(replay["tmp"]) / "logs").glob("batch-*.log"))
    assert len(logs) == 1 and "dbt build" in logs[0].read_text()
    steps = _query(replay, "select count(*), count(*) filter (where status = 'ok') from ops.batch_step_metrics")
    assert steps[0][0] == steps[0][1] >= REPLAY_MONTHS + 2


def test_every_test_of_the_last_build_passed_including_elementary_ones(replay: dict[str, object]) -> None:
    rows = _query(
        replay,
        """
        select test_type, test_sub_type, status, test_unique_id
        from elementary.elementary_test_results
        where invocation_id = (select invocation_id from elementary.elementary_test_results
                               order by detected_at desc limit 1)
        """,
    )
    assert len(rows) > 20
    failed = [(test, status) for _, _, status, test in rows if status not in ("pass", "warn")]
    assert not failed, failed
    assert {"anomaly_detection", "schema_change"} <= {test_type for test_type, _, _, _ in rows}


def test_three_selected_horizons_per_active_product(replay: dict[str, object]) -> None:
    last = replay["months"][-1]
    rows = _query(
        replay,
        f"""
        select p.product_id, count(f.horizon)
        from intermediate.int_series_profiles as p
        left join marts.fct_forecasts as f
            on f.product_id = p.product_id and f.is_selected and f.as_of_month = date '{last}'
        where p.lifecycle <> 'discontinued'
        group by p.product_id
        """,
    )
    assert rows and {n for _, n in rows} == {3}


def test_registry_has_every_model_for_every_month(replay: dict[str, object]) -> None:
    rows = _query(
        replay,
        "select as_of_month, count(distinct model_name), count(model_blob) "
        "from marts.fct_model_registry group by 1 order by 1",
    )
    assert [month for month, _, _ in rows] == replay["months"]
    assert all(n_models >= 5 and n_blobs >= 1 for _, n_models, n_blobs in rows)


def test_marts_are_exported_as_parquet(replay: dict[str, object]) -> None:
    names = {path.stem for path in (Path(replay["tmp"]) / "exports").glob("*.parquet")}
    assert {"fct_forecasts", "mart_forecast_wide", "fct_forecast_accuracy", "dim_products"} <= names


def test_rerunning_a_month_changes_only_that_month(replay: dict[str, object]) -> None:
    """Re-running the middle month replaces its rows with identical ones; the others stay as they were."""
    months = replay["months"]
    env, tmp = replay["env"], Path(replay["tmp"])
    # a whole build, as the batch runs it: the sanity and reconciliation tests also run for a month
    # replayed while later months are stored
    result = _dbt(["build", "--vars", json.dumps({"as_of_month": _month(months[1])})], env, tmp)
    assert result.returncode == 0, _failures(result.stdout)
    with duckdb.connect(str(replay["database"]), read_only=True) as connection:
        after = connection.execute("select * from marts.fct_forecasts order by all").fetchdf()
    before = replay["forecasts"]
    values = [
        "product_id",
        "as_of_month",
        "forecast_month",
        "horizon",
        "model_name",
        "is_selected",
        "forecast_p10",
        "forecast_p50",
        "forecast_p90",
    ]
    assert len(after) == len(before)
    pd.testing.assert_frame_equal(after[values], before[values])
    # as_of_month is DATE: fetchall() gives dates, fetchdf() Timestamps
    changed_runs = {pd.Timestamp(m).date() for m in after.loc[after["run_id"] != before["run_id"], "as_of_month"]}
    assert changed_runs == {months[1]}


def test_the_default_warehouse_and_export_folders_are_in_the_repository() -> None:
    # DuckDB cannot create the file's folder: a fresh clone must already have it for a plain `dbt build`
    tracked = subprocess.run(
        ["git", "ls-files", "warehouse/.gitkeep", "exports/.gitkeep"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert tracked == ["exports/.gitkeep", "warehouse/.gitkeep"]


def test_a_plain_dbt_build_works_on_a_brand_new_warehouse(replay: dict[str, object], tmp_path: Path) -> None:
    """What an analytics engineer types first: `dbt build` alone, no batch, on an empty warehouse."""
    env = batch_environment(tmp_path, Path(replay["data"]))
    (tmp_path / "warehouse").mkdir()  # DuckDB does not create folders: the repository ships warehouse/
    (tmp_path / "exports").mkdir()
    result = _dbt(["build"], env, tmp_path)
    assert result.returncode == 0, _failures(result.stdout)
    assert "ERROR=0" in result.stdout
    with duckdb.connect(str(tmp_path / "warehouse" / "demand.duckdb"), read_only=True) as connection:
        per_product = connection.execute(
            "select count(*) from marts.fct_forecasts where is_selected group by product_id"
        ).fetchall()
        results = connection.execute("select count(*) from elementary.elementary_test_results").fetchone()[0]
    assert per_product and {n for (n,) in per_product} == {3}
    assert results > 100  # dbt's and Elementary's test results were uploaded by the on-run-end hook


def _copy_with_sales_lines(replay: dict[str, object], name: str, edit) -> tuple[Path, dict[str, str]]:
    """Copy the replay's warehouse and raw data to ``name``; ``edit(connection, raw)`` returns the new
    sales lines (a DataFrame), which replace the copy's. Returns the copy's folder and dbt environment."""
    tmp = Path(replay["tmp"]) / name
    shutil.copytree(Path(replay["tmp"]) / "warehouse", tmp / "warehouse")
    raw = tmp / "data" / "raw"
    shutil.copytree(Path(replay["data"]) / "raw", raw)
    lines_dir = raw / "sales_lines"
    with duckdb.connect() as connection:
        lines = edit(connection, raw)
    for part in lines_dir.glob("*.parquet"):
        part.unlink()
    with duckdb.connect() as connection:
        connection.register("lines", lines)
        connection.execute(f"copy lines to '{lines_dir}/part-00000.parquet' (format parquet)")
    env = {**replay["env"], "DEMAND_RAW_DIR": str(raw), "DEMAND_DUCKDB_PATH": str(tmp / "warehouse" / "demand.duckdb")}
    return tmp, env


def test_elementary_flags_a_volume_drop_and_a_schema_change(replay: dict[str, object]) -> None:
    """Inject a drop of the last week's loads and an extra raw column into a copy, then run the monitors."""

    def edit(connection, raw: Path) -> pd.DataFrame:
        lines = connection.execute(f"select * from read_parquet('{raw}/sales_lines/*.parquet')").fetchdf()
        last_load = pd.to_datetime(lines["loaded_at"]).max()
        recent = pd.to_datetime(lines["loaded_at"]) > last_load - pd.Timedelta(days=4)
        # keep one line in ten of the last four days' loads, and add a column the contract does not know
        keep = ~recent | (lines.index.to_series() % 10 == 0)
        changed = lines[keep].copy()
        changed["sales_channel"] = "web"
        return changed

    tmp, env = _copy_with_sales_lines(replay, "monitoring", edit)
    result = _dbt(["build", "--select", "base_raw__sales_lines", "source:raw.sales_lines"], env, tmp)
    output = result.stdout
    assert result.returncode != 0, "the schema change should fail the build"
    with duckdb.connect(str(tmp / "warehouse" / "demand.duckdb"), read_only=True) as connection:
        flagged = connection.execute(
            """
            select test_type, test_sub_type, status
            from elementary.elementary_test_results
            where invocation_id = (select invocation_id from elementary.elementary_test_results
                                   order by detected_at desc limit 1)
            """
        ).fetchall()
    assert ("anomaly_detection", "row_count", "warn") in flagged or (
        "anomaly_detection",
        "row_count",
        "fail",
    ) in flagged, (flagged, output[-3000:])
    assert any(
        test_type == "schema_change" and status in ("warn", "fail", "error") for test_type, _, status in flagged
    ), flagged


def test_elementary_flags_a_product_group_that_stops_selling(replay: dict[str, object]) -> None:
    """Drop the last month's sales of the largest product group in a copy: the dimension monitor warns."""
    last = replay["months"][-1]
    chosen: dict[str, str] = {}

    def edit(connection, raw: Path) -> pd.DataFrame:
        group = connection.execute(
            f"select product_group from read_parquet('{raw}/products/*.parquet') "
            "group by 1 order by count(*) desc, 1 limit 1"
        ).fetchone()[0]
        chosen["group"] = group
        return connection.execute(
            f"""
            select lines.* from read_parquet('{raw}/sales_lines/*.parquet') as lines
            where not (
                try_cast(lines.sale_date as date) >= date '{last:%Y-%m-01}'
                and lines.product_id in (select product_id from read_parquet('{raw}/products/*.parquet')
                                         where product_group = '{group}')
            )
            """
        ).fetchdf()

    tmp, env = _copy_with_sales_lines(replay, "group-loss", edit)
    group = chosen["group"]
    # cautious: no test that also reads the (not rebuilt) forecasts of the copy
    result = _dbt(
        [
            "build",
            "--select",
            "+int_monthly_demand",
            "int_sales_lines_quarantined",
            "--exclude",
            "source:*",
            "--indirect-selection",
            "cautious",
            "--vars",
            json.dumps({"as_of_month": _month(last)}),
        ],
        env,
        tmp,
    )
    assert result.returncode == 0, _failures(result.stdout)
    with duckdb.connect(str(tmp / "warehouse" / "demand.duckdb"), read_only=True) as connection:
        status, test_id = connection.execute(
            "select status, id from elementary.elementary_test_results "
            "where test_short_name = 'dimension_anomalies' order by detected_at desc limit 1"
        ).fetchone()
        rows = [
            json.loads(row)
            for (row,) in connection.execute(
                "select result_row from elementary.test_result_rows where elementary_test_results_id = ?", [test_id]
            ).fetchall()
        ]
    assert status == "warn", result.stdout[-3000:]
    flagged = {row["dimension_value"] for row in rows if row.get("is_anomalous")}
    assert group in flagged, (group, flagged)


def test_sanity_checks_stop_a_broken_forecast_table(replay: dict[str, object]) -> None:
    """Break the built month's selected forecasts in a copy, one product per rule, and run the sanity
    tests: each rule's test fails and stores exactly its product."""
    tmp = Path(replay["tmp"]) / "broken"
    shutil.copytree(Path(replay["tmp"]) / "warehouse", tmp / "warehouse")
    database = tmp / "warehouse" / "demand.duckdb"
    with duckdb.connect(str(database)) as connection:
        # the sanity tests check the month of the last build (an earlier test rebuilt an earlier month)
        latest = "(select as_of_month from intermediate.int_batch_parameters)"
        products = [
            p
            for (p,) in connection.execute(
                f"select distinct product_id from marts.fct_forecasts where as_of_month = {latest} "
                "and is_selected and forecast_p50 > 1 order by 1 limit 3"
            ).fetchall()
        ]
        missing, unordered, too_big = products
        connection.execute(
            f"delete from marts.fct_forecasts where as_of_month = {latest} and is_selected "
            f"and product_id = '{missing}' and horizon = 3"
        )
        connection.execute(
            f"update marts.fct_forecasts set forecast_p10 = forecast_p90 + 1 "
            f"where as_of_month = {latest} and is_selected and product_id = '{unordered}' "
            "and horizon = 1"
        )
        connection.execute(
            f"update marts.fct_forecasts set forecast_p50 = 1e9, forecast_p90 = 2e9 "
            f"where as_of_month = {latest} and is_selected and product_id = '{too_big}' "
            "and horizon = 2"
        )
    env = {**replay["env"], "DEMAND_DUCKDB_PATH": str(database)}
    rules = [
        "forecast_has_every_horizon",
        "forecast_values_are_valid",
        "forecast_below_history_multiple",
        "forecast_total_within_band",
    ]
    result = _dbt(["test", "--select", *[f"test_name:{rule}" for rule in rules]], env, tmp)
    assert result.returncode != 0
    run = json.loads((tmp / "target" / "run_results.json").read_text())["results"]
    status = {r["unique_id"].split(".")[2].split("_fct_forecasts")[0]: r["status"] for r in run}
    assert status["forecast_has_every_horizon"] == "fail"
    assert status["forecast_values_are_valid"] == "fail"
    assert status["forecast_below_history_multiple"] == "fail"
    # one huge product also breaks next month's total only if it is in horizon 1; here it is not
    assert status["forecast_total_within_band"] == "pass"
    with duckdb.connect(str(database), read_only=True) as connection:
        stored = {
            table: {
                row[0] for row in connection.execute(f'select product_id from dbt_test__audit."{table}"').fetchall()
            }
            for (table,) in connection.execute(
                "select table_name from information_schema.tables where table_schema = 'dbt_test__audit' "
                "and table_name like 'forecast_%'"
            ).fetchall()
            if "total" not in table
        }
    assert {frozenset(v) for v in stored.values()} == {
        frozenset({missing}),
        frozenset({unordered}),
        frozenset({too_big}),
    }


def test_sanity_check_on_the_total_stops_an_inflated_month(replay: dict[str, object]) -> None:
    tmp = Path(replay["tmp"]) / "inflated"
    shutil.copytree(Path(replay["tmp"]) / "warehouse", tmp / "warehouse")
    database = tmp / "warehouse" / "demand.duckdb"
    with duckdb.connect(str(database)) as connection:
        connection.execute(
            "update marts.fct_forecasts set forecast_p50 = forecast_p50 * 3, "
            "forecast_p90 = forecast_p90 * 3 where as_of_month = "
            "(select as_of_month from intermediate.int_batch_parameters) and is_selected and horizon = 1"
        )
    env = {**replay["env"], "DEMAND_DUCKDB_PATH": str(database)}
    result = _dbt(["test", "--select", "fct_forecasts,test_name:forecast_total_within_band"], env, tmp)
    assert result.returncode != 0
    assert "forecast_total_within_band" in _failures(result.stdout)

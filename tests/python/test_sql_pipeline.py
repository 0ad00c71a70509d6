"""The SQL data preparation (staging, quarantine, cleaning, monthly panel) on generated data.

A small dataset (50 products x 3 years) from `demand_forecast.synthetic.datagen`, whose truth files record the
true monthly demand and every injected defect line, is built with `dbt build` three times:

* the latest as-of (the default: the last complete month in the data);
* a replay of an earlier as-of month, passed as a var;
* the same earlier month from a copy of the raw files that holds only what had been loaded by that
  month's load cut-off, with the as-of derived from the data.

Then: cleaning brings the monthly panel closer to the truth than the raw net sums, every injected
duplicate and null / unknown product line lands in quarantine with its reason, raw lines reconcile
with accepted + quarantined lines, and the replay equals the build from the truncated files.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
DBT = str(Path(sys.executable).with_name("dbt"))
SELECTION = ["+int_monthly_demand", "+int_series_profiles", "+mart_quarantine_summary", "+int_sales_lines_quarantined"]
REPLAY_MONTH = "2025-06"
GRACE_DAYS = 3  # the default of the var load_grace_days

pytestmark = [pytest.mark.dbt, pytest.mark.slow]

# defect name in truth/defect_lines.parquet -> reject reason of int_sales_lines_validated
EXPECTED_REASON = {
    "duplicate_line": "duplicate",
    "null_product_id": "null_product",
    "unknown_product_id": "unknown_product",
    "unparseable_sale_date": "bad_date",
    "future_sale_date": "future_date",
    "non_numeric_quantity": "bad_quantity",
    "absurd_quantity": "absurd_quantity",
    "negative_unit_price": "bad_price",
    "non_numeric_unit_price": "bad_price",
}


def _build(tmp: Path, name: str, raw_dir: Path, as_of_month: str | None = None) -> Path:
    """`dbt build` of the selection into tmp/<name>.duckdb; returns the DuckDB path."""
    database = tmp / f"{name}.duckdb"
    exports = tmp / f"exports-{name}"
    exports.mkdir(exist_ok=True)
    env = {
        **os.environ,
        "DBT_PROFILES_DIR": str(ROOT / "profiles"),
        "DEMAND_DUCKDB_PATH": str(database),
        "DEMAND_RAW_DIR": str(raw_dir),
        "DEMAND_EXPORT_DIR": str(exports),
    }
    command = [
        DBT,
        "build",
        "--select",
        *SELECTION,
        # only tests whose every parent is built (not the forecast models' tests on the panel)
        "--indirect-selection",
        "cautious",
        # Elementary's monitoring tests need its own models; they are not what this test is about
        "--exclude",
        "tag:monitoring",
        "--target-path",
        str(tmp / f"target-{name}"),
        "--log-path",
        str(tmp / f"logs-{name}"),
    ]
    if as_of_month:
        command += ["--vars", f'{{as_of_month: "{as_of_month}"}}']
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"dbt build {name} failed:\n{result.stdout[-6000:]}\n{result.stderr[-2000:]}"
    return database


def _query(database: Path, sql: str) -> pd.DataFrame:
    with duckdb.connect(str(database), read_only=True) as connection:
        return connection.sql(sql).df()


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("sql_pipeline")
    data = tmp / "data"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "demand_forecast.cli",
            "generate",
            "--out",
            str(data),
            "--products",
            "50",
            "--years",
            "3",
            "--end-date",
            "2026-10-31",
            "--seed",
            "1",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )

    # the raw files as they stood at the replay month's load cut-off
    cutoff = pd.Timestamp(f"{REPLAY_MONTH}-01") + pd.offsets.MonthEnd(0) + pd.Timedelta(days=GRACE_DAYS + 1)
    truncated = tmp / "truncated"
    with duckdb.connect() as connection:
        for table in ("sales_lines", "stock_snapshots"):
            (truncated / "raw" / table).mkdir(parents=True)
            connection.execute(
                f"copy (select * from read_parquet('{data}/raw/{table}/*.parquet') "
                f"where loaded_at < timestamp '{cutoff}') "
                f"to '{truncated}/raw/{table}/part-00000.parquet' (format parquet)"
            )
    shutil.copytree(data / "raw" / "products", truncated / "raw" / "products")

    return {
        "data": data,
        "latest": _build(tmp, "latest", data / "raw"),
        "replay": _build(tmp, "replay", data / "raw", as_of_month=REPLAY_MONTH),
        "truncated": _build(tmp, "truncated", truncated / "raw"),
    }


def test_cleaned_demand_is_closer_to_the_truth_than_raw_sums(builds: dict[str, Path]) -> None:
    errors = _query(
        builds["latest"],
        f"""
        with truth as (
            select product_id, cast(month as date) as month, true_demand
            from read_parquet('{builds["data"]}/truth/true_monthly_demand.parquet')
        )
        select
            count(*) as months,
            count(panel.product_id) as panel_months,
            count(truth.product_id) as truth_months,
            avg(abs(coalesce(panel.demand, 0) - coalesce(truth.true_demand, 0))) as mae_cleaned,
            avg(abs(coalesce(panel.units_net, 0) - coalesce(truth.true_demand, 0))) as mae_raw,
        from truth
        full join intermediate.int_monthly_demand as panel
            on truth.product_id = panel.product_id and truth.month = panel.month
    """,
    ).iloc[0]
    print(
        f"\nmonthly MAE against the true demand over {int(errors.months)} product-months: "
        f"raw units_net {errors.mae_raw:.3f}, cleaned demand {errors.mae_cleaned:.3f}"
    )
    # the panel covers exactly the product-months of the truth (launch / data start to the end)
    assert errors.panel_months == errors.truth_months == errors.months
    assert errors.mae_cleaned < errors.mae_raw


def test_every_injected_defect_line_is_quarantined_with_its_reason(builds: dict[str, Path]) -> None:
    defects = _query(
        builds["latest"],
        f"""
        select defect_lines.line_id, defect_lines.defect, quarantined.reject_reason, quarantined.occurrence_number,
        from read_parquet('{builds["data"]}/truth/defect_lines.parquet') as defect_lines
        left join intermediate.int_sales_lines_quarantined as quarantined
            on defect_lines.line_id = quarantined.line_id
        where defect_lines.defect in ({", ".join(f"'{name}'" for name in EXPECTED_REASON)})
    """,
    )
    assert {"duplicate_line", "null_product_id", "unknown_product_id"} <= set(defects.defect)
    defects["expected"] = defects.defect.map(EXPECTED_REASON)
    wrong = defects[defects.reject_reason != defects.expected]
    assert wrong.empty, f"defect lines not quarantined as expected:\n{wrong.head(20)}"
    # exactly one extra copy of each duplicated line is quarantined; the first copy is accepted
    duplicates = defects[defects.defect == "duplicate_line"]
    assert duplicates.line_id.is_unique and (duplicates.occurrence_number == 2).all()
    accepted_copies = _query(
        builds["latest"],
        f"""
        select count(*) as lines
        from intermediate.int_sales_lines_validated
        where reject_reason is null and line_id in (
            select line_id from read_parquet('{builds["data"]}/truth/defect_lines.parquet')
            where defect = 'duplicate_line'
        )
    """,
    ).lines.iloc[0]
    assert accepted_copies == len(duplicates)
    # and no clean line is quarantined: every quarantined line is a recorded defect
    innocent = _query(
        builds["latest"],
        f"""
        select count(*) as lines
        from intermediate.int_sales_lines_quarantined
        where line_id not in (
            select line_id from read_parquet('{builds["data"]}/truth/defect_lines.parquet')
            where defect in ({", ".join(f"'{name}'" for name in EXPECTED_REASON)})
        )
    """,
    ).lines.iloc[0]
    assert innocent == 0


def test_raw_lines_reconcile_with_accepted_and_quarantined(builds: dict[str, Path]) -> None:
    for name in ("latest", "replay"):
        summary = _query(
            builds[name],
            """
            select line_status, sum(line_count) as lines, any_value(raw_line_count) as raw_lines,
            from marts.mart_quarantine_summary group by line_status
        """,
        ).set_index("line_status")
        raw_lines = _query(
            builds[name],
            f"""
            select count(*) as lines from read_parquet('{builds["data"]}/raw/sales_lines/*.parquet')
        """,
        ).lines.iloc[0]
        validated = _query(
            builds[name],
            """
            select count(*) filter (where reject_reason is null) as accepted,
                   count(*) filter (where reject_reason is not null) as quarantined,
            from intermediate.int_sales_lines_validated
        """,
        ).iloc[0]
        assert summary.raw_lines.iloc[0] == raw_lines
        assert summary.lines.sum() == raw_lines
        assert summary.lines["accepted"] == validated.accepted
        assert summary.lines["quarantined"] == validated.quarantined
    # the latest as-of sees every line: nothing in the files was loaded after its cut-off
    latest = _query(
        builds["latest"], "select line_count from marts.mart_quarantine_summary where bucket = 'not_yet_in_scope'"
    )
    assert latest.line_count.iloc[0] == 0


def test_replay_of_an_earlier_month_sees_only_what_was_loaded_then(builds: dict[str, Path]) -> None:
    replay, truncated = builds["replay"], builds["truncated"]
    parameters = _query(replay, "select * from intermediate.int_batch_parameters").iloc[0]
    assert str(parameters.as_of_month)[:7] == REPLAY_MONTH
    # the truncated files, without the var, derive the same as-of month from the data
    derived = _query(truncated, "select * from intermediate.int_batch_parameters").iloc[0]
    assert str(derived.as_of_month)[:7] == REPLAY_MONTH and not derived.is_as_of_month_from_var

    panel_end = _query(replay, "select max(month) as last_month from intermediate.int_monthly_demand")
    assert str(panel_end.last_month.iloc[0])[:7] == REPLAY_MONTH
    leaks = _query(
        replay,
        f"""
        select count(*) as lines
        from intermediate.int_sales_lines_validated
        where loaded_at > timestamp '{parameters.load_cutoff_ts}'
           or (reject_reason is null and sale_date > date '{parameters.as_of_month_end}')
    """,
    ).lines.iloc[0]
    assert leaks == 0
    late = _query(replay, "select line_count from marts.mart_quarantine_summary where bucket = 'not_yet_in_scope'")
    assert late.line_count.iloc[0] > 0

    # the replay equals a build from files that held only what had been loaded by the cut-off
    for model, key in (("int_monthly_demand", ["product_id", "month"]), ("int_series_profiles", ["product_id"])):
        from_replay = _query(replay, f"select * from intermediate.{model}").sort_values(key, ignore_index=True)
        from_truncated = _query(truncated, f"select * from intermediate.{model}").sort_values(key, ignore_index=True)
        pd.testing.assert_frame_equal(from_replay, from_truncated, check_exact=False, rtol=1e-9)

"""The batch plans its months from the as-of month that int_batch_parameters derives from the raw
files (the model owns the rule; the batch runs it before it builds anything, see ops/batch.py).

Each case runs that model with dbt on real raw files, as the batch's "read the as-of month" step
does. The rule's other cases (daily data ending mid-month or on a month end, a var as-of month) are
dbt unit tests of the model in models/intermediate/_intermediate__models.yml.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from demand_forecast.data.importer import import_file

ROOT = Path(__file__).resolve().parents[2]
DBT = str(Path(sys.executable).with_name("dbt"))
FIXTURES = Path(__file__).resolve().parent / "fixtures"

pytestmark = [pytest.mark.dbt, pytest.mark.slow]


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One dbt target folder for the module, so every run after the first parses partially."""
    return tmp_path_factory.mktemp("as_of_target")


def _raw(tmp_path: Path, rows: list[tuple[str, str]], fmt: str = "parquet") -> Path:
    raw = tmp_path / "raw"
    for source in ("sales_lines", "products", "stock_snapshots"):
        (raw / source).mkdir(parents=True)
    frame = pd.DataFrame(
        {
            "line_id": [f"L{i}" for i in range(len(rows))],
            "product_id": "P1",
            "sale_date": [r[0] for r in rows],
            "quantity": "1",
            "unit_price": "1.0",
            "loaded_at": [r[1] for r in rows],
        }
    )
    if fmt == "csv":
        frame.to_csv(raw / "sales_lines" / "part-0.csv", index=False)
    else:
        frame["loaded_at"] = pd.to_datetime(frame["loaded_at"])
        frame.to_parquet(raw / "sales_lines" / "part-0.parquet", index=False)
    return raw


def _run_as_of_model(raw: Path, tmp_path: Path, target: Path, fmt: str = "parquet") -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "DBT_PROFILES_DIR": str(ROOT / "profiles"),
        "DEMAND_DUCKDB_PATH": str(tmp_path / "plan.duckdb"),
        "DEMAND_RAW_DIR": str(raw),
        "DEMAND_RAW_FORMAT": fmt,
        "DEMAND_EXPORT_DIR": str(tmp_path),
    }
    command = [DBT, "run", "--select", "+int_batch_parameters", "--target-path", str(target)]
    return subprocess.run(
        [*command, "--log-path", str(tmp_path)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )


def last_complete_month(raw: Path, tmp_path: Path, target: Path, fmt: str = "parquet") -> dt.date:
    result = _run_as_of_model(raw, tmp_path, target, fmt)
    assert result.returncode == 0, result.stdout[-3000:]
    with duckdb.connect(str(tmp_path / "plan.duckdb"), read_only=True) as connection:
        return connection.execute("select last_complete_month from intermediate.int_batch_parameters").fetchone()[0]


def test_daily_csv_data_ending_mid_month_gives_the_month_before(tmp_path, target):
    raw = _raw(tmp_path, [("2024-04-30", "2024-05-01 02:00:00"), ("2024-05-14", "2024-05-15 02:00:00")], "csv")
    assert last_complete_month(raw, tmp_path, target, "csv") == dt.date(2024, 4, 1)


def test_a_line_dated_after_its_load_day_does_not_count(tmp_path, target):
    # a line dated after the day it was loaded (a future date) does not make June the latest month
    raw = _raw(tmp_path, [("2024-05-31", "2024-06-01 02:00:00"), ("2024-06-20", "2024-06-01 02:00:00")])
    assert last_complete_month(raw, tmp_path, target) == dt.date(2024, 5, 1)


def test_imported_monthly_totals_count_their_last_month(tmp_path, target):
    out = tmp_path / "data"
    import_file(FIXTURES / "import_monthly.csv", out, id_col="series_id")
    # the fixture's last month is April 2019, dated 2019-04-01 and loaded 2019-05-01
    assert last_complete_month(out / "raw", tmp_path, target) == dt.date(2019, 4, 1)


def test_no_usable_sale_date_says_what_to_do(tmp_path, target):
    raw = _raw(tmp_path, [("not a date", "2024-06-01 02:00:00")])
    result = _run_as_of_model(raw, tmp_path, target)
    assert result.returncode != 0
    assert "no usable sale date in the raw sales lines" in result.stdout
    assert "is the raw data there?" in result.stdout

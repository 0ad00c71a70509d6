"""The batch plans its months from the raw files: the last complete month (mirrors int_batch_parameters)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from demand_forecast.data.importer import import_file
from demand_forecast.ops.batch import last_complete_month

FIXTURES = Path(__file__).resolve().parent / "fixtures"
TODAY = dt.date(2024, 7, 15)


def _raw(tmp_path: Path, rows: list[tuple[str, str]], fmt: str = "parquet") -> Path:
    raw = tmp_path / "raw"
    (raw / "sales_lines").mkdir(parents=True)
    frame = pd.DataFrame(
        {
            "line_id": [f"L{i}" for i in range(len(rows))],
            "product_id": "P1",
            "sale_date": [r[0] for r in rows],
            "loaded_at": [r[1] for r in rows],
        }
    )
    if fmt == "csv":
        frame.to_csv(raw / "sales_lines" / "part-0.csv", index=False)
    else:
        frame["loaded_at"] = pd.to_datetime(frame["loaded_at"])
        frame.to_parquet(raw / "sales_lines" / "part-0.parquet", index=False)
    return raw


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_daily_data_ending_mid_month_gives_the_month_before(tmp_path, monkeypatch, fmt):
    monkeypatch.setenv("DEMAND_RAW_FORMAT", fmt)
    raw = _raw(tmp_path, [("2024-04-30", "2024-05-01 02:00:00"), ("2024-05-14", "2024-05-15 02:00:00")], fmt)
    assert last_complete_month(raw, TODAY) == dt.date(2024, 4, 1)


def test_data_ending_on_a_month_end_gives_that_month(tmp_path, monkeypatch):
    monkeypatch.setenv("DEMAND_RAW_FORMAT", "parquet")
    raw = _raw(tmp_path, [("2024-05-31", "2024-06-01 02:00:00")])
    assert last_complete_month(raw, TODAY) == dt.date(2024, 5, 1)


def test_a_month_loaded_after_it_ended_is_complete(tmp_path, monkeypatch):
    monkeypatch.setenv("DEMAND_RAW_FORMAT", "parquet")
    # no sale on the 31st, but the month's lines arrived in June: May is complete
    raw = _raw(tmp_path, [("2024-05-30", "2024-06-02 02:00:00")])
    assert last_complete_month(raw, TODAY) == dt.date(2024, 5, 1)
    # a line dated after the day it was loaded (a future date) does not count
    raw2 = _raw(tmp_path / "b", [("2024-05-31", "2024-06-01 02:00:00"), ("2024-06-20", "2024-06-01 02:00:00")])
    assert last_complete_month(raw2, TODAY) == dt.date(2024, 5, 1)


def test_imported_monthly_totals_count_their_last_month(tmp_path, monkeypatch):
    monkeypatch.setenv("DEMAND_RAW_FORMAT", "parquet")
    out = tmp_path / "data"
    import_file(FIXTURES / "import_monthly.csv", out, id_col="series_id")
    # the fixture's last month is April 2019, dated 2019-04-01 and loaded 2019-05-01
    assert last_complete_month(out / "raw", TODAY) == dt.date(2019, 4, 1)


def test_no_usable_sale_date_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("DEMAND_RAW_FORMAT", "parquet")
    raw = _raw(tmp_path, [("not a date", "2024-06-01 02:00:00")])
    with pytest.raises(SystemExit, match="No valid sale_date"):
        last_complete_month(raw, TODAY)

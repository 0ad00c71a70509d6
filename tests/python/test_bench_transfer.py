"""scripts/bench/bench_transfer.py on a tiny per-series function: the recorder counts what the Spark executor
would move, returns the inner executor's result unchanged, and the table adds up (no Spark, no forecasting run)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts" / "bench"))
import bench_transfer  # noqa: E402

from demand_forecast.forecasting.executor import LocalExecutor  # noqa: E402


def _level(history: pd.DataFrame, scale: float) -> pd.DataFrame:
    return pd.DataFrame({"product_id": [history["product_id"].iloc[0]], "level": [scale * history["demand"].mean()]})


_level.series_outputs = (("product_id", "string"), ("level", "double"))


def _panel(n_products: int, n_months: int) -> pd.DataFrame:
    months = pd.date_range("2024-01-01", periods=n_months, freq="MS")
    return pd.DataFrame(
        {
            "product_id": np.repeat([f"P{i:03d}" for i in range(n_products)], n_months),
            "month": np.tile(months, n_products),
            "demand": np.arange(n_products * n_months, dtype=float),
        }
    )


def test_the_recorder_returns_the_inner_result_and_counts_every_call():
    panel = _panel(3, 12)
    with RecordingPair() as (recorder, plain):
        recorded = recorder.map_series(_level, panel, "product_id", scale=2.0)
        recorded_again = recorder.map_series(_level, panel.iloc[:12], "product_id", scale=2.0)
        expected = plain.map_series(_level, panel, "product_id", scale=2.0)
    pd.testing.assert_frame_equal(recorded, expected)
    assert len(recorded_again) == 1
    counts = recorder.counts["_level"]
    assert (counts.calls, counts.series, counts.rows_in, counts.rows_out) == (2, 4, 48, 4)
    assert counts.bytes_in > 48 * 8  # at least the demand doubles and month integers
    assert 0 < counts.bytes_out < counts.bytes_in


def test_more_rows_in_mean_more_bytes_in():
    small, large = (bench_transfer.arrow_bytes(_panel(2, n)) for n in (12, 48))
    assert large > 3 * small


def test_output_bytes_count_one_encoded_row_per_result_row_and_nothing_for_no_result():
    result = pd.DataFrame({"product_id": ["A", "A", "B"], "level": [1.0, 2.0, 3.0]})
    rows, size = bench_transfer.output_bytes(result, "product_id", _level.series_outputs)
    assert rows == 3 and size > 0
    assert bench_transfer.output_bytes(result.iloc[:0], "product_id", _level.series_outputs) == (0, 0)


def test_table_rows_add_up_to_a_total_per_panel_series():
    counts = {
        "f": bench_transfer.Transfer(calls=2, series=10, rows_in=100, bytes_in=1000, rows_out=10, bytes_out=200),
        "g": bench_transfer.Transfer(calls=1, series=5, rows_in=50, bytes_in=500, rows_out=5, bytes_out=100),
    }
    rows = bench_transfer.per_series_rows(counts, products=10)
    assert rows[-1] == ["total", 3, 15, 150, 1500, 300, 180.0]
    assert rows[0][-1] == 120.0


@pytest.mark.parametrize("argv", [["--products", "0"], ["--months", "12"], ["--n-jobs", "0"]])
def test_bad_options_are_refused(argv, capsys):
    with pytest.raises(SystemExit):
        bench_transfer.parse_args(argv)
    assert "must be positive" in capsys.readouterr().err


class RecordingPair:
    """A recorder around one local executor and a plain local executor, both closed at the end."""

    def __enter__(self):
        self.recorder = bench_transfer.RecordingExecutor(LocalExecutor(n_jobs=1))
        self.plain = LocalExecutor(n_jobs=1)
        return self.recorder, self.plain

    def __exit__(self, *exc):
        self.recorder.__exit__(*exc)
        self.plain.close()

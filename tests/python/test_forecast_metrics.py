"""Metrics against hand-computed values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from dbt_fixtures import unit_test
from forecast_synth import long_panel

from demand_forecast.forecasting import metrics
from demand_forecast.forecasting.features import build_panel_arrays

Y = np.array([10.0, 0.0, 5.0, 20.0])
F = np.array([12.0, 1.0, 5.0, 14.0])
# errors f - y: 2, 1, 0, -6 ; |e| = 2, 1, 0, 6 ; sum|e| = 9 ; sum|y| = 35 ; sum(f - y) = -3


def test_point_metrics_by_hand():
    assert metrics.mae(Y, F) == pytest.approx(9 / 4)
    assert metrics.rmse(Y, F) == pytest.approx(np.sqrt((4 + 1 + 0 + 36) / 4))
    assert metrics.wape(Y, F) == pytest.approx(9 / 35)
    assert metrics.bias(Y, F) == pytest.approx(-3 / 35)


def test_metrics_ignore_unknown_actuals_and_zero_volume():
    assert metrics.mae([1.0, np.nan], [2.0, 100.0]) == pytest.approx(1.0)
    assert np.isnan(metrics.wape([0.0, 0.0], [1.0, 2.0]))
    assert np.isnan(metrics.bias([0.0], [1.0]))


def test_mase_uses_seasonal_naive_scale_with_lag_1_fallback():
    long_hist = np.concatenate([np.arange(12.0), np.arange(12.0) + 2.0])  # lag-12 diffs all 2
    assert metrics.seasonal_naive_mae(long_hist) == pytest.approx(2.0)
    short_hist = np.array([1.0, 4.0, 2.0, 2.0])  # < 13 months: lag-1 diffs 3, 2, 0
    assert metrics.seasonal_naive_mae(short_hist) == pytest.approx(5 / 3)
    flat_season = np.tile(np.arange(12.0), 2)  # lag-12 MAE is 0 -> lag 1 (diffs: 1 x 22, 11 x 1)
    assert metrics.seasonal_naive_mae(flat_season) == pytest.approx((22 * 1 + 11) / 23)
    assert np.isnan(metrics.seasonal_naive_mae(np.full(5, 3.0)))
    assert metrics.mase(Y, F, short_hist) == pytest.approx((9 / 4) / (5 / 3))


def test_mase_scale_equals_the_sql_rule_on_the_same_rows():
    """fct_forecast_accuracy's dbt unit test rows (an exactly seasonal series among them) give the
    same scales in Python: one MASE rule for the backtest and the live accuracy."""
    inputs, expected, _ = unit_test(
        "models/marts/_fct_forecast_accuracy__unit_tests.yml", "mase_scale_matches_the_backtest_rule"
    )
    as_of = pd.Timestamp(inputs["fct_forecasts"]["as_of_month"].iloc[0])
    panel = inputs["int_monthly_demand"]
    arrays = build_panel_arrays(panel, as_of)
    scale = pd.Series(metrics.mase_scale_at(arrays, arrays.n_months - 1), index=arrays.product_ids)
    want = expected.set_index("product_id")["mase_scale"].astype(float)
    pd.testing.assert_series_equal(scale.loc[want.index], want, check_names=False, rtol=0, atol=0)
    assert want.loc["S"] == pytest.approx(51 / 16)  # exactly seasonal: lag-12 MAE 0, so lag 1
    for pid, value in want.items():
        rows = panel[(panel["product_id"] == pid) & (pd.to_datetime(panel["month"]) <= as_of)]
        history = rows["demand"].where(~rows["exclude_from_training"]).to_numpy(dtype=float)
        np.testing.assert_equal(metrics.seasonal_naive_mae(history), value)


def test_coverage():
    assert metrics.coverage([1, 5, 10, np.nan], [0, 6, 10, 0], [2, 7, 12, 1]) == pytest.approx(2 / 3)


def test_vectorised_mase_scale_matches_scalar_version():
    rng = np.random.default_rng(0)
    series = {"LONG": rng.poisson(20, 30).astype(float), "SHORT": rng.poisson(5, 8).astype(float)}
    arrays = build_panel_arrays(long_panel(series), "2024-12-01")
    origin = arrays.n_months - 3
    scale = metrics.mase_scale_at(arrays, origin)
    for i, pid in enumerate(arrays.product_ids):
        hist = series[pid][: len(series[pid]) - 2]
        assert scale[i] == pytest.approx(metrics.seasonal_naive_mae(hist))


def test_summarise_groups():
    frame = pd.DataFrame(
        {
            "g": ["a", "a", "a", "a", "b"],
            "forecast": np.concatenate([F, [1.0]]),
            "actual": np.concatenate([Y, [np.nan]]),
            "mase_scale": [2.0, 2.0, 2.0, 2.0, 1.0],
            "lo": [11, 0, 6, 0, 0],
            "hi": [13, 2, 7, 30, 9],
        }
    )
    out = metrics.summarise(frame, ["g"], lower="lo", upper="hi").set_index("g")
    assert list(out.index) == ["a"]  # group b has no known actual
    row = out.loc["a"]
    assert row["n"] == 4
    assert row["mae"] == pytest.approx(9 / 4)
    assert row["rmse"] == pytest.approx(np.sqrt(41 / 4))
    assert row["wape"] == pytest.approx(9 / 35)
    assert row["bias"] == pytest.approx(-3 / 35)
    assert row["mase"] == pytest.approx(np.mean(np.array([2, 1, 0, 6]) / 2.0))
    assert row["coverage_80"] == pytest.approx(2 / 4)  # 10 !in [11,13]; 0 in [0,2]; 5 !in [6,7]; 20 in [0,30]

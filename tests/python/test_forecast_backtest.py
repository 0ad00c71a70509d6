"""Rolling-origin backtest: cutoffs, row filtering and the no-leakage rule."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from forecast_synth import mixed_panel

from demand_forecast.forecasting.backtest import origin_indices
from demand_forecast.forecasting.config import ALL_MODELS, ForecastConfig
from demand_forecast.forecasting.features import build_panel_arrays
from demand_forecast.forecasting.pipeline import run_forecasting

CONFIG = ForecastConfig(horizon=3, n_origins=6, n_jobs=1, seed=11, chunk_size=8)


@pytest.fixture(scope="module")
def data():
    return mixed_panel(n_products=24, n_months=36)


@pytest.fixture(scope="module")
def result(data):
    panel, profiles, as_of = data
    return run_forecasting(panel, profiles, as_of, CONFIG)


def test_cutoffs_are_as_of_minus_k_months(data, result):
    panel, _, as_of = data
    expected = [as_of - pd.DateOffset(months=k) for k in range(6, 0, -1)]
    assert sorted(result.backtest["cutoff_month"].unique()) == expected
    arrays = build_panel_arrays(panel, as_of)
    idx = origin_indices(arrays, 6)
    assert [arrays.months[i] for i in idx] == expected + [as_of]


def test_backtest_rows_stop_at_as_of_month(data, result):
    _, _, as_of = data
    bt = result.backtest
    assert bt["forecast_month"].max() == as_of
    assert (bt["forecast_month"] > bt["cutoff_month"]).all()
    months_ahead = (bt["forecast_month"].dt.year - bt["cutoff_month"].dt.year) * 12 + (
        bt["forecast_month"].dt.month - bt["cutoff_month"].dt.month
    )
    assert (months_ahead == bt["horizon"]).all()
    # last cutoff (as_of - 1) only has horizon 1, the one before horizons 1-2
    last = bt[bt["cutoff_month"] == as_of - pd.DateOffset(months=1)]
    assert set(last["horizon"]) == {1}
    second = bt[bt["cutoff_month"] == as_of - pd.DateOffset(months=2)]
    assert set(second["horizon"]) == {1, 2}
    assert set(bt["model_name"]) == set(ALL_MODELS) | {"ensemble", "champion"}


def test_excluded_months_have_unknown_actuals(data, result):
    panel, _, _ = data
    excluded = panel.loc[panel["exclude_from_training"], ["product_id", "month"]]
    assert len(excluded) > 0
    merged = result.backtest.merge(excluded, left_on=["product_id", "forecast_month"], right_on=["product_id", "month"])
    assert len(merged) > 0 and merged["actual"].isna().all()
    known = result.backtest.dropna(subset=["actual"])
    lookup = panel.set_index(["product_id", "month"])["demand"]
    np.testing.assert_allclose(
        known["actual"].to_numpy(),
        lookup.loc[list(zip(known["product_id"], known["forecast_month"], strict=True))].to_numpy(),
    )


def test_no_leakage_poisoned_future_does_not_change_earlier_forecasts(data, result):
    panel, profiles, as_of = data
    cutoff = as_of - pd.DateOffset(months=2)  # new products already have one month here (cold start runs)
    poisoned = panel.copy()
    later = poisoned["month"] > cutoff
    rng = np.random.default_rng(0)
    poisoned.loc[later, "demand"] = poisoned.loc[later, "demand"] * 40 + rng.integers(0, 1000, later.sum())
    poisoned.loc[later, "avg_unit_price"] = 1e6
    other = run_forecasting(poisoned, profiles, as_of, CONFIG)

    def base_rows(bt):
        keep = (bt["cutoff_month"] <= cutoff) & bt["model_name"].isin(ALL_MODELS)
        return bt.loc[keep, ["product_id", "model_name", "cutoff_month", "horizon", "forecast"]].reset_index(drop=True)

    a, b = base_rows(result.backtest), base_rows(other.backtest)
    assert set(a["model_name"]) == set(ALL_MODELS)  # every model is covered by the check
    pd.testing.assert_frame_equal(a, b)
    # ... while the later cutoffs do see the poisoned data
    late_a = result.backtest[(result.backtest["cutoff_month"] > cutoff) & (result.backtest["model_name"] == "baseline")]
    late_b = other.backtest[(other.backtest["cutoff_month"] > cutoff) & (other.backtest["model_name"] == "baseline")]
    assert not np.allclose(late_a["forecast"].to_numpy(), late_b["forecast"].to_numpy())


def test_rows_after_as_of_month_are_ignored(data, result):
    panel, profiles, as_of = data
    future = panel[panel["month"] == as_of].copy()
    future["month"] = as_of + pd.DateOffset(months=1)
    future["demand"] = 1e9
    other = run_forecasting(pd.concat([panel, future], ignore_index=True), profiles, as_of, CONFIG)
    for name in ("backtest", "metrics", "selection", "forecasts"):
        pd.testing.assert_frame_equal(getattr(result, name), getattr(other, name))


def test_refit_options_change_only_what_they_should(data, result):
    panel, profiles, as_of = data
    assert CONFIG.stat_refit == "final"  # the default: ETS/Theta re-estimated at the final origin
    other = run_forecasting(panel, profiles, as_of, CONFIG.replace(stat_refit="once", gbm_refit="each"))
    bt_a, bt_b = result.backtest, other.backtest
    ets = lambda bt: bt[bt["model_name"].isin(["ets", "theta"])].reset_index(drop=True)  # noqa: E731
    # re-estimating at the final origin or not does not touch the backtest of ETS/Theta ...
    pd.testing.assert_frame_equal(ets(bt_a), ets(bt_b))
    # ... but changes (some of) their final forecasts
    fa = result.forecasts[result.forecasts["model_name"] == "ets"]["forecast_p50"].to_numpy()
    fb = other.forecasts[other.forecasts["model_name"] == "ets"]["forecast_p50"].to_numpy()
    assert len(fa) == len(fb) and not np.allclose(fa, fb)
    # LightGBM trained at every cutoff: same first cutoff, different later ones
    gbm = lambda bt: bt[bt["model_name"] == "lightgbm"].set_index(["product_id", "cutoff_month", "horizon"])["forecast"]  # noqa: E731
    ga, gb = gbm(bt_a), gbm(bt_b)
    first = ga.index.get_level_values("cutoff_month") == ga.index.get_level_values("cutoff_month").min()
    np.testing.assert_allclose(ga[first].to_numpy(), gb.loc[ga[first].index].to_numpy())
    assert not np.allclose(ga[~first].to_numpy(), gb.loc[ga[~first].index].to_numpy())


def test_re_estimating_at_every_origin_matches_once_at_the_first_and_leaks_nothing(data, result):
    panel, profiles, as_of = data
    each = run_forecasting(panel, profiles, as_of, CONFIG.replace(stat_refit="each"))

    def stat(bt):
        return (
            bt[bt["model_name"].isin(["ets", "theta"])]
            .set_index(["product_id", "model_name", "cutoff_month", "horizon"])["forecast"]
            .sort_index()
        )

    a, b = stat(result.backtest), stat(each.backtest)
    first = a.index.get_level_values("cutoff_month") == a.index.get_level_values("cutoff_month").min()
    # the first cutoff is an estimation origin in both plans; later ones differ where re-estimated
    np.testing.assert_allclose(a[first].to_numpy(), b.loc[a[first].index].to_numpy())
    later = a[~first].index.intersection(b.index)
    assert len(later) > 0 and not np.allclose(a.loc[later].to_numpy(), b.loc[later].to_numpy())
    # no leakage: poisoning the months after a cutoff leaves that cutoff's forecasts unchanged
    cutoff = as_of - pd.DateOffset(months=3)
    poisoned = panel.copy()
    poisoned.loc[poisoned["month"] > cutoff, "demand"] *= 50
    other = run_forecasting(poisoned, profiles, as_of, CONFIG.replace(stat_refit="each"))
    c = stat(other.backtest)
    upto = b.index.get_level_values("cutoff_month") <= cutoff
    assert upto.any()
    np.testing.assert_allclose(b[upto].to_numpy(), c.loc[b[upto].index].to_numpy())
    assert "every origin" in each.registry.set_index("model_name").loc["ets", "params_json"]

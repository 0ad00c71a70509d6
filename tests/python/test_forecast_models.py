"""Each model on synthetic series with known answers."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from forecast_synth import long_panel

from demand_forecast.forecasting.features import build_panel_arrays
from demand_forecast.forecasting.models import (
    TSB,
    ColdStart,
    CrostonSBA,
    ETSForecaster,
    LightGBMForecaster,
    SeasonalNaive,
    ThetaForecaster,
    WeightedMovingAverage,
    statistical_series_forecast,
)
from demand_forecast.forecasting.models.ets import ets_forecast, ets_update, fit_ets
from demand_forecast.forecasting.models.intermittent import sba_path, tsb_path
from demand_forecast.forecasting.models.theta import fit_theta, theta_forecast, theta_update

H = 3


def _forecasts(model, panel):
    out = model.fit(panel).predict()
    return out.pivot(index="product_id", columns="horizon", values="forecast")


# ---------------------------------------------------------------------------
# constant series: every model forecasts the constant
# ---------------------------------------------------------------------------

CONSTANT_MODELS = [
    WeightedMovingAverage(H),
    SeasonalNaive(H),
    TSB(H),
    ETSForecaster(H, classes=None),
    ThetaForecaster(H, classes=None),
]


@pytest.mark.parametrize("model", CONSTANT_MODELS, ids=lambda m: m.name)
def test_constant_series_forecasts_the_constant(model):
    panel = long_panel({"A": np.full(30, 7.0), "B": np.full(14, 120.0)})
    fc = _forecasts(model, panel)
    np.testing.assert_allclose(fc.loc["A"].to_numpy(), 7.0, rtol=1e-9)
    np.testing.assert_allclose(fc.loc["B"].to_numpy(), 120.0, rtol=1e-9)


def test_sba_on_constant_series_is_deflated_by_its_bias_correction():
    # SBA multiplies Croston's z/p by (1 - alpha/2) by design; Croston itself gives the constant
    panel = long_panel({"A": np.full(24, 10.0)})
    fc = _forecasts(CrostonSBA(H, alpha=0.1), panel)
    np.testing.assert_allclose(fc.loc["A"].to_numpy(), 10.0 * (1 - 0.05))
    arrays = build_panel_arrays(panel, "2024-12-01")
    np.testing.assert_allclose(sba_path(arrays.y, 0.1, [23], bias_correction=False)[0, 0], 10.0)


def test_lightgbm_constant_panel_forecasts_each_constant():
    levels = {f"P{i:02d}": 5.0 + 3 * i for i in range(30)}
    panel = long_panel({k: np.full(36, v) for k, v in levels.items()})
    model = LightGBMForecaster(H, num_threads=1, train_origins=12)
    fc = _forecasts(model, panel)
    for pid, level in levels.items():
        np.testing.assert_allclose(fc.loc[pid].to_numpy(), level, rtol=1e-6)
    assert model.model_text_ and model.model_text_.startswith("tree")


def test_lightgbm_weighting_by_volume_or_per_series():
    levels = {f"P{i:02d}": 5.0 + 30 * i for i in range(10)}
    panel = long_panel({k: np.full(36, v) for k, v in levels.items()})
    arrays = build_panel_arrays(panel, "2024-12-01")
    _, target, by_volume = LightGBMForecaster(H, train_origins=12, weighting="volume").training_set(arrays, 30)
    _, _, by_series = LightGBMForecaster(H, train_origins=12).training_set(arrays, 30)  # the default
    np.testing.assert_allclose(target, 1.0)  # the target is scaled by the level either way
    np.testing.assert_allclose(by_series, 1.0)
    # volume: proportional to the level, mean 1 -- the largest product weighs 275 / 140 times the mean
    assert by_volume.max() == pytest.approx(275.0 / 140.0) and by_volume.mean() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="weighting"):
        LightGBMForecaster(H, weighting="mase")


def test_lightgbm_default_objective_forecasts_the_median_not_the_mean():
    # 10 units most months, 60 in a random fifth of them: median 10, mean about 20. The default
    # l1 objective (chosen for MASE, docs/benchmarks.md) forecasts near the median; squared error
    # near the mean.
    rng = np.random.default_rng(3)
    panel = long_panel({f"P{i:02d}": np.where(rng.random(48) < 0.2, 60.0, 10.0) for i in range(40)})
    by_default = _forecasts(LightGBMForecaster(H), panel).to_numpy().mean()
    by_squares = _forecasts(LightGBMForecaster(H, params={"objective": "regression"}), panel).to_numpy().mean()
    assert by_default == pytest.approx(10.0, abs=2.0)
    assert by_squares > 16.0


def test_cold_start_constant_group_gives_launch_level():
    series = {f"E{i}": np.full(24, 50.0 + i) for i in range(6)}
    series["NEW"] = np.array([8.0, 8.0])
    fc = _forecasts(ColdStart(H, min_history=6, min_products=5), long_panel(series))
    assert list(fc.index) == ["NEW"]  # established products are not cold-start products
    np.testing.assert_allclose(fc.loc["NEW"].to_numpy(), 8.0)


# ---------------------------------------------------------------------------
# pure seasonal series
# ---------------------------------------------------------------------------


def _seasonal(n):
    t = np.arange(n)
    return 100 + 30 * np.sin(2 * np.pi * t / 12)


def test_seasonal_naive_and_ets_reproduce_the_pattern():
    n = 48
    y = _seasonal(n + H)
    panel = long_panel({"S": y[:n]})
    expected = y[n : n + H]
    np.testing.assert_allclose(_forecasts(SeasonalNaive(H), panel).loc["S"].to_numpy(), expected, atol=1e-9)
    np.testing.assert_allclose(
        _forecasts(ETSForecaster(H, classes=None), panel).loc["S"].to_numpy(), expected, atol=1e-3
    )
    np.testing.assert_allclose(
        _forecasts(ThetaForecaster(H, classes=None), panel).loc["S"].to_numpy(), expected, rtol=0.02
    )


def test_seasonal_naive_falls_back_to_naive_on_short_series():
    panel = long_panel({"S": np.array([3.0, 4.0, 5.0, 9.0])})
    np.testing.assert_allclose(_forecasts(SeasonalNaive(H), panel).loc["S"].to_numpy(), 9.0)


def test_baseline_weights_most_recent_first_and_skips_excluded_months():
    panel = long_panel({"A": np.array([100.0, 1.0, 2.0, 3.0, 999.0])})
    panel["exclude_from_training"] = panel["demand"] == 999.0
    fc = _forecasts(WeightedMovingAverage(H, weights=(0.5, 0.3, 0.2)), panel)
    np.testing.assert_allclose(fc.loc["A"].to_numpy(), 0.5 * 3 + 0.3 * 2 + 0.2 * 1)


# ---------------------------------------------------------------------------
# intermittent series: hand-computed Croston / SBA / TSB
# ---------------------------------------------------------------------------

INTERMITTENT = np.array([0, 0, 3, 0, 5, 0, 0, 0, 4, 0], dtype=float)


def test_sba_matches_hand_computation():
    # demands at t=2 (q=3), t=4 (q=2), t=8 (q=4); alpha = 0.1
    # z: 3 -> 3 + .1*(5-3) = 3.2 -> 3.2 + .1*(4-3.2) = 3.28
    # p: 3 -> 3 + .1*(2-3) = 2.9 -> 2.9 + .1*(4-2.9) = 3.01
    expected = (1 - 0.1 / 2) * 3.28 / 3.01
    fc = _forecasts(CrostonSBA(H, alpha=0.1), long_panel({"I": INTERMITTENT}))
    np.testing.assert_allclose(fc.loc["I"].to_numpy(), expected, rtol=1e-12)
    assert expected == pytest.approx(1.0352159468, rel=1e-9)


def test_tsb_matches_hand_computation():
    # init at t=2: z=3, pr=1/3; pr updated every later period with beta=.1, z at demands with alpha=.1
    pr, z = 1 / 3, 3.0
    for y in INTERMITTENT[3:]:
        pr += 0.1 * ((y > 0) - pr)
        if y > 0:
            z += 0.1 * (y - z)
    fc = _forecasts(TSB(H, alpha=0.1, beta=0.1), long_panel({"I": INTERMITTENT}))
    np.testing.assert_allclose(fc.loc["I"].to_numpy(), pr * z, rtol=1e-12)
    assert pr * z == pytest.approx(1.0118186, rel=1e-6)


def test_croston_skips_excluded_months():
    with_gap = np.array([0, 0, 3, 0, np.nan, 5, 0, 0, 0, 4, 0])
    y = INTERMITTENT[None, :]
    a = sba_path(y, 0.1, [9])
    b = sba_path(with_gap[None, :], 0.1, [10])
    np.testing.assert_allclose(a, b)
    np.testing.assert_allclose(tsb_path(y, 0.1, 0.1, [9]), tsb_path(with_gap[None, :], 0.1, 0.1, [10]))


def test_all_zero_series_forecasts_zero():
    fc = _forecasts(CrostonSBA(H), long_panel({"Z": np.zeros(12)}))
    np.testing.assert_allclose(fc.loc["Z"].to_numpy(), 0.0)


# ---------------------------------------------------------------------------
# cold start: group profile x seasonally adjusted level
# ---------------------------------------------------------------------------


def test_cold_start_two_month_old_product_gets_group_profile_times_level():
    index = 1 + 0.4 * np.sin(2 * np.pi * np.arange(12) / 12)  # calendar month 1..12 -> index[m-1]
    index = index / index.mean()
    months = pd.date_range(end="2024-12-01", periods=36, freq="MS")
    series = {f"E{i}": (20.0 + 5 * i) * index[months.month - 1] for i in range(6)}
    series["NEW"] = np.array([30.0, 45.0])  # observed in Nov and Dec 2024
    panel = long_panel(series, end="2024-12-01")
    model = ColdStart(H, min_history=6, min_products=5, profile_months=36)
    fc = _forecasts(model, panel)
    level = np.mean([30.0 / index[10], 45.0 / index[11]])
    expected = level * index[[0, 1, 2]]  # Jan, Feb, Mar 2025
    np.testing.assert_allclose(fc.loc["NEW"].to_numpy(), expected, rtol=1e-9)
    profile, overall, own = model.seasonal_profiles(model.panel_, model.origin_)
    assert own.all()
    np.testing.assert_allclose(profile[0], index, rtol=1e-9)


def test_cold_start_small_group_falls_back_to_all_products_profile():
    idx_a = np.ones(12)
    months = pd.date_range(end="2024-12-01", periods=24, freq="MS")
    series = {f"E{i}": np.full(24, 10.0 * (i + 1)) * idx_a[months.month - 1] for i in range(6)}
    series["NEW"] = np.array([12.0, 12.0, 12.0])
    group = {k: "BIG" for k in series}
    group["NEW"] = "TINY"  # no established product in its own group
    fc = _forecasts(ColdStart(H, min_history=6, min_products=5), long_panel(series, group=group))
    np.testing.assert_allclose(fc.loc["NEW"].to_numpy(), 12.0)


def test_cold_start_follows_the_ramp_up_of_past_launches():
    months = pd.date_range(end="2024-12-01", periods=36, freq="MS")
    series = {f"E{i}": np.full(36, 40.0) for i in range(6)}  # established: flat profile
    ramp = np.array([10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 60.0, 60.0, 60.0])
    for i in range(6):  # six past launches (under 12 months: not in the seasonal profile), ramping up
        series[f"L{i}"] = np.concatenate([ramp, np.full(i % 3, 60.0)])
    series["NEW"] = np.array([10.0, 20.0])  # two months old: launch level 15
    model = ColdStart(H, min_history=6, min_products=5, profile_months=36)
    fc = _forecasts(model, long_panel(series, end=months[-1]))
    # past launches at age 2 (level 15) reached 30, 40, 50 in the next three months
    np.testing.assert_allclose(fc.loc["NEW"].to_numpy(), [30.0, 40.0, 50.0], rtol=1e-9)
    flat = _forecasts(
        ColdStart(H, min_history=6, min_products=5, launch_curve=False), long_panel(series, end=months[-1])
    )
    np.testing.assert_allclose(flat.loc["NEW"].to_numpy(), 15.0)
    # too few past launches: no curve (growth 1)
    few = {k: v for k, v in series.items() if not k.startswith("L") or k in ("L0", "L1")}
    np.testing.assert_allclose(
        _forecasts(ColdStart(H, min_history=6, min_products=5), long_panel(few, end=months[-1])).loc["NEW"].to_numpy(),
        15.0,
    )


# ---------------------------------------------------------------------------
# statistical models: fixed-parameter re-filter == statsmodels
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("spec", ["ANN", "AAN", "AAdN", "ANA", "AAdA"])
def test_ets_refilter_matches_statsmodels_with_fixed_parameters(spec):
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    rng = np.random.default_rng(1)
    t = np.arange(52)
    y = 50 + 0.3 * t + 10 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 3, 52)
    state = fit_ets(y[:40], [spec], 12, season_test=False)
    assert state.spec == spec
    trend = spec in ("AAN", "AAdN", "AAdA")
    damped = "Ad" in spec
    seasonal = spec in ("ANA", "AAdA")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kwargs = dict(
            trend="add" if trend else None,
            damped_trend=damped,
            seasonal="add" if seasonal else None,
            seasonal_periods=12 if seasonal else None,
        )
        res = ETSModel(y[:40], initialization_method="heuristic", **kwargs).fit(disp=False)
        np.testing.assert_allclose(ets_forecast(state, 3), res.forecast(3), rtol=1e-10)
        init = {"initial_level": res.initial_level}
        params = [res.smoothing_level]
        if trend:
            init["initial_trend"] = res.initial_trend
            params.append(res.smoothing_trend)
        if seasonal:
            init["initial_seasonal"] = res.initial_seasonal
            params.append(res.smoothing_seasonal)
        if damped:
            params.append(res.damping_trend)
        longer = ETSModel(y[:50], initialization_method="known", **kwargs, **init).smooth(params)
    for value in y[40:50]:
        ets_update(state, value)
    np.testing.assert_allclose(ets_forecast(state, 3), longer.forecast(3), rtol=1e-10)


def test_ets_log_candidates_win_on_a_multiplicative_series_and_refilter_on_the_log_scale():
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    rng = np.random.default_rng(0)
    t = np.arange(72)
    # growing level with a seasonal swing proportional to it: multiplicative
    y = 100 * np.exp(0.02 * t) * (1 + 0.4 * np.sin(2 * np.pi * t / 12)) * np.exp(rng.normal(0, 0.05, 72))
    plain = fit_ets(y[:60], ["ANA", "AAdA"], 12, season_test=False)
    state = fit_ets(y[:60], ["ANA", "AAdA"], 12, season_test=False, log_candidates=True)
    assert state.spec.endswith("/log") and state.log and not plain.spec.endswith("/log")
    assert state.aicc < plain.aicc  # compared on the scale of y (Jacobian added)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spec = state.spec.split("/")[0]
        kwargs = dict(trend="add" if "A" in spec[1:3] else None, damped_trend="Ad" in spec)
        res = ETSModel(
            np.log1p(y[:60]), seasonal="add", seasonal_periods=12, initialization_method="heuristic", **kwargs
        ).fit(disp=False)
    np.testing.assert_allclose(ets_forecast(state, 3), np.expm1(res.forecast(3)), rtol=1e-9)
    np.testing.assert_allclose(state.aicc, res.aicc + 2 * np.log1p(y[:60]).sum(), rtol=1e-12)
    for value in y[60:69]:
        ets_update(state, value)
        ets_update(plain, value)
    log_error = np.abs(ets_forecast(state, 3) - y[69:72]).mean()
    assert log_error < np.abs(ets_forecast(plain, 3) - y[69:72]).mean()
    # a series with a negative value, or too short, gets no log candidate
    assert not fit_ets(np.r_[y[:30], -1.0], ["ANN"], log_candidates=True).log
    assert not fit_ets(y[:8], ["ANN"], log_candidates=True).log


def test_theta_refilter_continues_the_ses_level():
    from statsmodels.tsa.forecasting.theta import ThetaModel

    rng = np.random.default_rng(2)
    t = np.arange(50)
    y = 80 + 0.5 * t + 15 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 2, 50)
    state = fit_theta(y[:40])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = ThetaModel(y[:40], period=12).fit()
    np.testing.assert_allclose(theta_forecast(state, 3), res.forecast(3).to_numpy(), rtol=1e-10)
    # continuing 10 months = SES with the fixed alpha over the whole deseasonalised series
    pos = np.arange(50) % 12
    x = y / state.season[pos] if state.multiplicative else y - state.season[pos]
    level = x[0]
    for v in x:
        level = state.alpha * v + (1 - state.alpha) * level
    for v in y[40:]:
        theta_update(state, v)
    assert state.level == pytest.approx(level, rel=1e-12)
    assert state.n == 50


def test_statistical_series_function_is_pure_and_uses_only_data_to_first_origin():
    rng = np.random.default_rng(5)
    y = 40 + 8 * np.sin(2 * np.pi * np.arange(36) / 12) + rng.normal(0, 1, 36)
    hist = long_panel({"A": y})
    months = pd.date_range(end="2024-12-01", periods=36, freq="MS")
    origins = [months[-4], months[-2], months[-1]]
    out1 = statistical_series_forecast(hist, origins, 3)
    poisoned = hist.copy()
    poisoned.loc[poisoned["month"] > origins[0], "demand"] *= 50
    out2 = statistical_series_forecast(poisoned, origins, 3)
    first = out1["origin_month"] == origins[0]
    pd.testing.assert_frame_equal(out1[first].reset_index(drop=True), out2[first].reset_index(drop=True))
    assert not np.allclose(out1.loc[~first, "forecast"], out2.loc[~first, "forecast"])
    assert list(out1.columns) == ["product_id", "model_name", "origin_month", "horizon", "forecast", "spec"]
    assert len(out1) == 2 * 3 * 3


# ---------------------------------------------------------------------------
# interface
# ---------------------------------------------------------------------------


def test_model_interface_fit_returns_self_and_predict_frame():
    panel = long_panel({"A": np.arange(1.0, 25.0)})
    model = WeightedMovingAverage(H)
    with pytest.raises(RuntimeError):
        model.predict()
    assert model.fit(panel) is model
    out = model.predict(2)
    assert list(out.columns) == ["product_id", "forecast_month", "horizon", "forecast"]
    assert list(out["forecast_month"]) == [pd.Timestamp("2025-01-01"), pd.Timestamp("2025-02-01")]
    assert model.get_params() == {"horizon": 3, "weights": (0.5, 0.3, 0.2)}
    with pytest.raises(ValueError):
        model.predict(4)

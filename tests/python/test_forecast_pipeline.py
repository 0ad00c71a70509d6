"""End-to-end run: output frames, determinism, n_jobs independence, intervals, registry."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from forecast_synth import mixed_panel

from demand_forecast.forecasting.config import ALL_MODELS, ForecastConfig
from demand_forecast.forecasting.pipeline import (
    BACKTEST_COLUMNS,
    FORECAST_COLUMNS,
    METRICS_COLUMNS,
    REGISTRY_COLUMNS,
    SELECTION_COLUMNS,
    run_forecasting,
)

CONFIG = ForecastConfig(horizon=3, n_origins=6, n_jobs=1, seed=5, chunk_size=6, gbm_num_threads=1)
FRAMES = ("backtest", "metrics", "selection", "forecasts")


@pytest.fixture(scope="module")
def data():
    return mixed_panel(n_products=30, n_months=38, seed=9)


@pytest.fixture(scope="module")
def result(data):
    panel, profiles, as_of = data
    return run_forecasting(panel, profiles, as_of, CONFIG)


def test_frames_have_the_documented_columns(result):
    assert tuple(result.backtest.columns) == BACKTEST_COLUMNS
    assert tuple(result.metrics.columns) == METRICS_COLUMNS
    assert tuple(result.selection.columns) == SELECTION_COLUMNS
    assert tuple(result.forecasts.columns) == FORECAST_COLUMNS
    assert tuple(result.registry.columns) == REGISTRY_COLUMNS
    assert set(result.registry["model_name"]) == set(ALL_MODELS) | {"ensemble", "champion"}


def test_every_product_gets_a_champion_forecast(data, result):
    panel, _, as_of = data
    products = set(panel["product_id"])
    assert set(result.selection["product_id"]) == products
    champ = result.forecasts[result.forecasts["model_name"] == "champion"]
    assert len(champ) == 3 * len(products)
    assert set(champ["forecast_month"]) == {as_of + pd.DateOffset(months=k) for k in (1, 2, 3)}
    assert (result.forecasts["as_of_month"] == as_of).all()
    assert result.selection["selection_reason"].str.len().gt(20).all()
    # the champion forecast equals the chosen model's forecast
    sel = result.selection.set_index("product_id")["champion_model"]
    fc = result.forecasts.set_index(["product_id", "model_name", "horizon"])["forecast_p50"].sort_index()
    for pid in list(products)[:10]:
        np.testing.assert_allclose(fc.loc[(pid, "champion")], fc.loc[(pid, sel[pid])])


def test_the_champion_borrows_the_band_of_its_model(result):
    # its own residuals are optimistic (it was picked for them): it uses its model's band instead
    sel = result.selection.set_index("product_id")["champion_model"]
    fc = result.forecasts.set_index(["product_id", "model_name", "horizon"]).sort_index()
    for pid, model in sel.items():
        for column in ("forecast_p10", "forecast_p90"):
            np.testing.assert_allclose(fc.loc[(pid, "champion"), column], fc.loc[(pid, model), column])
    bt = result.backtest.set_index(["product_id", "model_name", "cutoff_month", "horizon"]).sort_index()
    assert len(bt.loc[(slice(None), "champion"), :]) > 0
    champion_rows = bt.xs("champion", level="model_name")
    for pid in champion_rows.index.get_level_values("product_id").unique()[:10]:
        own = bt.xs(sel[pid], level="model_name").loc[pid]
        for column in ("forecast", "actual"):
            np.testing.assert_allclose(champion_rows.loc[pid, column], own[column])


def test_ensemble_rows_say_how_their_members_were_chosen(result):
    ens = result.forecasts[result.forecasts["model_name"] == "ensemble"]
    reasons = result.selection.set_index("product_id")["ensemble_reason"]
    assert (ens["selection_reason"].to_numpy() == reasons.loc[ens["product_id"]].to_numpy()).all()
    assert (reasons.str.startswith("mean of ") | reasons.str.startswith("cold_start alone: ")).all()
    assert reasons.str.startswith("cold_start alone: ").any()  # the new products of the panel
    others = result.forecasts[result.forecasts["model_name"] == "theta"]
    champion_reasons = result.selection.set_index("product_id")["selection_reason"]
    assert (others["selection_reason"].to_numpy() == champion_reasons.loc[others["product_id"]].to_numpy()).all()


def test_new_products_are_chosen_by_segment(data, result):
    _, profiles, _ = data
    new = set(profiles.loc[profiles["demand_class"] == "new", "product_id"])
    sel = result.selection.set_index("product_id")
    assert (sel.loc[sorted(new), "selection_level"] != "product").all()
    assert sel.loc[sorted(new), "segment"].str.startswith("new|").all()
    cold = result.forecasts[(result.forecasts["model_name"] == "cold_start")]
    assert set(cold["product_id"]) == new


def test_intervals_are_ordered_non_negative_and_reported(result):
    fc = result.forecasts
    assert fc[["forecast_p10", "forecast_p50", "forecast_p90"]].notna().all().all()
    assert (fc["forecast_p10"] >= 0).all()
    assert (fc["forecast_p10"] <= fc["forecast_p50"]).all()
    assert (fc["forecast_p50"] <= fc["forecast_p90"]).all()
    cov = result.registry.set_index("model_name")["coverage_80"]
    assert cov.between(0.4, 1.0).all()
    assert result.metrics["coverage_80"].dropna().between(0, 1).all()


def test_metrics_pool_horizons_in_horizon_zero(result):
    m = result.metrics
    pooled = m[m["horizon"] == 0].set_index(["product_id", "model_name"])["n"]
    per_h = m[m["horizon"] > 0].groupby(["product_id", "model_name"])["n"].sum()
    pd.testing.assert_series_equal(pooled.sort_index(), per_h.sort_index(), check_names=False)
    bt = result.backtest.dropna(subset=["actual"])
    one = bt[(bt["product_id"] == "P001") & (bt["model_name"] == "baseline") & (bt["horizon"] == 1)]
    row = m[(m["product_id"] == "P001") & (m["model_name"] == "baseline") & (m["horizon"] == 1)].iloc[0]
    assert row["n"] == len(one)
    assert row["mae"] == pytest.approx((one["forecast"] - one["actual"]).abs().mean())


def test_registry_rows(result):
    reg = result.registry.set_index("model_name")
    blob = reg.loc["lightgbm", "model_blob"]
    assert isinstance(blob, str) and blob.startswith("tree")
    assert reg.drop(index="lightgbm")["model_blob"].isna().all()
    assert "lag_12" in json.loads(reg.loc["lightgbm", "features_json"])["features"]
    ets = json.loads(reg.loc["ets", "params_json"])
    assert sum(ets["chosen_specs"].values()) == reg.loc["ets", "n_series"]
    assert reg["model_version"].is_unique
    assert (reg["n_series"] > 0).all()
    assert (reg["fit_seconds"] >= 0).all()
    ensemble = json.loads(reg.loc["ensemble", "params_json"])
    assert ensemble["pool"] == "class"
    classes = result.selection["segment"].str.split("|").str[0]
    assert set(ensemble["members_by_class"]) == set(classes)
    for cls, members in ensemble["members_by_class"].items():
        assert members in set(result.selection.loc[classes == cls, "ensemble_members"])


def test_same_input_and_seed_give_identical_frames(data, result):
    panel, profiles, as_of = data
    again = run_forecasting(
        panel.sample(frac=1.0, random_state=3), profiles, as_of, CONFIG
    )  # row order must not matter
    for name in FRAMES:
        pd.testing.assert_frame_equal(getattr(result, name), getattr(again, name))
    cols = [c for c in REGISTRY_COLUMNS if c != "fit_seconds"]
    pd.testing.assert_frame_equal(result.registry[cols], again.registry[cols])


def test_n_jobs_1_and_2_give_identical_frames(data, result):
    panel, profiles, as_of = data
    parallel = run_forecasting(panel, profiles, as_of, CONFIG.replace(n_jobs=2))
    for name in FRAMES:
        pd.testing.assert_frame_equal(getattr(result, name), getattr(parallel, name))
    cols = [c for c in REGISTRY_COLUMNS if c != "fit_seconds"]
    pd.testing.assert_frame_equal(result.registry[cols], parallel.registry[cols])


def test_discontinued_products_forecast_zero_after_their_last_day(data, result):
    panel, profiles, as_of = data
    prof = profiles.copy()
    prof.loc[prof["product_id"] == "P001", "discontinued_date"] = as_of + pd.DateOffset(months=1, days=10)
    other = run_forecasting(panel, prof, as_of, CONFIG.replace(models=("baseline", "seasonal_naive")))
    fc = other.forecasts[other.forecasts["product_id"] == "P001"]
    after = fc["forecast_month"] > as_of + pd.DateOffset(months=1)
    assert (fc.loc[after, ["forecast_p10", "forecast_p50", "forecast_p90"]] == 0).all().all()
    assert (fc.loc[~after, "forecast_p50"] > 0).all()
    assert fc.loc[after, "selection_reason"].str.startswith("discontinued").all()


def test_config_validation():
    with pytest.raises(ValueError):
        ForecastConfig(models=("nope",))
    with pytest.raises(ValueError):
        ForecastConfig(interval_quantiles=(0.6, 0.9))
    assert ForecastConfig().to_dict()["horizon"] == 3


def test_new_products_never_take_the_ranking_of_established_series(result, data):
    """A product launched in the last months is not forecast by the all-products ranking: its own
    segment's or class's evidence decides, else cold start."""
    _, profiles, _ = data
    new_ids = sorted(set(profiles.loc[profiles["demand_class"] == "new", "product_id"]))
    assert len(new_ids) >= 3
    chosen = result.selection.set_index("product_id").loc[new_ids]
    assert "all products" not in set(chosen["selection_level"])
    # new products with a few months of backtest take their segment's or class's ranking
    assert set(chosen["selection_level"]) <= {"segment", "class"} and "segment" in set(chosen["selection_level"])


def test_new_products_without_any_backtest_default_to_cold_start(data):
    """When no new product has a backtest point (all launched in the as-of month), nothing ranks the
    models for them: they take the default order, cold start first, never the ranking of the
    established series."""
    panel, profiles, as_of = data
    new_ids = set(profiles.loc[profiles["demand_class"] == "new", "product_id"])
    launched_now = panel[~panel["product_id"].isin(new_ids) | (panel["month"] == as_of)]
    assert launched_now.loc[launched_now["product_id"].isin(new_ids), "month"].eq(as_of).all()
    config = CONFIG.replace(models=("baseline", "seasonal_naive", "tsb", "cold_start"))
    other = run_forecasting(launched_now, profiles, as_of, config)
    chosen = other.selection.set_index("product_id").loc[sorted(new_ids)]
    assert len(chosen) == len(new_ids) >= 3
    assert set(chosen["selection_level"]) == {"default order"}
    defaulted = chosen[chosen["selection_level"] == "default order"]
    assert len(defaulted) == len(new_ids) and set(defaulted["champion_model"]) == {"cold_start"}
    assert chosen["selection_reason"].str.contains("new product without a comparable backtest").all()

"""Champion / ensemble choice on constructed cases, and interval construction."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from demand_forecast.forecasting.config import DEMAND_CLASSES, ForecastConfig
from demand_forecast.forecasting.intervals import apply_band, fit_quantiles, loo_bands
from demand_forecast.forecasting.selection import ENSEMBLE, select_models

MODELS = ["baseline", "ets", "theta"]
CLASSES = list(DEMAND_CLASSES)


def _bt(errors: dict[tuple[int, int], list[float]], actual: float = 10.0) -> pd.DataFrame:
    """Internal backtest frame: ``errors[(pid, model)]`` = forecast errors at successive points."""
    rows = []
    for (pid, model), errs in errors.items():
        for k, e in enumerate(errs):
            rows.append(
                dict(
                    pid=pid,
                    model=model,
                    origin=k // 3,
                    h=k % 3 + 1,
                    t=10 + k,
                    forecast=actual + e,
                    actual=actual,
                    mase_scale=1.0,
                    level=actual,
                )
            )
    return pd.DataFrame(rows)


def _select(bt, n_products, segments, classes, config=None, final=None):
    config = config or ForecastConfig(min_selection_points=6, ensemble_size=3)
    if final is None:
        final = np.ones((n_products, len(MODELS), 3))
    seg_names, seg_codes = np.unique(np.asarray(segments), return_inverse=True)
    cls_codes = np.asarray([CLASSES.index(c) for c in classes])
    return select_models(bt, MODELS, final, seg_codes, seg_names, cls_codes, CLASSES, 4, config)


def test_champion_is_the_model_with_the_lowest_error():
    n = 12
    bt = _bt({(0, 0): [5.0] * n, (0, 1): [1.0] * n, (0, 2): [3.0] * n})
    sel = _select(bt, 1, ["smooth|G"], ["smooth"])
    row = sel.table.iloc[0]
    assert row["champion_model"] == "ets"  # ensemble mean error (5+1+3)/3 = 3 > 1
    assert row["ensemble_members"] == "ets,theta,baseline"
    assert row["selection_level"] == "product"
    assert (
        row["selection_reason"] == "lowest MAE over 4 origins (12 points): ets 1 (WAPE 0.100) vs theta 3 (WAPE 0.300)"
    )


def test_ensemble_wins_when_errors_cancel():
    n = 9
    bt = _bt({(0, 0): [2.0] * n, (0, 1): [-2.0] * n, (0, 2): [6.0] * n})
    sel = _select(bt, 1, ["smooth|G"], ["smooth"], ForecastConfig(min_selection_points=6, ensemble_size=2))
    row = sel.table.iloc[0]
    assert row["champion_code"] == ENSEMBLE
    assert row["champion_model"] == "ensemble"
    assert row["ensemble_members"] == "baseline,ets"  # tie at MAE 2 goes to the simpler model first
    assert "ensemble of baseline+ets 0" in row["selection_reason"]
    np.testing.assert_allclose(sel.ensemble_bt["forecast"], 10.0)
    # ensemble not allowed as champion -> best single model
    sel2 = _select(
        bt,
        1,
        ["smooth|G"],
        ["smooth"],
        ForecastConfig(min_selection_points=6, ensemble_size=2, ensemble_as_candidate=False),
    )
    assert sel2.table.iloc[0]["champion_model"] == "baseline"


def test_only_models_covering_all_points_are_compared():
    # theta has a tiny error but only on 3 of the 9 points -> not a product-level candidate
    bt = _bt({(0, 0): [4.0] * 9, (0, 1): [3.0] * 9, (0, 2): [0.1] * 3})
    sel = _select(bt, 1, ["smooth|G"], ["smooth"])
    assert sel.table.iloc[0]["champion_model"] == "ets"
    assert sel.table.iloc[0]["ensemble_members"] == "ets,baseline"


def test_short_history_uses_the_segment_choice_and_falls_back_when_needed():
    errors = {
        (0, 0): [5.0] * 12,
        (0, 1): [1.0] * 12,
        (0, 2): [3.0] * 12,  # product 0: long history, segment A
        (1, 0): [0.0] * 2,
        (1, 1): [9.0] * 2,
        (1, 2): [9.0] * 2,
    }  # product 1: 2 points, segment A
    bt = _bt(errors)
    final = np.ones((4, 3, 3))
    final[2, 1, :] = np.nan  # product 2 (no backtest, segment B, class new): ets has no final forecast
    final[3, 1, :] = np.nan  # product 3 (no backtest, segment C, class erratic): likewise
    sel = _select(
        bt, 4, ["smooth|A", "smooth|A", "new|B", "erratic|C"], ["smooth", "smooth", "new", "erratic"], final=final
    )
    t = sel.table.set_index("pid")
    # product 1: its own two points favour baseline, but it is short -> segment A ranking (pooled WAPE)
    assert t.loc[1, "selection_level"] == "segment"
    pooled = {m: sum(abs(e) for (p, mm), es in errors.items() if mm == m for e in es) for m in range(3)}
    assert min(pooled, key=pooled.get) == 1
    assert t.loc[1, "champion_model"] == "ets"
    assert t.loc[1, "selection_reason"].startswith("short history (2 backtest points < 6): best of segment smooth|A")
    # product 3: no backtest in its segment or class -> ranking over all products, skipping ets (no final forecast)
    assert t.loc[3, "selection_level"] == "all products"
    assert t.loc[3, "champion_model"] == "theta"
    # product 2 is new: the ranking of established series does not apply, the default order does
    assert t.loc[2, "selection_level"] == "default order"


def test_product_without_any_forecast_has_no_champion():
    bt = _bt({(0, 0): [1.0] * 9})
    final = np.ones((2, 3, 3))
    final[1] = np.nan
    sel = _select(bt, 2, ["smooth|A", "smooth|A"], ["smooth", "smooth"], final=final)
    assert sel.table.iloc[1]["champion_code"] == -2


# ---------------------------------------------------------------------------
# intervals
# ---------------------------------------------------------------------------


def test_apply_band_is_ordered_and_non_negative():
    rng = np.random.default_rng(0)
    f = rng.normal(5, 10, 1000)
    s = rng.uniform(0.5, 20, 1000)
    q_lo = rng.normal(-0.5, 0.5, 1000)  # sometimes positive
    q_hi = rng.normal(0.5, 0.5, 1000)  # sometimes negative
    p10, p50, p90 = apply_band(f, s, q_lo, q_hi)
    assert (p10 >= 0).all() and (p50 >= 0).all()
    assert (p10 <= p50).all() and (p50 <= p90).all()
    np.testing.assert_allclose(p50, np.clip(f, 0, None))


def test_quantiles_per_pool_with_fallback():
    # model 0, h 1, class 0: residuals 0..100 -> q10 = 10, q90 = 90
    r = np.arange(101.0)
    model = np.zeros(101, int)
    h = np.ones(101, int)
    cls = np.zeros(101, int)
    # class 1 has only 5 residuals (all huge) -> falls back to the (model, horizon) pool
    r = np.concatenate([r, np.full(5, 1000.0)])
    model, h, cls = (np.concatenate([a, np.full(5, v)]) for a, v in ((model, 0), (h, 1), (cls, 1)))
    table = fit_quantiles(model, h, cls, r, shape=(1, 4, 5), quantiles=(0.1, 0.9), min_pool=30)
    lo, hi = table.lookup(np.array([0, 0]), np.array([1, 1]), np.array([0, 1]))
    assert lo[0] == pytest.approx(10.0) and hi[0] == pytest.approx(90.0)
    pooled = np.concatenate([np.arange(101.0), np.full(5, 1000.0)])
    assert lo[1] == pytest.approx(np.quantile(pooled, 0.1)) and hi[1] == pytest.approx(np.quantile(pooled, 0.9))


def test_a_thin_model_pool_borrows_its_class_before_other_classes():
    rng = np.random.default_rng(3)
    # class 0 (calm): model 0 has 200 residuals in [-1, 1]; class 4 (new, wild): model 0 has 5
    # residuals, model 1 has 200 in [-10, 10]
    r = np.concatenate([rng.uniform(-1, 1, 200), rng.uniform(-10, 10, 5), rng.uniform(-10, 10, 200)])
    model = np.concatenate([np.zeros(200, int), np.zeros(5, int), np.ones(200, int)])
    cls = np.concatenate([np.zeros(200, int), np.full(5, 4), np.full(200, 4)])
    h = np.ones(len(r), int)
    table = fit_quantiles(model, h, cls, r, shape=(2, 4, 5), quantiles=(0.1, 0.9), min_pool=30)
    lo, hi = table.lookup(np.array([0]), np.array([1]), np.array([4]))
    wild = np.concatenate([r[200:205], r[205:]])
    assert lo[0] == pytest.approx(np.quantile(wild, 0.1)) and hi[0] == pytest.approx(np.quantile(wild, 0.9))
    assert hi[0] - lo[0] > 10  # the calm class's model-0 band would be about 1.6 wide


def test_leave_one_origin_out_bands_cover_about_80_percent():
    rng = np.random.default_rng(1)
    n = 6000
    bt = pd.DataFrame(
        {
            "pid": rng.integers(0, 500, n),
            "model": 0,
            "origin": rng.integers(0, 6, n),
            "h": rng.integers(1, 4, n),
            "forecast": 50.0,
            "level": 10.0,
        }
    )
    bt["actual"] = bt["forecast"] + rng.normal(0, 10, n)
    p10, p90 = loo_bands(bt, np.zeros(500, int), (1, 4, 5), (0.1, 0.9), 30)
    covered = (bt["actual"] >= p10) & (bt["actual"] <= p90)
    assert 0.76 < covered.mean() < 0.84


def test_ensemble_final_mean_and_median_over_available_members():
    from demand_forecast.forecasting.ensembles import ensemble_final

    final = np.array([[[1.0, 2.0], [3.0, 4.0], [11.0, 12.0]], [[5.0, 5.0], [np.nan, np.nan], [7.0, 9.0]]])
    members = np.array([[True, True, True], [True, True, False]])
    np.testing.assert_allclose(ensemble_final(final, members, "mean"), [[5.0, 6.0], [5.0, 5.0]])
    np.testing.assert_allclose(ensemble_final(final, members, "median"), [[3.0, 4.0], [5.0, 5.0]])


# ---------------------------------------------------------------------------
# ensemble members chosen per pool of products
# ---------------------------------------------------------------------------


def test_best_combination_finds_errors_that_cancel_and_prefers_the_smaller_on_ties():
    from demand_forecast.forecasting.ensembles import best_combination

    y = np.full(60, 10.0)
    # model 0 over-forecasts by 2, model 1 under-forecasts by 2, model 2 is off by 3
    forecasts = np.column_stack([y + 2, y - 2, y + 3])
    choice = best_combination(forecasts, y, max_size=3)
    assert choice.members == (0, 1)  # mean error 0; (0, 1, 2) is worse: mean error 1
    assert choice.score == 0.0 and choice.metric == "WAPE"
    assert (choice.best_single, choice.best_single_score) == (0, 0.2)
    assert choice.n_combinations == 7 and choice.points == 60
    # identical models: every combination ties, the single simplest one wins
    tie = best_combination(np.column_stack([y + 1, y + 1]), y, max_size=2)
    assert tie.members == (0,)
    # a model covering under 90 % of the points is not a candidate, whatever its error
    sparse = np.column_stack([y + 2, np.where(np.arange(60) < 30, y, np.nan)])
    assert best_combination(sparse, y, max_size=2).members == (0,)
    # zero actuals: scored by MAE
    zero = best_combination(np.column_stack([np.full(60, 1.0), np.full(60, 3.0)]), np.zeros(60), max_size=2)
    assert zero.members == (0,) and zero.metric == "MAE" and zero.score == 1.0


def test_best_combination_by_mase_weighs_every_series_the_same():
    from demand_forecast.forecasting.ensembles import best_combination

    # one big series (level 1000, scale 100) where model 0 is better, nine small ones (level 10,
    # scale 1) where model 1 is better: WAPE follows the big series, MASE the many small ones
    actual = np.concatenate([np.full(10, 1000.0), np.full(90, 10.0)])
    scale = np.concatenate([np.full(10, 100.0), np.full(90, 1.0)])
    model0 = np.concatenate([np.full(10, 1010.0), np.full(90, 12.0)])  # errors 10 (0.1 scaled), 2
    model1 = np.concatenate([np.full(10, 1100.0), np.full(90, 10.5)])  # errors 100 (1.0 scaled), 0.5
    forecasts = np.column_stack([model0, model1])
    assert best_combination(forecasts, actual, max_size=1).members == (0,)
    by_mase = best_combination(forecasts, actual, max_size=1, scale=scale)
    assert by_mase.members == (1,) and by_mase.metric == "MASE"
    assert by_mase.score == pytest.approx((10 * 1.0 + 90 * 0.5) / 100)
    assert by_mase.best_single_score == by_mase.score
    # points without a usable scale are left out of the MASE; no usable scale at all: WAPE
    partial = best_combination(forecasts, actual, max_size=1, scale=np.where(actual > 100, np.nan, scale))
    assert partial.members == (1,) and partial.score == pytest.approx(0.5)
    assert best_combination(forecasts, actual, max_size=1, scale=np.zeros(100)).metric == "WAPE"


def _pool_case(n_products: int, points: int):
    """Every product of class smooth: baseline +4, ets -4, theta +1 (errors), ``points`` points each."""
    errors = {}
    for p in range(n_products):
        errors[(p, 0)] = [4.0] * points
        errors[(p, 1)] = [-4.0] * points
        errors[(p, 2)] = [1.0] * points
    return _bt(errors)


def test_class_pool_gives_every_product_the_same_best_combination():
    bt = _pool_case(20, 9)  # 180 points >= 150
    config = ForecastConfig(min_selection_points=6, ensemble_size=3, ensemble_pool="class")
    final = np.ones((20, 3, 3))
    final[5, 1, :] = np.nan  # product 5: ets cannot forecast
    sel = _select(bt, 20, ["smooth|G"] * 20, ["smooth"] * 20, config, final=final)
    t = sel.table
    # baseline+ets cancel exactly (error 0) -- better than theta alone (WAPE 0.1)
    assert set(t.drop(index=5)["ensemble_members"]) == {"baseline,ets"}
    assert t.loc[0, "ensemble_reason"] == (
        "mean of baseline+ets: best of 7 model combinations for demand class smooth by pooled backtest MASE "
        "0.000 over 180 points (best single model theta 1.000)"
    )
    by_volume = _select(bt, 20, ["smooth|G"] * 20, ["smooth"] * 20, config.replace(ensemble_metric="wape"), final=final)
    assert (
        "by pooled backtest WAPE 0.000 over 180 points (best single model theta 0.100)"
        in (by_volume.table.loc[0, "ensemble_reason"])
    )
    assert t.loc[5, "ensemble_members"] == "baseline"
    assert t.loc[5, "ensemble_reason"].endswith("; ets cannot forecast this product")
    np.testing.assert_allclose(sel.ensemble_bt.loc[sel.ensemble_bt["pid"] == 0, "forecast"], 10.0)
    # the same data chosen per product gives theta first (lowest MAE), then baseline and ets
    per_product = _select(
        bt, 20, ["smooth|G"] * 20, ["smooth"] * 20, config.replace(ensemble_pool="product"), final=final
    )
    assert per_product.table.loc[0, "ensemble_members"] == "theta,baseline,ets"


def test_small_pools_fall_back_to_the_product_ranking_and_new_products_to_short_history_models():
    names = ["baseline", "lightgbm", "cold_start"]
    errors = {(0, 0): [1.0] * 9, (0, 1): [3.0] * 9, (0, 2): [5.0] * 9}  # established, 9 points < 150
    bt = _bt(errors)
    final = np.ones((2, 3, 3))
    seg_names, seg_codes = np.unique(np.asarray(["smooth|G", "new|G"]), return_inverse=True)
    cls_codes = np.asarray([CLASSES.index("smooth"), CLASSES.index("new")])
    config = ForecastConfig(min_selection_points=6, ensemble_size=2)
    sel = select_models(bt, names, final, seg_codes, seg_names, cls_codes, CLASSES, 3, config)
    t = sel.table
    assert t.loc[0, "ensemble_members"] == "baseline,lightgbm"  # its own two best
    assert "the best models of this product's ranking (product level)" in t.loc[0, "ensemble_reason"]
    assert t.loc[1, "ensemble_members"] == "cold_start"
    assert t.loc[1, "ensemble_reason"] == (
        "cold_start alone: the default for new products (demand class new has "
        "0 backtest points < 150, too few to choose)"
    )
    np.testing.assert_allclose(sel.ensemble_final[1], 1.0)
    final[1, 1] = 4.0  # lightgbm forecasts 4 for the new product, cold start 1
    both = select_models(
        bt,
        names,
        final,
        seg_codes,
        seg_names,
        cls_codes,
        CLASSES,
        3,
        config.replace(new_product_ensemble=("cold_start", "lightgbm")),
    )
    assert both.table.loc[1, "ensemble_members"] == "lightgbm,cold_start"
    assert both.table.loc[1, "ensemble_reason"].startswith("mean of lightgbm+cold_start: the default for new")
    np.testing.assert_allclose(both.ensemble_final[1], 2.5)


def test_ensemble_pool_setting_is_validated():
    with pytest.raises(ValueError, match="ensemble_pool"):
        ForecastConfig(ensemble_pool="galaxy")
    with pytest.raises(ValueError, match="new_product_ensemble"):
        ForecastConfig(new_product_ensemble=("prophet",))

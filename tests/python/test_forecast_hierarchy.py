"""Coherent forecasts of the product hierarchy (``demand_forecast.forecasting.hierarchy``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from forecast_synth import mixed_panel

from demand_forecast.forecasting import hierarchy as hier
from demand_forecast.forecasting.config import ForecastConfig
from demand_forecast.forecasting.features import build_panel_arrays
from demand_forecast.forecasting.pipeline import run_forecasting

CONFIG = ForecastConfig(horizon=3, n_origins=6, n_jobs=1, seed=5, chunk_size=6, gbm_num_threads=1)


def small() -> hier.Hierarchy:
    # two groups; group A has two categories, group B one
    return hier.build_hierarchy(
        ["p1", "p2", "p3", "p4"], ["A", "A", "A", "B"], ["x", "x", "y", "z"], with_category=None
    )


def is_coherent(h: hier.Hierarchy, full: np.ndarray) -> bool:
    return np.allclose(full[: h.m], h.C @ full[h.m :])


# --------------------------------------------------------------------------- the hierarchy


def test_summing_matrix_lists_total_groups_categories_then_products() -> None:
    h = small()
    assert list(h.node_ids) == ["total", "group:A", "group:B", "category:A/x", "category:A/y", "category:B/z"]
    assert h.levels == ["total", "group", "category", "product"]
    S = h.summing_matrix()
    assert S.shape == (6 + 4, 4)
    np.testing.assert_array_equal(S[0], [1, 1, 1, 1])
    np.testing.assert_array_equal(S[1], [1, 1, 1, 0])
    np.testing.assert_array_equal(S[3], [1, 1, 0, 0])
    np.testing.assert_array_equal(S[6:], np.eye(4))


def test_the_category_level_is_left_out_when_it_repeats_the_groups() -> None:
    h = hier.build_hierarchy(["a", "b", "c"], ["G1", "G1", "G2"], ["c1", "c1", "c2"])
    assert h.levels == ["total", "group", "product"] and h.m == 3
    with pytest.raises(ValueError, match="unique"):
        hier.build_hierarchy(["a", "a"], ["G", "G"])


# --------------------------------------------------------------------------- the methods


def base_vector(h: hier.Hierarchy, rng: np.random.Generator, k: int = 3) -> np.ndarray:
    return rng.uniform(5, 50, size=(h.m + h.n, k))


def test_bottom_up_keeps_the_products_and_sums_them() -> None:
    h = small()
    base = base_vector(h, np.random.default_rng(0))
    out = hier.reconcile(h, base, "bottom_up")
    np.testing.assert_array_equal(out[h.m :], base[h.m :])
    assert is_coherent(h, out)
    np.testing.assert_allclose(out[0], base[h.m :].sum(axis=0))


@pytest.mark.parametrize("method", hier.METHODS)
def test_every_method_is_coherent_and_never_negative(method: str) -> None:
    h = small()
    rng = np.random.default_rng(1)
    base = base_vector(h, rng, k=5)
    base[h.m + 1, 2] = 0.0
    base[h.m + 2, 3] = -4.0  # a (bad) negative base forecast
    errors = rng.normal(0, 3, size=(12, h.m + h.n))
    out = hier.reconcile(h, base, method, shares=np.array([1.0, 2.0, 3.0, 4.0]), cov=hier.shrunk_covariance(errors))
    assert is_coherent(h, out)
    assert (out >= 0).all()


def test_mint_matches_the_textbook_formula_on_a_small_case() -> None:
    # total = a + b; with W = I (OLS) each product moves by a third of the gap
    h = hier.build_hierarchy(["a", "b"], ["G", "G"])  # total, group G, a, b
    h2 = hier.build_hierarchy(["a", "b"], ["G1", "G2"])
    base = np.array([[30.0], [10.0], [12.0]])
    tiny = hier.Hierarchy(
        product_ids=h.product_ids,
        node_ids=h.node_ids[:1],
        node_level=h.node_level[:1],
        node_group=h.node_group[:1],
        node_category=h.node_category[:1],
        C=h.C[:1],
        parent={"total": h.parent["total"]},
    )
    out = hier.mint(tiny, base, np.eye(3))
    gap = 30.0 - 22.0
    np.testing.assert_allclose(out[1:, 0], [10 + gap / 3, 12 + gap / 3])
    # any W: the projection equals S (S' W^-1 S)^-1 S' W^-1 y
    rng = np.random.default_rng(2)
    A = rng.normal(size=(5, 5))
    W = A @ A.T + 5 * np.eye(5)
    y = rng.uniform(20, 40, size=(5, 2))
    S = h2.summing_matrix()
    Wi = np.linalg.inv(W)
    expected = S @ np.linalg.solve(S.T @ Wi @ S, S.T @ Wi @ y)
    np.testing.assert_allclose(hier.mint(h2, y, W), expected, rtol=1e-10)


def test_shrunk_covariance_follows_schaefer_strimmer() -> None:
    rng = np.random.default_rng(3)
    X = rng.normal(size=(9, 4)) @ rng.normal(size=(4, 4))
    cov = hier.shrunk_covariance(X)
    # brute force: lambda = sum_{i!=j} Var(r_ij) / sum_{i!=j} r_ij^2 on standardised data
    T = X.shape[0]
    Z = (X - X.mean(0)) / X.std(0, ddof=1)
    w = np.einsum("ki,kj->kij", Z, Z)
    wbar = w.mean(0)
    var_r = T / (T - 1) ** 3 * ((w - wbar) ** 2).sum(0)
    r = wbar * T / (T - 1)
    off = ~np.eye(4, dtype=bool)
    lam = np.clip(var_r[off].sum() / (r[off] ** 2).sum(), 0, 1)
    assert cov.lam == pytest.approx(lam)
    sample = np.cov(X, rowvar=False)
    np.testing.assert_allclose(cov.dense(), lam * np.diag(np.diag(sample)) + (1 - lam) * sample)
    M = rng.normal(size=(4, 2))
    np.testing.assert_allclose(cov.matmul(M), cov.dense() @ M)


def test_top_down_splits_by_historical_shares_and_skips_zero_forecasts() -> None:
    h = small()
    base = np.zeros((h.m + h.n, 1))
    base[0] = 100.0
    base[h.m :, 0] = [5.0, 5.0, 0.0, 5.0]  # p3 forecasts nothing: it gets no share
    out = hier.reconcile(h, base, "top_down", shares=np.array([1.0, 3.0, 10.0, 4.0]))
    np.testing.assert_allclose(out[h.m :, 0], [100 / 8, 300 / 8, 0.0, 400 / 8])
    # middle out keeps each group's own forecast
    base[1], base[2] = 60.0, 40.0
    out = hier.reconcile(h, base, "middle_out", shares=np.array([1.0, 3.0, 10.0, 4.0]))
    np.testing.assert_allclose(out[h.m :, 0], [15.0, 45.0, 0.0, 40.0])
    np.testing.assert_allclose(out[:3, 0], [100.0, 60.0, 40.0])


def test_an_unknown_method_or_missing_input_says_what_to_pass() -> None:
    h = small()
    base = base_vector(h, np.random.default_rng(0))
    with pytest.raises(ValueError, match="expected one of"):
        hier.reconcile(h, base, "optimal")
    with pytest.raises(ValueError, match="shares"):
        hier.reconcile(h, base, "top_down")
    with pytest.raises(ValueError, match="rows"):
        hier.reconcile(h, base[:-1], "bottom_up")


def test_the_choice_keeps_the_products_and_prefers_the_simpler_method_on_ties() -> None:
    rows = [
        ("base", "group", 0.8),
        ("base", "product", 1.0),
        ("bottom_up", "group", 0.9),
        ("bottom_up", "product", 1.0),
        ("top_down", "group", 0.7),
        ("top_down", "product", 1.1),  # better groups, worse products: not eligible
        ("middle_out", "group", 0.9),
        ("middle_out", "product", 0.99),
        ("mint_shrink", "group", 0.85),
        ("mint_shrink", "product", 1.0),
    ]
    scores = pd.DataFrame(rows, columns=["method", "level", "mase"])
    method, reason = hier.choose_method(scores)
    assert method == "mint_shrink" and "0.850" in reason
    scores.loc[scores["method"] == "mint_shrink", "mase"] = [0.9, 1.0]
    assert hier.choose_method(scores)[0] == "bottom_up"  # tie at 0.9: the simpler one


def test_the_aggregates_do_not_depend_on_the_row_order_dbt_hands_over() -> None:
    """A float sum in another order can differ in its last bits; the models' optimisers amplify that."""
    panel, profiles, as_of = mixed_panel(n_products=60, n_months=30, seed=11)
    rng = np.random.default_rng(3)
    panel = panel.assign(demand=panel["demand"] * rng.uniform(0.1, 10.0, len(panel)))  # cleaned values: fractions
    arrays = build_panel_arrays(panel, as_of, profiles)
    tree = hier.build_hierarchy(
        arrays.product_ids, arrays.group_names[arrays.group_codes], arrays.category_names[arrays.category_codes]
    )
    first = hier.aggregate_panel(panel, arrays, tree)
    for seed in range(5):
        shuffled = panel.sample(frac=1.0, random_state=seed)
        pd.testing.assert_frame_equal(hier.aggregate_panel(shuffled, arrays, tree), first, check_exact=True)


# --------------------------------------------------------------------------- the run


@pytest.fixture(scope="module")
def run():
    panel, profiles, as_of = mixed_panel(n_products=24, n_months=36, seed=4)
    products = run_forecasting(panel, profiles, as_of, CONFIG)
    return panel, profiles, as_of, products, hier.forecast_hierarchy(panel, profiles, as_of, CONFIG, products)


def test_the_run_gives_coherent_rows_for_every_level_and_horizon(run) -> None:
    panel, _, as_of, products, result = run
    out = result.forecasts
    assert set(out["level"]) == {"total", "group", "category", "product"}
    assert out.groupby(["level", "node_id"]).size().eq(CONFIG.horizon).all()
    assert not out.duplicated(["level", "node_id", "horizon"]).any()
    assert (out["as_of_month"] == as_of).all() and set(out["horizon"]) == {1, 2, 3}
    assert ((out["forecast_p10"] >= 0) & (out["forecast_p10"] <= out["forecast_p50"])).all()
    assert (out["forecast_p50"] <= out["forecast_p90"]).all()
    prod = out[out["level"] == "product"]
    for level, keys in (("group", ["product_group"]), ("category", ["product_group", "category"])):
        sums = prod.groupby([*keys, "horizon"])["forecast_p50"].sum()
        agg = out[out["level"] == level].set_index([*keys, "horizon"])["forecast_p50"]
        pd.testing.assert_series_equal(agg.sort_index(), sums.sort_index(), check_names=False)
    total = out[out["level"] == "total"].set_index("horizon")["forecast_p50"]
    np.testing.assert_allclose(total.to_numpy(), prod.groupby("horizon")["forecast_p50"].sum().to_numpy())
    assert set(prod["product_id"]) == set(panel["product_id"])
    assert out["reconciliation_method"].nunique() == 1 and result.method in hier.METHODS


def test_bottom_up_product_rows_are_the_selected_product_forecasts(run) -> None:
    panel, profiles, as_of, products, _ = run
    result = hier.forecast_hierarchy(panel, profiles, as_of, CONFIG, products, methods=("bottom_up",))
    assert result.method == "bottom_up"
    prod = result.forecasts[result.forecasts["level"] == "product"].set_index(["product_id", "horizon"])
    sel = products.forecasts[products.forecasts["model_name"] == "ensemble"].set_index(["product_id", "horizon"])
    joined = prod.join(sel["forecast_p50"].rename("selected"), how="outer")
    np.testing.assert_allclose(joined["forecast_p50"], joined["selected"])


def test_the_backtest_scores_every_method_per_level_and_chooses_one(run) -> None:
    *_, result = run
    scores = result.scores
    assert set(scores["method"]) == {"base", *hier.METHODS}
    assert set(scores["level"]) == {"total", "group", "category", "product"}
    assert scores["chosen"].sum() == 4 and (scores.loc[scores["chosen"], "method"] == result.method).all()
    table = scores.set_index(["method", "level"])["mase"]
    assert table[(result.method, "product")] <= table[("base", "product")] + 1e-12
    assert (table[("bottom_up", "product")] == table[("base", "product")]).all()
    assert result.method in result.forecasts["method_reason"].iloc[0]


def test_the_run_is_deterministic(run) -> None:
    panel, profiles, as_of, products, result = run
    again = hier.forecast_hierarchy(panel, profiles, as_of, CONFIG, products, node_result=result.node_result)
    pd.testing.assert_frame_equal(again.forecasts, result.forecasts)
    pd.testing.assert_frame_equal(again.scores, result.scores)


def test_the_selected_forecast_must_be_ensemble_or_champion(run) -> None:
    panel, profiles, as_of, products, result = run
    with pytest.raises(ValueError, match="selected_forecast"):
        hier.forecast_hierarchy(panel, profiles, as_of, CONFIG, products, "lightgbm", node_result=result.node_result)

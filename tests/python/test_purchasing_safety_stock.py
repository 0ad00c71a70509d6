"""Safety stock from backtest residuals of cumulative demand (demand_forecast.purchasing.safety_stock)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from demand_forecast.purchasing import safety_stock as ss

MONTHS = pd.date_range("2025-01-01", "2026-09-01", freq="MS")  # 21 months, as-of 2026-09


def _panel(levels: dict[str, float]) -> pd.DataFrame:
    return pd.DataFrame([{"product_id": p, "month": m, "demand": v} for p, v in levels.items() for m in MONTHS])


def test_demand_levels_are_the_12_month_mean_with_a_floor():
    panel = _panel({"A": 10.0, "Z": 0.0})
    panel.loc[(panel.product_id == "A") & (panel.month == "2026-09-01"), "demand"] = 22.0
    lv = ss.demand_levels(panel, "2026-09-01", ["2026-09-01", "2026-08-01"]).set_index(["product_id", "month"])
    assert lv.loc[("A", pd.Timestamp("2026-09-01")), "level"] == pytest.approx(11.0)  # (11 x 10 + 22) / 12
    assert lv.loc[("A", pd.Timestamp("2026-08-01")), "level"] == pytest.approx(10.0)
    assert lv.loc[("Z", pd.Timestamp("2026-09-01")), "level"] == 1.0  # floored
    raw = ss.demand_levels(panel, "2026-09-01", ["2026-09-01"], floor=0.0).set_index("product_id")
    assert raw.loc["Z", "level"] == 0.0


def _backtest(rows) -> pd.DataFrame:
    """rows: (product, model, cutoff, [forecasts h=1..3], [actuals h=1..3]); None = unknown."""
    out = []
    for product, model, cutoff, fc, actual in rows:
        for h, (f, y) in enumerate(zip(fc, actual, strict=True), start=1):
            out.append(
                {
                    "product_id": product,
                    "model_name": model,
                    "cutoff_month": pd.Timestamp(cutoff),
                    "horizon": h,
                    "forecast_month": pd.Timestamp(cutoff) + pd.DateOffset(months=h),
                    "forecast": f,
                    "actual": y,
                }
            )
    return pd.DataFrame(out)


def test_cumulative_errors_hand_computed():
    bt = _backtest(
        [
            ("A", "m", "2026-03-01", [10, 10, 10], [12, 8, 15]),  # F 30, A 35, s 10 -> r 0.5
            ("A", "m", "2026-04-01", [-2, 10, 10], [10, 10, 10]),  # negative forecast counts as 0: F 20, r 1.0
            ("A", "m", "2026-05-01", [10, 10, 10], [10, 10, None]),  # last month unknown: left out
        ]
    )
    bt = bt[~((bt.cutoff_month == "2026-05-01") & (bt.horizon == 3))]  # and its row missing
    levels = pd.DataFrame(
        {"product_id": "A", "month": pd.to_datetime(["2026-03-01", "2026-04-01", "2026-05-01"]), "level": 10.0}
    )
    errors = ss.cumulative_errors(bt, levels, 3)
    assert list(errors["cutoff_month"]) == [pd.Timestamp("2026-03-01"), pd.Timestamp("2026-04-01")]
    assert list(errors["forecast_cum"]) == [30.0, 20.0]
    assert list(errors["actual_cum"]) == [35.0, 30.0]
    assert list(errors["residual"]) == [0.5, 1.0]
    # with a lead time of 2 the May cutoff counts too
    two = ss.cumulative_errors(bt, levels, 2)
    assert len(two) == 3 and two["residual"].iloc[2] == 0.0


def test_pools_fall_back_when_thin():
    errors = pd.DataFrame(
        {
            "product_id": ["S"] * 40 + ["N"] * 5,
            "model_name": "m",
            "residual": np.r_[np.arange(40) / 10.0, np.full(5, 9.0)],
        }
    )
    pools = ss.fit_pools(errors, {"S": "smooth", "N": "new"}, min_pool=30)
    values, label = pools.pool("m", "smooth")
    assert label == "m | smooth" and len(values) == 40
    values, label = pools.pool("m", "new")  # 5 points: the model over all classes
    assert label == "m | all classes" and len(values) == 45
    values, label = pools.pool("other", "new")
    assert label == "all models | all classes" and len(values) == 45
    assert ss.empirical_quantile(np.arange(40) / 10.0, 0.95) == pytest.approx(3.705)  # linear between 3.7 and 3.8


def test_cumulative_quantile_is_below_a_sum_of_monthly_quantiles_for_independent_errors():
    # the reason for pooling cumulative residuals: for errors that partly cancel, summing the monthly
    # P95s overstates the 95 % quantile of the 3-month total
    rng = np.random.default_rng(1)
    monthly = rng.normal(0, 1, (4000, 3))
    cumulative = np.sort(monthly.sum(axis=1))
    q_cum = ss.empirical_quantile(cumulative, 0.95)
    q_sum = sum(np.quantile(monthly[:, h], 0.95) for h in range(3))
    assert q_cum == pytest.approx(1.645 * np.sqrt(3), rel=0.08)
    assert q_cum < 0.65 * q_sum


def test_service_levels_from_groups_and_default():
    products = pd.DataFrame({"product_id": ["A", "B"], "product_group": ["g1", "g2"]})
    levels = ss.service_levels_for(products, {"g1": 0.9}, 0.95)
    assert levels.to_dict() == {"A": 0.9, "B": 0.95}
    with pytest.raises(ValueError, match="product group 'g1' is 95.0.*0.5 and 0.9999"):
        ss.service_levels_for(products, {"g1": 95.0}, 0.95)


def _run_inputs():
    """Two products of one class, a backtest of model m with residuals 0..40/10 and a final forecast."""
    panel = _panel({"A": 10.0, "B": 4.0, "DEAD": 0.0})
    profiles = pd.DataFrame(
        {
            "product_id": ["A", "B", "DEAD"],
            "product_group": ["g", "g", "h"],
            "demand_class": ["smooth", "smooth", "smooth"],
        }
    )
    rows = []
    # 40 cutoffs are more than the panel has months: residual r_k = k / 10 on cutoffs before the as-of
    cutoffs = pd.date_range("2023-05-01", periods=40, freq="MS")
    for k, cutoff in enumerate(cutoffs):
        rows.append(("A", "m", cutoff, [10, 10, 10], [10, 10, 10 + k]))  # s = 10: r = k / 10
    bt = _backtest(rows)
    levels = pd.DataFrame({"product_id": "A", "month": cutoffs, "level": 10.0})
    forecasts = pd.DataFrame(
        [
            {"product_id": p, "model_name": "m", "horizon": h, "forecast_p50": f}
            for p, f in (("A", 10.0), ("B", 4.0), ("DEAD", 0.0))
            for h in (1, 2, 3)
        ]
    )
    return panel, profiles, bt, levels, forecasts


def test_plan_order_up_to_hand_computed():
    panel, profiles, bt, levels, forecasts = _run_inputs()
    pools = ss.fit_pools(
        ss.cumulative_errors(bt, levels, 3), dict(zip(profiles.product_id, profiles.demand_class, strict=True))
    )
    scale = pd.Series({"A": 10.0, "B": 4.0, "DEAD": 1.0})
    recent = pd.Series({"A": 10.0, "B": 4.0, "DEAD": 0.0})
    alpha = pd.Series({"A": 0.95, "B": 0.5, "DEAD": 0.95})
    plan = ss.plan_order_up_to(forecasts, pools, scale, recent, {"A": "smooth", "B": "smooth"}, alpha, "m", 3)
    plan = plan.set_index("product_id")
    q95 = np.quantile(np.arange(40) / 10.0, 0.95)  # 3.705
    assert plan.loc["A", "forecast_before_arrival"] == 20 and plan.loc["A", "forecast_arrival_month"] == 10
    assert plan.loc["A", "residual_quantile"] == pytest.approx(q95)
    assert plan.loc["A", "safety_stock"] == pytest.approx(q95 * 10)
    assert plan.loc["A", "order_up_to"] == pytest.approx(30 + q95 * 10)
    assert plan.loc["A", "residual_pool"] == "m | smooth" and plan.loc["A", "residual_points"] == 40
    assert plan.loc["B", "safety_stock"] == pytest.approx(np.quantile(np.arange(40) / 10.0, 0.5) * 4)
    # no demand in 12 months and none forecast: no safety stock despite the 1-unit floor of the scale
    assert plan.loc["DEAD", "safety_stock"] == 0 and plan.loc["DEAD", "order_up_to"] == 0


def test_plan_of_a_product_with_a_missing_month_is_not_a_number():
    panel, profiles, bt, levels, forecasts = _run_inputs()
    pools = ss.fit_pools(ss.cumulative_errors(bt, levels, 3), {"A": "smooth"})
    partial = forecasts[~((forecasts.product_id == "A") & (forecasts.horizon == 2))]
    plan = ss.plan_order_up_to(
        partial,
        pools,
        pd.Series({"A": 10.0}),
        pd.Series({"A": 10.0}),
        {},
        pd.Series(0.95, index=["A", "B", "DEAD"]),
        "m",
        3,
    ).set_index("product_id")
    assert np.isnan(plan.loc["A", "forecast_before_arrival"]) and np.isnan(plan.loc["A", "order_up_to"])
    assert plan.loc["B", "order_up_to"] > 0


def test_purchase_plans_of_two_policies():
    panel, profiles, bt, _, forecasts = _run_inputs()
    # the backtest's cutoffs must lie inside the panel for the levels: keep the last 12
    bt = bt[bt.cutoff_month >= "2025-06-01"]
    both = pd.concat([forecasts, forecasts.assign(model_name="baseline", forecast_p50=forecasts.forecast_p50 * 2)])
    bt_both = pd.concat([bt, bt.assign(model_name="baseline")])
    plans = ss.purchase_plans(
        bt_both,
        both,
        panel,
        profiles,
        "2026-09-01",
        {"g": 0.9},
        0.95,
        {"selected": "m", "baseline": "baseline"},
        3,
        min_pool=5,
    )
    assert list(plans.columns) == list(ss.PLAN_COLUMNS)
    assert len(plans) == 6 and set(plans.policy) == {"selected", "baseline"}
    a = plans.set_index(["product_id", "policy"])
    assert a.loc[("A", "selected"), "forecast_lead_time"] == 30 and a.loc[("A", "baseline"), "forecast_lead_time"] == 60
    assert a.loc[("A", "selected"), "service_level"] == 0.9 and a.loc[("DEAD", "selected"), "service_level"] == 0.95
    assert (plans.as_of_month == pd.Timestamp("2026-09-01")).all()
    assert (plans.order_up_to >= plans.forecast_lead_time).all()
    with pytest.raises(ValueError, match="horizon >= lead_time_months"):
        ss.purchase_plans(bt_both, both, panel, profiles, "2026-09-01", {}, lead_time_months=4)

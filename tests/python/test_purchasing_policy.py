"""The order formula on hand-computed cases (docs/purchasing.md, demand_forecast.purchasing.policy)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from demand_forecast.purchasing import checks, policy

AS_OF = "2026-09-01"  # arrival month with the default lead time of 3: 2026-12


def _inputs(**overrides) -> pd.DataFrame:
    """One product: on hand 50, nothing on order, forecast 20 a month, safety stock 10, 95 %."""
    row = {
        "product_id": "P1",
        "forecast_before_arrival": 40.0,  # 2026-10 + 2026-11
        "forecast_arrival_month": 20.0,  # 2026-12
        "safety_stock": 10.0,
        "service_level": 0.95,
        "on_hand_qty": 50.0,
        "open_order_qty": 0.0,
        "pack_size": 1,
        "min_order_qty": 0,
        "discontinued_date": None,
        "blocking_issue": None,
    }
    row.update(overrides)
    return pd.DataFrame([row])


def _suggest(lead_time_months: int = 3, **overrides) -> pd.Series:
    return policy.suggest_orders(_inputs(**overrides), AS_OF, lead_time_months).iloc[0]


# ------------------------------------------------------------------ the terms


def test_lead_time_three_months():
    # P = 50 + 0 - 40 = 10; N = 20 + 10 - 10 = 20
    row = _suggest()
    assert row["arrival_month"] == pd.Timestamp("2026-12-01")
    assert row["projected_position"] == 10
    assert row["order_up_to"] == 70  # 40 + 20 + 10
    assert row["net_requirement"] == 20
    assert row["order_qty"] == 20 and row["order_status"] == "order"
    assert row["reason"].startswith("Order 20 to arrive in 2026-12: on hand 50 + on order 0 - forecast 40")


def test_lead_time_one_month_has_no_months_before_arrival():
    # L = 1: the order arrives next month, F_pre = 0, P = on hand
    row = _suggest(lead_time_months=1, forecast_before_arrival=0.0, on_hand_qty=5.0, safety_stock=4.0)
    assert row["arrival_month"] == pd.Timestamp("2026-10-01")
    assert row["projected_position"] == 5
    assert row["order_qty"] == 19  # 20 + 4 - 5


def test_open_orders_count_in_the_position():
    covered = _suggest(open_order_qty=30.0)  # P = 40 >= 20 + 10
    assert covered["order_qty"] == 0 and covered["order_status"] == "no_order"
    assert covered["reason"].startswith("No order: on hand 50 + on order 30 - forecast 40 until then = 40")
    partly = _suggest(open_order_qty=5.0)  # P = 15, N = 15
    assert partly["order_qty"] == 15


def test_demand_lost_before_arrival_is_not_ordered_again():
    # P = 10 - 60 = -50: the 50 units are lost sales, the order covers the arrival month only
    row = _suggest(on_hand_qty=10.0, forecast_before_arrival=60.0, forecast_arrival_month=30.0)
    assert row["projected_position"] == -50
    assert row["order_qty"] == 40  # 30 + 10, not 90
    assert "about 50 of demand will be lost before then" in row["reason"]


@pytest.mark.parametrize(
    ("need", "pack", "moq", "expected"),
    [
        (21, 12, 0, 24),  # up to whole packs
        (24, 12, 0, 24),  # already whole packs
        (0.5, 12, 0, 12),  # a fraction of a unit still needs a pack
        (21, 12, 50, 60),  # the minimum order, rounded up to whole packs (5 x 12)
        (5, 1, 30, 30),  # the minimum order without packs
        (70, 12, 50, 72),  # above the minimum: packs only
        (0, 12, 50, 0),  # nothing needed: no order, whatever the minimum
    ],
)
def test_round_to_packs_and_minimum_order(need, pack, moq, expected):
    assert policy.round_to_packs(np.array([need]), np.array([pack]), np.array([moq]))[0] == expected


def test_pack_size_and_minimum_order_in_the_suggestion():
    packs = _suggest(pack_size=12)  # N = 20 -> 24
    assert packs["order_qty"] == 24 and packs["order_packs"] == 2
    assert "Order 24 (2 packs of 12)" in packs["reason"] and "rounded up to whole packs of 12" in packs["reason"]
    moq = _suggest(pack_size=12, min_order_qty=50)  # 5 packs
    assert moq["order_qty"] == 60 and moq["order_packs"] == 5
    assert "raised to the minimum order of 50 rounded up to whole packs of 12" in moq["reason"]


def test_bad_rules_are_refused_by_the_rounding():
    with pytest.raises(ValueError, match="pack_size"):
        policy.round_to_packs(np.array([3.0]), np.array([0]), np.array([0]))
    with pytest.raises(ValueError, match="min_order_qty"):
        policy.round_to_packs(np.array([3.0]), np.array([1]), np.array([-1]))


def test_zero_demand_orders_nothing():
    row = _suggest(forecast_before_arrival=0.0, forecast_arrival_month=0.0, safety_stock=0.0, on_hand_qty=0.0)
    assert row["order_qty"] == 0 and row["order_status"] == "no_order" and row["net_requirement"] == 0
    assert row["reason"].startswith("No order:")


def test_tiny_float_noise_orders_nothing():
    # 40 + 30 - 20 - 10 - 40 leaves 1e-12 after float sums: not a pack
    row = _suggest(open_order_qty=20.0 + 1e-12, safety_stock=10.0, on_hand_qty=50.0 - 1e-12)
    assert row["order_qty"] == 0


def test_discontinued_before_arrival_gets_no_order():
    row = _suggest(discontinued_date=pd.Timestamp("2026-11-15"), on_hand_qty=0.0)
    assert row["order_qty"] == 0 and row["order_status"] == "no_order"
    assert row["reason"] == ("No order: discontinued on 2026-11-15, before an order placed now would arrive (2026-12).")
    # discontinued inside the arrival month: that month still sells, so it is ordered for
    row = _suggest(discontinued_date=pd.Timestamp("2026-12-10"))
    assert row["order_status"] == "order"


def test_failed_sanity_check_gets_no_automatic_suggestion():
    issue = "forecast failed a sanity check: the forecast for 2026-12 (P50 620) is above 5 x the largest month"
    row = _suggest(blocking_issue=issue)
    assert row["order_status"] == "review" and pd.isna(row["order_qty"])
    assert row["reason"].startswith("No automatic suggestion: forecast failed a sanity check")
    assert "order-up-to level" in row["reason"] and "is 70." in row["reason"]


def test_unknown_stock_gets_no_automatic_suggestion():
    row = _suggest(on_hand_qty=None)
    assert row["order_status"] == "review" and pd.isna(row["order_qty"]) and pd.isna(row["projected_position"])
    assert "on hand is unknown" in row["reason"]


def test_missing_input_columns_are_named():
    with pytest.raises(ValueError, match="safety_stock"):
        policy.suggest_orders(_inputs().drop(columns=["safety_stock"]), AS_OF)


def test_order_quantity_agrees_with_the_suggestion():
    rng = np.random.default_rng(0)
    n = 500
    frame = pd.DataFrame(
        {
            "product_id": [f"P{i}" for i in range(n)],
            "forecast_before_arrival": rng.gamma(2, 20, n),
            "forecast_arrival_month": rng.gamma(2, 10, n),
            "safety_stock": rng.gamma(2, 5, n),
            "service_level": 0.95,
            "on_hand_qty": rng.integers(0, 120, n).astype(float),
            "open_order_qty": rng.integers(0, 60, n).astype(float),
            "pack_size": rng.choice([1, 6, 12], n),
            "min_order_qty": rng.choice([0, 24], n),
            "discontinued_date": None,
            "blocking_issue": None,
        }
    )
    suggested = policy.suggest_orders(frame, AS_OF)
    direct = policy.order_quantity(
        suggested["order_up_to"],
        frame["forecast_before_arrival"],
        frame["on_hand_qty"],
        frame["open_order_qty"],
        frame["pack_size"],
        frame["min_order_qty"],
    )
    assert (suggested["order_qty"].to_numpy(np.int64) == direct).all()
    ordered = suggested["order_qty"] > 0
    assert (suggested.loc[ordered, "order_qty"] % suggested.loc[ordered, "pack_size"] == 0).all()
    assert (suggested.loc[ordered, "order_qty"] >= suggested.loc[ordered, "min_order_qty"]).all()
    assert (suggested.loc[ordered, "order_qty"] >= suggested.loc[ordered, "net_requirement"]).all()
    assert set(suggested["order_status"]) <= {"order", "no_order"}


# ------------------------------------------------------------------ checks


def _profiles() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "product_id": ["A", "B", "C", "NEW"],
            "product_group": ["g", "g", "g", "g"],
            "history_months": [24, 24, 24, 2],
            "max_monthly_demand": [100.0, 10.0, 40.0, 3.0],
        }
    )


def _forecasts(rows) -> pd.DataFrame:
    months = {1: "2026-10-01", 2: "2026-11-01", 3: "2026-12-01"}
    return pd.DataFrame(
        [
            {
                "product_id": p,
                "horizon": h,
                "forecast_month": months[h],
                "forecast_p10": lo,
                "forecast_p50": mid,
                "forecast_p90": hi,
            }
            for p, h, lo, mid, hi in rows
        ]
    )


def test_forecast_checks_name_what_failed():
    good = [(p, h, 1.0, 2.0, 3.0) for p in ("A", "B", "C", "NEW") for h in (1, 2, 3)]
    fc = _forecasts(good)
    assert checks.forecast_issues(fc, _profiles(), 3).empty
    bad = _forecasts(
        [r for r in good if not (r[0] == "A" and r[1] == 3)]  # A lacks 2026-12
        + []
    )
    bad.loc[(bad.product_id == "B") & (bad.horizon == 1), "forecast_p50"] = 60.0  # > 5 x 10 (and > P90)
    bad.loc[(bad.product_id == "B") & (bad.horizon == 1), "forecast_p90"] = 70.0
    bad.loc[(bad.product_id == "C") & (bad.horizon == 2), "forecast_p10"] = 5.0  # P10 > P50
    bad.loc[(bad.product_id == "NEW") & (bad.horizon == 3), "forecast_p50"] = np.nan
    issues = checks.forecast_issues(bad, _profiles(), 3, max_multiple=5, min_history_months=6)
    assert set(issues.index) == {"A", "B", "C", "NEW"}
    assert issues["A"] == "forecast failed a sanity check: the selected forecast lacks horizon(s) 3 of the lead time"
    assert "the forecast for 2026-10 (P50 60) is above 5 x the largest month so far (10)" in issues["B"]
    assert "the quantiles for 2026-11 are out of order (P10 5, P50 2, P90 3)" in issues["C"]
    assert "the forecast for 2026-12 is not a number" in issues["NEW"]
    # a new product is held against the largest month of its group (100), not its own 3 units
    new_high = _forecasts(good)
    new_high.loc[new_high.product_id == "NEW", ["forecast_p50", "forecast_p90"]] = [400.0, 450.0]
    assert list(checks.forecast_issues(new_high, _profiles(), 3).index) == []
    new_high.loc[new_high.product_id == "NEW", ["forecast_p50", "forecast_p90"]] = [600.0, 650.0]
    assert list(checks.forecast_issues(new_high, _profiles(), 3).index) == ["NEW"]


def test_a_product_without_forecast_is_reported():
    fc = _forecasts([("A", h, 1.0, 2.0, 3.0) for h in (1, 2, 3)])
    issues = checks.forecast_issues(fc, _profiles().iloc[:2], 3)
    assert issues["B"].endswith("lacks horizon(s) 1, 2, 3 of the lead time")


def test_rules_checks_and_combination():
    rules = pd.DataFrame({"product_id": ["A", "B", "C"], "pack_size": [12, 0, 2.5], "min_order_qty": [0, 5, -1]})
    issues = checks.rules_issues(rules)
    assert list(issues.index) == ["B", "C"]
    assert issues["B"] == "ordering rule unusable: pack_size 0 is not a whole number >= 1; fix ordering_rules/"
    assert "pack_size 2.5" in issues["C"] and "min_order_qty -1" in issues["C"]
    combined = checks.combine_issues(issues, pd.Series({"C": "other problem", "D": "more"}))
    assert combined["C"].endswith("; other problem") and combined["D"] == "more" and len(combined) == 3
    assert checks.combine_issues().empty

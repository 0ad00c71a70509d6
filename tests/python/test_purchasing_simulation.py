"""Replaying plans against actual demand (demand_forecast.purchasing.simulation), hand-computed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from demand_forecast.purchasing import simulation

MONTHS = pd.date_range("2026-01-01", "2026-06-01", freq="MS")


def _plans(order_up_to: float = 25.0, forecast_before_arrival: float = 10.0, policy: str = "p") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "as_of_month": MONTHS,
            "product_id": "A",
            "policy": policy,
            "forecast_before_arrival": forecast_before_arrival,
            "order_up_to": order_up_to,
        }
    )


def _demand(values) -> pd.DataFrame:
    return pd.DataFrame({"product_id": "A", "month": MONTHS[: len(values)], "demand": values})


NO_RULES = pd.DataFrame({"product_id": [], "pack_size": [], "min_order_qty": []})


def test_hand_computed_replay_with_a_stockout():
    # L = 2, S = 25, F_pre = 10. Jan: warm start 10 (Feb's demand), order 15 -> Mar.
    # Feb: sells 10, order 10 -> Apr. Mar: 0 + 15, sells 10, ends 5, order 10 -> May.
    # Apr: 5 + 10 = 15, demand 20: sells 15, loses 5, ends 0, order 15 -> Jun.
    # May: 0 + 10, sells 10, ends 0. Jun: 0 + 15, sells 10, ends 5.
    sim = simulation.simulate(_plans(), _demand([10, 10, 10, 20, 10, 10]), NO_RULES, lead_time_months=2)
    assert list(sim["month"]) == list(MONTHS[2:])  # evaluated from the first arrival month
    assert list(sim["on_hand_start"]) == [15, 15, 10, 15]
    assert list(sim["sales"]) == [10, 15, 10, 10]
    assert list(sim["lost_sales"]) == [0, 5, 0, 0]
    assert list(sim["on_hand_end"]) == [5, 0, 0, 5]
    assert list(sim["arrival_qty"]) == [15, 10, 10, 15]
    assert list(sim["order_qty"]) == [10, 15, 10, 10]  # placed at the end of Mar .. Jun
    products = pd.DataFrame(
        {"product_id": ["A"], "product_group": ["g"], "demand_class": ["smooth"], "unit_value": [2.0]}
    )
    summary = simulation.summarise(sim, products)
    row = summary.set_index(["product_group", "demand_class"]).loc[("g", "smooth")]
    assert row["fill_rate"] == pytest.approx(45 / 50)
    assert row["stockout_months"] == 1 and row["product_months"] == 4 and row["months"] == 4
    assert row["avg_inventory_units"] == pytest.approx((10 + 7.5 + 5 + 10) / 4)
    assert row["avg_inventory_value"] == pytest.approx(2 * (10 + 7.5 + 5 + 10) / 4)
    assert row["inventory_turns"] == pytest.approx((45 * 2 / 4 * 12) / (2 * 32.5 / 4))
    # rollups: the one segment again under all / all
    assert set(zip(summary.product_group, summary.demand_class, strict=True)) == {
        ("g", "smooth"),
        ("g", "all"),
        ("all", "smooth"),
        ("all", "all"),
    }


def test_enough_stock_means_full_fill_rate_and_packs_are_respected():
    rules = pd.DataFrame({"product_id": ["A"], "pack_size": [12], "min_order_qty": [24]})
    sim = simulation.simulate(_plans(order_up_to=40.0), _demand([10] * 6), rules, lead_time_months=2)
    assert (sim["lost_sales"] == 0).all()
    assert (sim["order_qty"] % 12 == 0).all() and ((sim["order_qty"] == 0) | (sim["order_qty"] >= 24)).all()


def test_policies_are_replayed_from_the_same_start():
    plans = pd.concat([_plans(25.0, policy="lean"), _plans(60.0, policy="fat")])
    sim = simulation.simulate(plans, _demand([10] * 6), NO_RULES, lead_time_months=2)
    by = sim.groupby("policy")
    assert by["month"].apply(list).loc["lean"] == by["month"].apply(list).loc["fat"]
    assert by["on_hand_end"].mean().loc["fat"] > by["on_hand_end"].mean().loc["lean"]
    assert by["lost_sales"].sum().loc["fat"] == 0


def test_a_gap_in_the_plans_reuses_the_last_plan():
    plans = _plans().drop(index=3)  # no plan at the end of April
    full = simulation.simulate(_plans(), _demand([10] * 6), NO_RULES, lead_time_months=2)
    gap = simulation.simulate(plans, _demand([10] * 6), NO_RULES, lead_time_months=2)
    pd.testing.assert_frame_equal(full, gap)


def test_months_without_demand_rows_are_not_evaluated_and_zero_demand_has_no_fill_rate():
    sim = simulation.simulate(_plans(), _demand([10, 10, 10, 10]), NO_RULES, lead_time_months=2)
    assert list(sim["month"]) == list(MONTHS[2:4])
    zero = simulation.simulate(_plans(0.0, 0.0), _demand([0] * 6), NO_RULES, lead_time_months=2)
    products = pd.DataFrame({"product_id": ["A"], "product_group": ["g"], "demand_class": ["new"], "unit_value": [1.0]})
    row = simulation.summarise(zero, products, rollups=False).iloc[0]
    assert np.isnan(row["fill_rate"]) and row["avg_inventory_units"] == 0 and np.isnan(row["inventory_turns"])

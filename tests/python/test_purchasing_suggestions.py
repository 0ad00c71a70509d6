"""The suggestion of every product from plans, stock, open orders and rules (purchasing.suggestions)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from demand_forecast.purchasing import simulation
from demand_forecast.purchasing.settings import PurchasingSettings
from demand_forecast.purchasing.suggestions import SUGGESTION_COLUMNS, build_suggestions, open_order_totals

AS_OF = pd.Timestamp("2026-09-01")
SETTINGS = PurchasingSettings()
PRODUCTS = ["A", "B", "C", "D", "E", "F"]


def _inputs():
    products = pd.DataFrame(
        {
            "product_id": PRODUCTS,
            "product_name": [f"item {p}" for p in PRODUCTS],
            "product_group": "g",
            "category": "c",
            "demand_class": "smooth",
            "lifecycle": ["active"] * 5 + ["discontinued"],
            "history_months": 24,
            "max_monthly_demand": 100.0,
            "discontinued_date": [None] * 5 + [pd.Timestamp("2026-08-15")],
        }
    )
    plans = pd.DataFrame(
        {
            "product_id": PRODUCTS,
            "service_level": 0.95,
            "forecast_before_arrival": 40.0,
            "forecast_arrival_month": 20.0,
            "forecast_lead_time": 60.0,
            "safety_stock": 10.0,
            "order_up_to": 70.0,
            "residual_pool": "ensemble | smooth",
            "residual_points": 400,
        }
    )
    forecasts = pd.DataFrame(
        [
            {
                "product_id": p,
                "horizon": h,
                "forecast_month": AS_OF + pd.DateOffset(months=h),
                "forecast_p10": 15.0,
                "forecast_p50": 20.0,
                "forecast_p90": 25.0,
                "selected_model": "ensemble",
            }
            for p in PRODUCTS
            for h in (1, 2, 3)
        ]
    )
    # C's forecast is far above its history: no automatic suggestion
    forecasts.loc[(forecasts.product_id == "C") & (forecasts.horizon == 3), ["forecast_p50", "forecast_p90"]] = [
        900.0,
        950.0,
    ]
    stock = pd.DataFrame(
        {
            "product_id": PRODUCTS,
            "on_hand_qty": [50.0, 50.0, 50.0, np.nan, 50.0, 0.0],  # D: no snapshot
            "on_hand_date": AS_OF + pd.offsets.MonthEnd(0),
        }
    )
    open_orders = pd.DataFrame(
        {
            "purchase_order_id": ["PO1", "PO2", "PO3", "PO4"],
            "product_id": ["A", "A", "B", "E"],
            "quantity": [5.0, 100.0, 30.0, None],
            "is_usable": [True, True, True, False],
            "is_within_lead_time": [True, False, True, True],
            "is_overdue": [True, False, False, False],
            "problem": [None, None, None, "quantity 'x' is not a whole number > 0"],
        }
    )
    rules = pd.DataFrame(
        {
            "product_id": PRODUCTS,
            "pack_size": [12, 1, 1, 1, 1, 1],
            "min_order_qty": 0,
            "unit_cost": 2.0,
            "unit_cost_source": "ordering_rules",
            "rule_source": ["ordering_rules"] + ["default"] * 5,
            "rule_problem": None,
        }
    )
    return plans, forecasts, products, stock, open_orders, rules


def test_open_order_totals():
    totals = open_order_totals(_inputs()[4])
    assert totals.loc["A", "open_order_qty"] == 5 and totals.loc["A", "open_order_qty_after_lead_time"] == 100
    assert totals.loc["A", "overdue_order_qty"] == 5 and totals.loc["A", "open_order_lines"] == 1
    assert totals.loc["B", "open_order_qty"] == 30
    assert totals.loc["E", "open_order_problem"] == (
        "1 purchase order row(s) cannot be read (first: PO4, quantity 'x' is not a whole number > 0); "
        "fix purchase_orders/"
    )
    assert pd.isna(totals.loc["A", "open_order_problem"])


def test_every_product_gets_a_row_and_a_reason():
    frame = build_suggestions(*_inputs(), AS_OF, SETTINGS)
    assert list(frame.columns) == list(SUGGESTION_COLUMNS)
    out = frame.set_index("product_id")
    assert sorted(out.index) == PRODUCTS and out["reason"].notna().all()
    # A: 50 + 5 (overdue, counted) - 40 = 15 -> need 15 -> 2 packs of 12
    assert out.loc["A", "projected_position"] == 15 and out.loc["A", "order_qty"] == 24
    assert out.loc["A", "order_packs"] == 2 and out.loc["A", "order_value"] == 48
    # B: 50 + 30 - 40 = 40 covers 30
    assert out.loc["B", "order_status"] == "no_order" and out.loc["B", "order_qty"] == 0
    # C: sanity check failed
    assert out.loc["C", "order_status"] == "review" and pd.isna(out.loc["C", "order_qty"])
    assert "forecast failed a sanity check" in out.loc["C", "reason"]
    # D: no stock snapshot
    assert out.loc["D", "order_status"] == "review" and "on hand is unknown" in out.loc["D", "reason"]
    # E: an unreadable purchase order row
    assert out.loc["E", "order_status"] == "review" and "cannot be read (first: PO4" in out.loc["E", "reason"]
    # F: discontinued before the arrival month
    assert out.loc["F", "order_status"] == "no_order" and out.loc["F", "reason"].startswith("No order: discontinued")
    assert (out["arrival_month"] == pd.Timestamp("2026-12-01")).all() and (out["lead_time_months"] == 3).all()


def test_a_product_without_plan_is_reviewed():
    plans, forecasts, products, stock, open_orders, rules = _inputs()
    out = build_suggestions(
        plans[plans.product_id != "B"], forecasts, products, stock, open_orders, rules, AS_OF, SETTINGS
    )
    row = out.set_index("product_id").loc["B"]
    assert row["order_status"] == "review" and "no purchase plan" in row["reason"]


def test_an_unusable_rule_is_reviewed():
    plans, forecasts, products, stock, open_orders, rules = _inputs()
    rules.loc[rules.product_id == "B", "rule_problem"] = "pack_size '0' is not a whole number >= 1"
    out = build_suggestions(plans, forecasts, products, stock, open_orders, rules, AS_OF, SETTINGS)
    row = out.set_index("product_id").loc["B"]
    assert row["order_status"] == "review" and "fix ordering_rules/" in row["reason"]


def test_settings_from_dbt_and_bad_values():
    s = PurchasingSettings.from_dbt(
        {"lead_time_months": "2", "default_service_level": "0.9", "selected_forecast": " champion"}
    )
    assert (s.lead_time_months, s.default_service_level, s.selected_forecast) == (2, 0.9, "champion")
    assert s.policies == {"selected": "champion", "baseline": "baseline"}
    assert PurchasingSettings.from_dbt({"min_residual_pool": ""}).min_residual_pool == 30
    with pytest.raises(ValueError, match="purchasing_default_service_level"):
        PurchasingSettings.from_dbt({"default_service_level": "95"})
    with pytest.raises(ValueError, match="purchasing_lead_time_months"):
        PurchasingSettings(lead_time_months=0)


def test_inventory_simulation_compares_with_the_baseline():
    months = pd.date_range("2026-01-01", "2026-08-01", freq="MS")
    plans = pd.concat(
        [
            pd.DataFrame(
                {
                    "as_of_month": months,
                    "product_id": "A",
                    "policy": policy,
                    "forecast_before_arrival": 20.0,
                    "order_up_to": level,
                }
            )
            for policy, level in (("selected", 36.0), ("baseline", 45.0))
        ]
    )
    demand = pd.DataFrame({"product_id": "A", "month": months, "demand": 10.0})
    rules = pd.DataFrame({"product_id": ["A"], "pack_size": [1], "min_order_qty": [0]})
    products = pd.DataFrame(
        {
            "product_id": ["A"],
            "product_group": ["g"],
            "demand_class": ["smooth"],
            "unit_value": [3.0],
            "holding_cost_rate": [0.25],
        }
    )
    out = simulation.inventory_simulation(plans, demand, rules, products, 3, as_of_month="2026-07-01")
    both = out.set_index(["policy", "product_group", "demand_class"])
    sel, base = both.loc[("selected", "g", "smooth")], both.loc[("baseline", "g", "smooth")]
    assert sel["last_month"] == pd.Timestamp("2026-07-01")  # nothing after the as-of month
    assert sel["fill_rate"] == 1 and base["fill_rate"] == 1
    assert sel["avg_inventory_units"] < base["avg_inventory_units"]
    assert sel["avg_inventory_units_vs_baseline"] == pytest.approx(
        sel["avg_inventory_units"] / base["avg_inventory_units"] - 1
    )
    assert base["avg_inventory_units_vs_baseline"] == 0 and base["fill_rate_vs_baseline"] == 0
    assert sel["holding_cost_per_year"] == pytest.approx(sel["avg_inventory_value"] * 0.25)
    empty = simulation.inventory_simulation(plans.iloc[:0], demand, rules, products, 3)
    assert empty.empty and "avg_inventory_value_vs_baseline" in empty.columns

"""The order suggestion of every product at the as-of month: what ``mart_purchase_suggestions`` holds.

:func:`build_suggestions` joins the selected forecast's plan (:mod:`.safety_stock`), stock on hand,
open purchase orders and ordering rules, turns what blocks an automatic suggestion into words
(:mod:`.checks`) and applies the order formula (:func:`demand_forecast.purchasing.policy.suggest_orders`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .checks import combine_issues, forecast_issues, rules_issues
from .policy import suggest_orders
from .settings import PurchasingSettings

#: Columns of mart_purchase_suggestions, in order, with their types (docs/purchasing.md explains each).
SUGGESTION_SCHEMA = {
    "as_of_month": "date",
    "product_id": "str",
    "product_name": "str",
    "product_group": "str",
    "category": "str",
    "demand_class": "str",
    "lifecycle": "str",
    "order_status": "str",
    "order_qty": "int",
    "order_packs": "int",
    "order_value": "float",
    "reason": "str",
    "arrival_month": "date",
    "lead_time_months": "int",
    "service_level": "float",
    "on_hand_qty": "float",
    "on_hand_date": "date",
    "open_order_qty": "float",
    "open_order_lines": "int",
    "overdue_order_qty": "float",
    "open_order_qty_after_lead_time": "float",
    "forecast_before_arrival": "float",
    "forecast_arrival_month": "float",
    "forecast_lead_time": "float",
    "safety_stock": "float",
    "order_up_to": "float",
    "projected_position": "float",
    "net_requirement": "float",
    "residual_pool": "str",
    "residual_points": "int",
    "pack_size": "int",
    "min_order_qty": "int",
    "unit_cost": "float",
    "unit_cost_source": "str",
    "rule_source": "str",
    "selected_model": "str",
}
SUGGESTION_COLUMNS = tuple(SUGGESTION_SCHEMA)


def open_order_totals(open_orders: pd.DataFrame) -> pd.DataFrame:
    """Per product, from ``int_purchase_orders_open``: what is on order within the lead time, overdue,
    later, and which rows could not be read (``open_order_problem``)."""
    if open_orders.empty:
        return pd.DataFrame(
            columns=[
                "open_order_qty",
                "open_order_lines",
                "overdue_order_qty",
                "open_order_qty_after_lead_time",
                "open_order_problem",
            ]
        )
    po = open_orders.copy()
    usable = po["is_usable"].fillna(False).astype(bool)
    within = usable & po["is_within_lead_time"].fillna(False).astype(bool)
    qty = pd.to_numeric(po["quantity"], errors="coerce").fillna(0.0)
    po["in_lead"] = qty.where(within, 0.0)
    po["line_in_lead"] = within.astype(int)
    po["overdue"] = qty.where(usable & po["is_overdue"].fillna(False).astype(bool), 0.0)
    po["later"] = qty.where(usable & ~within, 0.0)
    keyed = po.loc[po["product_id"].notna()]
    totals = keyed.groupby("product_id").agg(
        open_order_qty=("in_lead", "sum"),
        open_order_lines=("line_in_lead", "sum"),
        overdue_order_qty=("overdue", "sum"),
        open_order_qty_after_lead_time=("later", "sum"),
    )
    bad = keyed.loc[~usable.loc[keyed.index]]
    if len(bad):
        first = bad.groupby("product_id").agg(
            n=("problem", "size"), id=("purchase_order_id", "first"), problem=("problem", "first")
        )
        totals["open_order_problem"] = (
            first["n"].astype(str)
            + " purchase order row(s) cannot be read (first: "
            + first["id"].fillna("without id").astype(str)
            + ", "
            + first["problem"].astype(str)
            + "); fix purchase_orders/"
        )
    else:
        totals["open_order_problem"] = None
    return totals


def build_suggestions(
    plans: pd.DataFrame,
    forecasts: pd.DataFrame,
    products: pd.DataFrame,
    stock: pd.DataFrame,
    open_orders: pd.DataFrame,
    rules: pd.DataFrame,
    as_of_month,
    settings: PurchasingSettings,
) -> pd.DataFrame:
    """One row per product of ``products`` (:data:`SUGGESTION_COLUMNS`).

    ``plans``: the selected policy's rows of ``fct_purchase_plans`` at the month; ``forecasts``: the
    selected rows of ``fct_forecasts`` at the month; ``products``: ``int_series_profiles`` with
    ``product_name``; ``stock``: ``int_stock_on_hand``; ``open_orders``: ``int_purchase_orders_open``;
    ``rules``: ``int_ordering_rules``.
    """
    as_of = pd.Timestamp(as_of_month).normalize().replace(day=1)
    base = products.drop_duplicates("product_id").set_index("product_id")
    plan_cols = [
        "service_level",
        "forecast_before_arrival",
        "forecast_arrival_month",
        "forecast_lead_time",
        "safety_stock",
        "order_up_to",
        "residual_pool",
        "residual_points",
    ]
    frame = base.join(plans.drop_duplicates("product_id").set_index("product_id")[plan_cols], how="left")
    frame = frame.drop(columns=["order_up_to"])  # recomputed by suggest_orders from its terms
    stock_cols = stock.drop_duplicates("product_id").set_index("product_id")[["on_hand_qty", "on_hand_date"]]
    frame = frame.join(stock_cols, how="left")
    frame = frame.join(open_order_totals(open_orders), how="left")
    for column in ("open_order_qty", "open_order_lines", "overdue_order_qty", "open_order_qty_after_lead_time"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").fillna(0.0)
    rule_cols = ["pack_size", "min_order_qty", "unit_cost", "unit_cost_source", "rule_source", "rule_problem"]
    frame = frame.join(rules.drop_duplicates("product_id").set_index("product_id")[rule_cols], how="left")
    selected_model = forecasts.groupby("product_id")["selected_model"].first() if len(forecasts) else None
    frame["selected_model"] = selected_model

    issues = combine_issues(
        forecast_issues(
            forecasts,
            products,
            settings.lead_time_months,
            settings.max_multiple_of_history,
            settings.min_history_months,
        ),
        rules_issues(frame.reset_index()[["product_id", "pack_size", "min_order_qty"]]),
        ("ordering rule unusable: " + frame["rule_problem"].dropna() + "; fix ordering_rules/"),
        frame["open_order_problem"].dropna() if "open_order_problem" in frame else None,
    )
    frame["blocking_issue"] = issues.reindex(frame.index)
    no_plan = frame["forecast_lead_time"].isna() & frame["blocking_issue"].isna()
    frame.loc[no_plan, "blocking_issue"] = "no purchase plan for this product this month; rebuild fct_purchase_plans"
    frame["service_level"] = frame["service_level"].fillna(settings.default_service_level)
    for column in ("forecast_before_arrival", "forecast_arrival_month", "safety_stock"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    frame["pack_size"] = pd.to_numeric(frame["pack_size"], errors="coerce").fillna(1)
    frame["min_order_qty"] = pd.to_numeric(frame["min_order_qty"], errors="coerce").fillna(0)
    out = suggest_orders(frame.reset_index(), as_of, settings.lead_time_months)
    out["as_of_month"] = as_of
    out["lead_time_months"] = settings.lead_time_months
    out["order_value"] = out["order_qty"].astype("Float64") * pd.to_numeric(out["unit_cost"], errors="coerce")
    out["on_hand_qty"] = pd.to_numeric(out["on_hand_qty"], errors="coerce")
    out.loc[out["forecast_lead_time"].isna(), ["order_up_to"]] = np.nan
    return (
        out[list(SUGGESTION_COLUMNS)].sort_values(["product_group", "product_id"], kind="stable").reset_index(drop=True)
    )

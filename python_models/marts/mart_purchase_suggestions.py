"""Orders to place now: one row per product for the batch's as-of month, every term of the order formula in
its own column and the reason in words (demand_forecast.purchasing.suggestions, docs/purchasing.md).
Also exported as CSV for purchasing (exports/purchase_suggestions.csv).
"""

from demand_forecast.dbt_bridge import typed
from demand_forecast.purchasing.settings import PurchasingSettings
from demand_forecast.purchasing.suggestions import SUGGESTION_COLUMNS, build_suggestions

TYPES = {
    "as_of_month": "date",
    "arrival_month": "date",
    "on_hand_date": "date",
    "order_qty": "int",
    "order_packs": "int",
    "lead_time_months": "int",
    "open_order_lines": "int",
    "residual_points": "int",
    "pack_size": "int",
    "min_order_qty": "int",
}
TEXT = {
    "product_id",
    "product_name",
    "product_group",
    "category",
    "demand_class",
    "lifecycle",
    "order_status",
    "reason",
    "residual_pool",
    "unit_cost_source",
    "rule_source",
    "selected_model",
}
SCHEMA = {c: TYPES.get(c, "str" if c in TEXT else "float") for c in SUGGESTION_COLUMNS}


def model(dbt, session):
    dbt.config(materialized="table")
    settings = PurchasingSettings.from_dbt(dbt.config.get("purchasing_settings"))
    as_of = dbt.ref("int_batch_parameters").df()["as_of_month"].iloc[0]
    month = f"as_of_month = date '{as_of:%Y-%m-%d}'"
    plans = dbt.ref("fct_purchase_plans").filter(f"{month} and policy = 'selected'")
    forecasts = dbt.ref("fct_forecasts").filter(f"{month} and is_selected")
    profiles = dbt.ref("int_series_profiles").df()
    names = dbt.ref("int_products_as_of").df()[["product_id", "product_name"]]
    suggestions = build_suggestions(
        plans.df(),
        forecasts.df(),
        profiles.merge(names, on="product_id", how="left"),
        dbt.ref("int_stock_on_hand").df(),
        dbt.ref("int_purchase_orders_open").df(),
        dbt.ref("int_ordering_rules").df(),
        as_of,
        settings,
    )
    return typed(suggestions, SCHEMA)

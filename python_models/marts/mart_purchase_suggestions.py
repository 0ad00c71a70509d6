"""Orders to place now: one row per product for the batch's as-of month, every term of the order formula in
its own column and the reason in words (demand_forecast.purchasing.suggestions, docs/purchasing.md).
Also exported as CSV for purchasing (exports/purchase_suggestions.csv).
"""

from demand_forecast.dbt_bridge import to_output, to_pandas
from demand_forecast.purchasing.settings import PurchasingSettings
from demand_forecast.purchasing.suggestions import SUGGESTION_SCHEMA, build_suggestions


def model(dbt, session):
    dbt.config(materialized="table")
    settings = PurchasingSettings.from_dbt(dbt.config.get("purchasing_settings"))
    as_of = to_pandas(dbt.ref("int_batch_parameters"))["as_of_month"].iloc[0]
    month = f"as_of_month = date '{as_of:%Y-%m-%d}'"
    plans = dbt.ref("fct_purchase_plans").filter(f"{month} and policy = 'selected'")
    forecasts = dbt.ref("fct_forecasts").filter(f"{month} and is_selected")
    profiles = to_pandas(dbt.ref("int_series_profiles"))
    names = to_pandas(dbt.ref("int_products_as_of"))[["product_id", "product_name"]]
    suggestions = build_suggestions(
        to_pandas(plans),
        to_pandas(forecasts),
        profiles.merge(names, on="product_id", how="left"),
        to_pandas(dbt.ref("int_stock_on_hand")),
        to_pandas(dbt.ref("int_purchase_orders_open")),
        to_pandas(dbt.ref("int_ordering_rules")),
        as_of,
        settings,
    )
    return to_output(suggestions, SUGGESTION_SCHEMA, session)

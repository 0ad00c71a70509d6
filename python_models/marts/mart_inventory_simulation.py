"""What the purchase plans would have held and lost: every stored month of fct_purchase_plans replayed
against the demand that came, for the selected forecast and the WMA baseline, per product group and demand
class (demand_forecast.purchasing.simulation, docs/purchasing.md).
"""

from demand_forecast.dbt_bridge import to_output, to_pandas
from demand_forecast.purchasing.settings import PurchasingSettings
from demand_forecast.purchasing.simulation import SIMULATION_SCHEMA, inventory_simulation

SCHEMA = {"as_of_month": "date", **SIMULATION_SCHEMA}


def model(dbt, session):
    dbt.config(materialized="table")
    settings = PurchasingSettings.from_dbt(dbt.config.get("purchasing_settings"))
    as_of = to_pandas(dbt.ref("int_batch_parameters"))["as_of_month"].iloc[0]
    rules = to_pandas(dbt.ref("int_ordering_rules"))
    profiles = to_pandas(dbt.ref("int_series_profiles"))
    panel = to_pandas(dbt.ref("int_monthly_demand"))
    plans = to_pandas(dbt.ref("fct_purchase_plans"))
    products = profiles[["product_id", "product_group", "demand_class"]].merge(
        rules[["product_id", "unit_cost", "holding_cost_rate"]], on="product_id", how="left"
    )
    summary = inventory_simulation(
        plans,
        panel[["product_id", "month", "demand"]],
        rules[["product_id", "pack_size", "min_order_qty"]],
        products.rename(columns={"unit_cost": "unit_value"}),
        settings.lead_time_months,
        as_of,
    )
    summary["as_of_month"] = as_of
    return to_output(summary, SCHEMA, session)

"""Purchase plans by as-of month: for every product, the order-up-to level of the selected forecast and of
the seed's WMA baseline, with the safety stock from backtest residuals of cumulative demand
(demand_forecast.purchasing.safety_stock). Incremental, delete+insert by as_of_month: the history of plans
is what mart_inventory_simulation replays.
"""

from demand_forecast.dbt_bridge import to_output, to_pandas
from demand_forecast.purchasing.safety_stock import PLAN_SCHEMA, purchase_plans
from demand_forecast.purchasing.settings import PurchasingSettings


def model(dbt, session):
    dbt.config(materialized="incremental", incremental_strategy="delete+insert", unique_key=["as_of_month"])
    settings = PurchasingSettings.from_dbt(dbt.config.get("purchasing_settings"))
    as_of = to_pandas(dbt.ref("int_batch_parameters"))["as_of_month"].iloc[0]
    models = ", ".join(f"'{m}'" for m in settings.policies.values())
    forecasts = dbt.ref("fct_forecasts").filter(f"as_of_month = date '{as_of:%Y-%m-%d}' and model_name in ({models})")
    backtest = dbt.ref("int_forecast_backtest").filter(f"model_name in ({models})")
    service_levels = to_pandas(dbt.ref("purchasing_service_levels"))
    plans = purchase_plans(
        to_pandas(backtest),
        to_pandas(forecasts),
        to_pandas(dbt.ref("int_monthly_demand")),
        to_pandas(dbt.ref("int_series_profiles")),
        as_of,
        dict(zip(service_levels["product_group"], service_levels["target_service_level"], strict=True)),
        settings.default_service_level,
        settings.policies,
        settings.lead_time_months,
        settings.min_residual_pool,
    )
    return to_output(plans, PLAN_SCHEMA, session)

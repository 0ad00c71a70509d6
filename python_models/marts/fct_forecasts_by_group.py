"""Coherent forecasts of the product hierarchy by as-of month: the total, every product group, every
category within its group and every product, P10/P50/P90 for horizons 1..3, made coherent by the
reconciliation method the backtest chose (demand_forecast.forecasting.hierarchy).

Incremental, delete+insert by as_of_month like fct_forecasts: re-running a month replaces that
month's rows only, the rows of earlier months are never changed.
"""

from demand_forecast.dbt_bridge import executor_for_session, forecast_run, invocation_id, to_output
from demand_forecast.forecasting import schemas
from demand_forecast.forecasting.hierarchy import forecast_hierarchy


def model(dbt, session):
    dbt.config(materialized="incremental", incremental_strategy="delete+insert", unique_key=["as_of_month"])
    dbt.ref("fct_forecasts")
    run = forecast_run(
        dbt.ref("int_monthly_demand"),
        dbt.ref("int_series_profiles"),
        dbt.ref("int_batch_parameters"),
        dbt.config.get("forecast_settings"),
        session,
    )
    hierarchy = forecast_hierarchy(
        run.panel,
        run.profiles,
        run.as_of_month,
        run.config,
        run.result,
        run.selected_forecast,
        executor=executor_for_session(run.config, session),  # the group series on the model's Spark session too
    )
    forecasts = hierarchy.forecasts
    forecasts["run_id"] = invocation_id()
    return to_output(forecasts, schemas.FORECASTS_BY_GROUP, session)

"""Forecasts by as-of month: every model's P10/P50/P90 for horizons 1..3, the selected one flagged
(var selected_forecast: ensemble, the default, or champion).

Incremental, delete+insert by as_of_month: re-running a month replaces that month's rows only, so
the forecasts of earlier months are never changed.
"""

from demand_forecast.dbt_bridge import forecast_run, invocation_id, mark_selected, to_output
from demand_forecast.forecasting import schemas


def model(dbt, session):
    dbt.config(materialized="incremental", incremental_strategy="delete+insert", unique_key=["as_of_month"])
    dbt.ref("int_forecast_selection")
    run = forecast_run(
        dbt.ref("int_monthly_demand"),
        dbt.ref("int_series_profiles"),
        dbt.ref("int_batch_parameters"),
        dbt.config.get("forecast_settings"),
        session,
    )
    forecasts = mark_selected(run.result.forecasts, run.result.selection, run.selected_forecast)
    forecasts["run_id"] = invocation_id()
    return to_output(forecasts, schemas.FORECASTS, session)

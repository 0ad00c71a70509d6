"""Forecasts by as-of month: every model's P10/P50/P90 for horizons 1..3, the selected one flagged
(var selected_forecast: ensemble, the default, or champion).

Incremental, delete+insert by as_of_month: re-running a month replaces that month's rows only, so
the forecasts of earlier months are never changed.
"""

from demand_forecast.dbt_bridge import invocation_id, load_inputs, mark_selected, shared_run, typed
from demand_forecast.forecasting import schemas


def model(dbt, session):
    dbt.config(materialized="incremental", incremental_strategy="delete+insert", unique_key=["as_of_month"])
    dbt.ref("int_forecast_selection")
    settings = dbt.config.get("forecast_settings")
    panel, profiles, as_of_month, config = load_inputs(
        dbt.ref("int_monthly_demand"),
        dbt.ref("int_series_profiles"),
        dbt.ref("int_batch_parameters"),
        settings,
    )
    result = shared_run(panel, profiles, as_of_month, config)
    forecasts = mark_selected(result.forecasts, result.selection, settings.get("selected_forecast") or "ensemble")
    forecasts["run_id"] = invocation_id()
    return typed(forecasts, schemas.FORECASTS)

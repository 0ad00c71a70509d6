"""Rolling-origin backtest: every model's forecasts at each cutoff before the as-of month."""

from demand_forecast.dbt_bridge import load_inputs, shared_run, to_output
from demand_forecast.forecasting import schemas


def model(dbt, session):
    dbt.config(materialized="table")
    panel, profiles, as_of_month, config = load_inputs(
        dbt.ref("int_monthly_demand"),
        dbt.ref("int_series_profiles"),
        dbt.ref("int_batch_parameters"),
        dbt.config.get("forecast_settings"),
    )
    result = shared_run(panel, profiles, as_of_month, config, session)
    return to_output(result.backtest, schemas.BACKTEST, session)

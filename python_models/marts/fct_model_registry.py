"""Model registry: one row per as-of month, model and configuration, with parameters, features,
training window, backtest metrics and (LightGBM) the serialised model.

Incremental on (as_of_month, model_name, config_hash): a rerun with the same settings replaces its
row, a run with other settings adds rows, so experiments can be compared side by side.
"""

import datetime as dt
import json

from demand_forecast.dbt_bridge import config_hash, invocation_id, load_inputs, shared_run, to_output
from demand_forecast.forecasting import schemas


def model(dbt, session):
    dbt.config(
        materialized="incremental",
        incremental_strategy="delete+insert",
        unique_key=["as_of_month", "model_name", "config_hash"],
    )
    dbt.ref("int_forecast_selection")
    panel, profiles, as_of_month, config = load_inputs(
        dbt.ref("int_monthly_demand"),
        dbt.ref("int_series_profiles"),
        dbt.ref("int_batch_parameters"),
        dbt.config.get("forecast_settings"),
    )
    result = shared_run(panel, profiles, as_of_month, config, session)
    registry = result.registry.copy()
    registry["config_hash"] = config_hash(config)
    registry["config_json"] = json.dumps(config.to_dict(), sort_keys=True)
    registry["dbt_invocation_id"] = invocation_id()
    registry["registered_at"] = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    return to_output(registry, schemas.REGISTRY, session)

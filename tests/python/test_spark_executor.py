"""The Spark executor (``forecast_executor: spark``): its settings, what crosses Spark, and real Spark.

The settings and the column codec need no Spark.  The tests marked ``spark`` run PySpark in local
mode (one JVM started per module, ``local[2,3]``: 2 cores, up to 3 attempts per task); ``make test``
installs the optional ``spark`` extra for them.
"""

from __future__ import annotations

import pytest

from demand_forecast.dbt_bridge import forecast_config
from demand_forecast.forecasting.config import ForecastConfig

# --------------------------------------------------------------------------- settings


def test_the_local_executor_is_the_default() -> None:
    config = ForecastConfig()
    assert (config.forecast_executor, config.spark_remote, config.spark_master) == ("local", "", "")


def test_executor_settings_come_from_the_dbt_vars_of_the_same_name() -> None:
    config = forecast_config({"forecast_executor": "spark", "spark_remote": "", "spark_master": " local[2,3] "})
    assert (config.forecast_executor, config.spark_remote, config.spark_master) == ("spark", "", "local[2,3]")
    remote = forecast_config({"forecast_executor": "spark", "spark_remote": "sc://127.0.0.1:15002"})
    assert remote.spark_remote == "sc://127.0.0.1:15002"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"forecast_executor": "dask"}, "forecast_executor must be one of"),
        ({"spark_remote": "sc://h:15002", "spark_master": "local[2]"}, "not both"),
        ({"spark_remote": "http://h:15002"}, "Spark Connect URL such as sc://"),
        ({"spark_master": "local[two]"}, "is not a Spark master URL"),
        ({"spark_master": "localhost"}, "is not a Spark master URL"),
    ],
)
def test_bad_executor_settings_are_refused_with_what_to_set(settings, message) -> None:
    with pytest.raises(ValueError, match=message):
        ForecastConfig(**settings)


@pytest.mark.parametrize("master", ["local", "local[*]", "local[2]", "local[2,3]", "spark://10.0.0.1:7077", "yarn"])
def test_spark_master_urls_are_accepted(master) -> None:
    assert ForecastConfig(forecast_executor="spark", spark_master=master).spark_master == master

"""The Spark executor (``forecast_executor: spark``): its settings, what crosses Spark, and real Spark.

The settings and the column codec need no Spark.  The slow tests run real Spark: PySpark in local
mode (one JVM per module, ``local[2,3]``: 2 cores, up to 3 attempts per task; Spark Connect is
tested in test_spark_connect.py).  ``make test`` installs the optional ``spark`` extra for them;
without it they fail, saying what to install.
"""

from __future__ import annotations

import json
import os
import pickle
import sys
from pathlib import Path

import pandas as pd
import pytest
from forecast_synth import mixed_panel

from demand_forecast.dbt_bridge import forecast_config
from demand_forecast.forecasting.config import ForecastConfig
from demand_forecast.forecasting.executor import LocalExecutor
from demand_forecast.forecasting.models.ets import fit_ets
from demand_forecast.forecasting.models.statistical import estimate_series
from demand_forecast.forecasting.pipeline import executor_for, run_forecasting
from demand_forecast.forecasting.spark_executor import (
    SparkExecutor,
    decode_input,
    decode_output,
    encode_input,
    encode_output,
)

# --------------------------------------------------------------------------- settings


def test_the_local_executor_is_the_default() -> None:
    config = ForecastConfig()
    assert (config.forecast_executor, config.spark_remote, config.spark_master) == ("local", "", "")
    assert isinstance(executor_for(config), LocalExecutor)
    spark = executor_for(ForecastConfig(forecast_executor="spark", spark_master="local[2]"))
    assert isinstance(spark, SparkExecutor) and (spark.master, spark.remote) == ("local[2]", "")
    assert spark._session is None  # nothing starts before the first map


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


def test_without_pyspark_the_error_says_what_to_install(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "pyspark.sql", None)  # as if the extra were not installed
    with pytest.raises(ImportError, match=r"pip install -e '\.\[spark\]'"):
        SparkExecutor(master="local[2]").map_series(estimate_series, _history())


# --------------------------------------------------------------------------- what crosses Spark (no Spark needed)


def _history() -> pd.DataFrame:
    panel, _, _ = mixed_panel(n_products=6, n_months=30, seed=4)
    panel["tags"] = [("a", i % 3) for i in range(len(panel))]  # an object column: pickled
    return panel


def test_input_columns_come_back_with_their_values_and_dtypes() -> None:
    frame = _history()
    encoded, schema, codec = encode_input(frame)
    assert schema.startswith("`product_id` string, `month` bigint, ")
    assert schema.endswith("`__position__` bigint")
    assert "`tags` binary" in schema and "`is_partial_month` boolean" in schema
    pd.testing.assert_frame_equal(decode_input(encoded, codec), frame, check_exact=True)
    reversed_rows = encoded.iloc[::-1].reset_index(drop=True)  # a shuffle may deliver rows in any order
    pd.testing.assert_frame_equal(decode_input(reversed_rows, codec), frame, check_exact=True)


def _fitted_states(frame: pd.DataFrame) -> pd.DataFrame:
    origin = frame["month"].max()
    parts = [estimate_series(g, origin, fit_ets, season_length=12) for _, g in frame.groupby("product_id")]
    return pd.concat([p for p in parts if len(p)], ignore_index=True)


def test_declared_outputs_keep_the_state_objects_and_the_key_order() -> None:
    expected = _fitted_states(_history())
    outputs = estimate_series.series_outputs
    rows = pd.concat(
        [encode_output(expected.iloc[[i]], pid, outputs) for i, pid in enumerate(expected["product_id"])],
        ignore_index=True,
    )
    shuffled = rows.sample(frac=1.0, random_state=1).reset_index(drop=True)  # Spark returns groups in any order
    got = decode_output(shuffled, outputs)
    pd.testing.assert_frame_equal(got.drop(columns="state"), expected.drop(columns="state"), check_exact=True)
    assert [pickle.dumps(s) for s in got["state"]] == [pickle.dumps(s) for s in expected["state"]]


def test_an_output_unlike_its_declaration_is_an_error() -> None:
    with pytest.raises(ValueError, match="declared outputs"):
        encode_output(pd.DataFrame({"product_id": ["P1"], "state": [object()]}), "P1", estimate_series.series_outputs)
    with pytest.raises(TypeError, match="declared string"):
        encode_output(
            pd.DataFrame({"product_id": [7], "spec": ["ANN"], "state": [1]}), 7, estimate_series.series_outputs
        )
    with pytest.raises(ValueError, match="output kinds"):
        SparkExecutor(outputs={_group_summary: [("n", "decimal")]})


# --------------------------------------------------------------------------- real Spark, local mode


def _group_summary(group: pd.DataFrame, scale: float) -> pd.DataFrame:
    """A per-series function without declared outputs (its frames cross Spark pickled whole)."""
    if group["demand"].sum() == 0:
        return pd.DataFrame()
    return pd.DataFrame(
        {
            "product_id": [group["product_id"].iloc[0]] * 2,
            "last_month": [group["month"].max()] * 2,
            "total": [group["demand"].sum() * scale, -1.0],
            "tags": [tuple(group["tags"].iloc[0]), None],
        }
    )


def _crash_once(group: pd.DataFrame, inner, marker: str, **kwargs) -> pd.DataFrame:
    """``inner``, but the first call anywhere kills its Python worker (as an out-of-memory kill would)."""
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return inner(group, **kwargs)
    os._exit(1)


class _CrashingFirstTask:
    """An executor whose first per-series call dies (the rest run on ``spark``)."""

    def __init__(self, spark: SparkExecutor, marker: Path) -> None:
        self.spark, self.marker = spark, str(marker)

    def map_series(self, func, frame, key="product_id", **kwargs):
        return self.spark.map_series(_crash_once, frame, key, inner=func, marker=self.marker, **kwargs)


@pytest.fixture(scope="module")
def spark():
    try:
        from pyspark import cloudpickle
    except ImportError:
        pytest.fail("pyspark is missing: install the optional extra (pip install -e '.[spark]'; make test does)")
    # this module's functions are not importable in Spark's Python workers: send them by value
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    with SparkExecutor(master="local[2,3]") as executor:
        yield executor.session


@pytest.fixture(scope="module")
def panel():
    return mixed_panel(n_products=36, n_months=38, seed=9)


@pytest.fixture(scope="module")
def local_result(panel):
    frame, profiles, as_of = panel
    return run_forecasting(frame, profiles, as_of, ForecastConfig(n_jobs=1))


def assert_same_run(got, expected) -> None:
    for name in ("backtest", "metrics", "selection", "forecasts"):
        pd.testing.assert_frame_equal(getattr(got, name), getattr(expected, name), check_exact=False, rtol=0, atol=1e-9)
    params = {row.model_name: json.loads(row.params_json) for row in got.registry.itertuples()}
    assert params["ets"]["n_fitted"] > 0 and params["theta"]["n_fitted"] > 0  # the per-series path ran


@pytest.mark.slow
def test_a_group_map_on_spark_equals_the_local_one(spark) -> None:
    frame = _history()
    frame.loc[frame["product_id"] == frame["product_id"].iloc[0], "demand"] = 0.0  # a group with no output
    frame = frame.sample(frac=1.0, random_state=2)  # keys and months in no order: the results are in key order
    expected = LocalExecutor().map_series(_group_summary, frame, scale=2.0)
    got = SparkExecutor(spark).map_series(_group_summary, frame, scale=2.0)
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
    assert SparkExecutor(spark).map_series(_group_summary, frame.iloc[:0], scale=2.0).empty


@pytest.mark.slow
def test_the_spark_executor_gives_the_local_forecasts_backtest_and_selection(spark, panel, local_result) -> None:
    frame, profiles, as_of = panel
    config = ForecastConfig(n_jobs=1, forecast_executor="spark", spark_master="local[2,3]")
    assert_same_run(run_forecasting(frame, profiles, as_of, config), local_result)
    assert spark.getActiveSession() is not None  # the run used the active session and left it open


@pytest.mark.slow
def test_a_killed_python_worker_is_retried_by_spark_and_the_result_is_unchanged(
    spark, panel, local_result, tmp_path
) -> None:
    frame, profiles, as_of = panel
    marker = tmp_path / "crashed"
    outputs = {_crash_once: estimate_series.series_outputs}
    executor = _CrashingFirstTask(SparkExecutor(spark, outputs=outputs), marker)
    result = run_forecasting(frame, profiles, as_of, ForecastConfig(n_jobs=1), executor)
    assert marker.exists()  # a worker did die
    assert_same_run(result, local_result)


@pytest.mark.slow
def test_without_a_session_or_a_setting_the_error_says_what_to_set(spark, monkeypatch) -> None:
    from pyspark.sql import SparkSession

    monkeypatch.setattr(SparkSession, "getActiveSession", classmethod(lambda cls: None))
    with pytest.raises(RuntimeError, match="set spark_master"):
        SparkExecutor().map_series(_group_summary, _history(), scale=1.0)

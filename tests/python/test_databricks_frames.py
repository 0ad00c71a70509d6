"""The dbt Python models on Databricks: what ``dbt.ref`` returns there and what the models return.

On dbt-databricks ``dbt.ref`` gives a Spark DataFrame and ``session`` is a SparkSession; the models
read the refs with ``dbt_bridge.to_pandas`` and return ``dbt_bridge.to_output``, a Spark DataFrame of
an explicit schema.  No Databricks workspace is reachable here: a local PySpark session (``local[1]``,
session time zone America/Los_Angeles so that a time-zone shift would show) stands in for it.

The fast tests need no Spark.  The slow ones call every Python model's ``model(dbt, session)`` twice
on the warehouse of the shared replay (conftest.py): once as dbt-duckdb does (refs are DuckDB
relations, no session), once as dbt-databricks does (refs are Spark DataFrames of the same tables,
``session`` the SparkSession), and compare.  They skip, saying what to install, without pyspark
(``make test`` installs the ``spark`` extra).
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import os
import pickle
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import jinja2
import pandas as pd
import pyarrow as pa
import pytest
import yaml
from dbt_fixtures import model_properties, project_vars
from test_spark_connect import connect_server  # noqa: F401 (a fixture: the Spark Connect server of connect_url)

from demand_forecast import dbt_bridge
from demand_forecast.dbt_bridge import (
    SPARK_TYPES,
    executor_for_session,
    forecast_config,
    is_spark_session,
    spark_schema,
    to_output,
    to_pandas,
    typed,
)
from demand_forecast.forecasting import schemas
from demand_forecast.purchasing.safety_stock import PLAN_SCHEMA
from demand_forecast.purchasing.simulation import SIMULATION_SCHEMA
from demand_forecast.purchasing.suggestions import SUGGESTION_SCHEMA

ROOT = Path(__file__).resolve().parents[2]
SESSION_TIME_ZONE = "America/Los_Angeles"
NO_PYSPARK = "pyspark is missing: install the optional extra (pip install -e '.[spark]'; make test does)"

#: every dbt Python model, with the schema of the frame it returns
MODELS: dict[str, Any] = {
    "intermediate/int_forecast_backtest": schemas.BACKTEST,
    "intermediate/int_forecast_metrics": schemas.METRICS,
    "intermediate/int_forecast_selection": schemas.SELECTION,
    "marts/fct_forecasts": schemas.FORECASTS,
    "marts/fct_model_registry": schemas.REGISTRY,
    "marts/fct_forecasts_by_group": schemas.FORECASTS_BY_GROUP,
    "marts/fct_purchase_plans": PLAN_SCHEMA,
    "marts/mart_purchase_suggestions": SUGGESTION_SCHEMA,
    "marts/mart_inventory_simulation": {"as_of_month": "date", **SIMULATION_SCHEMA},
}
#: columns whose value differs between two calls of a model (the wall clock); checked apart
CLOCK_COLUMNS = {"registered_at"}


def test_every_python_model_of_the_project_is_covered() -> None:
    found = {str(p.relative_to(ROOT / "python_models").with_suffix("")) for p in ROOT.glob("python_models/**/*.py")}
    assert found == set(MODELS)
    for name in MODELS:  # each reads its refs and returns its frame through the bridge, never .df() itself
        text = (ROOT / "python_models" / f"{name}.py").read_text()
        assert ".df()" not in text and "to_output(" in text and "session)" in text


# --------------------------------------------------------------------------- no Spark needed


def test_the_spark_schema_names_every_column_in_order_with_its_type() -> None:
    assert set(SPARK_TYPES) == set(schemas.DUCKDB_TYPES)
    assert spark_schema({"product_id": "str", "month": "date", "n": "int", "x": "float", "ok": "bool"}) == (
        "`product_id` string, `month` date, `n` bigint, `x` double, `ok` boolean"
    )
    assert spark_schema(schemas.REGISTRY).endswith("`registered_at` timestamp")
    assert spark_schema(schemas.FORECASTS).count("`") == 2 * len(schemas.FORECASTS.names)


def test_on_duckdb_the_frames_stay_pandas() -> None:
    with duckdb.connect() as connection:  # dbt-duckdb's session is the DuckDB connection
        relation = connection.sql("select 'A' as product_id, date '2026-03-01' as month, 2::bigint as n")
        expected = relation.df()
        pd.testing.assert_frame_equal(to_pandas(relation), expected)
        assert not is_spark_session(connection)
        frame = pd.DataFrame({"product_id": ["A"], "month": ["2026-03-01"], "n": [2]})
        out = to_output(frame, {"product_id": "str", "month": "date", "n": "int"}, connection)
        pd.testing.assert_frame_equal(out, typed(frame, {"product_id": "str", "month": "date", "n": "int"}))
    given = pd.DataFrame({"a": [1]})
    assert to_pandas(given) is not given and to_pandas(given).equals(given)  # a copy: the caller's frame is kept


def test_time_zone_aware_timestamps_are_read_as_naive_utc() -> None:
    frame = pd.DataFrame({"at": pd.to_datetime(["2026-03-01 01:30"]).tz_localize("America/Los_Angeles")})
    assert to_pandas(frame)["at"].tolist() == [pd.Timestamp("2026-03-01 09:30")]


def test_what_the_bridge_cannot_read_is_refused_with_what_to_pass() -> None:
    with pytest.raises(TypeError, match=r"cannot read a builtins\.list .*dbt\.ref\(\)"):
        to_pandas([1, 2])


class _NotSpark:
    """A class named like PySpark's session outside pyspark: not a SparkSession."""


_NotSpark.__name__ = "SparkSession"


def test_the_spark_executor_uses_the_models_session_only_when_nothing_else_is_set() -> None:
    assert not is_spark_session(_NotSpark()) and not is_spark_session(None)
    spark_config = forecast_config({"n_jobs": "1", "forecast_executor": "spark"})
    assert executor_for_session(spark_config, None) is None  # no session: the run picks (active session)
    assert executor_for_session(forecast_config({"n_jobs": "1"}), _NotSpark()) is None


def test_the_databricks_profile_reads_every_setting_from_the_environment() -> None:
    profile = yaml.safe_load((ROOT / "profiles" / "profiles.yml").read_text())["demand_forecast"]
    assert "'duckdb'" in profile["target"]  # the default target stays DuckDB
    output = profile["outputs"]["databricks"]
    assert output["type"] == "databricks"
    for key, var in [
        ("host", "DEMAND_DATABRICKS_HOST"),
        ("http_path", "DEMAND_DATABRICKS_HTTP_PATH"),
        ("token", "DEMAND_DATABRICKS_TOKEN"),
        ("catalog", "DEMAND_DATABRICKS_CATALOG"),
        ("schema", "DEMAND_DATABRICKS_SCHEMA"),
    ]:
        assert output[key].startswith(f"{{{{ env_var('{var}'"), key  # nothing filled in, nothing secret
    assert "env_var('DEMAND_DATABRICKS_TOKEN')" in output["token"]  # no default: a missing token is an error
    assert "| int" in output["threads"]


# --------------------------------------------------------------------------- real Spark (local mode)


@pytest.fixture(scope="module")
def spark():
    pytest.importorskip("pyspark", reason=NO_PYSPARK)
    from pyspark.sql import SparkSession

    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # Spark's Python workers import this package
    session = (
        SparkSession.builder.master("local[1]")
        .appName("test_databricks_frames")
        .config("spark.sql.session.timeZone", SESSION_TIME_ZONE)
        .config("spark.sql.shuffle.partitions", "1")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .getOrCreate()
    )
    yield session
    session.stop()


SMALL = """
select * from (values
    ('A', date '2026-03-01', 2::bigint, 1.5::double, true, timestamp '2026-03-02 23:30:00', 1.25::decimal(9, 2)),
    ('B', null, null, null, null, null, null)
) as t(product_id, month, n, x, ok, stamped, price)
"""


@pytest.mark.slow
def test_before_pyspark_4_the_output_goes_as_rows_of_the_same_types(spark, monkeypatch) -> None:
    frame = pd.DataFrame(
        {
            "model_name": ["ets", None],
            "as_of_month": ["2026-03-01", None],
            "n_series": [40, None],
            "wape": [0.25, float("nan")],
            "registered_at": pd.to_datetime(["2026-03-02 23:30:00", None]),
        }
    )
    kinds = {
        "model_name": "str",
        "as_of_month": "date",
        "n_series": "int",
        "wape": "float",
        "registered_at": "timestamp",
    }
    through_arrow = to_output(frame, kinds, spark)
    monkeypatch.setattr(dbt_bridge, "_accepts_arrow", lambda: False)
    through_rows = to_output(frame, kinds, spark)
    assert through_rows.schema == through_arrow.schema
    assert through_rows.collect() == through_arrow.collect()
    pd.testing.assert_frame_equal(typed(to_pandas(through_rows), kinds), typed(frame, kinds), check_exact=True)


@pytest.mark.slow
def test_a_null_of_every_type_reads_as_on_duckdb(spark) -> None:
    with duckdb.connect() as connection:
        relation = connection.sql(SMALL)
        pd.testing.assert_frame_equal(to_pandas(_spark_frame(spark, relation)), relation.df(), check_exact=True)


def _spark_frame(spark, relation: duckdb.DuckDBPyRelation):
    """A DuckDB table as the Spark DataFrame Databricks would hold: DATE as DATE, DECIMAL as DECIMAL,
    and a TIMESTAMP (naive UTC in this project) as the same instant."""
    table = relation.to_arrow_table()
    fields = [
        pa.field(f.name, pa.timestamp("us", tz="UTC")) if pa.types.is_timestamp(f.type) and f.type.tz is None else f
        for f in table.schema
    ]
    return spark.createDataFrame(table.cast(pa.schema(fields)))


class _Config:
    """``dbt.config``: called with the model's settings, ``get`` reads the rendered config."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values

    def __call__(self, **settings: Any) -> None:
        self.declared = settings

    def get(self, name: str) -> Any:
        return self.values.get(name)


class _Dbt:
    """The ``dbt`` object a Python model gets: ``ref`` and ``config``."""

    def __init__(self, ref: Callable[[str], Any], config: dict[str, Any]) -> None:
        self._ref, self.config, self.refs = ref, _Config(config), []

    def ref(self, name: str) -> Any:
        self.refs.append(name)
        return self._ref(name)


def _load_model(name: str) -> Callable[..., Any]:
    spec = importlib.util.spec_from_file_location(name.replace("/", "."), ROOT / "python_models" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.model


@pytest.fixture(scope="module")
def warehouse(replay: dict[str, object]):
    """The replay's warehouse (read-only) and its relations by model name."""
    with duckdb.connect(str(replay["pristine_database"]), read_only=True) as connection:
        tables = connection.sql("select table_schema, table_name from information_schema.tables").fetchall()
        yield connection, {table: f"{schema}.{table}" for schema, table in tables}


def _model_config(name: str) -> dict[str, Any]:
    """The model's config from its properties yml, rendered with the project's vars as dbt renders it
    (values as text); one worker process for the forecasting run."""
    folder, model = name.split("/")
    properties = {}
    for path in (ROOT / "python_models").glob("**/*.yml"):
        properties.update(model_properties(str(path.relative_to(ROOT))))
    variables = project_vars()

    def render(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: render(item) for key, item in value.items()}
        return jinja2.Template(str(value)).render(var=variables.__getitem__)

    config = render(properties[model].get("config") or {})
    if config.get("forecast_settings"):
        config["forecast_settings"]["n_jobs"] = "1"
    return config


def _plans_history(connection: duckdb.DuckDBPyConnection, relations: dict[str, str]) -> pd.DataFrame:
    """fct_purchase_plans with its latest month's plans also dated 1-3 months earlier: the replay has too
    few plan months for mart_inventory_simulation (lead time 3) to evaluate any month."""
    plans = connection.table(relations["fct_purchase_plans"]).df()
    latest = plans[plans["as_of_month"] == plans["as_of_month"].max()]
    earlier = [latest.assign(as_of_month=latest["as_of_month"] - pd.DateOffset(months=k)) for k in (3, 2, 1)]
    return pd.concat([*earlier, latest], ignore_index=True)


#: inputs replaced for one model (by model, ref name -> frame builder)
INPUTS = {"marts/mart_inventory_simulation": {"fct_purchase_plans": _plans_history}}


def _run_both(spark, warehouse, name: str) -> tuple[pd.DataFrame, Any, list[str]]:
    """One model called as on dbt-duckdb and as on dbt-databricks: (pandas frame, Spark frame, refs read)."""
    connection, relations = warehouse
    config = _model_config(name)
    model = _load_model(name)
    with duckdb.connect() as memory:
        given = {ref: memory.from_df(build(connection, relations)) for ref, build in INPUTS.get(name, {}).items()}

        def relation(ref: str) -> duckdb.DuckDBPyRelation:
            return given[ref] if ref in given else connection.table(relations[ref])

        on_duckdb = _Dbt(relation, config)
        expected = model(on_duckdb, connection)
        on_spark = _Dbt(lambda ref: _spark_frame(spark, relation(ref)), config)
        got = model(on_spark, spark)
    assert on_spark.refs == on_duckdb.refs
    return expected, got, on_spark.refs


@pytest.fixture(scope="module")
def fixed_invocation_id():
    """The run id the models stamp (a fresh uuid outside dbt), the same for both calls."""
    original = dbt_bridge.invocation_id
    dbt_bridge.invocation_id = lambda: "test-invocation"
    yield
    dbt_bridge.invocation_id = original


@pytest.mark.slow
@pytest.mark.dbt
def test_spark_refs_read_as_the_duckdb_frames_exactly(spark, warehouse) -> None:
    connection, relations = warehouse
    names = [
        "int_monthly_demand",
        "int_series_profiles",
        "int_batch_parameters",
        "int_ordering_rules",
        "int_stock_on_hand",
        "int_purchase_orders_open",
        "int_products_as_of",
        "purchasing_service_levels",
        "int_forecast_backtest",
        "fct_forecasts",
        "fct_purchase_plans",
    ]
    for name in names:
        relation = connection.table(relations[name])
        expected = relation.df()
        got = to_pandas(_spark_frame(spark, relation))
        pd.testing.assert_frame_equal(got, expected, check_exact=True, obj=name)  # values and dtypes
    months = to_pandas(_spark_frame(spark, connection.table(relations["int_monthly_demand"])))["month"]
    assert (months == months.dt.to_period("M").dt.start_time).all()  # months start at midnight, not shifted


@pytest.mark.slow
@pytest.mark.dbt
def test_spark_before_4_reads_the_same_frames_through_to_pandas(spark, warehouse, monkeypatch) -> None:
    connection, relations = warehouse

    class _Spark35:
        """A Spark DataFrame without ``toArrow`` (PySpark 3.5): only ``toPandas``, schema, session."""

        def __init__(self, frame) -> None:
            self.frame, self.schema, self.sparkSession = frame, frame.schema, frame.sparkSession

        def toPandas(self) -> pd.DataFrame:
            return self.frame.toPandas()

    _Spark35.__name__, _Spark35.__module__ = "DataFrame", "pyspark.sql.dataframe"
    for name in ("int_monthly_demand", "int_forecast_backtest", "fct_forecasts"):
        relation = connection.table(relations[name])
        got = to_pandas(_Spark35(_spark_frame(spark, relation)))
        pd.testing.assert_frame_equal(got, relation.df(), check_exact=True, obj=name)


def _assert_same_rows(expected: pd.DataFrame, got, schema, name: str) -> None:
    from pyspark.sql import DataFrame

    assert isinstance(got, DataFrame), f"{name} returned {type(got)} on Spark"
    kinds = schema.kinds if isinstance(schema, schemas.TableSchema) else schema
    declared = ",".join(f"{column}:{SPARK_TYPES[kind]}" for column, kind in kinds.items())
    assert got.schema.simpleString() == f"struct<{declared}>", name  # the declared types, in order
    read = typed(to_pandas(got), schema)
    clock = [c for c in read.columns if c in CLOCK_COLUMNS]
    pd.testing.assert_frame_equal(
        read.drop(columns=clock),
        expected.drop(columns=clock),
        check_exact=False,
        rtol=0,
        atol=1e-9,
        obj=name,
    )
    for column in clock:  # the wall clock of each call, as UTC: within minutes, not hours, of now
        now = pd.Timestamp(dt.datetime.now(dt.timezone.utc).replace(tzinfo=None))
        assert ((now - read[column]).abs() < pd.Timedelta(minutes=10)).all(), column


@pytest.mark.slow
@pytest.mark.dbt
@pytest.mark.parametrize("name", list(MODELS))
def test_each_model_returns_on_spark_the_rows_it_returns_on_duckdb(spark, warehouse, fixed_invocation_id, name) -> None:
    expected, got, refs = _run_both(spark, warehouse, name)
    schema = MODELS[name]
    assert isinstance(expected, pd.DataFrame) and len(expected) > 0, name
    _assert_same_rows(expected, got, schema, name)
    assert "int_batch_parameters" in refs or "int_forecast_backtest" in refs


@pytest.mark.slow
@pytest.mark.dbt
def test_on_spark_the_spark_executor_runs_on_the_models_session(spark, warehouse, monkeypatch) -> None:
    """forecast_executor spark, no spark_remote / spark_master: the per-series fits run on dbt's session."""
    from demand_forecast.forecasting.spark_executor import SparkExecutor

    connection, relations = warehouse
    name = "intermediate/int_forecast_backtest"
    expected, _, _ = _run_both(spark, warehouse, name)  # the local run (shared by both calls)
    used = []
    original = SparkExecutor.map_series

    def recording(self, func, frame, key="product_id", **kwargs):
        used.append(self.session)
        return original(self, func, frame, key, **kwargs)

    monkeypatch.setattr(SparkExecutor, "map_series", recording)
    monkeypatch.setattr(dbt_bridge, "_RESULTS", {})  # the run key leaves out where it runs: compute again
    config = _model_config(name)
    config["forecast_settings"] = {**config["forecast_settings"], "forecast_executor": "spark"}
    on_spark = _Dbt(lambda ref: _spark_frame(spark, connection.table(relations[ref])), config)
    got = _load_model(name)(on_spark, spark)
    assert used and all(session is spark for session in used)  # the model's session, not a new one
    _assert_same_rows(expected, got, schemas.BACKTEST, name)
    assert spark.getActiveSession() is spark  # the run left dbt's session open


# ------------------------------------------------------------- Spark Connect (serverless, shared clusters)

CONNECT_CLIENT = """
import pickle, sys
import pandas as pd
from pyspark.sql import SparkSession
from demand_forecast.dbt_bridge import is_spark_session, to_output, to_pandas, typed
from demand_forecast.forecasting import schemas

spark = SparkSession.builder.remote(sys.argv[1]).getOrCreate()
spark.conf.set("spark.sql.session.timeZone", sys.argv[3])
frame = pd.DataFrame({
    "model_name": ["ets", "theta"], "model_version": ["1", None], "as_of_month": ["2026-03-01", "2026-03-01"],
    "config_hash": ["abc", "abc"], "train_start": ["2023-01-01", None], "train_end": ["2026-02-01"] * 2,
    "n_series": [40, 38], "wape": [0.25, float("nan")], "fit_seconds": [1.5, 0.25],
    "registered_at": pd.to_datetime(["2026-03-02 23:30:00", "2026-03-02 23:30:00"]),
})
out = to_output(frame, schemas.REGISTRY, spark)
source = spark.createDataFrame(out.toArrow())  # a table as dbt.ref() would give it
result = {
    "session": is_spark_session(spark), "class": type(out).__module__ + "." + type(out).__name__,
    "schema": out.schema.simpleString(), "expected": typed(frame, schemas.REGISTRY),
    "read": typed(to_pandas(source), schemas.REGISTRY), "dates": [r.as_of_month for r in out.collect()],
}
with open(sys.argv[2], "wb") as saved:
    pickle.dump(result, saved)
"""


@pytest.fixture(scope="module")
def connect_url(request) -> str:
    """URL of a Spark Connect server on 127.0.0.1 (test_spark_connect.py's fixture, one for this module)."""
    pytest.importorskip("pyspark", reason=NO_PYSPARK)
    return request.getfixturevalue("connect_server")["url"]


@pytest.mark.slow
def test_through_spark_connect_the_frames_are_the_same(connect_url, tmp_path) -> None:
    """A Spark Connect session (what serverless and shared clusters give) writes and reads the same rows."""
    saved = tmp_path / "result.pickle"
    client = subprocess.run(  # a client process of its own: this one holds a classic session
        [sys.executable, "-c", CONNECT_CLIENT, connect_url, str(saved), SESSION_TIME_ZONE],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert client.returncode == 0, client.stderr[-3000:]
    with open(saved, "rb") as stored:
        result = pickle.load(stored)
    assert result["session"] and result["class"] == "pyspark.sql.connect.dataframe.DataFrame"
    declared = ",".join(f"{column}:{SPARK_TYPES[kind]}" for column, kind in schemas.REGISTRY.columns)
    assert result["schema"] == f"struct<{declared}>"
    assert result["dates"] == [dt.date(2026, 3, 1)] * 2  # a DATE, not shifted by the session time zone
    pd.testing.assert_frame_equal(result["read"], result["expected"], check_exact=True)


def test_the_group_forecasts_run_on_the_executor_of_the_models_session(monkeypatch):
    """fct_forecasts_by_group hands forecast_hierarchy the executor of its own session (a SparkExecutor on
    dbt-databricks with forecast_executor spark), so the aggregate series' fits do not look for another session."""
    import types

    spec = importlib.util.spec_from_file_location(
        "fct_forecasts_by_group_wiring", ROOT / "python_models" / "marts" / "fct_forecasts_by_group.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    session, executor, seen = object(), object(), {}
    run = types.SimpleNamespace(
        panel="panel", profiles="profiles", as_of_month="2026-01-01", config="config", result="result",
        selected_forecast="ensemble",
    )  # fmt: skip

    def fake_executor_for_session(config, given_session):
        seen["for_session"] = (config, given_session)
        return executor

    def fake_hierarchy(*args, **kwargs):
        seen["executor"] = kwargs.get("executor")
        return types.SimpleNamespace(forecasts=pd.DataFrame({"node_id": ["total"]}))

    monkeypatch.setattr(module, "forecast_run", lambda *args, **kwargs: run)
    monkeypatch.setattr(module, "executor_for_session", fake_executor_for_session)
    monkeypatch.setattr(module, "forecast_hierarchy", fake_hierarchy)
    monkeypatch.setattr(module, "to_output", lambda frame, schema, given_session: frame)
    out = module.model(_ConfigurableDbt(), session)
    assert seen["for_session"] == ("config", session)
    assert seen["executor"] is executor
    assert list(out["node_id"]) == ["total"]


class _ConfigurableDbt:
    """The least of dbt a Python model touches: config(...), config.get(name) and ref(name)."""

    class _Config:
        def __call__(self, **kwargs):
            return None

        def get(self, name):
            return None

    def __init__(self):
        self.config = self._Config()

    def ref(self, name):
        return name

"""What the dbt Python models share: config from dbt vars, one forecasting run per invocation, and
the frames they read and return on either adapter.

A dbt Python model returns one frame, while one forecasting run yields several (backtest, metrics,
selection, forecasts, registry). The run is therefore computed once and memoised in this module,
keyed by a hash of its inputs (panel, profiles, as-of month, config): dbt-duckdb runs Python models
inside the dbt process, so the models of one ``dbt build`` share the run, and a model built on its
own (``dbt build --select fct_forecasts``) recomputes the identical run from the same inputs.

The same model files run on dbt-duckdb and on dbt-databricks (docs/scale.md, "Databricks"):
:func:`to_pandas` reads what ``dbt.ref`` returns on either (a DuckDB relation, a Spark DataFrame) as
the same pandas frame, and :func:`to_output` returns the model's frame as the adapter wants it (a
pandas frame for DuckDB, a Spark DataFrame of an explicit schema when ``session`` is a SparkSession).
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import json
import os
import threading
import uuid
from collections.abc import Mapping
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from .forecasting.config import ForecastConfig
from .forecasting.pipeline import ForecastResult, run_forecasting
from .forecasting.schemas import TableSchema
from .ops.progress import progress_lines

_RESULTS: dict[str, ForecastResult] = {}
_LOCK = threading.Lock()
_MAX_CACHED = 2


#: settings of the ``forecast_settings`` block that are not :class:`ForecastConfig` fields
BRIDGE_SETTINGS = ("selected_forecast",)


def _parse_setting(name: str, text: str, default: Any) -> Any:
    """One dbt-rendered setting (a string) as the type of the ForecastConfig field's default."""
    text = text.strip()
    if isinstance(default, bool):
        if text.lower() not in ("true", "false"):
            raise ValueError(f"forecast setting {name} must be true or false, got {text!r}")
        return text.lower() == "true"
    if isinstance(default, int):
        return int(float(text))
    if isinstance(default, float):
        return float(text)
    if isinstance(default, (tuple, dict)):
        if text[:1] in "[{(":  # dbt renders a list or dict var as its Python repr
            value = ast.literal_eval(text)
        else:  # a comma-separated list
            value = [part.strip() for part in text.split(",") if part.strip()]
        if isinstance(default, dict):
            return dict(value)
        cast = type(default[0]) if default else str
        return tuple(cast(v) for v in value)
    if default is None:  # optional numbers (gbm_num_threads)
        return int(float(text))
    return text


def forecast_config(settings: Mapping[str, Any] | None) -> ForecastConfig:
    """Build the :class:`ForecastConfig` from the ``forecast_settings`` config of the Python models.

    Each setting is the dbt var of the same name as the config field (``horizon``, ``n_origins``,
    ``models``...).  dbt renders them as strings; each is parsed to the field's type.  An empty
    value keeps the field's default; ``n_jobs`` 0 (or unset) means every core.  A setting that is
    no config field is an error, so a misspelt var cannot be ignored silently.
    """
    defaults = {f.name: getattr(ForecastConfig(), f.name) for f in dataclasses.fields(ForecastConfig)}
    values: dict[str, Any] = {}
    for name, raw in dict(settings or {}).items():
        if name in BRIDGE_SETTINGS:
            continue
        if name not in defaults:
            raise ValueError(
                f"forecast setting {name!r} is not a ForecastConfig field; known: {sorted(defaults)} "
                "(fix python_models/_forecasting__models.yml)"
            )
        if raw is None or (isinstance(raw, str) and raw.strip() in ("", "None")) or raw in ([], ()):
            continue
        values[name] = _parse_setting(name, raw, defaults[name]) if isinstance(raw, str) else raw
    if not values.get("n_jobs"):
        values["n_jobs"] = os.cpu_count() or 1
    return ForecastConfig(**values)


def forecast_config_from_vars(variables: Mapping[str, Any]) -> ForecastConfig:
    """The config of a project's dbt vars (e.g. the ``vars`` of dbt_project.yml, for scripts).

    Takes the vars named like :class:`ForecastConfig` fields, as ``forecast_settings`` does.
    """
    names = {f.name for f in dataclasses.fields(ForecastConfig)}
    return forecast_config({k: v for k, v in variables.items() if k in names})


def _frame_digest(frame: pd.DataFrame) -> str:
    """Digest of a frame's content, whatever the order of its rows and columns (dbt gives no order)."""
    ordered = frame.reindex(sorted(frame.columns), axis=1)
    row_hashes = np.sort(pd.util.hash_pandas_object(ordered, index=False).to_numpy())
    return hashlib.sha256(np.ascontiguousarray(row_hashes).tobytes()).hexdigest()


def run_key(panel: pd.DataFrame, profiles: pd.DataFrame, as_of_month: Any, config: ForecastConfig) -> str:
    parts = [
        _frame_digest(panel),
        _frame_digest(profiles),
        str(pd.Timestamp(as_of_month).date()),
        json.dumps(config.result_settings(), sort_keys=True),
    ]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:20]


def shared_run(
    panel: pd.DataFrame, profiles: pd.DataFrame, as_of_month: Any, config: ForecastConfig, session: Any = None
) -> ForecastResult:
    """The forecasting run for these inputs, computed once per process.

    ``session`` is the model's ``session``: when it is a SparkSession (dbt-databricks) and
    ``forecast_executor`` is ``spark`` with neither ``spark_remote`` nor ``spark_master`` set, the
    per-series work runs on that session (see :func:`executor_for_session`).
    """
    key = run_key(panel, profiles, as_of_month, config)
    with _LOCK:
        if key not in _RESULTS:
            while len(_RESULTS) >= _MAX_CACHED:
                _RESULTS.pop(next(iter(_RESULTS)))
            with progress_lines():  # stage, series done / total, elapsed: into the batch's log
                executor = executor_for_session(config, session)
                _RESULTS[key] = run_forecasting(panel, profiles, as_of_month, config, executor)
        return _RESULTS[key]


def executor_for_session(config: ForecastConfig, session: Any) -> Any:
    """The executor a model hands to the run: a SparkExecutor on the model's own SparkSession when
    ``forecast_executor`` is ``spark`` and no ``spark_remote`` / ``spark_master`` names another one;
    otherwise None (the run picks the executor ``config`` names, as on DuckDB)."""
    if config.forecast_executor != "spark" or config.spark_remote or config.spark_master:
        return None
    if not is_spark_session(session):
        return None
    from .forecasting.spark_executor import SparkExecutor  # pyspark is there when the session is Spark's

    return SparkExecutor(session)


def config_hash(config: ForecastConfig) -> str:
    """Hash of the settings that decide the results: a Spark run and a local run of the same settings share it."""
    return hashlib.sha256(json.dumps(config.result_settings(), sort_keys=True).encode()).hexdigest()[:12]


def invocation_id() -> str:
    """The dbt invocation id when running inside dbt, else a fresh uuid."""
    try:
        from dbt_common.invocation import get_invocation_id

        return str(get_invocation_id())
    except Exception:
        return str(uuid.uuid4())


def load_inputs(
    panel: Any, profiles: Any, parameters: Any, settings: Mapping[str, Any] | None
) -> tuple[pd.DataFrame, pd.DataFrame, pd.Timestamp, ForecastConfig]:
    """Panel, profiles, as-of month and config from a Python model's refs and its forecast_settings.

    The refs are passed in because dbt only sees the ``dbt.ref`` calls written in the model file.
    """
    panel_frame = to_pandas(panel)
    profiles_frame = to_pandas(profiles)
    as_of_month = pd.Timestamp(to_pandas(parameters)["as_of_month"].iloc[0])
    return panel_frame, profiles_frame, as_of_month, forecast_config(settings)


@dataclasses.dataclass(frozen=True)
class ForecastRun:
    """A mart model's inputs and the shared forecasting run: what :func:`forecast_run` returns."""

    panel: pd.DataFrame
    profiles: pd.DataFrame
    as_of_month: pd.Timestamp
    config: ForecastConfig
    result: ForecastResult
    selected_forecast: str


def forecast_run(
    panel: Any, profiles: Any, parameters: Any, settings: Mapping[str, Any] | None, session: Any = None
) -> ForecastRun:
    """The inputs of a forecast mart (see :func:`load_inputs`), the run shared by the models of one
    dbt invocation (:func:`shared_run`, on the model's ``session``) and var ``selected_forecast``
    (``ensemble`` when not set).

    The mart still writes its ``dbt.ref`` and ``dbt.config.get`` calls itself: dbt only sees the
    ones written in the model file.
    """
    panel_frame, profiles_frame, as_of_month, config = load_inputs(panel, profiles, parameters, settings)
    result = shared_run(panel_frame, profiles_frame, as_of_month, config, session)
    selected = (settings or {}).get("selected_forecast") or "ensemble"
    return ForecastRun(panel_frame, profiles_frame, as_of_month, config, result, selected)


SELECTABLE = ("ensemble", "champion")


def mark_selected(forecasts: pd.DataFrame, selection: pd.DataFrame, selected_forecast: str) -> pd.DataFrame:
    """Flag the forecast handed to purchasing and say which model it is and why.

    ``selected_forecast`` is ``ensemble`` (default: the best combination of models for the product's
    demand class, which beat every single model and the per-product champion on months not used to
    choose it, see docs/forecasting.md) or
    ``champion`` (the single model with the lowest backtest error per product or segment).
    """
    if selected_forecast not in SELECTABLE:
        raise ValueError(f"var selected_forecast must be one of {SELECTABLE}, got {selected_forecast!r}")
    columns = ["product_id", "champion_model", "ensemble_members", "ensemble_reason"]
    sel = selection.reindex(columns=columns)
    out = forecasts.merge(sel, on="product_id", how="left")
    out["is_selected"] = out["model_name"] == selected_forecast
    if selected_forecast == "ensemble":
        out["selected_model"] = "ensemble"
        members = out["ensemble_members"].fillna("").str.replace(",", ", ")
        given = out["ensemble_reason"].astype("object").fillna("").astype(str)
        how = given.where(given != "", "mean of " + members)
        champion_reason = out["selection_reason"].where(out["model_name"] != "ensemble", None)
        champion_reason = champion_reason.groupby(out["product_id"]).transform("first").astype("object").fillna("")
        out["selection_reason"] = (
            "ensemble: "
            + how
            + "; the champion alone would be "
            + out["champion_model"].fillna("none")
            + " ("
            + champion_reason
            + ")"
        )
    else:
        out["selected_model"] = out["champion_model"]
    return out.drop(columns=columns[1:])


def typed(frame: pd.DataFrame, schema: TableSchema | Mapping[str, str]) -> pd.DataFrame:
    """Cast a frame to an explicit, stable schema (DuckDB would otherwise guess per run).

    ``schema`` is a :class:`~demand_forecast.forecasting.schemas.TableSchema` (or a plain
    ``column -> kind`` mapping); columns come out in its order, missing ones as nulls.
    """
    kinds = schema.kinds if isinstance(schema, TableSchema) else dict(schema)
    out = pd.DataFrame(index=frame.index)
    for column, kind in kinds.items():
        values = frame[column] if column in frame else pd.Series([None] * len(frame), index=frame.index)
        if kind == "date":
            out[column] = pd.to_datetime(values).dt.normalize().astype("datetime64[us]")
        elif kind == "timestamp":
            out[column] = pd.to_datetime(values).astype("datetime64[us]")
        elif kind == "int":
            out[column] = pd.to_numeric(values).astype("Int64")
        elif kind == "float":
            out[column] = pd.to_numeric(values).astype("float64")
        elif kind == "bool":
            out[column] = values.astype("boolean")
        else:
            out[column] = values.astype("object").where(values.notna(), None).astype("string")
    return out.reset_index(drop=True)


# --------------------------------------------------------------------------- frames on DuckDB and on Spark

#: Spark SQL type of every column kind of a :class:`TableSchema` (what :func:`to_output` declares).  A
#: ``date`` is a DATE (no time zone can shift a month); a ``timestamp`` is a TIMESTAMP whose naive
#: pandas value is read as UTC.
SPARK_TYPES: dict[str, str] = {
    "str": "string",
    "int": "bigint",
    "float": "double",
    "bool": "boolean",
    "date": "date",
    "timestamp": "timestamp",
}

_ARROW_TYPES: dict[str, pa.DataType] = {
    "str": pa.string(),
    "int": pa.int64(),
    "float": pa.float64(),
    "bool": pa.bool_(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us", tz="UTC"),
}


def _is_pyspark(value: Any, class_name: str) -> bool:
    """Whether ``value`` is an instance of a PySpark class ``class_name`` (classic or Spark Connect),
    checked by name so that nothing imports pyspark where it is not installed."""
    return any(cls.__name__ == class_name and cls.__module__.startswith("pyspark.sql") for cls in type(value).__mro__)


def is_spark_session(session: Any) -> bool:
    """Whether a Python model's ``session`` is a SparkSession (dbt-databricks; classic or Spark Connect)."""
    return _is_pyspark(session, "SparkSession")


def _kinds(schema: TableSchema | Mapping[str, str]) -> dict[str, str]:
    return schema.kinds if isinstance(schema, TableSchema) else dict(schema)


def spark_schema(schema: TableSchema | Mapping[str, str]) -> str:
    """The Spark DDL schema (``` `column` type, ...```) of a table schema, in its column order."""
    return ", ".join(f"`{name}` {SPARK_TYPES[kind]}" for name, kind in _kinds(schema).items())


def _utc_naive(frame: pd.DataFrame) -> pd.DataFrame:
    """Time-zone-aware columns as naive UTC, the convention of the project's timestamps."""
    for name in frame.columns:
        if isinstance(frame[name].dtype, pd.DatetimeTZDtype):
            frame[name] = frame[name].dt.tz_convert("UTC").dt.tz_localize(None)
    return frame


def _spark_arrow(frame: Any) -> pa.Table:
    """A Spark DataFrame's rows as Arrow (``toArrow``, PySpark 4; before it, through ``toPandas``)."""
    if hasattr(frame, "toArrow"):
        return frame.toArrow()  # timestamps arrive as UTC instants, dates as date32, decimals as decimal128
    local = frame.toPandas()  # Spark 3.5: timestamps as wall time of the session's time zone
    zone = frame.sparkSession.conf.get("spark.sql.session.timeZone")
    for field in frame.schema.fields:
        if field.dataType.typeName() == "timestamp":
            local[field.name] = pd.to_datetime(local[field.name]).dt.tz_localize(zone).dt.tz_convert("UTC")
    return pa.Table.from_pandas(local, preserve_index=False)


def to_pandas(relation: Any) -> pd.DataFrame:
    """What ``dbt.ref`` returned, as the pandas frame the package reads, the same on either adapter.

    Accepts a DuckDB relation (dbt-duckdb: ``.df()``), a Spark DataFrame (dbt-databricks, classic or
    Spark Connect: its rows go through Arrow and DuckDB's own conversion, so each column gets the
    dtype it has on DuckDB: DATE as ``datetime64[us]``, DECIMAL as float64, text as ``str``, integers
    with nulls as ``Int64``), or a pandas frame (copied).  Time-zone-aware
    timestamps come out as naive UTC.
    """
    if isinstance(relation, pd.DataFrame):
        frame = relation.copy()
    elif _is_pyspark(relation, "DataFrame"):
        with duckdb.connect() as connection:
            frame = connection.from_arrow(_spark_arrow(relation)).df()
    elif hasattr(relation, "df"):
        frame = relation.df()
    else:
        raise TypeError(
            f"cannot read a {type(relation).__module__}.{type(relation).__name__} as a frame: a Python model "
            "passes what dbt.ref() returns (a DuckDB relation on dbt-duckdb, a Spark DataFrame on "
            "dbt-databricks) or a pandas DataFrame"
        )
    return _utc_naive(frame)


def _arrow_table(frame: pd.DataFrame, kinds: Mapping[str, str]) -> pa.Table:
    """A :func:`typed` frame as Arrow with the exact type of every kind (NaN and NA become null)."""
    arrays = []
    for name, kind in kinds.items():
        values = pa.array(frame[name], from_pandas=True)
        arrays.append(values.cast(_ARROW_TYPES[kind]))  # naive timestamps are UTC; dates are midnight
    return pa.Table.from_arrays(arrays, names=list(kinds))


def _accepts_arrow() -> bool:
    """Whether ``createDataFrame`` takes a pyarrow Table (PySpark 4 and later)."""
    import pyspark

    return int(pyspark.__version__.split(".")[0]) >= 4


def to_output(frame: pd.DataFrame, schema: TableSchema | Mapping[str, str], session: Any = None) -> Any:
    """What a Python model returns: ``frame`` cast to ``schema`` (:func:`typed`), as a pandas frame
    for dbt-duckdb, or as a Spark DataFrame with the explicit schema :func:`spark_schema` when
    ``session`` is a SparkSession (dbt-databricks).

    On Spark the rows go through Arrow with exact types: text, int64, float64, booleans, dates as
    DATE (days, so no session time zone shifts a month) and timestamps as UTC instants.
    """
    out = typed(frame, schema)
    if not is_spark_session(session):
        return out
    kinds = _kinds(schema)
    table = _arrow_table(out, kinds)
    if _accepts_arrow():
        return session.createDataFrame(table, schema=spark_schema(kinds))
    rows = [tuple(row.values()) for row in table.to_pylist()]  # PySpark 3.5: Python values, exact per type
    return session.createDataFrame(rows, schema=spark_schema(kinds))

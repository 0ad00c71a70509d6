"""The per-series work on Spark: ``groupBy(key).applyInPandas`` (``forecast_executor: spark``).

:class:`SparkExecutor` implements :class:`~demand_forecast.forecasting.executor.Executor` with Spark:
the frame is sent to Spark, grouped by the key, and the per-series function runs on each group in
Spark's Python workers; the results are collected on the driver and concatenated in key order, as
:class:`~demand_forecast.forecasting.executor.LocalExecutor` does, so both give the same frame.

What crosses Spark, and how
    Input columns travel as Spark columns: numbers and booleans as they are, text as strings,
    timestamps as int64 nanoseconds (so no session time zone can shift them); any other object
    column is pickled to a binary column.  Each column gets its pandas dtype back in the worker,
    and each group its rows in the frame's order (a position column travels along).
    The output schema is explicit: a per-series function declares its columns in its
    ``series_outputs`` attribute (or in the ``outputs`` argument): its columns and their kinds (``string``, ``double``,
    ``long``, ``bool``, ``pickle``); ``pickle`` columns (e.g. the fitted state object of
    :func:`~demand_forecast.forecasting.models.statistical.estimate_series`) are pickled in the
    worker to BinaryType and restored on the driver.  A function not listed there has its whole
    output frame pickled, one binary value per group.  Every output row also carries the group's
    key (pickled) and its position in the group, which restore the key order on the driver.

Where the session comes from (first match)
    ``session`` handed in (e.g. the ``session`` of a dbt-databricks Python model); ``remote``, a
    Spark Connect URL (``SparkSession.builder.remote``); ``master`` (a session started here, e.g.
    ``local[2]``, or ``local[2,3]`` for up to 3 attempts per task) -- an already active session is
    used instead of starting a second one; else the active session, or an error saying what to set.
    A session this executor started is stopped by :meth:`SparkExecutor.close`.

Native thread pools of the workers are limited to one thread (``spark.executorEnv`` of a session
started here, and threadpoolctl around each call).  ``pyspark`` is the optional ``spark`` extra
(``pip install -e '.[spark]'``); importing this module does not import it.
"""

from __future__ import annotations

import os
import pickle
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from . import progress
from .executor import THREAD_ENV_VARS, SeriesFunction, limit_native_threads

#: kinds of output columns and their Spark SQL types
KINDS: dict[str, str] = {
    "string": "string",
    "double": "double",
    "long": "bigint",
    "bool": "boolean",
    "pickle": "binary",
}


def _check_kinds(func: Callable[..., Any], columns: Sequence[tuple[str, str]]) -> None:
    unknown = [kind for _, kind in columns if kind not in KINDS]
    if unknown:
        raise ValueError(f"output kinds {unknown} of {func.__name__} are unknown; known: {sorted(KINDS)}")


#: Attribute a per-series function may carry to declare its output columns ``(name, kind)``.
OUTPUTS_ATTRIBUTE = "series_outputs"

KEY_COLUMN = "__key__"  # the group's key, pickled
ROW_COLUMN = "__row__"  # position of the row in its group's output
POSITION_COLUMN = "__position__"  # row position in the input frame: restores each group's row order
FRAME_COLUMN = "__frame__"  # a whole output frame, pickled (functions without declared outputs)
PICKLED_FRAME: tuple[tuple[str, str], ...] = ((FRAME_COLUMN, "pickle"),)

INSTALL_HINT = "install the optional extra: pip install -e '.[spark]' (or set forecast_executor: local)"


# --------------------------------------------------------------------------- input columns


def _input_kind(column: pd.Series) -> str:
    """How one input column travels: ``timestamp`` (int64 ns), ``native`` or ``pickle``."""
    dtype = column.dtype
    if pd.api.types.is_datetime64_dtype(dtype):
        return "timestamp"
    if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype):
        return "native"
    if pd.api.types.is_string_dtype(dtype) and column.map(lambda v: v is None or isinstance(v, str)).all():
        return "native"
    return "pickle"


def encode_input(frame: pd.DataFrame) -> tuple[pd.DataFrame, str, dict[str, tuple[str, Any]]]:
    """``frame`` with Spark-friendly columns, its Spark schema, and the codec ``{column: (kind, dtype)}``."""
    codec: dict[str, tuple[str, Any]] = {}
    out = {}
    types = []
    for name in frame.columns:
        column = frame[name]
        kind = _input_kind(column)
        codec[name] = (kind, column.dtype)
        if kind == "timestamp":
            out[name], spark_type = column.astype("datetime64[ns]").to_numpy().view(np.int64), "bigint"
        elif kind == "pickle":
            out[name], spark_type = [pickle.dumps(v) for v in column], "binary"
        elif pd.api.types.is_bool_dtype(column.dtype):
            out[name], spark_type = column.to_numpy(dtype=object), "boolean"
        elif pd.api.types.is_integer_dtype(column.dtype):
            out[name], spark_type = column.astype("Int64"), "bigint"
        elif pd.api.types.is_numeric_dtype(column.dtype):
            out[name], spark_type = column.to_numpy(dtype=np.float64, na_value=np.nan), "double"
        else:
            out[name], spark_type = column.astype(object).to_numpy(), "string"
        types.append(f"`{name}` {spark_type}")
    out[POSITION_COLUMN] = np.arange(len(frame), dtype=np.int64)
    types.append(f"`{POSITION_COLUMN}` bigint")
    return pd.DataFrame(out, columns=[*frame.columns, POSITION_COLUMN]), ", ".join(types), codec


def decode_input(frame: pd.DataFrame, codec: Mapping[str, tuple[str, Any]]) -> pd.DataFrame:
    """The original columns, dtypes and row order of a group (in the worker)."""
    if POSITION_COLUMN in frame.columns:  # a shuffle keeps a group's rows together, not in order
        frame = frame.sort_values(POSITION_COLUMN, kind="stable")
    out = {}
    for name, (kind, dtype) in codec.items():
        column = frame[name].reset_index(drop=True)
        if kind == "timestamp":
            out[name] = pd.to_datetime(column.to_numpy(dtype=np.int64), unit="ns").astype(dtype)
        elif kind == "pickle":
            out[name] = pd.Series([pickle.loads(v) for v in column], dtype=dtype)
        else:
            out[name] = column.astype(dtype)
    return pd.DataFrame(out, columns=list(codec))


# --------------------------------------------------------------------------- output columns


def _schema(outputs: Sequence[tuple[str, str]]) -> str:
    columns = [(KEY_COLUMN, "pickle"), (ROW_COLUMN, "long"), *outputs]
    return ", ".join(f"`{name}` {KINDS[kind]}" for name, kind in columns)


def encode_output(result: pd.DataFrame | None, key_value: Any, outputs: Sequence[tuple[str, str]]) -> pd.DataFrame:
    """One group's result as rows of the output schema (in the worker)."""
    names = [KEY_COLUMN, ROW_COLUMN, *(name for name, _ in outputs)]
    if outputs == PICKLED_FRAME:
        if result is None or not len(result):
            return pd.DataFrame(columns=names)
        return pd.DataFrame(
            {KEY_COLUMN: [pickle.dumps(key_value)], ROW_COLUMN: [0], FRAME_COLUMN: [pickle.dumps(result)]}
        )
    if result is None or not len(result):
        return pd.DataFrame(columns=names)
    declared = [name for name, _ in outputs]
    if list(result.columns) != declared:
        raise ValueError(
            f"the per-series function returned columns {list(result.columns)}, its declared outputs are {declared}: "
            "fix the function or its declared outputs (its series_outputs attribute)"
        )
    out = {KEY_COLUMN: [pickle.dumps(key_value)] * len(result), ROW_COLUMN: np.arange(len(result), dtype=np.int64)}
    for name, kind in outputs:
        column = result[name]
        if kind == "pickle":
            out[name] = [pickle.dumps(v) for v in column]
        elif kind == "string":
            bad = column.map(lambda v: not (v is None or isinstance(v, str) or v != v))
            if bad.any():
                raise TypeError(f"output column {name} is declared string but holds {type(column[bad].iloc[0])}")
            out[name] = column.astype(object).to_numpy()
        else:
            out[name] = column.to_numpy()
    return pd.DataFrame(out, columns=names)


def decode_output(rows: pd.DataFrame, outputs: Sequence[tuple[str, str]]) -> pd.DataFrame:
    """The collected rows as the concatenated results, in key order (on the driver)."""
    if rows.empty:
        return pd.DataFrame()
    keys = pd.Series([pickle.loads(v) for v in rows[KEY_COLUMN]])
    order = pd.DataFrame({"key": keys, "row": rows[ROW_COLUMN].to_numpy()}).sort_values(["key", "row"], kind="stable")
    rows = rows.iloc[order.index.to_numpy()].reset_index(drop=True)
    if outputs == PICKLED_FRAME:
        return pd.concat([pickle.loads(v) for v in rows[FRAME_COLUMN]], ignore_index=True)
    out = {}
    for name, kind in outputs:
        column = rows[name]
        if kind == "pickle":
            out[name] = pd.Series([pickle.loads(v) for v in column], dtype=object)
        elif kind == "string":
            out[name] = pd.Series(list(column))  # the dtype pandas gives text (str on pandas 3, as locally)
        else:
            out[name] = column.reset_index(drop=True)
    return pd.DataFrame(out, columns=[name for name, _ in outputs])


def _group_function(func: SeriesFunction, kwargs: dict[str, Any], key: str, codec, outputs) -> Callable:
    """What each Spark task runs on one group (a closure Spark pickles to its Python workers)."""

    def run(group: pd.DataFrame) -> pd.DataFrame:
        for var in THREAD_ENV_VARS:
            os.environ[var] = "1"
        history = decode_input(group, codec)
        key_value = history[key].iloc[0] if len(history) else None
        with limit_native_threads():
            result = func(history, **kwargs)
        return encode_output(result, key_value, outputs)

    return run


# --------------------------------------------------------------------------- the executor


class SparkExecutor:
    """Runs per-series functions as Spark ``groupBy(key).applyInPandas`` (module docstring)."""

    def __init__(
        self,
        session: Any = None,
        *,
        remote: str = "",
        master: str = "",
        partitions: int = 8,
        outputs: Mapping[Callable[..., Any], Sequence[tuple[str, str]]] | None = None,
    ) -> None:
        self.remote = remote.strip()
        self.master = master.strip()
        self.partitions = max(1, int(partitions))
        self.outputs = {f: tuple(map(tuple, o)) for f, o in (outputs or {}).items()}
        for func, columns in self.outputs.items():
            _check_kinds(func, columns)
        self._session = session
        self._owned = False

    def __enter__(self) -> SparkExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the session if this executor started it (a session handed in or found active stays)."""
        if self._session is not None and self._owned:
            self._session.stop()
            self._session = None
            self._owned = False

    @property
    def session(self) -> Any:
        """The SparkSession, started or connected at first use."""
        if self._session is None:
            self._session, self._owned = self._open_session()
        return self._session

    def _open_session(self) -> tuple[Any, bool]:
        try:
            from pyspark.sql import SparkSession
        except ImportError as exc:
            raise ImportError(f"forecast_executor 'spark' needs pyspark: {INSTALL_HINT}") from exc
        if self.remote:
            return SparkSession.builder.remote(self.remote).getOrCreate(), True
        active = SparkSession.getActiveSession()
        if active is not None:
            return active, False
        if not self.master:
            raise RuntimeError(
                "forecast_executor is 'spark' but no SparkSession is active and neither spark_master "
                "nor spark_remote is set: set spark_master (e.g. local[2]) or spark_remote (e.g. sc://127.0.0.1:15002)"
            )
        # Python workers of a session started here run this interpreter (the one with this package)
        # unless the host chose another; PySpark reads the variable when the session starts.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        if self.master.startswith("local"):
            os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # a local session needs no other address
        builder = (
            SparkSession.builder.master(self.master)
            .appName("demand_forecast")
            .config("spark.sql.shuffle.partitions", str(self.partitions))
            .config("spark.sql.execution.arrow.pyspark.enabled", "true")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.driver.host", "127.0.0.1")
            .config("spark.driver.bindAddress", "127.0.0.1")
        )
        for var in THREAD_ENV_VARS:
            builder = builder.config(f"spark.executorEnv.{var}", "1")
        return builder.getOrCreate(), True

    def declared_outputs(self, func: Callable[..., Any]) -> tuple[tuple[str, str], ...]:
        """Output columns of ``func``: the ``outputs`` argument, else its ``series_outputs``, else one pickled frame."""
        if func in self.outputs:
            return self.outputs[func]
        declared = getattr(func, OUTPUTS_ATTRIBUTE, None)
        if declared is None:
            return PICKLED_FRAME
        columns = tuple(map(tuple, declared))
        _check_kinds(func, columns)
        return columns

    def map_series(
        self, func: SeriesFunction, frame: pd.DataFrame, key: str = "product_id", **kwargs: Any
    ) -> pd.DataFrame:
        """Apply ``func(group_frame, **kwargs)`` to every key group on Spark; concatenated in key order."""
        if frame.empty:
            return pd.DataFrame()
        if key not in frame.columns:
            raise KeyError(f"key column {key!r} is not in the frame (columns: {list(frame.columns)})")
        n_series = frame[key].nunique()
        progress.series(n_series)
        outputs = self.declared_outputs(func)
        encoded, input_schema, codec = encode_input(frame.reset_index(drop=True))
        run = _group_function(func, dict(kwargs), key, codec, outputs)
        spark = self.session
        with warnings.catch_warnings():
            # PySpark 4.3 warns on every pandas call that pandas 3 is not fully supported; the columns
            # this module sends (numbers, text, binary) round-trip exactly (tests/python/test_spark_executor.py)
            warnings.filterwarnings(
                "ignore", message="PySpark does not yet fully support pandas", category=FutureWarning
            )
            warnings.filterwarnings("ignore", message="The copy keyword is deprecated", module="pyspark")
            grouped = spark.createDataFrame(encoded, schema=input_schema).groupBy(key)
            rows = grouped.applyInPandas(run, schema=_schema(outputs)).toPandas()
        progress.advance(n_series)
        return decode_output(rows, outputs)

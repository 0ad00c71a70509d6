"""What the dbt Python models share: config from dbt vars, one forecasting run per invocation.

A dbt Python model returns one frame, while one forecasting run yields several (backtest, metrics,
selection, forecasts, registry). The run is therefore computed once and memoised in this module,
keyed by a hash of its inputs (panel, profiles, as-of month, config): dbt-duckdb runs Python models
inside the dbt process, so the models of one ``dbt build`` share the run, and a model built on its
own (``dbt build --select fct_forecasts``) recomputes the identical run from the same inputs.
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

import numpy as np
import pandas as pd

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


def shared_run(panel: pd.DataFrame, profiles: pd.DataFrame, as_of_month: Any, config: ForecastConfig) -> ForecastResult:
    """The forecasting run for these inputs, computed once per process."""
    key = run_key(panel, profiles, as_of_month, config)
    with _LOCK:
        if key not in _RESULTS:
            while len(_RESULTS) >= _MAX_CACHED:
                _RESULTS.pop(next(iter(_RESULTS)))
            with progress_lines():  # stage, series done / total, elapsed: into the batch's log
                _RESULTS[key] = run_forecasting(panel, profiles, as_of_month, config)
        return _RESULTS[key]


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
    panel_frame = panel.df()
    profiles_frame = profiles.df()
    as_of_month = pd.Timestamp(parameters.df()["as_of_month"].iloc[0])
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


def forecast_run(panel: Any, profiles: Any, parameters: Any, settings: Mapping[str, Any] | None) -> ForecastRun:
    """The inputs of a forecast mart (see :func:`load_inputs`), the run shared by the models of one
    dbt invocation (:func:`shared_run`) and var ``selected_forecast`` (``ensemble`` when not set).

    The mart still writes its ``dbt.ref`` and ``dbt.config.get`` calls itself: dbt only sees the
    ones written in the model file.
    """
    panel_frame, profiles_frame, as_of_month, config = load_inputs(panel, profiles, parameters, settings)
    result = shared_run(panel_frame, profiles_frame, as_of_month, config)
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

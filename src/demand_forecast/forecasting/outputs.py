"""The public frames of a forecasting run, built from its internal arrays and codes.

:func:`demand_forecast.forecasting.pipeline.run_forecasting` works on integer codes (product row,
model index, origin slot); the functions here turn its stages' results into the frames the dbt
models write, with the columns of :mod:`demand_forecast.forecasting.schemas`:

* :func:`backtest_frame`, :func:`metrics_frame`, :func:`selection_frame`, :func:`forecasts_frame`;
* :func:`registry_frame`: one row per model with its parameters, features, training window,
  backtest metrics and fit time; ``model_version`` is ``<name>-<package version>-<hash of the
  parameters>``.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .. import __version__
from . import schemas

if TYPE_CHECKING:
    from .backtest import ModelOutputs
    from .config import ForecastConfig
    from .features import PanelArrays
    from .stages import Bands, Choice


def month_lookup(arrays: PanelArrays, extra: int) -> pd.DatetimeIndex:
    """Month of every column index of the panel and ``extra`` months after it."""
    return pd.DatetimeIndex([arrays.month_at(t) for t in range(arrays.n_months + extra)])


def backtest_frame(arrays: PanelArrays, outputs: ModelOutputs, full: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """Public backtest: one row per product, model, cutoff and horizon."""
    horizon = int(full["h"].max()) if len(full) else 0
    months = month_lookup(arrays, horizon + 1)
    full = full.sort_values(["pid", "model", "origin", "h"], kind="stable").reset_index(drop=True)
    cutoffs = np.asarray(outputs.backtest_origins, dtype=np.int64)[full["origin"].to_numpy()]
    return pd.DataFrame(
        {
            "product_id": arrays.product_ids[full["pid"].to_numpy()],
            "model_name": np.asarray(names, dtype=object)[full["model"].to_numpy()],
            "cutoff_month": months[cutoffs],
            "horizon": full["h"].to_numpy(np.int64),
            "forecast_month": months[full["t"].to_numpy()],
            "forecast": full["forecast"].to_numpy(np.float64),
            "actual": full["actual"].to_numpy(np.float64),
        }
    )[list(schemas.BACKTEST.run_columns())]


def metrics_frame(arrays: PanelArrays, met: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """Public metrics: per product, model and horizon (0 = all horizons)."""
    metrics = pd.DataFrame(
        {
            "product_id": arrays.product_ids[met["pid"].to_numpy()],
            "model_name": np.asarray(names, dtype=object)[met["model"].to_numpy()],
        }
    )
    metrics["horizon"] = met["h"].to_numpy(np.int64)
    for col in ("n", "mae", "rmse", "wape", "bias", "mase", "coverage_80"):
        metrics[col] = met[col].to_numpy()
    return metrics.reset_index(drop=True)[list(schemas.METRICS.run_columns())]


def selection_frame(arrays: PanelArrays, choice: Choice) -> pd.DataFrame:
    """Public selection: one row per product that has a forecast."""
    st = choice.selection.table
    has_fc = st["champion_code"].to_numpy() != -2
    return pd.DataFrame(
        {
            "product_id": arrays.product_ids[has_fc],
            "champion_model": st["champion_model"].to_numpy(dtype=object)[has_fc],
            "ensemble_members": st["ensemble_members"].to_numpy(dtype=object)[has_fc],
            "selection_reason": st["selection_reason"].to_numpy(dtype=object)[has_fc],
            "segment": choice.segment_names[choice.segment_codes][has_fc].astype(object),
            "selection_level": st["selection_level"].to_numpy(dtype=object)[has_fc],
            "backtest_points": st["backtest_points"].to_numpy(np.int64)[has_fc],
            "ensemble_reason": st["ensemble_reason"].to_numpy(dtype=object)[has_fc],
        }
    )[list(schemas.SELECTION.run_columns())]


def forecasts_frame(
    arrays: PanelArrays, as_of: pd.Timestamp, outputs: ModelOutputs, choice: Choice, bands: Bands
) -> pd.DataFrame:
    """Public final forecasts: every model plus ``ensemble`` and ``champion``, with the reason."""
    st = choice.selection.table
    pid, model, h = bands.pid, bands.model, bands.h
    reasons = st["selection_reason"].to_numpy(dtype=object)
    order = np.lexsort((h, model, pid))
    reason = reasons[pid].copy()
    ensemble_rows = model == choice.ensemble_code
    reason[ensemble_rows] = st["ensemble_reason"].to_numpy(dtype=object)[pid[ensemble_rows]]
    gone = bands.discontinued
    if gone.any():
        months = np.asarray(
            [
                str(arrays.month_at(int(d)).date()) if d < arrays.n_months + 1200 else ""
                for d in bands.discontinued_after[pid[gone]]
            ],
            dtype=object,
        )
        reason[gone] = "discontinued (" + months + "): forecast set to 0; " + reason[gone].astype(str)
    horizon = int(h.max()) + 1 if len(h) else 0
    lookup = month_lookup(arrays, horizon + 1)
    return pd.DataFrame(
        {
            "product_id": arrays.product_ids[pid[order]],
            "as_of_month": np.full(len(order), np.datetime64(as_of, "us")),
            "forecast_month": lookup[outputs.final_origin + h[order] + 1],
            "horizon": (h[order] + 1).astype(np.int64),
            "model_name": np.asarray(choice.names, dtype=object)[model[order]],
            "forecast_p10": bands.p10[order],
            "forecast_p50": bands.p50[order],
            "forecast_p90": bands.p90[order],
            "selection_reason": reason[order],
        }
    )[list(schemas.FORECASTS.run_columns())]


def members_by_class(selection: pd.DataFrame) -> dict[str, str]:
    """The most common ensemble members of each demand class (the class-pooled choice)."""
    if selection.empty:
        return {}
    classes = selection["segment"].astype(str).str.split("|").str[0]
    common = selection.groupby(classes)["ensemble_members"].agg(lambda m: m.value_counts().sort_index().idxmax())
    return {str(k): str(v) for k, v in common.sort_index().items()}


def model_version(name: str, params_json: str) -> str:
    digest = hashlib.sha1(f"{name}|{params_json}".encode()).hexdigest()[:10]
    return f"{name}-{__version__}-{digest}"


def derived_params(name: str, selection: pd.DataFrame, config: ForecastConfig) -> dict[str, Any]:
    """Registry parameters of the two derived models, ``ensemble`` and ``champion``."""
    if name == "ensemble":
        return {
            "method": config.ensemble_method,
            "size": config.ensemble_size,
            "pool": config.ensemble_pool,
            "min_pool_points": config.ensemble_min_pool_points,
            "new_product_members": list(config.new_product_ensemble),
            "metric": config.ensemble_metric,
            "members": "best combination of up to `size` models per pool by pooled backtest "
            + config.ensemble_metric.upper()
            if config.ensemble_pool != "product"
            else "best models of the product (or its segment) by backtest MAE/WAPE",
            "chosen": {str(k): int(v) for k, v in selection["ensemble_members"].value_counts().sort_index().items()},
            "members_by_class": members_by_class(selection),
        }
    return {
        "rule": "lowest backtest MAE per product; "
        "segment (demand_class|product_group) ranking below min_selection_points",
        "min_selection_points": config.min_selection_points,
        "ensemble_as_candidate": config.ensemble_as_candidate,
        "chosen": {str(k): int(v) for k, v in selection["champion_model"].value_counts().sort_index().items()},
    }


def registry_frame(
    arrays: PanelArrays,
    as_of: pd.Timestamp,
    outputs: ModelOutputs,
    choice: Choice,
    selection: pd.DataFrame,
    by_model: pd.DataFrame,
    selection_seconds: float,
    config: ForecastConfig,
) -> pd.DataFrame:
    """One row per model (base models, ``ensemble``, ``champion``)."""
    n_series = (~np.isnan(choice.final_all)).all(axis=2).sum(axis=0)
    rows = []
    for code, name in enumerate(choice.names):
        info = outputs.info.get(name, {})
        if name in ("ensemble", "champion"):
            params, features_json = derived_params(name, selection, config), json.dumps([])
        else:
            params, features_json = info.get("params", {}), info.get("features_json", "[]")
        params_json = json.dumps(params, sort_keys=True, default=str)
        scores = by_model.loc[code] if code in by_model.index else None
        rows.append(
            {
                "model_name": name,
                "model_version": model_version(name, params_json),
                "as_of_month": as_of,
                "params_json": params_json,
                "features_json": features_json,
                "train_start": info.get("train_start", arrays.months[0]),
                "train_end": info.get("train_end", as_of),
                "n_series": int(n_series[code]),
                **{
                    metric: float(scores[metric]) if scores is not None else float("nan")
                    for metric in ("wape", "mase", "bias", "coverage_80")
                },
                "model_blob": info.get("model_blob"),
                "fit_seconds": float(
                    info.get("fit_seconds", selection_seconds if name in ("ensemble", "champion") else 0.0)
                ),
            }
        )
    registry = pd.DataFrame(rows, columns=list(schemas.REGISTRY.run_columns()))
    for col in ("as_of_month", "train_start", "train_end"):
        registry[col] = pd.to_datetime(registry[col])
    return registry

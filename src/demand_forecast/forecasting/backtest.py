"""Rolling-origin backtest: run every model at every origin, collect errors.

Origins
    Backtest cutoffs are ``as_of_month - k`` months for ``k = n_origins .. 1``;
    the final origin is ``as_of_month`` itself.  At each cutoff every model
    forecasts horizons ``1..H`` from data with ``month <= cutoff`` only.
    Backtest rows whose forecast month lies after ``as_of_month`` are dropped
    (their actual is unknown).  The actual of a month that is excluded from
    training (or missing) is unknown as well: it stays null and the row is
    ignored by the metrics.

Estimation plan (speed; see :mod:`demand_forecast.forecasting.models.statistical`)
    * baseline, seasonal naive, SBA, TSB and cold start have no estimated
      parameters: they are computed from scratch at every origin, vectorised
      over all products.
    * ETS and Theta are estimated per series once at the earliest cutoff and
      re-filtered with fixed parameters at the later cutoffs and the final
      origin (``stat_refit="final"`` re-estimates at the final origin too).
    * LightGBM is trained at the earliest cutoff and re-used for all backtest
      cutoffs, then re-trained at the final origin (``gbm_refit``: ``"once"``
      never re-trains, ``"each"`` trains at every origin).
    In every case the parameters used at an origin were estimated from data
    up to that origin or earlier, so the backtest has no look-ahead.

The module returns a compact internal long frame with integer codes
(:func:`backtest_long`); :mod:`demand_forecast.forecasting.pipeline` turns it into the
public ``backtest`` frame.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .config import ALL_MODELS, ForecastConfig
from .features import PanelArrays, level_at
from .metrics import mase_scale_at
from .models import (
    TSB,
    ColdStart,
    CrostonSBA,
    LightGBMForecaster,
    SeasonalNaive,
    StatisticalForecaster,
    WeightedMovingAverage,
)
from .models.global_model import features_json

#: execution settings left out of ``params_json`` (they do not change the model)
EXECUTION_PARAMS = ("n_jobs", "chunk_size", "num_threads")


@dataclass
class ModelOutputs:
    """Forecasts of every model at every origin.

    ``forecasts[name]`` is ``(n_products, n_origins + 1, H)``: slots
    ``0..n_origins-1`` are the backtest cutoffs (ascending), the last slot is
    the final origin (``as_of_month``).  ``info[name]`` holds registry data.
    """

    origins: list[int]
    forecasts: dict[str, np.ndarray]
    info: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def backtest_origins(self) -> list[int]:
        return self.origins[:-1]

    @property
    def final_origin(self) -> int:
        return self.origins[-1]


def origin_indices(arrays: PanelArrays, n_origins: int) -> list[int]:
    """Column indices of the backtest cutoffs (ascending) followed by the final origin.

    Cutoffs before the panel's first month (no data at all) are left out.
    """
    final = arrays.n_months - 1
    return [final - k for k in range(n_origins, 0, -1) if final - k >= 0] + [final]


def _spec_counts(specs: pd.Series) -> dict[str, int]:
    return {str(k): int(v) for k, v in specs.value_counts().sort_index().items()}


def run_models(arrays: PanelArrays, config: ForecastConfig) -> ModelOutputs:
    """Run every configured model at every origin (see module docstring)."""
    origins = origin_indices(arrays, config.n_origins)
    bt, final = origins[:-1], origins[-1:]
    H = config.horizon
    forecasts: dict[str, np.ndarray] = {}
    info: dict[str, dict[str, Any]] = {}
    first_month = arrays.months[0]
    as_of = arrays.months[-1]

    def base_info(params: dict[str, Any], features: Any = ("demand",)) -> dict[str, Any]:
        return {
            "params": params,
            "features_json": json.dumps(features if isinstance(features, dict) else list(features)),
            "train_start": first_month,
            "train_end": as_of,
            "model_blob": None,
        }

    simple = {
        "baseline": lambda: WeightedMovingAverage(H, config.baseline_weights),
        "seasonal_naive": lambda: SeasonalNaive(H, config.season_length),
        "sba": lambda: CrostonSBA(H, config.sba_alpha, min_history=config.min_history_months),
        "tsb": lambda: TSB(H, config.tsb_alpha, config.tsb_beta, min_history=config.min_history_months),
        "cold_start": lambda: ColdStart(
            H,
            min_history=config.min_history_months,
            min_products=config.cold_start_min_products,
            profile_months=config.cold_start_profile_months,
            season_length=config.season_length,
            launch_curve=config.cold_start_launch_curve,
        ),
    }
    for name in ALL_MODELS:
        if name not in config.models or name not in simple:
            continue
        t0 = time.perf_counter()
        model = simple[name]()
        forecasts[name] = model.forecast_arrays(arrays, origins)
        info[name] = base_info(model.get_params(), ("demand", "product_group") if name == "cold_start" else ("demand",))
        info[name]["fit_seconds"] = time.perf_counter() - t0

    stat_models = tuple(m for m in ("ets", "theta") if m in config.models)
    if stat_models:
        t0 = time.perf_counter()
        sf = StatisticalForecaster(
            H,
            models=stat_models,
            ets_specs=config.ets_specs,
            season_length=config.season_length,
            min_history=config.stat_min_history,
            classes=config.stat_classes,
            min_history_months=config.min_history_months,
            n_jobs=config.n_jobs,
            chunk_size=config.chunk_size,
            season_test=config.ets_season_test,
            adi_cutoff=config.adi_cutoff,
            cv2_cutoff=config.cv2_cutoff,
        )
        if config.stat_refit == "once":
            res = sf.forecast_arrays_multi(arrays, origins)
            specs = dict(sf.specs_)
        elif config.stat_refit == "each":
            # re-estimated at every origin: the reference the cheaper plans are measured against
            parts = [sf.forecast_arrays_multi(arrays, [o]) for o in origins]
            specs = dict(sf.specs_)
            res = {m: np.concatenate([part[m] for part in parts], axis=1) for m in stat_models}
        else:
            res_bt = (
                sf.forecast_arrays_multi(arrays, bt)
                if bt
                else {m: np.zeros((arrays.n_series, 0, H)) for m in stat_models}
            )
            res_fin = sf.forecast_arrays_multi(arrays, final)
            specs = dict(sf.specs_)
            res = {m: np.concatenate([res_bt[m], res_fin[m]], axis=1) for m in stat_models}
        elapsed = time.perf_counter() - t0
        for name in stat_models:
            forecasts[name] = res[name]
            params = {k: v for k, v in sf.get_params().items() if k not in EXECUTION_PARAMS}
            params["models"] = list(stat_models)
            params["estimated_at"] = {
                "once": str(arrays.months[origins[0]].date()),
                "final": "first backtest origin and final origin",
                "each": "every origin",
            }[config.stat_refit]
            params["chosen_specs"] = _spec_counts(specs.get(name, pd.Series(dtype=object)))
            params["n_fitted"] = sf.n_fitted_
            info[name] = base_info(params)
            info[name]["fit_seconds"] = elapsed / len(stat_models)
            info[name]["note"] = "ets and theta run in one pass per series; fit_seconds is the shared time split evenly"

    if "lightgbm" in config.models:
        t0 = time.perf_counter()
        gbm = LightGBMForecaster(
            H,
            params=config.gbm_params,
            train_origins=config.gbm_train_origins,
            min_history=config.min_history_months,
            num_threads=config.lightgbm_threads,
            seed=config.seed,
            adi_cutoff=config.adi_cutoff,
            cv2_cutoff=config.cv2_cutoff,
        )
        if config.gbm_refit == "once":
            groups = [origins]
        elif config.gbm_refit == "final":
            groups = [bt, final]
        else:
            groups = [[o] for o in origins]
        parts = [gbm.forecast_arrays(arrays, g) for g in groups if len(g)]
        forecasts["lightgbm"] = np.concatenate(parts, axis=1)
        info["lightgbm"] = base_info(gbm.describe(), json.loads(features_json(arrays)))
        info["lightgbm"]["model_blob"] = gbm.model_text_
        info["lightgbm"]["train_end"] = arrays.months[gbm.train_origin_]
        info["lightgbm"]["fit_seconds"] = time.perf_counter() - t0

    return ModelOutputs(origins=origins, forecasts=forecasts, info=info)


def backtest_long(arrays: PanelArrays, outputs: ModelOutputs, model_names: list[str]) -> pd.DataFrame:
    """Internal long backtest frame with integer codes.

    Columns: ``pid`` (product row), ``model`` (index into ``model_names``),
    ``origin`` (backtest slot), ``h``, ``t`` (target column), ``forecast``,
    ``actual`` (NaN = unknown), ``mase_scale`` and ``level`` (interval scale,
    the 12-month level at the cutoff floored at 1).  Only rows with a
    forecast and a target month ``<= as_of_month`` are kept.
    """
    final = outputs.final_origin
    parts: dict[str, list[np.ndarray]] = {
        k: [] for k in ("pid", "model", "origin", "h", "t", "forecast", "mase_scale", "level")
    }
    for j, o in enumerate(outputs.backtest_origins):
        scale = mase_scale_at(arrays, o)
        level = interval_level(arrays, o)
        for mi, name in enumerate(model_names):
            arr = outputs.forecasts.get(name)
            if arr is None:
                continue
            for h in range(1, arr.shape[2] + 1):
                if o + h > final:
                    continue
                f = arr[:, j, h - 1]
                rows = np.nonzero(~np.isnan(f))[0]
                if len(rows) == 0:
                    continue
                parts["pid"].append(rows.astype(np.int32))
                parts["model"].append(np.full(len(rows), mi, np.int16))
                parts["origin"].append(np.full(len(rows), j, np.int16))
                parts["h"].append(np.full(len(rows), h, np.int16))
                parts["t"].append(np.full(len(rows), o + h, np.int32))
                parts["forecast"].append(f[rows])
                parts["mase_scale"].append(scale[rows])
                parts["level"].append(level[rows])
    if not parts["pid"]:
        dtypes = {"pid": np.int32, "model": np.int16, "origin": np.int16, "h": np.int16, "t": np.int32}
        cols = {k: np.zeros(0, dtype=dtypes.get(k, np.float64)) for k in parts}
        cols["actual"] = np.zeros(0)
        return pd.DataFrame(cols)
    frame = pd.DataFrame({k: np.concatenate(v) for k, v in parts.items()})
    frame["actual"] = arrays.y[frame["pid"].to_numpy(), frame["t"].to_numpy()]
    return frame


def interval_level(arrays: PanelArrays, origin: int, floor: float = 1.0) -> np.ndarray:
    """Scale of a product for intervals: 12-month mean demand at ``origin``, at least ``floor``."""
    lvl = level_at(arrays.y, origin, 12)
    return np.where(np.isfinite(lvl), np.maximum(lvl, floor), floor)

"""Public entry point of the forecasting package.

Usage (what a thin dbt Python model does)::

    from demand_forecast.forecasting.config import ForecastConfig
    from demand_forecast.forecasting.pipeline import run_forecasting

    config = ForecastConfig(horizon=3, n_origins=6, n_jobs=2, seed=42)
    result = run_forecasting(panel_df, profiles_df, as_of_month, config)
    result.backtest, result.metrics, result.selection, result.forecasts, result.registry

Design for speed (30,000 products x 60 months, 6 origins + final, 2 cores)
------------------------------------------------------------------------
* The panel becomes dense ``(products x months)`` numpy arrays once
  (:mod:`demand_forecast.forecasting.features`).
* baseline, seasonal naive, SBA, TSB and cold start are vectorised over all
  products (numpy; loops only over months/origins/horizons).
* ETS and Theta (statsmodels) are only fitted where they make sense
  (smooth/erratic products with >= 12 months at the earliest cutoff),
  **once per series at the earliest cutoff**, then re-filtered with fixed
  parameters through the later cutoffs and the final origin; the per-series
  function is pure (frame in, frame out) and runs over chunks of products in
  a ``spawn`` ``ProcessPoolExecutor`` (``n_jobs`` workers, single-threaded
  BLAS/OpenMP in the workers).
* LightGBM is one global, direct multi-horizon model; it is trained at the
  earliest cutoff (re-used for all cutoffs) and re-trained at the final origin
  with ``num_threads = n_jobs``.
* Metrics, selection, ensembles and intervals are grouped numpy/pandas
  operations on one long frame with integer codes.

Months with ``exclude_from_training = true`` (stock-out policy ``exclude``)
---------------------------------------------------------------------------
They become missing values (NaN) in the demand matrix:

==============  ==================================================================
baseline        skipped: the k most recent *usable* months are averaged
seasonal_naive  a missing same-month-last-year value falls back to the naive value
sba / tsb       skipped: no state update, not counted as a period
ets / theta     linearly interpolated for the statsmodels estimation; treated as
                missing (state propagated without error correction) in the re-filter
lightgbm        target rows dropped; lags / rolling stats see NaN (native missing)
cold_start      left out of the launch level and of the group profiles
metrics         the backtest ``actual`` of such a month is null and not scored
==============  ==================================================================

Determinism: products are processed in sorted ``product_id`` order, worker
results are re-assembled in that order whatever ``n_jobs`` is, LightGBM runs
with a fixed seed and ``deterministic=True``; every output frame is sorted.

Importing this module has no side effects.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .. import __version__
from ..months import month_start
from . import schemas
from .backtest import backtest_long, interval_level, run_models
from .config import ALL_MODELS, ForecastConfig
from .features import CLASS_CODE, DEMAND_CLASSES, PanelArrays, build_panel_arrays, demand_class_at
from .intervals import apply_band, fit_quantiles, loo_bands
from .metrics import summarise
from .selection import ENSEMBLE, select_models

# Columns of the frames, in order: owned by the table schemas (what the dbt models write).
BACKTEST_COLUMNS = schemas.BACKTEST.run_columns()
METRICS_COLUMNS = schemas.METRICS.run_columns()
SELECTION_COLUMNS = schemas.SELECTION.run_columns()
FORECAST_COLUMNS = schemas.FORECASTS.run_columns()
REGISTRY_COLUMNS = schemas.REGISTRY.run_columns()


@dataclass
class ForecastResult:
    """Frames produced by :func:`run_forecasting`.

    backtest
        ``product_id, model_name, cutoff_month, horizon, forecast_month,
        forecast, actual`` -- one row per product, model (every base model
        plus ``ensemble`` and ``champion``), cutoff and horizon.  Cutoffs are
        ``as_of_month - k`` (k = 1..n_origins); rows with ``forecast_month >
        as_of_month`` are left out; ``actual`` is null when unknown (month
        excluded from training).
    metrics
        ``product_id, model_name, horizon, n, mae, rmse, wape, bias, mase,
        coverage_80`` -- backtest accuracy per product, model and horizon;
        ``horizon = 0`` rows pool all horizons.  Formulas in
        :mod:`demand_forecast.forecasting.metrics`; ``coverage_80`` is the
        leave-one-origin-out coverage of the P10-P90 band.
    selection
        ``product_id, champion_model, ensemble_members, selection_reason,
        segment, selection_level, backtest_points, ensemble_reason`` -- one row
        per product; ``segment`` is ``demand_class|product_group``;
        ``selection_level`` says whether the product's own backtest or its
        segment decided the champion; ``ensemble_reason`` how the ensemble
        members were chosen.
    forecasts
        ``product_id, as_of_month, forecast_month, horizon, model_name,
        forecast_p10, forecast_p50, forecast_p90, selection_reason`` -- final
        forecasts of every model plus ``ensemble`` and ``champion``
        (``forecast_p50`` is the point forecast; ``selection_reason`` is the
        ensemble's reason on ensemble rows, the champion's elsewhere).
    registry
        ``model_name, model_version, as_of_month, params_json, features_json,
        train_start, train_end, n_series, wape, mase, bias, coverage_80,
        model_blob, fit_seconds`` -- one row per model (LightGBM's
        ``model_blob`` is its model text, null for the others).
    timings
        seconds per stage.
    info
        run facts (as-of month, cutoffs, product count, ...).
    """

    backtest: pd.DataFrame
    metrics: pd.DataFrame
    selection: pd.DataFrame
    forecasts: pd.DataFrame
    registry: pd.DataFrame
    timings: dict[str, float] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)


def _product_classes(arrays: PanelArrays, profiles: pd.DataFrame | None, config: ForecastConfig) -> np.ndarray:
    """Demand class code per product: ``int_series_profiles.demand_class``, else computed at the as-of month."""
    final = arrays.n_months - 1
    codes = demand_class_at(arrays, final, config.min_history_months, config.adi_cutoff, config.cv2_cutoff)
    codes = codes.astype(np.int64)
    if profiles is not None and "demand_class" in profiles.columns:
        prof = profiles[["product_id", "demand_class"]].dropna().copy()
        prof["product_id"] = prof["product_id"].astype(str)
        prof = prof.drop_duplicates("product_id", keep="last")
        mapped = prof["demand_class"].astype(str).str.lower().map(CLASS_CODE)
        prof = prof.loc[mapped.notna()]
        pos = pd.Index(arrays.product_ids).get_indexer(prof["product_id"].to_numpy(dtype=object))
        ok = pos >= 0
        codes[pos[ok]] = mapped.loc[prof.index].to_numpy()[ok].astype(np.int64)
    return codes


def _discontinued_after(arrays: PanelArrays, profiles: pd.DataFrame | None) -> np.ndarray:
    """Column index of each product's discontinuation month (large when none)."""
    out = np.full(arrays.n_series, np.iinfo(np.int64).max // 2, dtype=np.int64)
    if profiles is None or "discontinued_date" not in profiles.columns:
        return out
    prof = profiles[["product_id", "discontinued_date"]].dropna().copy()
    if prof.empty:
        return out
    prof["product_id"] = prof["product_id"].astype(str)
    pos = pd.Index(arrays.product_ids).get_indexer(prof["product_id"].to_numpy(dtype=object))
    d = pd.to_datetime(prof["discontinued_date"])
    first = arrays.months[0]
    idx = (d.dt.year - first.year) * 12 + (d.dt.month - first.month)
    ok = pos >= 0
    out[pos[ok]] = idx.to_numpy()[ok]
    return out


def _members_by_class(selection: pd.DataFrame) -> dict[str, str]:
    """The most common ensemble members of each demand class (the class-pooled choice)."""
    if selection.empty:
        return {}
    classes = selection["segment"].astype(str).str.split("|").str[0]
    common = selection.groupby(classes)["ensemble_members"].agg(lambda m: m.value_counts().sort_index().idxmax())
    return {str(k): str(v) for k, v in common.sort_index().items()}


def _version(name: str, params_json: str) -> str:
    digest = hashlib.sha1(f"{name}|{params_json}".encode()).hexdigest()[:10]
    return f"{name}-{__version__}-{digest}"


def run_forecasting(
    panel: pd.DataFrame,
    profiles: pd.DataFrame | None = None,
    as_of_month=None,
    config: ForecastConfig | None = None,
) -> ForecastResult:
    """Backtest every model, choose champions, build intervals and final forecasts.

    Parameters
    ----------
    panel : ``int_monthly_demand`` rows (``product_id, month, demand`` required;
        ``exclude_from_training, product_group, category, avg_unit_price,
        is_partial_month`` used when present).  Rows after ``as_of_month`` are
        ignored.
    profiles : ``int_series_profiles`` (optional; ``demand_class`` defines the
        selection segment, ``discontinued_date`` zeroes forecasts after it,
        ``product_group``/``category`` fill gaps of the panel).
    as_of_month : last known month (default: the panel's last month).
    config : :class:`ForecastConfig` (defaults if None).

    Returns
    -------
    :class:`ForecastResult` (see its docstring for every frame and column).
    """
    config = config or ForecastConfig()
    timings: dict[str, float] = {}
    t_all = time.perf_counter()
    t0 = time.perf_counter()
    if as_of_month is None:
        as_of_month = pd.to_datetime(panel["month"]).max()
    as_of = month_start(as_of_month)
    arrays = build_panel_arrays(panel, as_of, profiles)
    H = config.horizon
    timings["prepare"] = time.perf_counter() - t0

    # ---- models at every origin ------------------------------------------
    t0 = time.perf_counter()
    outputs = run_models(arrays, config)
    timings["models"] = time.perf_counter() - t0
    for name, inf in outputs.info.items():
        timings[f"model:{name}"] = float(inf.get("fit_seconds", 0.0))
    model_names = [m for m in ALL_MODELS if m in outputs.forecasts]
    n_models = len(model_names)

    t0 = time.perf_counter()
    bt = backtest_long(arrays, outputs, model_names)
    timings["backtest_frame"] = time.perf_counter() - t0

    # ---- selection ---------------------------------------------------------
    t0 = time.perf_counter()
    cls_codes = _product_classes(arrays, profiles, config)
    seg_labels = np.char.add(
        np.char.add(np.asarray(DEMAND_CLASSES)[cls_codes].astype(str), "|"),
        arrays.group_names[arrays.group_codes].astype(str),
    )
    segment_names, segment_codes = np.unique(seg_labels, return_inverse=True)
    final = np.stack([outputs.forecasts[m][:, -1, :] for m in model_names], axis=1)
    sel = select_models(
        bt,
        model_names,
        final,
        segment_codes,
        segment_names,
        cls_codes,
        list(DEMAND_CLASSES),
        len(outputs.backtest_origins),
        config,
    )
    champion = sel.table["champion_code"].to_numpy(np.int64)
    ens_code, champ_code = n_models, n_models + 1
    all_names = model_names + ["ensemble", "champion"]
    ens_bt = sel.ensemble_bt.copy()
    ens_bt["model"] = ens_code
    # the champion's rows are copies of its model's rows (that model's code, or the ensemble's)
    underlying = np.where(champion == ENSEMBLE, ens_code, champion)
    base = pd.concat([bt, ens_bt[bt.columns]], ignore_index=True)
    for col, dtype in (("pid", np.int64), ("model", np.int64), ("origin", np.int64), ("h", np.int64), ("t", np.int64)):
        base[col] = base[col].astype(dtype)
    champ_final = np.full((arrays.n_series, H), np.nan)
    single = champion >= 0
    champ_final[single] = final[np.nonzero(single)[0], champion[single]]
    is_ens = champion == ENSEMBLE
    champ_final[is_ens] = sel.ensemble_final[is_ens]
    final_all = np.concatenate([final, sel.ensemble_final[:, None, :], champ_final[:, None, :]], axis=1)
    timings["selection"] = time.perf_counter() - t0

    # ---- intervals -----------------------------------------------------------
    t0 = time.perf_counter()
    # Residual quantiles per (model, horizon, class) of the base models and the ensemble.  The
    # champion borrows the band of its model, estimated on every product's residuals: the
    # champion's own residuals are optimistic (it was picked for having the smallest), which
    # made its bands cover ~70 % instead of 80 % on later months.
    shape = (len(all_names), H + 1, len(DEMAND_CLASSES))
    q = tuple(config.interval_quantiles)
    p10_bt, p90_bt = loo_bands(base, cls_codes, shape, q, config.interval_min_pool)
    base["p10"] = p10_bt
    base["p90"] = p90_bt
    champ_bt = base[underlying[base["pid"].to_numpy()] == base["model"].to_numpy()].copy()
    champ_bt["model"] = champ_code
    full = pd.concat([base, champ_bt], ignore_index=True)
    r_all = (base["actual"].to_numpy() - base["forecast"].to_numpy()) / base["level"].to_numpy()
    table = fit_quantiles(
        base["model"].to_numpy(),
        base["h"].to_numpy(),
        cls_codes[base["pid"].to_numpy()],
        r_all,
        shape,
        q,
        config.interval_min_pool,
    )
    fin_pid, fin_model, fin_h = np.nonzero(~np.isnan(final_all))
    fin_f = final_all[fin_pid, fin_model, fin_h]
    lvl = interval_level(arrays, outputs.final_origin)[fin_pid]
    band_model = np.where(fin_model == champ_code, underlying[fin_pid], fin_model)
    q_lo, q_hi = table.lookup(band_model, fin_h + 1, cls_codes[fin_pid])
    p10, p50, p90 = apply_band(fin_f, lvl, q_lo, q_hi)
    disc = _discontinued_after(arrays, profiles)
    target_col = outputs.final_origin + fin_h + 1
    gone = target_col > disc[fin_pid]
    p10, p50, p90 = (np.where(gone, 0.0, a) for a in (p10, p50, p90))
    timings["intervals"] = time.perf_counter() - t0

    # ---- metrics -------------------------------------------------------------
    t0 = time.perf_counter()
    per_h = summarise(full, ["pid", "model", "h"], lower="p10", upper="p90")
    pooled = summarise(full, ["pid", "model"], lower="p10", upper="p90")
    pooled["h"] = 0
    met = pd.concat([per_h, pooled[per_h.columns]], ignore_index=True).sort_values(["pid", "model", "h"], kind="stable")
    by_model = summarise(full, ["model"], lower="p10", upper="p90").set_index("model")
    timings["metrics"] = time.perf_counter() - t0

    # ---- public frames -------------------------------------------------------
    t0 = time.perf_counter()
    pids = arrays.product_ids
    names_arr = np.asarray(all_names, dtype=object)
    full = full.sort_values(["pid", "model", "origin", "h"], kind="stable").reset_index(drop=True)
    bt_origins = np.asarray(outputs.backtest_origins, dtype=np.int64)
    cut_idx = bt_origins[full["origin"].to_numpy()]
    month_lookup = pd.DatetimeIndex([arrays.month_at(t) for t in range(arrays.n_months + H + 1)])
    backtest = pd.DataFrame(
        {
            "product_id": pids[full["pid"].to_numpy()],
            "model_name": names_arr[full["model"].to_numpy()],
            "cutoff_month": month_lookup[cut_idx],
            "horizon": full["h"].to_numpy(np.int64),
            "forecast_month": month_lookup[full["t"].to_numpy()],
            "forecast": full["forecast"].to_numpy(np.float64),
            "actual": full["actual"].to_numpy(np.float64),
        }
    )
    metrics = pd.DataFrame(
        {"product_id": pids[met["pid"].to_numpy()], "model_name": names_arr[met["model"].to_numpy()]}
    )
    metrics["horizon"] = met["h"].to_numpy(np.int64)
    for col in ("n", "mae", "rmse", "wape", "bias", "mase", "coverage_80"):
        metrics[col] = met[col].to_numpy()
    metrics = metrics.reset_index(drop=True)

    st = sel.table
    has_fc = st["champion_code"].to_numpy() != -2
    selection = pd.DataFrame(
        {
            "product_id": pids[has_fc],
            "champion_model": st["champion_model"].to_numpy(dtype=object)[has_fc],
            "ensemble_members": st["ensemble_members"].to_numpy(dtype=object)[has_fc],
            "selection_reason": st["selection_reason"].to_numpy(dtype=object)[has_fc],
            "segment": segment_names[segment_codes][has_fc].astype(object),
            "selection_level": st["selection_level"].to_numpy(dtype=object)[has_fc],
            "backtest_points": st["backtest_points"].to_numpy(np.int64)[has_fc],
            "ensemble_reason": st["ensemble_reason"].to_numpy(dtype=object)[has_fc],
        }
    )

    reasons = st["selection_reason"].to_numpy(dtype=object)
    order = np.lexsort((fin_h, fin_model, fin_pid))
    fc_reason = reasons[fin_pid].copy()
    ens_rows = fin_model == ens_code
    fc_reason[ens_rows] = st["ensemble_reason"].to_numpy(dtype=object)[fin_pid[ens_rows]]
    if gone.any():
        disc_month = np.asarray(
            [str(arrays.month_at(int(d)).date()) if d < arrays.n_months + 1200 else "" for d in disc[fin_pid[gone]]],
            dtype=object,
        )
        fc_reason[gone] = "discontinued (" + disc_month + "): forecast set to 0; " + fc_reason[gone].astype(str)
    forecasts = pd.DataFrame(
        {
            "product_id": pids[fin_pid[order]],
            "as_of_month": np.full(len(order), np.datetime64(as_of, "us")),
            "forecast_month": month_lookup[outputs.final_origin + fin_h[order] + 1],
            "horizon": (fin_h[order] + 1).astype(np.int64),
            "model_name": names_arr[fin_model[order]],
            "forecast_p10": p10[order],
            "forecast_p50": p50[order],
            "forecast_p90": p90[order],
            "selection_reason": fc_reason[order],
        }
    )

    # ---- registry --------------------------------------------------------------
    n_series = (~np.isnan(final_all)).all(axis=2).sum(axis=0)
    champ_counts = selection["champion_model"].value_counts().sort_index()
    rows = []
    for code, name in enumerate(all_names):
        inf = outputs.info.get(name, {})
        if name == "ensemble":
            params: dict[str, Any] = {
                "method": config.ensemble_method,
                "size": config.ensemble_size,
                "pool": config.ensemble_pool,
                "min_pool_points": config.ensemble_min_pool_points,
                "new_product_members": list(config.new_product_ensemble),
                "members": "best combination of up to `size` models per pool by pooled backtest WAPE"
                if config.ensemble_pool != "product"
                else "best models of the product (or its segment) by backtest MAE/WAPE",
                "chosen": {
                    str(k): int(v) for k, v in selection["ensemble_members"].value_counts().sort_index().items()
                },
                "members_by_class": _members_by_class(selection),
            }
            features: Any = []
        elif name == "champion":
            params = {
                "rule": "lowest backtest MAE per product; "
                "segment (demand_class|product_group) ranking below min_selection_points",
                "min_selection_points": config.min_selection_points,
                "ensemble_as_candidate": config.ensemble_as_candidate,
                "chosen": {str(k): int(v) for k, v in champ_counts.items()},
            }
            features = []
        else:
            params = inf.get("params", {})
            features = None
        params_json = json.dumps(params, sort_keys=True, default=str)
        features_json = inf.get("features_json", "[]") if features is None else json.dumps(features)
        m = by_model.loc[code] if code in by_model.index else None
        rows.append(
            {
                "model_name": name,
                "model_version": _version(name, params_json),
                "as_of_month": as_of,
                "params_json": params_json,
                "features_json": features_json,
                "train_start": inf.get("train_start", arrays.months[0]),
                "train_end": inf.get("train_end", as_of),
                "n_series": int(n_series[code]),
                "wape": float(m["wape"]) if m is not None else float("nan"),
                "mase": float(m["mase"]) if m is not None else float("nan"),
                "bias": float(m["bias"]) if m is not None else float("nan"),
                "coverage_80": float(m["coverage_80"]) if m is not None else float("nan"),
                "model_blob": inf.get("model_blob"),
                "fit_seconds": float(
                    inf.get("fit_seconds", timings["selection"] if name in ("ensemble", "champion") else 0.0)
                ),
            }
        )
    registry = pd.DataFrame(rows, columns=list(REGISTRY_COLUMNS))
    for col in ("as_of_month", "train_start", "train_end"):
        registry[col] = pd.to_datetime(registry[col])
    timings["frames"] = time.perf_counter() - t0
    timings["total"] = time.perf_counter() - t_all

    info = {
        "as_of_month": as_of,
        "cutoffs": [arrays.months[o] for o in outputs.backtest_origins],
        "n_cutoffs_dropped": config.n_origins - len(outputs.backtest_origins),
        "n_products": arrays.n_series,
        "n_months": arrays.n_months,
        "models": all_names,
        "config": config.to_dict(),
    }
    return ForecastResult(
        backtest=backtest,
        metrics=metrics,
        selection=selection,
        forecasts=forecasts,
        registry=registry,
        timings=timings,
        info=info,
    )

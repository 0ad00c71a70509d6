"""Public entry point of the forecasting package.

Usage (what a thin dbt Python model does)::

    from demand_forecast.forecasting.config import ForecastConfig
    from demand_forecast.forecasting.pipeline import run_forecasting

    config = ForecastConfig(horizon=3, n_origins=6, n_jobs=2, seed=42)
    result = run_forecasting(panel_df, profiles_df, as_of_month, config)
    result.backtest, result.metrics, result.selection, result.forecasts, result.registry

Stages (each a function below, timed in ``ForecastResult.timings``)
-------------------------------------------------------------------
``prepare`` (the panel as arrays), ``models`` (:func:`run_models`: every model
at every origin, :mod:`demand_forecast.forecasting.backtest`),
``backtest_frame`` (the long backtest with integer codes), ``selection``
(:func:`choose`: champion and ensemble per product,
:mod:`demand_forecast.forecasting.selection`), ``intervals``
(:func:`interval_bands`: P10/P90 of every backtest point and final forecast,
:mod:`demand_forecast.forecasting.intervals`), ``metrics``
(:func:`score`), ``frames`` (the public frames and the registry,
:mod:`demand_forecast.forecasting.outputs`).

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
  estimation is a pure function (frame in, frame out) run over chunks of
  products by the executor (:mod:`demand_forecast.forecasting.executor`: a
  ``spawn`` process pool of ``n_jobs`` single-threaded workers, shared by the
  models of the run).
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

import contextlib
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..months import month_start
from . import outputs as frames
from . import progress, schemas
from .backtest import ModelOutputs, Refit, backtest_long, cross_validation, interval_level
from .config import ForecastConfig
from .executor import Executor, LocalExecutor
from .features import CLASS_CODE, DEMAND_CLASSES, PanelArrays, build_panel_arrays, demand_class_at
from .intervals import apply_band, fit_quantiles, loo_bands
from .metrics import summarise
from .models import BaseForecaster, build_models
from .selection import ENSEMBLE, select_models
from .stages import Bands, Choice

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


class StageTimer:
    """Seconds per named stage."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        started = time.perf_counter()
        progress.stage(stage)
        try:
            yield
        finally:
            self.seconds[stage] = time.perf_counter() - started


def refit_policy(model: BaseForecaster, config: ForecastConfig) -> Refit:
    """The refit plan of a model: ``gbm_refit`` for the global model, ``stat_refit`` for the others.

    (Models without estimated parameters ignore it.)
    """
    return Refit.from_setting(config.gbm_refit if model.needs.is_global else config.stat_refit)


def run_models(arrays: PanelArrays, config: ForecastConfig, executor: Executor | None = None) -> ModelOutputs:
    """Every configured model at every origin: one backtest per refit plan, merged in registry order."""
    models = build_models(config)
    plans: dict[Refit, list[BaseForecaster]] = {}
    for model in models:
        plans.setdefault(refit_policy(model, config), []).append(model)
    runs = [
        cross_validation(group, arrays, config.horizon, config.n_origins, refit=plan, executor=executor)
        for plan, group in plans.items()
    ]
    return ModelOutputs.merge(runs, [model.name for model in models])


def product_classes(arrays: PanelArrays, profiles: pd.DataFrame | None, config: ForecastConfig) -> np.ndarray:
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


def discontinued_after(arrays: PanelArrays, profiles: pd.DataFrame | None) -> np.ndarray:
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


def choose(
    arrays: PanelArrays,
    profiles: pd.DataFrame | None,
    outputs: ModelOutputs,
    bt: pd.DataFrame,
    model_names: list[str],
    config: ForecastConfig,
) -> Choice:
    """Champion and ensemble per product; the ensemble's and champion's rows and final forecasts."""
    class_codes = product_classes(arrays, profiles, config)
    labels = np.char.add(
        np.char.add(np.asarray(DEMAND_CLASSES)[class_codes].astype(str), "|"),
        arrays.group_names[arrays.group_codes].astype(str),
    )
    segment_names, segment_codes = np.unique(labels, return_inverse=True)
    final = np.stack([outputs.forecasts[m][:, -1, :] for m in model_names], axis=1)
    selection = select_models(
        bt,
        model_names,
        final,
        segment_codes,
        segment_names,
        class_codes,
        list(DEMAND_CLASSES),
        len(outputs.backtest_origins),
        config,
    )
    n_models = len(model_names)
    ensemble_code = n_models
    champion = selection.table["champion_code"].to_numpy(np.int64)
    ensemble_bt = selection.ensemble_bt.copy()
    ensemble_bt["model"] = ensemble_code
    # the champion's rows are copies of its model's rows (that model's code, or the ensemble's)
    underlying = np.where(champion == ENSEMBLE, ensemble_code, champion)
    backtest = pd.concat([bt, ensemble_bt[bt.columns]], ignore_index=True)
    for col in ("pid", "model", "origin", "h", "t"):
        backtest[col] = backtest[col].astype(np.int64)
    champion_final = np.full((arrays.n_series, config.horizon), np.nan)
    single = champion >= 0
    champion_final[single] = final[np.nonzero(single)[0], champion[single]]
    is_ensemble = champion == ENSEMBLE
    champion_final[is_ensemble] = selection.ensemble_final[is_ensemble]
    final_all = np.concatenate([final, selection.ensemble_final[:, None, :], champion_final[:, None, :]], axis=1)
    return Choice(
        class_codes=class_codes,
        segment_names=segment_names,
        segment_codes=segment_codes,
        names=model_names + ["ensemble", "champion"],
        selection=selection,
        backtest=backtest,
        final_all=final_all,
        underlying=underlying,
    )


def interval_bands(
    arrays: PanelArrays, profiles: pd.DataFrame | None, outputs: ModelOutputs, choice: Choice, config: ForecastConfig
) -> Bands:
    """P10/P90 of every backtest point (leave one origin out) and of every final forecast.

    Residual quantiles per (model, horizon, class) of the base models and the ensemble.  The
    champion borrows the band of its model, estimated on every product's residuals: the
    champion's own residuals are optimistic (it was picked for having the smallest), which made
    its bands cover ~70 % instead of 80 % on later months.
    """
    cls = choice.class_codes
    shape = (len(choice.names), config.horizon + 1, len(DEMAND_CLASSES))
    quantiles = tuple(config.interval_quantiles)
    base = choice.backtest
    base["p10"], base["p90"] = loo_bands(base, cls, shape, quantiles, config.interval_min_pool)
    champion_bt = base[choice.underlying[base["pid"].to_numpy()] == base["model"].to_numpy()].copy()
    champion_bt["model"] = choice.champion_code
    full = pd.concat([base, champion_bt], ignore_index=True)
    residuals = (base["actual"].to_numpy() - base["forecast"].to_numpy()) / base["level"].to_numpy()
    table = fit_quantiles(
        base["model"].to_numpy(),
        base["h"].to_numpy(),
        cls[base["pid"].to_numpy()],
        residuals,
        shape,
        quantiles,
        config.interval_min_pool,
    )
    pid, model, h = np.nonzero(~np.isnan(choice.final_all))
    level = interval_level(arrays, outputs.final_origin)[pid]
    band_model = np.where(model == choice.champion_code, choice.underlying[pid], model)
    q_lo, q_hi = table.lookup(band_model, h + 1, cls[pid])
    p10, p50, p90 = apply_band(choice.final_all[pid, model, h], level, q_lo, q_hi)
    after = discontinued_after(arrays, profiles)
    gone = outputs.final_origin + h + 1 > after[pid]
    p10, p50, p90 = (np.where(gone, 0.0, a) for a in (p10, p50, p90))
    return Bands(full, pid, model, h, p10, p50, p90, gone, after)


def score(full: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Metrics per (product, model, horizon) with ``h = 0`` pooling the horizons, and per model."""
    per_h = summarise(full, ["pid", "model", "h"], lower="p10", upper="p90")
    pooled = summarise(full, ["pid", "model"], lower="p10", upper="p90")
    pooled["h"] = 0
    met = pd.concat([per_h, pooled[per_h.columns]], ignore_index=True).sort_values(["pid", "model", "h"], kind="stable")
    by_model = summarise(full, ["model"], lower="p10", upper="p90").set_index("model")
    return met, by_model


def executor_for(config: ForecastConfig) -> contextlib.AbstractContextManager[Executor]:
    """The executor ``config.forecast_executor`` names, to be used as a context manager (closed after the run)."""
    if config.forecast_executor == "spark":
        from .spark_executor import SparkExecutor  # pyspark is an optional extra

        return SparkExecutor(remote=config.spark_remote, master=config.spark_master)
    return LocalExecutor(config.n_jobs, config.chunk_size)


def run_forecasting(
    panel: pd.DataFrame,
    profiles: pd.DataFrame | None = None,
    as_of_month=None,
    config: ForecastConfig | None = None,
    executor: Executor | None = None,
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
    executor : runs the per-series estimation (default: the one ``config.forecast_executor``
        names -- a :class:`~.executor.LocalExecutor` with ``config.n_jobs`` worker processes, or a
        :class:`~.spark_executor.SparkExecutor` -- closed at the end of the run).

    Returns
    -------
    :class:`ForecastResult` (see its docstring for every frame and column).
    """
    config = config or ForecastConfig()
    timer = StageTimer()
    started = time.perf_counter()
    with timer("prepare"):
        as_of = month_start(pd.to_datetime(panel["month"]).max() if as_of_month is None else as_of_month)
        arrays = build_panel_arrays(panel, as_of, profiles)
    with timer("models"):
        if executor is None:
            with executor_for(config) as chosen:
                outputs = run_models(arrays, config, chosen)
        else:
            outputs = run_models(arrays, config, executor)
    for name, info in outputs.info.items():
        timer.seconds[f"model:{name}"] = float(info.get("fit_seconds", 0.0))
    model_names = list(outputs.forecasts)
    with timer("backtest_frame"):
        bt = backtest_long(arrays, outputs, model_names)
    with timer("selection"):
        choice = choose(arrays, profiles, outputs, bt, model_names, config)
    with timer("intervals"):
        bands = interval_bands(arrays, profiles, outputs, choice, config)
    with timer("metrics"):
        met, by_model = score(bands.backtest)
    with timer("frames"):
        selection = frames.selection_frame(arrays, choice)
        result = ForecastResult(
            backtest=frames.backtest_frame(arrays, outputs, bands.backtest, choice.names),
            metrics=frames.metrics_frame(arrays, met, choice.names),
            selection=selection,
            forecasts=frames.forecasts_frame(arrays, as_of, outputs, choice, bands),
            registry=frames.registry_frame(
                arrays, as_of, outputs, choice, selection, by_model, timer.seconds["selection"], config
            ),
        )
    timer.seconds["total"] = time.perf_counter() - started
    result.timings = timer.seconds
    result.info = {
        "as_of_month": as_of,
        "cutoffs": [arrays.months[o] for o in outputs.backtest_origins],
        "n_cutoffs_dropped": config.n_origins - len(outputs.backtest_origins),
        "n_products": arrays.n_series,
        "n_months": arrays.n_months,
        "models": choice.names,
        "config": config.to_dict(),
    }
    return result

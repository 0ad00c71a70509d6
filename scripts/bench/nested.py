"""Nested (out-of-sample) evaluation of ``run_forecasting`` for ``bench_accuracy.py``.

:func:`forecasts_made_at` runs the package's ``run_forecasting`` at an as-of month,
:func:`attach_actuals` adds the later actuals, :func:`metric_table` (the package's
``metrics.summarise``), :func:`paired` and :func:`head_to_head` score them.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

import common as bench
import numpy as np
import pandas as pd

bench.ensure_package_importable()
from demand_forecast.forecasting.features import build_panel_arrays  # noqa: E402
from demand_forecast.forecasting.metrics import mase_scale_at, summarise  # noqa: E402
from demand_forecast.forecasting.pipeline import run_forecasting  # noqa: E402


@dataclass
class Snapshot:
    """What the pipeline saw at one as-of month: ``int_monthly_demand`` and ``int_series_profiles``."""

    as_of: pd.Timestamp
    panel: pd.DataFrame
    profiles: pd.DataFrame


def truncated_snapshot(latest: Snapshot, as_of: pd.Timestamp) -> Snapshot:
    """The latest panel cut at ``as_of`` (profiles kept: they only feed classes and discontinuation).

    Cheaper than a dbt build per as-of month, but the cleaning of months <= as_of may then have used
    lines loaded later.
    """
    panel = latest.panel[pd.to_datetime(latest.panel["month"]) <= as_of]
    return Snapshot(as_of, panel.reset_index(drop=True), latest.profiles)


@dataclass
class AsOfRun:
    """One forecasting run at an as-of month."""

    forecasts: pd.DataFrame  # long: product, forecast_month, horizon, model, forecast, p10, p90, mase_scale
    selection: pd.DataFrame  # result.selection (+ as_of_month)
    loo_coverage: pd.DataFrame  # per (champion|ensemble, horizon): backtest points inside the LOO band (hit) and n
    seconds: float


def forecasts_made_at(snap: Snapshot, config) -> AsOfRun:
    """``run_forecasting`` at ``snap.as_of``: every model's forecasts for the next months (long).

    Champion and ensemble are chosen inside the run from backtest origins <= as_of only. Each
    row gets the product's MASE scale (in-sample seasonal-naive MAE up to as_of).
    """
    t0 = time.perf_counter()
    result = run_forecasting(snap.panel, snap.profiles, snap.as_of, config)
    seconds = time.perf_counter() - t0
    fc = result.forecasts.rename(columns={"forecast_p50": "forecast", "forecast_p10": "p10", "forecast_p90": "p90"})
    fc = fc[["product_id", "as_of_month", "forecast_month", "horizon", "model_name", "forecast", "p10", "p90"]].copy()
    arrays = build_panel_arrays(snap.panel, snap.as_of, snap.profiles)
    scale = pd.Series(mase_scale_at(arrays, arrays.n_months - 1, config.season_length), index=arrays.product_ids)
    fc["mase_scale"] = fc["product_id"].map(scale).to_numpy(np.float64)
    met = result.metrics
    loo = met[met["model_name"].isin(["champion", "ensemble"]) & (met["horizon"] > 0) & met["coverage_80"].notna()]
    loo_cov = loo.assign(hit=loo["coverage_80"] * loo["n"]).groupby(["model_name", "horizon"])[["hit", "n"]].sum()
    return AsOfRun(fc, result.selection.assign(as_of_month=snap.as_of), loo_cov, seconds)


def attach_actuals(fc: pd.DataFrame, latest: Snapshot, truth: pd.DataFrame | None = None) -> pd.DataFrame:
    """Add ``actual`` (the demand of the latest panel) and, given a truth, ``actual_true``.

    A month after a product's last panel (or truth) month is a month without demand: 0. A product
    unknown to the latest panel (or the truth) gets no actual and is not scored.
    """
    out = fc.copy()
    out["forecast_month"] = pd.to_datetime(out["forecast_month"])
    sources = [("actual", latest.panel, "demand")]
    if truth is not None:
        sources.append(("actual_true", truth, "true_demand"))
    for column, frame, value in sources:
        ref = frame[["product_id", "month", value]].copy()
        ref["month"] = pd.to_datetime(ref["month"])
        last = ref.groupby("product_id")["month"].max()
        out = out.merge(
            ref.rename(columns={"month": "forecast_month", value: column}),
            on=["product_id", "forecast_month"],
            how="left",
        )
        ended = out[column].isna() & (out["forecast_month"] > out["product_id"].map(last))
        out.loc[ended, column] = 0.0
    return out


def metric_table(scored: pd.DataFrame, actual: str = "actual") -> pd.DataFrame:
    """``demand_forecast.forecasting.metrics.summarise`` per model and horizon (horizon 0 = all horizons pooled)."""
    frame = scored.drop(columns=["actual"]).rename(columns={actual: "actual"}) if actual != "actual" else scored
    frame = frame[frame["actual"].notna()]
    per_h = summarise(frame, ["model_name", "horizon"], lower="p10", upper="p90")
    pooled = summarise(frame, ["model_name"], lower="p10", upper="p90").assign(horizon=0)
    return pd.concat([per_h, pooled[per_h.columns]], ignore_index=True).set_index(["model_name", "horizon"])


def paired(scored: pd.DataFrame, model: str, other: str, actual: str = "actual") -> pd.DataFrame:
    """Points where both ``model`` (``forecast``) and ``other`` (``forecast_other``) forecast and ``y`` is known."""
    keys = ["as_of_month", "product_id", "horizon"]
    a = scored.loc[scored["model_name"] == model, keys + ["forecast", actual]]
    b = scored.loc[scored["model_name"] == other, keys + ["forecast"]]
    both = a.merge(b, on=keys, suffixes=("", "_other")).dropna(subset=["forecast", "forecast_other", actual])
    return both.rename(columns={actual: "y"})


def wape_of(errors: pd.Series, y: pd.Series) -> float:
    denom = y.abs().sum()
    return float(errors.abs().sum() / denom) if denom > 0 else float("nan")


def paired_wapes(pairs: pd.DataFrame) -> tuple[float, float]:
    """(WAPE of ``forecast``, WAPE of ``forecast_other``) on the same points."""
    return wape_of(pairs["forecast"] - pairs["y"], pairs["y"]), wape_of(
        pairs["forecast_other"] - pairs["y"], pairs["y"]
    )


def head_to_head_headers(chosen: str) -> list[str]:
    return ["model", "points", "products", "WAPE model", f"WAPE {chosen}", f"{chosen} lower by %", f"{chosen} lower"]


def head_to_head(scored: pd.DataFrame, chosen: str, models: Iterable[str], actual: str = "actual") -> list[list]:
    """``chosen`` against each of ``models`` on the points both forecast (see :func:`head_to_head_headers`)."""
    rows = []
    for m in models:
        pairs = paired(scored, chosen, m, actual)
        if pairs.empty:
            continue
        w_chosen, w_model = paired_wapes(pairs)
        # where the chosen forecast *is* that model on every shared point (e.g. cold start for new
        # products), the comparison says so instead of yes/no
        same = bool(np.allclose(pairs["forecast"].to_numpy(float), pairs["forecast_other"].to_numpy(float)))
        rows.append(
            [
                m,
                len(pairs),
                pairs["product_id"].nunique(),
                w_model,
                w_chosen,
                100 * (1 - w_chosen / w_model) if w_model else float("nan"),
                "same forecast" if same else w_chosen < w_model,
            ]
        )
    return rows

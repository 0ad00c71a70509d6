"""Scoring of the real-data benchmark: MASE, WAPE, bias and P10-P90 coverage on identical points.

Pure functions on long pandas frames (numpy and pandas only, so the project's tests import them):

* ``train``     one row per series and month of the data the forecasters saw: ``series_id, month, y``
* ``actuals``   the months after the as-of month: ``series_id, month, actual``
* ``forecasts`` ``method, series_id, month, horizon, forecast, p10, p90`` (p10/p90 may be NaN)

Definitions (as in the M competitions; the formula is in each docstring):

* MASE of a point = ``|forecast - actual| / scale`` where ``scale`` is the series' in-sample
  seasonal-naive MAE over its training part, ``mean_t |y_t - y_{t-12}|`` (:func:`mase_scales`);
  a dataset's MASE is the mean over its points (equal to the mean over series of each series'
  mean over horizons 1..3, because every series has the same horizons).
* WAPE = ``sum |f - y| / sum |y|`` and bias = ``sum (f - y) / sum |y|`` pooled over the points
  (bias > 0: over-forecast).
* coverage = share of points with ``p10 <= actual <= p90``, over the points that have an interval.

"Should move into the package": the live accuracy mart and ``demand_forecast.forecasting.metrics``
compute MASE on the cleaned panel with the pipeline's own scale; this module scores against the raw
values a user imported, independent of the pipeline under test, which is the point of a benchmark.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

SEASON = 12
KEYS = ["series_id", "horizon"]


def mase_scales(train: pd.DataFrame, season: int = SEASON) -> pd.Series:
    """Per series: ``mean_t |y_t - y_{t-season}|`` over its training months (the MASE denominator).

    Months are taken in order and assumed consecutive (the benchmark writes every month, zeros
    included). A series with ``season`` months or fewer, or whose seasonal differences are all 0,
    falls back to lag 1 (``mean |y_t - y_{t-1}|``); if that is 0 too the scale is NaN and the series
    has no MASE (counted by :func:`score`).
    """
    ordered = train.sort_values(["series_id", "month"])
    y = ordered.groupby("series_id", sort=True)["y"]

    def mean_abs_diff(lag: int) -> pd.Series:
        return (ordered["y"] - y.shift(lag)).abs().groupby(ordered["series_id"]).mean()

    seasonal = mean_abs_diff(season)
    first = mean_abs_diff(1)
    scale = seasonal.where(seasonal > 0, first)
    return scale.where(scale > 0).rename("scale")


def attach(forecasts: pd.DataFrame, actuals: pd.DataFrame, scales: pd.Series) -> pd.DataFrame:
    """Forecast rows with their ``actual`` and ``scale`` (rows without an actual are dropped)."""
    merged = forecasts.merge(actuals[["series_id", "month", "actual"]], on=["series_id", "month"], how="inner")
    merged["scale"] = merged["series_id"].map(scales).astype(float)
    return merged


def common_points(scored: pd.DataFrame, methods: Iterable[str]) -> pd.DataFrame:
    """The (series_id, horizon) points on which every one of ``methods`` has a forecast."""
    methods = list(methods)
    have = scored[scored["method"].isin(methods) & scored["forecast"].notna()]
    counts = have.groupby(KEYS)["method"].nunique()
    return counts[counts == len(methods)].reset_index()[KEYS]


def on_points(scored: pd.DataFrame, points: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``scored`` at ``points`` (every method)."""
    return scored.merge(points, on=KEYS, how="inner")


def score(points: pd.DataFrame) -> dict[str, float]:
    """MASE, WAPE, bias, coverage and counts of one method's points (see the module docstring)."""
    error = points["forecast"] - points["actual"]
    denominator = points["actual"].abs().sum()
    scaled = (error.abs() / points["scale"])[np.isfinite(points["scale"])]
    interval = points[["p10", "p90"]].notna().all(axis=1)
    inside = (points["actual"] >= points["p10"]) & (points["actual"] <= points["p90"])
    return {
        "points": len(points),
        "series": points["series_id"].nunique(),
        "mase": float(scaled.mean()) if len(scaled) else float("nan"),
        "mase_points": len(scaled),
        "wape": float(error.abs().sum() / denominator) if denominator > 0 else float("nan"),
        "bias": float(error.sum() / denominator) if denominator > 0 else float("nan"),
        "coverage": float(inside[interval].mean()) if interval.any() else float("nan"),
    }


def score_table(scored: pd.DataFrame, methods: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per (method, horizon) plus horizon 0 = all horizons pooled; columns of :func:`score`."""
    methods = list(methods) if methods is not None else list(dict.fromkeys(scored["method"]))
    rows = []
    for method in methods:
        part = scored[(scored["method"] == method) & scored["forecast"].notna()]
        if part.empty:
            continue
        for horizon, points in [*part.groupby("horizon"), (0, part)]:
            rows.append({"method": method, "horizon": int(horizon), **score(points)})
    return pd.DataFrame(rows).set_index(["method", "horizon"])


def group_sums(frame: pd.DataFrame, groups: pd.Series, value_columns: Sequence[str]) -> pd.DataFrame:
    """Sum ``value_columns`` of series-level rows to their groups (``groups``: series_id -> group).

    Returns the same shape with ``series_id`` = the group; every other key column is kept.
    A NaN counts as 0 in a sum, as the dashboard adds up the forecasts it has.
    """
    keys = [c for c in frame.columns if c not in value_columns and c != "series_id"]
    labelled = frame.assign(series_id=frame["series_id"].map(groups))
    if labelled["series_id"].isna().any():
        missing = frame.loc[labelled["series_id"].isna(), "series_id"].iloc[0]
        raise ValueError(f"series {missing!r} has no group")
    return labelled.groupby([*keys, "series_id"], as_index=False, sort=True)[list(value_columns)].sum(min_count=1)


def gap_ratio(selected_mase: float, peer_mases: Iterable[float]) -> float:
    """Project selected MASE / best (lowest) peer MASE: below 1 the project is ahead."""
    peers = [m for m in peer_mases if np.isfinite(m)]
    return selected_mase / min(peers) if peers and min(peers) > 0 else float("nan")

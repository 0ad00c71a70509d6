"""Forecast accuracy metrics.

With errors ``e_i = f_i - y_i`` over the evaluated points ``i = 1..n`` (rows
whose actual is unknown are skipped):

* ``MAE  = sum |e_i| / n``
* ``RMSE = sqrt(sum e_i^2 / n)``
* ``WAPE = sum |e_i| / sum |y_i|``  (NaN when ``sum |y_i| = 0``)
* ``bias = sum (f_i - y_i) / sum y_i``  (positive = over-forecast; NaN when ``sum y_i = 0``)
* ``MASE = mean_i |e_i| / s_i`` where ``s_i`` is the in-sample MAE of the
  seasonal naive forecast (lag 12) on the training data up to the point's
  cutoff; lag 1 (naive) when the product has fewer than 13 months of history
  there, or when the lag-12 scale is 0 or undefined.  Points whose scale is 0
  or undefined are left out of the MASE mean (NaN if none remain).
* ``coverage_80 = share of points with p10 <= y_i <= p90`` (the P10-P90 band).

:func:`summarise` computes all of them per group of a long frame with sums,
so it is vectorised over any number of products.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from .features import PanelArrays

METRIC_COLUMNS = ("n", "mae", "rmse", "wape", "bias", "mase")


def _clean(actual, forecast) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(actual, dtype=np.float64)
    f = np.asarray(forecast, dtype=np.float64)
    ok = ~(np.isnan(y) | np.isnan(f))
    return y[ok], f[ok]


def mae(actual, forecast) -> float:
    y, f = _clean(actual, forecast)
    return float(np.mean(np.abs(f - y))) if len(y) else float("nan")


def rmse(actual, forecast) -> float:
    y, f = _clean(actual, forecast)
    return float(np.sqrt(np.mean((f - y) ** 2))) if len(y) else float("nan")


def wape(actual, forecast) -> float:
    y, f = _clean(actual, forecast)
    denom = np.abs(y).sum()
    return float(np.abs(f - y).sum() / denom) if denom > 0 else float("nan")


def bias(actual, forecast) -> float:
    y, f = _clean(actual, forecast)
    denom = y.sum()
    return float((f - y).sum() / denom) if denom != 0 else float("nan")


def seasonal_naive_mae(history, season: int = 12) -> float:
    """In-sample MAE of the seasonal naive forecast of ``history`` (the MASE scale).

    Lag ``season`` when ``len(history) > season`` and that MAE is positive,
    else lag 1; NaN when undefined or 0.
    """
    y = np.asarray(history, dtype=np.float64)
    for lag in (season, 1) if len(y) > season else (1,):
        if len(y) <= lag:
            continue
        d = np.abs(y[lag:] - y[:-lag])
        d = d[~np.isnan(d)]
        if len(d) and d.mean() > 0:
            return float(d.mean())
    return float("nan")


def mase(actual, forecast, history, season: int = 12) -> float:
    """MASE of one forecast against the scale of its training ``history``."""
    y, f = _clean(actual, forecast)
    scale = seasonal_naive_mae(history, season)
    if not len(y) or not np.isfinite(scale):
        return float("nan")
    return float(np.mean(np.abs(f - y)) / scale)


def coverage(actual, lower, upper) -> float:
    y = np.asarray(actual, dtype=np.float64)
    lo = np.asarray(lower, dtype=np.float64)
    hi = np.asarray(upper, dtype=np.float64)
    ok = ~(np.isnan(y) | np.isnan(lo) | np.isnan(hi))
    if not ok.any():
        return float("nan")
    return float(np.mean((y[ok] >= lo[ok]) & (y[ok] <= hi[ok])))


def mase_scale_at(arrays: PanelArrays, origin: int, season: int = 12) -> np.ndarray:
    """Vectorised :func:`seasonal_naive_mae` of every product on data up to ``origin``."""
    y = arrays.y[:, : origin + 1]
    hist = arrays.history_length(origin)

    def lag_mae(lag: int) -> np.ndarray:
        if y.shape[1] <= lag:
            return np.full(y.shape[0], np.nan)
        d = np.abs(y[:, lag:] - y[:, :-lag])
        valid = ~np.isnan(d)
        cnt = valid.sum(axis=1)
        tot = np.where(valid, d, 0.0).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(cnt > 0, tot / np.maximum(cnt, 1), np.nan)

    s12 = lag_mae(season)
    s1 = lag_mae(1)
    use12 = (hist > season) & np.isfinite(s12) & (s12 > 0)
    scale = np.where(use12, s12, s1)
    return np.where(np.isfinite(scale) & (scale > 0), scale, np.nan)


def summarise(
    frame: pd.DataFrame, by: Sequence[str], lower: str | None = None, upper: str | None = None
) -> pd.DataFrame:
    """Metrics per group of a long frame.

    ``frame`` needs ``forecast`` and ``actual`` (and ``mase_scale`` for MASE;
    ``lower``/``upper`` column names add ``coverage_80``).  Rows with a null
    actual or forecast are ignored.  Returns ``by + [n, mae, rmse, wape, bias,
    mase(, coverage_80)]``.
    """
    by = list(by)
    ok = frame["actual"].notna() & frame["forecast"].notna()
    f = frame.loc[ok, "forecast"].to_numpy(dtype=np.float64)
    y = frame.loc[ok, "actual"].to_numpy(dtype=np.float64)
    e = f - y
    work = frame.loc[ok, by].copy()
    work["_n"] = 1.0
    work["_abs"] = np.abs(e)
    work["_sq"] = e * e
    work["_err"] = e
    work["_absy"] = np.abs(y)
    work["_y"] = y
    if "mase_scale" in frame.columns:
        s = frame.loc[ok, "mase_scale"].to_numpy(dtype=np.float64)
        good = np.isfinite(s) & (s > 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            work["_sc"] = np.where(good, np.abs(e) / np.where(good, s, 1.0), 0.0)
        work["_scn"] = good.astype(np.float64)
    else:
        work["_sc"] = 0.0
        work["_scn"] = 0.0
    if lower is not None and upper is not None:
        lo = frame.loc[ok, lower].to_numpy(dtype=np.float64)
        hi = frame.loc[ok, upper].to_numpy(dtype=np.float64)
        has = ~(np.isnan(lo) | np.isnan(hi))
        work["_cov"] = ((y >= lo) & (y <= hi) & has).astype(np.float64)
        work["_covn"] = has.astype(np.float64)
    g = work.groupby(by, sort=True, observed=True).sum()
    out = pd.DataFrame(index=g.index)
    n = g["_n"]
    out["n"] = n.astype(np.int64)
    out["mae"] = g["_abs"] / n
    out["rmse"] = np.sqrt(g["_sq"] / n)
    out["wape"] = (g["_abs"] / g["_absy"]).where(g["_absy"] > 0)
    out["bias"] = (g["_err"] / g["_y"]).where(g["_y"] != 0)
    out["mase"] = (g["_sc"] / g["_scn"]).where(g["_scn"] > 0)
    if "_cov" in g.columns:
        out["coverage_80"] = (g["_cov"] / g["_covn"]).where(g["_covn"] > 0)
    return out.reset_index()

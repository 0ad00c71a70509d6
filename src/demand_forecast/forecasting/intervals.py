"""Prediction intervals from backtest residuals.

For every backtest point the *scaled residual* is ``r = (y - f) / s`` where
``s`` is the product's level at the cutoff (mean demand of the last 12
months, at least 1 unit; see :func:`demand_forecast.forecasting.backtest.interval_level`).
Residuals are pooled by ``(model, horizon, demand class)``; a pool with fewer
than ``min_pool`` residuals falls back to ``(horizon, demand class)`` over all
models, then to ``(model, horizon)`` and then to ``(horizon)``.  The class
comes before the model in the fallback because it decides the size of the
errors far more: new products, whose own pool is usually thin, took the
bands of established series and covered 24-31 % instead of 80 % on later
months before this order (docs/benchmarks.md).  With ``q_lo, q_hi`` the empirical quantiles
(default 10 % and 90 %) of the pool, a forecast ``f`` with level ``s`` gets::

    p50 = max(f, 0)                          # the point forecast
    p10 = min(max(f + q_lo * s, 0), p50)
    p90 = max(f + q_hi * s, p50)

so bands are never negative and ``p10 <= p50 <= p90``.

The champion has no pool of its own: it takes the band of the model it
chose (a single model or the ensemble), estimated on every product's
residuals of that model.  Its own residuals are optimistic -- it was picked
for having the smallest -- and bands built from them covered about 70 %
instead of 80 % on later months; borrowed bands cover 80-82 % there
(docs/benchmarks.md).  The ensemble's members are chosen per demand class
from thousands of pooled points, so its residuals carry little of that bias.

Coverage is measured honestly with leave-one-origin-out: the quantiles
applied to the points of one cutoff are estimated from the residuals of the
other cutoffs only, and coverage is the share of points with
``p10 <= y <= p90`` (target: 80 %).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass
class QuantileTable:
    """Residual quantiles per pool at three levels (see module docstring)."""

    lo: list[np.ndarray]
    hi: list[np.ndarray]
    count: list[np.ndarray]
    shape: tuple[int, int, int]  # (n_models, H + 1, n_classes)
    min_pool: int

    def lookup(self, model: np.ndarray, h: np.ndarray, cls: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Quantiles for points described by ``model, h, cls`` arrays (0 when no pool at all)."""
        keys = _pool_keys(np.asarray(model, np.int64), np.asarray(h, np.int64), np.asarray(cls, np.int64), self.shape)
        lo = np.zeros(len(model))
        hi = np.zeros(len(model))
        done = np.zeros(len(model), dtype=bool)
        for lvl, (key, _) in enumerate(keys):
            ok = ~done & (self.count[lvl][key] >= self.min_pool)
            lo[ok] = self.lo[lvl][key[ok]]
            hi[ok] = self.hi[lvl][key[ok]]
            done |= ok
        # last resort: any non-empty horizon pool
        last = len(keys) - 1
        key = keys[last][0]
        rest = ~done & (self.count[last][key] > 0)
        lo[rest] = self.lo[last][key[rest]]
        hi[rest] = self.hi[last][key[rest]]
        return lo, hi


def _pool_keys(model: np.ndarray, h: np.ndarray, cls: np.ndarray, shape: tuple[int, int, int]):
    """``(key, size)`` of the pools in fallback order: (model, h, class), (h, class), (model, h), (h)."""
    n_m, n_h, n_c = shape
    return [
        ((model * n_h + h) * n_c + cls, n_m * n_h * n_c),
        (h * n_c + cls, n_h * n_c),
        (model * n_h + h, n_m * n_h),
        (h, n_h),
    ]


def _group_quantiles(key: np.ndarray, r: np.ndarray, size: int, q_lo: float, q_hi: float):
    lo = np.full(size, np.nan)
    hi = np.full(size, np.nan)
    count = np.bincount(key, minlength=size)
    if len(key):
        s = pd.Series(r).groupby(key, sort=True)
        qs = s.quantile([q_lo, q_hi])
        idx = qs.index.get_level_values(0).to_numpy()
        which = qs.index.get_level_values(1).to_numpy()
        vals = qs.to_numpy()
        lo[idx[which == q_lo]] = vals[which == q_lo]
        hi[idx[which == q_hi]] = vals[which == q_hi]
    return lo, hi, count


def fit_quantiles(
    model: np.ndarray,
    h: np.ndarray,
    cls: np.ndarray,
    r: np.ndarray,
    shape: tuple[int, int, int],
    quantiles: tuple[float, float] = (0.1, 0.9),
    min_pool: int = 30,
) -> QuantileTable:
    """Empirical quantiles of scaled residuals ``r`` per pool."""
    r = np.asarray(r, dtype=np.float64)
    ok = np.isfinite(r)
    r = r[ok]
    model = np.asarray(model)[ok].astype(np.int64)
    h = np.asarray(h)[ok].astype(np.int64)
    cls = np.asarray(cls)[ok].astype(np.int64)
    lo, hi, cnt = [], [], []
    for key, size in _pool_keys(model, h, cls, shape):
        a, b, c = _group_quantiles(key, r, size, quantiles[0], quantiles[1])
        lo.append(a)
        hi.append(b)
        cnt.append(c)
    return QuantileTable(lo=lo, hi=hi, count=cnt, shape=shape, min_pool=min_pool)


def apply_band(forecast: np.ndarray, scale: np.ndarray, q_lo: np.ndarray, q_hi: np.ndarray):
    """``(p10, p50, p90)`` for point forecasts (see module docstring)."""
    f = np.asarray(forecast, dtype=np.float64)
    p50 = np.clip(f, 0.0, None)
    p10 = np.minimum(np.clip(f + q_lo * scale, 0.0, None), p50)
    p90 = np.maximum(f + q_hi * scale, p50)
    return p10, p50, p90


def loo_bands(
    bt: pd.DataFrame,
    cls_of_pid: np.ndarray,
    shape: tuple[int, int, int],
    quantiles: tuple[float, float],
    min_pool: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Leave-one-origin-out ``p10, p90`` for every row of the internal backtest frame."""
    model = bt["model"].to_numpy(np.int64)
    h = bt["h"].to_numpy(np.int64)
    origin = bt["origin"].to_numpy(np.int64)
    cls = cls_of_pid[bt["pid"].to_numpy(np.int64)].astype(np.int64)
    f = bt["forecast"].to_numpy(np.float64)
    s = bt["level"].to_numpy(np.float64)
    y = bt["actual"].to_numpy(np.float64)
    r = (y - f) / s
    p10 = np.full(len(bt), np.nan)
    p90 = np.full(len(bt), np.nan)
    for j in np.unique(origin):
        test = origin == j
        train = ~test & np.isfinite(r)
        if not train.any():
            continue
        table = fit_quantiles(model[train], h[train], cls[train], r[train], shape, quantiles, min_pool)
        lo, hi = table.lookup(model[test], h[test], cls[test])
        lo10, _, hi90 = apply_band(f[test], s[test], lo, hi)
        p10[test] = lo10
        p90[test] = hi90
    return p10, p90

"""Ensembles: members chosen per pool of products, and the combined forecasts.

Ensemble members (``ForecastConfig.ensemble_pool``)
    ``"class"`` (default) or ``"segment"``: one set of members per pool of
    products (demand class, or ``demand_class|product_group``).  Every
    combination of 1..``ensemble_size`` models that cover at least 90 % of the
    pool's backtest points is scored by its pooled backtest error (the
    combination's forecast is the mean of the members available at a point):
    MASE by default (``ensemble_metric``: each point's absolute error over
    its product's in-sample seasonal-naive MAE, averaged, so that every
    product weighs the same; real series differ in size by orders of
    magnitude and a WAPE lets the largest decide), or WAPE;
    the best combination wins, exact ties going to the smaller, simpler one.
    Pooling thousands of points makes the choice far less noisy than a
    choice per product made from 15 points: on months not used to choose it
    the class-pooled ensemble was 22 % better than the baseline and better
    than every single model, the per-product top-3 ensemble 17 %
    (docs/benchmarks.md).  A pool with fewer than ``ensemble_min_pool_points``
    points does not choose: new products then get ``new_product_ensemble`` (by
    default cold start alone: with its launch curve it beat its mean with
    LightGBM on new products by 3-5 % WAPE), other products the per-product
    ranking (:mod:`demand_forecast.forecasting.selection`).
    ``"product"``: the best ``ensemble_size`` models of the product's own
    ranking.

The ensemble forecasts the mean (``ensemble_method="median"``: the median) of
its members available at a point (:func:`ensemble_backtest`,
:func:`ensemble_final`).
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from .config import ForecastConfig


@dataclass
class PooledChoice:
    """Best combination of one pool: member model codes, its pooled score, the best single model's."""

    members: tuple[int, ...]
    score: float
    metric: str  # "MASE", "WAPE" or "MAE"
    points: int
    n_combinations: int
    best_single: int
    best_single_score: float


def best_combination(
    forecasts: np.ndarray,
    actual: np.ndarray,
    max_size: int,
    method: str = "mean",
    min_cover: float = 0.9,
    scale: np.ndarray | None = None,
) -> PooledChoice | None:
    """Best combination of the columns of ``forecasts`` (points x models, NaN = no forecast).

    Candidates are the models covering at least ``min_cover`` of the best-covered model's points.
    A combination forecasts the mean (``method="median"``: the median) of its members available
    at a point.  Without ``scale`` it is scored by WAPE over the points it forecasts (MAE when the
    actuals sum to 0); with ``scale`` (each point's MASE denominator) by MASE, the mean of
    ``|error| / scale`` over the points with a finite positive scale, so that every series weighs
    the same whatever its size.  Combinations are tried by size, then in model order, and replace
    the best only when strictly better (after rounding), so ties go to the smaller, simpler
    combination.
    """
    avail = ~np.isnan(forecasts)
    counts = avail.sum(axis=0)
    if counts.max(initial=0) == 0:
        return None
    cand = [m for m in range(forecasts.shape[1]) if counts[m] > 0 and counts[m] >= min_cover * counts.max()]
    values = np.where(avail, forecasts, 0.0)
    abs_y = np.abs(actual)
    weight = None
    if scale is not None:
        with np.errstate(invalid="ignore", divide="ignore"):
            weight = np.where(np.isfinite(scale) & (scale > 0), 1.0 / scale, np.nan)
        if not np.isfinite(weight).any():
            weight = None  # no point has a scale: fall back to WAPE / MAE
    uses_wape = weight is None and bool(abs_y.sum() > 0)
    best: tuple[float, tuple[int, ...]] | None = None
    singles: dict[int, float] = {}
    tried = 0
    for size in range(1, min(max_size, len(cand)) + 1):
        for combo in itertools.combinations(cand, size):
            cols = list(combo)
            n = avail[:, cols].sum(axis=1)
            ok = n > 0
            if method == "median" and size > 2:
                f = np.nanmedian(forecasts[ok][:, cols], axis=1)
            else:  # the median of one or two values is their mean
                f = values[ok][:, cols].sum(axis=1) / n[ok]
            abs_e = np.abs(f - actual[ok])
            if weight is not None:
                scaled = abs_e * weight[ok]
                finite = np.isfinite(scaled)
                score = scaled[finite].mean() if finite.any() else np.inf
            elif uses_wape and abs_y[ok].sum() > 0:
                score = abs_e.sum() / abs_y[ok].sum()
            else:
                score = abs_e.sum() / max(int(ok.sum()), 1)
            score = round(float(score), 9)
            tried += 1
            if size == 1:
                singles[combo[0]] = score
            if best is None or score < best[0]:
                best = (score, combo)
    assert best is not None
    single = min(singles, key=lambda m: (singles[m], m))
    metric = "MASE" if weight is not None else ("WAPE" if uses_wape else "MAE")
    return PooledChoice(best[1], best[0], metric, int(avail.any(axis=1).sum()), tried, single, singles[single])


def _point_matrix(ev: pd.DataFrame, n_models: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Evaluated backtest rows as ``(pid, forecasts points x models, actual, MASE scale)`` per point."""
    key = ev["pid"].to_numpy(np.int64) * 100_000 + ev["origin"].to_numpy(np.int64) * 100 + ev["h"].to_numpy(np.int64)
    uniq, pos = np.unique(key, return_inverse=True)
    forecasts = np.full((len(uniq), n_models), np.nan)
    forecasts[pos, ev["model"].to_numpy(np.int64)] = ev["forecast"].to_numpy(np.float64)
    actual = np.zeros(len(uniq))
    actual[pos] = ev["actual"].to_numpy(np.float64)
    scale = np.full(len(uniq), np.nan)
    if "mase_scale" in ev:
        scale[pos] = ev["mase_scale"].to_numpy(np.float64)
    return uniq // 100_000, forecasts, actual, scale


def pooled_ensembles(
    ev: pd.DataFrame,
    model_names: list[str],
    final_avail: np.ndarray,
    pool_codes: np.ndarray,
    pool_names: np.ndarray | list[str],
    pool_label: str,
    is_new: np.ndarray,
    config: ForecastConfig,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Ensemble members chosen per pool of products (see module docstring).

    Returns ``(members, decided, reasons)``: the ``(n_products, n_models)`` member matrix, whether
    the pool (or the new-product rule) decided for each product, and the reason per product
    (empty where it did not decide: the per-product ranking applies there).
    """
    n_products, n_models = final_avail.shape
    members = np.zeros((n_products, n_models), dtype=bool)
    decided = np.zeros(n_products, dtype=bool)
    reasons = [""] * n_products
    names = np.asarray(model_names, dtype=object)
    point_pid, forecasts, actual, scale = _point_matrix(ev, n_models)
    by_mase = config.ensemble_metric == "mase"
    point_pool = pool_codes[point_pid]
    new_members = [model_names.index(m) for m in config.new_product_ensemble if m in model_names]
    for code, label in enumerate(pool_names):
        in_pool = np.nonzero(pool_codes == code)[0]
        if len(in_pool) == 0:
            continue
        at = point_pool == code
        choice = None
        if at.sum() >= config.ensemble_min_pool_points:
            choice = best_combination(
                forecasts[at],
                actual[at],
                int(config.ensemble_size),
                config.ensemble_method,
                scale=scale[at] if by_mase else None,
            )
        if choice is not None:
            metric = choice.metric
            text = (
                f"{config.ensemble_method} of {'+'.join(names[list(choice.members)])}: "
                f"best of {choice.n_combinations} model "
                f"combinations for {pool_label} {label} by pooled backtest {metric} {choice.score:.3f} over "
                f"{choice.points} points (best single model {names[choice.best_single]} "
                f"{choice.best_single_score:.3f})"
            )
            for p in in_pool:
                usable = [m for m in choice.members if final_avail[p, m]]
                if usable:
                    members[p, usable] = True
                    decided[p] = True
                    reasons[p] = (
                        text
                        if len(usable) == len(choice.members)
                        else (
                            f"{text}; {', '.join(names[[m for m in choice.members if m not in usable]])} "
                            "cannot forecast this product"
                        )
                    )
            continue
        for p in in_pool[is_new[in_pool]]:
            usable = sorted(m for m in new_members if final_avail[p, m])
            if usable:
                members[p, usable] = True
                decided[p] = True
                head = (
                    f"{config.ensemble_method} of {'+'.join(names[usable])}"
                    if len(usable) > 1
                    else f"{names[usable[0]]} alone"
                )
                reasons[p] = (
                    f"{head}: the default for new products ({pool_label} {label} has "
                    f"{int(at.sum())} backtest points < {config.ensemble_min_pool_points}, "
                    "too few to choose)"
                )
    return members, decided, reasons


def ensemble_backtest(bt: pd.DataFrame, members: np.ndarray, method: str = "mean") -> pd.DataFrame:
    """Ensemble rows of the internal backtest: combine member forecasts per (pid, origin, h).

    Uses the members present at each point (all of them for product-level
    choices, which are compared on common points).
    """
    cols = ["pid", "origin", "h", "t", "forecast", "actual", "mase_scale", "level"]
    if bt.empty:
        return pd.DataFrame({c: [] for c in cols})
    sel = members[bt["pid"].to_numpy(), bt["model"].to_numpy()]
    sub = bt.loc[sel]
    if sub.empty:
        return pd.DataFrame({c: [] for c in cols})
    g = sub.groupby(["pid", "origin", "h"], sort=True)
    agg = g.agg(
        t=("t", "first"),
        forecast=("forecast", "median" if method == "median" else "mean"),
        actual=("actual", "first"),
        mase_scale=("mase_scale", "first"),
        level=("level", "first"),
    ).reset_index()
    return agg[cols]


def ensemble_final(final: np.ndarray, members: np.ndarray, method: str = "mean") -> np.ndarray:
    """Combine ``final`` ``(n, n_models, H)`` over ``members`` ``(n, n_models)`` into ``(n, H)``."""
    vals = np.where(members[:, :, None], final, np.nan)
    cnt = (~np.isnan(vals)).sum(axis=1)
    out = np.full((vals.shape[0], vals.shape[2]), np.nan)
    if method == "median":
        rows = (cnt > 0).any(axis=1)
        if rows.any():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                out[rows] = np.nanmedian(vals[rows], axis=1)
    else:
        total = np.where(np.isnan(vals), 0.0, vals).sum(axis=1)
        out = np.where(cnt > 0, total / np.maximum(cnt, 1), np.nan)
    return out

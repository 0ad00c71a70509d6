"""The hierarchy run: forecast every level, reconcile the backtest and the final forecasts by every
method, score the methods and choose one (the package docstring says how).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ...months import month_start
from ..config import ForecastConfig
from ..executor import Executor
from ..features import PanelArrays, build_panel_arrays
from ..metrics import mase_scale_at
from .algebra import (
    LEVELS,
    METHODS,
    Hierarchy,
    build_hierarchy,
    error_covariance,
    fill_base,
    historical_shares,
    reconcile,
)

#: the level whose backtest MASE chooses the method
CHOICE_LEVEL = "group"
SELECTABLE = ("ensemble", "champion")


@dataclass
class HierarchyResult:
    """What :func:`forecast_hierarchy` returns.

    forecasts
        one row per level node (total, groups, categories, products) and horizon of the final
        origin: ``level, node_id, product_group, category, product_id, n_products, as_of_month,
        forecast_month, horizon, forecast_p10, forecast_p50, forecast_p90, base_p50,
        reconciliation_method, method_reason``.
    scores
        backtest MASE and point count per ``method`` (``base`` = the unreconciled forecasts) and
        ``level``; ``chosen`` marks the method used.
    method
        the chosen method.
    node_result
        the forecasting run on the aggregate series.
    backtest
        the backtest points (``keys``: (cutoff, horizon)), their ``actual`` and every method's
        ``forecasts`` (``(m + n, points)``), and each series' MASE ``scale``.
    hierarchy, final
        the hierarchy and every method's final P50 (``(m + n, horizon)``; ``base`` unreconciled).
    """

    forecasts: pd.DataFrame
    scores: pd.DataFrame
    method: str
    node_result: object = None
    backtest: dict = field(default_factory=dict)
    hierarchy: Hierarchy | None = None
    final: dict = field(default_factory=dict)


def aggregate_panel(panel: pd.DataFrame, arrays: PanelArrays, hierarchy: Hierarchy) -> pd.DataFrame:
    """The aggregates' monthly panel: ``demand`` summed over each aggregate's products and months.

    Every product row counts, also a month excluded from the products' training (its ``demand`` is
    the cleaned value of that month): an aggregate over hundreds of products would otherwise lose
    almost every month.
    """
    frame = panel[["product_id", "month", "demand"]].copy()
    frame["product_id"] = frame["product_id"].astype(str)
    frame["month"] = pd.to_datetime(frame["month"]).dt.to_period("M").dt.to_timestamp()
    frame = frame[frame["month"] <= arrays.months[-1]]
    pos = pd.Index(arrays.product_ids).get_indexer(frame["product_id"].to_numpy(dtype=object))
    frame = frame[pos >= 0]
    pos = pos[pos >= 0]
    frame["demand"] = pd.to_numeric(frame["demand"], errors="coerce").fillna(0.0)
    # sum in one fixed order: dbt hands the panel over in any row order, and a float sum in another
    # order can differ in the last bits, which the models' optimisers turn into visible differences
    order = np.lexsort((frame["month"].to_numpy(), pos))
    frame, pos = frame.iloc[order], pos[order]
    parts = []
    for parent in hierarchy.parent.values():
        node = parent[pos]
        part = frame.assign(node=node).groupby(["node", "month"], as_index=False)["demand"].sum()
        parts.append(part)
    out = pd.concat(parts, ignore_index=True)
    nodes = out["node"].to_numpy()
    return pd.DataFrame(
        {
            "product_id": hierarchy.node_ids[nodes],
            "month": out["month"].to_numpy(),
            "demand": out["demand"].to_numpy(np.float64),
            "product_group": [g if g is not None else "all" for g in hierarchy.node_group[nodes]],
            "category": [c if c is not None else "all" for c in hierarchy.node_category[nodes]],
        }
    ).sort_values(["product_id", "month"], ignore_index=True)


def _selected(frame: pd.DataFrame, selected: str) -> pd.DataFrame:
    if selected not in SELECTABLE:
        raise ValueError(f"selected_forecast must be one of {SELECTABLE}, got {selected!r}")
    return frame[frame["model_name"] == selected]


def _matrix(frame: pd.DataFrame, ids: np.ndarray, keys: list[tuple], value: str, key_cols: list[str]) -> np.ndarray:
    """``(len(ids), len(keys))`` of ``value`` by product_id and key columns (NaN where absent)."""
    out = np.full((len(ids), len(keys)), np.nan)
    if frame.empty or not keys:
        return out
    row = pd.Index(ids).get_indexer(frame["product_id"].astype(str).to_numpy(dtype=object))
    key_index = pd.MultiIndex.from_tuples(keys)
    col = key_index.get_indexer(pd.MultiIndex.from_frame(frame[key_cols]))
    ok = (row >= 0) & (col >= 0)
    out[row[ok], col[ok]] = frame[value].to_numpy(np.float64)[ok]
    return out


def _mase(hierarchy: Hierarchy, forecast: np.ndarray, actual: np.ndarray, scale: np.ndarray, level: str):
    rows = hierarchy.rows(level)
    err = np.abs(forecast[rows] - actual[rows]) / scale[rows, None]
    ok = np.isfinite(err)
    return (float(err[ok].mean()) if ok.any() else np.nan), int(ok.sum())


@dataclass(frozen=True)
class _Backtest:
    """The backtest points of every series: one column per (cutoff, horizon) in ``keys``.

    ``base``: the selected base forecasts (missing ones filled by :func:`fill_base`), ``actual``:
    the demand of each point's target month, ``errors``: ``(points, series)`` actual minus base;
    ``cutoff_col`` / ``target_col``: each point's cutoff and target column on the products' month axis;
    ``cutoffs`` / ``cutoff_cols``: the distinct cutoffs, sorted, and their columns.
    """

    keys: list[tuple]
    base: np.ndarray
    actual: np.ndarray
    errors: np.ndarray
    cutoff_col: np.ndarray
    target_col: np.ndarray
    cutoffs: list
    cutoff_cols: list[int]


def _actuals_and_scales(
    arrays: PanelArrays, node_arrays: PanelArrays, H: Hierarchy, season_length: int
) -> tuple[np.ndarray, np.ndarray]:
    """Demand ``(m + n, months)`` and MASE scale ``(m + n,)`` of every series, on the products' month axis."""
    node_y = np.full((H.m, arrays.n_months), np.nan)
    offset = arrays.n_months - node_arrays.n_months
    node_pos = pd.Index(H.node_ids).get_indexer(node_arrays.product_ids)
    node_y[node_pos, offset:] = node_arrays.y
    y_all = np.vstack([node_y, arrays.y])
    scale = np.concatenate([np.full(H.m, np.nan), mase_scale_at(arrays, arrays.n_months - 1, season_length)])
    scale[node_pos] = mase_scale_at(node_arrays, node_arrays.n_months - 1, season_length)
    return y_all, scale


def _backtest_points(
    node_result, product_result, selected: str, H: Hierarchy, arrays: PanelArrays, y_all: np.ndarray
) -> _Backtest:
    """The selected forecast's backtest of every series, one column per (cutoff, horizon)."""
    all_ids = np.concatenate([H.node_ids, H.product_ids])
    bt = pd.concat(
        [_selected(node_result.backtest, selected), _selected(product_result.backtest, selected)], ignore_index=True
    )
    bt["cutoff_month"] = pd.to_datetime(bt["cutoff_month"])
    keys = sorted({(c, int(h)) for c, h in zip(bt["cutoff_month"], bt["horizon"], strict=True)})
    base_bt = _matrix(bt, all_ids, keys, "forecast", ["cutoff_month", "horizon"])
    month_col = {month: i for i, month in enumerate(arrays.months)}
    cutoff_col = np.array([month_col[c] for c, _ in keys], dtype=np.int64)
    target_col = cutoff_col + np.array([h for _, h in keys], dtype=np.int64)
    actual_bt = y_all[:, target_col] if keys else np.zeros((H.m + H.n, 0))
    base_bt_filled = fill_base(H, base_bt) if keys else base_bt
    errors = np.nan_to_num(actual_bt - base_bt_filled).T  # (points, series)
    cutoffs = sorted({c for c, _ in keys})
    cutoff_cols = [month_col[c] for c in cutoffs]
    return _Backtest(keys, base_bt_filled, actual_bt, errors, cutoff_col, target_col, cutoffs, cutoff_cols)


def _shares_at(arrays: PanelArrays, cols: np.ndarray) -> np.ndarray:
    """The products' historical shares up to each column of ``cols``: ``(n, len(cols))``."""
    return np.stack([historical_shares(arrays.y, int(c)) for c in cols], axis=1)


def _reconcile_backtest(
    H: Hierarchy, bt: _Backtest, arrays: PanelArrays, prior: np.ndarray, methods: tuple[str, ...]
) -> dict[str, np.ndarray]:
    """Every method's coherent backtest forecasts (``base``: unreconciled). ``mint_shrink`` uses at a
    cutoff only the errors of months known then."""
    rec_bt: dict[str, np.ndarray] = {"base": bt.base}
    for method in methods:
        if not bt.keys:
            rec_bt[method] = bt.base
            continue
        if method == "mint_shrink":
            out = np.empty_like(bt.base)
            for cutoff, col in zip(bt.cutoffs, bt.cutoff_cols, strict=True):
                here = np.array([c == cutoff for c, _ in bt.keys])
                cov = error_covariance(bt.errors[bt.target_col <= col], prior)  # errors known at the cutoff only
                out[:, here] = reconcile(H, bt.base[:, here], method, cov=cov)
            rec_bt[method] = out
        else:
            rec_bt[method] = reconcile(H, bt.base, method, shares=_shares_at(arrays, bt.cutoff_col))
    return rec_bt


def _score_methods(
    H: Hierarchy, rec_bt: dict[str, np.ndarray], bt: _Backtest, scale: np.ndarray, methods: tuple[str, ...]
) -> tuple[pd.DataFrame, str, str]:
    """Backtest MASE per method and level, the chosen method and the reason (:func:`choose_method`)."""
    score_rows = []
    for method, forecast in rec_bt.items():
        for level in H.levels:
            mase, n = _mase(H, forecast, bt.actual, scale, level) if bt.keys else (np.nan, 0)
            score_rows.append({"method": method, "level": level, "mase": mase, "n_points": n})
    scores = pd.DataFrame(score_rows)
    method, reason = choose_method(scores, methods)
    scores["chosen"] = scores["method"] == method
    return scores, method, reason


def _final_quantiles(
    node_result, product_result, selected: str, H: Hierarchy, horizon: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The selected forecast's base P10, P50, P90 of every series: ``(m + n, horizon)`` each (NaN where absent)."""
    all_ids = np.concatenate([H.node_ids, H.product_ids])
    fc = pd.concat(
        [_selected(node_result.forecasts, selected), _selected(product_result.forecasts, selected)], ignore_index=True
    )
    fc["horizon"] = fc["horizon"].astype(int)
    horizons = [(h,) for h in range(1, horizon + 1)]
    p50 = _matrix(fc, all_ids, horizons, "forecast_p50", ["horizon"])
    p10 = _matrix(fc, all_ids, horizons, "forecast_p10", ["horizon"])
    p90 = _matrix(fc, all_ids, horizons, "forecast_p90", ["horizon"])
    return p10, p50, p90


def _coherent_bands(
    H: Hierarchy, p10: np.ndarray, p50: np.ndarray, p90: np.ndarray, rec: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """P10 and P90 around the reconciled median ``rec``: the base band moved with the median; an
    aggregate without its own band sums its products'."""
    lo = np.where(np.isnan(p10), np.nan, p50 - p10)
    hi = np.where(np.isnan(p90), np.nan, p90 - p50)
    prod_lo, prod_hi = np.nan_to_num(lo[H.m :]), np.nan_to_num(hi[H.m :])
    lo[: H.m] = np.where(np.isnan(lo[: H.m]), H.C @ prod_lo, lo[: H.m])
    hi[: H.m] = np.where(np.isnan(hi[: H.m]), H.C @ prod_hi, hi[: H.m])
    lo, hi = np.nan_to_num(lo), np.nan_to_num(hi)
    f10 = np.clip(rec - np.maximum(lo, 0.0), 0.0, None)
    f90 = rec + np.maximum(hi, 0.0)
    return f10, f90


def _forecast_frame(
    H: Hierarchy,
    arrays: PanelArrays,
    as_of: pd.Timestamp,
    horizon: int,
    quantiles: tuple[np.ndarray, np.ndarray, np.ndarray],
    base_p50: np.ndarray,
    method: str,
    reason: str,
) -> pd.DataFrame:
    """The rows of :attr:`HierarchyResult.forecasts`: every node and horizon, sorted by level, node, horizon."""
    f10, rec, f90 = quantiles
    n_products = np.concatenate([H.C.sum(axis=1), np.ones(H.n)]).astype(np.int64)
    level = np.concatenate([H.node_level, np.full(H.n, "product", dtype=object)])
    group = np.concatenate([H.node_group, arrays.group_names[arrays.group_codes]])
    category = np.concatenate([H.node_category, arrays.category_names[arrays.category_codes]])
    product = np.concatenate([np.full(H.m, None, dtype=object), H.product_ids])
    node_id = np.concatenate([H.node_ids, H.product_ids])
    frames = []
    for k in range(horizon):
        frames.append(
            pd.DataFrame(
                {
                    "level": level,
                    "node_id": node_id,
                    "product_group": group,
                    "category": category,
                    "product_id": product,
                    "n_products": n_products,
                    "as_of_month": as_of,
                    "forecast_month": as_of + pd.DateOffset(months=k + 1),
                    "horizon": k + 1,
                    "forecast_p10": f10[:, k],
                    "forecast_p50": rec[:, k],
                    "forecast_p90": f90[:, k],
                    "base_p50": base_p50[:, k],
                    "reconciliation_method": method,
                    "method_reason": reason,
                }
            )
        )
    out = pd.concat(frames, ignore_index=True)
    order = {name: i for i, name in enumerate(LEVELS)}
    out["_level"] = out["level"].map(order)
    out = out.sort_values(["_level", "node_id", "horizon"], kind="stable").drop(columns="_level")
    return out.reset_index(drop=True)


def forecast_hierarchy(
    panel: pd.DataFrame,
    profiles: pd.DataFrame | None,
    as_of_month,
    config: ForecastConfig,
    product_result,
    selected: str = "ensemble",
    methods: tuple[str, ...] = METHODS,
    executor: Executor | None = None,
    node_result=None,
) -> HierarchyResult:
    """Coherent forecasts of every level, the method chosen on the backtest (package docstring).

    ``product_result`` is the product run (:func:`run_forecasting` on the same inputs);
    ``node_result`` the run on the aggregate series when already computed.
    """
    from ..pipeline import run_forecasting  # the pipeline imports this module's callers, not this module

    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise ValueError(f"unknown reconciliation methods {unknown}; expected a subset of {METHODS}")
    as_of = month_start(as_of_month)
    arrays = build_panel_arrays(panel, as_of, profiles)
    H = build_hierarchy(
        arrays.product_ids, arrays.group_names[arrays.group_codes], arrays.category_names[arrays.category_codes]
    )
    if node_result is None:
        node_panel = aggregate_panel(panel, arrays, H)
        node_result = run_forecasting(node_panel, None, as_of, config, executor)
    node_arrays = build_panel_arrays(aggregate_panel(panel, arrays, H), as_of)
    y_all, scale = _actuals_and_scales(arrays, node_arrays, H, config.season_length)

    # the methods on the backtest: scored, one chosen
    bt = _backtest_points(node_result, product_result, selected, H, arrays, y_all)
    prior = np.where(np.isfinite(scale), scale, np.nanmean(scale) if np.isfinite(scale).any() else 1.0) ** 2
    rec_bt = _reconcile_backtest(H, bt, arrays, prior, methods)
    scores, method, reason = _score_methods(H, rec_bt, bt, scale, methods)

    # the final forecasts by every method; the chosen one's with its bands
    p10, p50, p90 = _final_quantiles(node_result, product_result, selected, H, config.horizon)
    base_final = fill_base(H, p50)
    final_shares = _shares_at(arrays, np.full(config.horizon, arrays.n_months - 1))
    final_cov = error_covariance(bt.errors, prior)
    final = {name: reconcile(H, base_final, name, shares=final_shares, cov=final_cov) for name in methods}
    rec = final[method]
    f10, f90 = _coherent_bands(H, p10, p50, p90, rec)
    return HierarchyResult(
        forecasts=_forecast_frame(H, arrays, as_of, config.horizon, (f10, rec, f90), base_final, method, reason),
        scores=scores,
        method=method,
        node_result=node_result,
        backtest={"keys": bt.keys, "actual": bt.actual, "forecasts": rec_bt, "scale": scale},
        hierarchy=H,
        final={"base": base_final, **final},
    )


def choose_method(scores: pd.DataFrame, methods: tuple[str, ...] = METHODS) -> tuple[str, str]:
    """The method with the lowest group MASE among those that keep the products' MASE (package docstring)."""
    table = scores.set_index(["method", "level"])["mase"]
    base_products = table.get(("base", "product"), np.nan)

    def fmt(value: float) -> str:
        return "n/a" if not np.isfinite(value) else f"{value:.3f}"

    eligible = []
    for method in methods:
        group_mase = table.get((method, CHOICE_LEVEL), np.nan)
        product_mase = table.get((method, "product"), np.nan)
        keeps = method == "bottom_up" or not np.isfinite(base_products) or product_mase <= base_products + 1e-12
        if keeps and np.isfinite(group_mase):
            eligible.append((group_mase, methods.index(method), method))
    if not eligible:
        chosen = "bottom_up" if "bottom_up" in methods else methods[0]
        return chosen, f"{chosen}: no backtest points to choose on (the default)"
    chosen = min(eligible)[2]
    parts = ", ".join(f"{m} {fmt(table.get((m, CHOICE_LEVEL), np.nan))}" for m in methods)
    return chosen, (
        f"{chosen}: lowest backtest group MASE among methods keeping product MASE <= {fmt(base_products)} "
        f"({parts}; groups forecast directly {fmt(table.get(('base', CHOICE_LEVEL), np.nan))}; "
        f"products {chosen} {fmt(table.get((chosen, 'product'), np.nan))})"
    )

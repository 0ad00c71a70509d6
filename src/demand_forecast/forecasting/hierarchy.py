"""Coherent forecasts for the product hierarchy: total > product group > category > product.

Purchasing reads product groups. The product forecasts of a run summed to a group are one group
forecast; the project's models run on the group totals themselves are another; they disagree. This
module forecasts every level and makes the levels agree (*coherent*: every aggregate equals the sum
of its products), choosing how by the rolling-origin backtest the run already made.

Notation
--------
``n`` products (bottom series), ``m`` aggregates (the total, every group, every category within
its group when some group has more than one), ``N = m + n``. ``C`` is the ``(m, n)`` 0/1 matrix
with ``C[a, p] = 1`` when product ``p`` belongs to aggregate ``a``; the summing matrix is
``S = [C; I_n]`` and a vector ``y`` of all levels (aggregates first) is coherent when
``y[:m] = C y[m:]``. ``U = [I_m; -C']`` spans the constraints: ``U' y = 0`` exactly when ``y`` is
coherent.

Base forecasts
--------------
* products: the run's selected forecast (``ensemble`` or ``champion``, as in ``fct_forecasts``);
* aggregates: :func:`run_forecasting` on the aggregate series (sums of the panel's ``demand``),
  i.e. the project's own models, backtest, selection and intervals applied to the totals.

Methods (each returns a coherent vector; every one is applied per backtest point and to the final
forecasts)
-------------------------------------------------------------------------------------------------
``bottom_up``
    products unchanged, aggregates = ``C b``.
``top_down``
    the total's base forecast split over products by their historical proportions (share of the
    total's demand over the 12 months up to the origin, :func:`historical_shares`: "proportions of the
    historical averages", Gross and Sohl's method F); products whose own base forecast is 0
    (discontinued, nothing forecast) get no share.
``middle_out``
    the same from the group level: each group's base forecast split over its products.
``mint_shrink``
    trace minimisation (Wickramasuriya, Athanasopoulos and Hyndman 2019) with ``W`` the covariance
    of the base forecasts' backtest errors shrunk towards its diagonal (Schaefer and Strimmer 2005,
    the intensity ``lambda`` estimated from the data): ``y~ = y^ - W U (U' W U)^-1 U' y^``, the
    projection equal to ``S (S' W^-1 S)^-1 S' W^-1 y^`` that never forms an ``N x N`` matrix (``W``
    is kept as diagonal + low-rank factor, so 30,000 products cost ``N x T`` memory). With fewer than
    :data:`MIN_ERROR_POINTS` error vectors, ``W`` is the diagonal of each series' squared in-sample
    seasonal-naive MAE (weighted least squares by scale).

Every method ends with the products clipped at 0 and the aggregates re-summed (``S max(b~, 0)``):
no negative units, coherence kept.

Choice
------
On the backtest points (cutoffs ``as_of - k``, horizons 1..3, forecast month <= as-of), every
method's coherent forecasts are scored by MASE per level (each series' error divided by its
in-sample seasonal-naive MAE, :func:`~demand_forecast.forecasting.metrics.mase_scale_at`). For
``mint_shrink`` the covariance used at a cutoff is estimated from the backtest errors of months up
to that cutoff only (what was known then; the earliest cutoffs know too few and weigh by scale), so
its score is out of sample. The chosen method is the one with the lowest group
level MASE among the methods whose product level MASE is not above the products' own (so the
product forecasts lose nothing on the backtest); ``bottom_up`` always qualifies (its products are
the base products), and ties go to the simpler method (the order of :data:`METHODS`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..months import month_start
from .config import ForecastConfig
from .executor import Executor
from .features import PanelArrays, build_panel_arrays
from .metrics import mase_scale_at

#: reconciliation methods, simplest first (ties in the backtest go to the earlier one)
METHODS: tuple[str, ...] = ("bottom_up", "top_down", "middle_out", "mint_shrink")
#: levels from the top; ``category`` only when some group has more than one category
LEVELS: tuple[str, ...] = ("total", "group", "category", "product")
#: the level whose backtest MASE chooses the method
CHOICE_LEVEL = "group"
SELECTABLE = ("ensemble", "champion")


# --------------------------------------------------------------------------- the hierarchy


@dataclass(frozen=True)
class Hierarchy:
    """The aggregates over ``product_ids`` and the matrix ``C`` that sums products into them.

    ``node_ids``, ``node_level``, ``node_group``, ``node_category``: one entry per aggregate, the
    total first, then the groups, then the categories (``group/category``), each sorted.
    ``parent[level][p]``: row of ``C`` of product ``p``'s aggregate at ``level``.
    """

    product_ids: np.ndarray
    node_ids: np.ndarray
    node_level: np.ndarray
    node_group: np.ndarray
    node_category: np.ndarray
    C: np.ndarray
    parent: dict[str, np.ndarray]

    @property
    def m(self) -> int:
        return len(self.node_ids)

    @property
    def n(self) -> int:
        return len(self.product_ids)

    @property
    def levels(self) -> list[str]:
        return [level for level in LEVELS if level == "product" or level in self.parent]

    def summing_matrix(self) -> np.ndarray:
        """``S = [C; I_n]``, ``(m + n, n)``."""
        return np.vstack([self.C, np.eye(self.n)])

    def rows(self, level: str) -> np.ndarray:
        """Rows of a full ``(m + n, ...)`` array that belong to ``level``."""
        if level == "product":
            return np.arange(self.m, self.m + self.n)
        return np.nonzero(self.node_level == level)[0]

    def aggregate(self, bottom: np.ndarray) -> np.ndarray:
        """The full coherent array ``S b`` of a ``(n, k)`` bottom array."""
        return np.vstack([self.C @ bottom, bottom])


def build_hierarchy(product_ids, groups, categories=None, with_category: bool | None = None) -> Hierarchy:
    """The hierarchy of products given each one's group (and category within the group).

    ``with_category`` None: the category level is kept when some group has more than one category
    (otherwise it repeats the groups).
    """
    product_ids = np.asarray(product_ids, dtype=object)
    groups = pd.Series(np.asarray(groups, dtype=object)).fillna("unknown").astype(str).to_numpy(dtype=object)
    if categories is None:
        categories = np.full(len(product_ids), "unknown", dtype=object)
    categories = pd.Series(np.asarray(categories, dtype=object)).fillna("unknown").astype(str).to_numpy(dtype=object)
    if not (len(product_ids) == len(groups) == len(categories)):
        raise ValueError("product_ids, groups and categories must have the same length")
    if len(np.unique(product_ids)) != len(product_ids):
        raise ValueError("product_ids must be unique")
    group_names, group_code = np.unique(groups, return_inverse=True)
    pairs = np.char.add(np.char.add(groups.astype(str), "/"), categories.astype(str))
    pair_names, pair_code = np.unique(pairs, return_inverse=True)
    if with_category is None:
        with_category = len(pair_names) > len(group_names)
    ids = ["total"] + [f"group:{g}" for g in group_names]
    level = ["total"] + ["group"] * len(group_names)
    node_group: list[object] = [None, *group_names]
    node_category: list[object] = [None] * (1 + len(group_names))
    parent = {"total": np.zeros(len(product_ids), dtype=np.int64), "group": 1 + group_code.astype(np.int64)}
    if with_category:
        ids += [f"category:{p}" for p in pair_names]
        level += ["category"] * len(pair_names)
        split = [p.split("/", 1) for p in pair_names]
        # group names may hold '/': take the category from the product rows instead
        first = {code: i for i, code in reversed(list(enumerate(pair_code)))}
        node_group += [groups[first[c]] for c in range(len(pair_names))]
        node_category += [categories[first[c]] for c in range(len(split))]
        parent["category"] = 1 + len(group_names) + pair_code.astype(np.int64)
    m = len(ids)
    C = np.zeros((m, len(product_ids)))
    for rows in parent.values():
        C[rows, np.arange(len(product_ids))] = 1.0
    return Hierarchy(
        product_ids=product_ids,
        node_ids=np.asarray(ids, dtype=object),
        node_level=np.asarray(level, dtype=object),
        node_group=np.asarray(node_group, dtype=object),
        node_category=np.asarray(node_category, dtype=object),
        C=C,
        parent=parent,
    )


# --------------------------------------------------------------------------- error covariance


@dataclass(frozen=True)
class ShrunkCovariance:
    """``W = lam * diag(var) + (1 - lam) * F' F``, kept as its diagonal and factor ``F`` (T x N).

    ``F`` holds the centred errors divided by ``sqrt(T - 1)``, so ``F' F`` is the sample covariance.
    """

    var: np.ndarray
    factor: np.ndarray
    lam: float

    def matmul(self, M: np.ndarray) -> np.ndarray:
        """``W @ M`` without forming ``W``."""
        return self.lam * self.var[:, None] * M + (1.0 - self.lam) * (self.factor.T @ (self.factor @ M))

    def dense(self) -> np.ndarray:
        """``W`` itself (small problems and tests only)."""
        full = self.factor.T @ self.factor
        return self.lam * np.diag(self.var) + (1.0 - self.lam) * full


def shrunk_covariance(errors: np.ndarray, floor: float = 1e-9) -> ShrunkCovariance:
    """Covariance of ``errors`` (T points x N series) shrunk towards its diagonal.

    The intensity is Schaefer and Strimmer's estimate for the correlations,
    ``lam = sum_{i!=j} Var(r_ij) / sum_{i!=j} r_ij^2`` clipped to [0, 1], computed through
    ``T x T`` Gram matrices (never ``N x N``). Variances are floored at ``floor`` times the mean
    variance (and at ``floor``) so that a series without errors keeps ``W`` invertible and is left
    (almost) unchanged by the projection. Fewer than 2 points: ``lam = 1`` (diagonal).
    """
    errors = np.nan_to_num(np.asarray(errors, dtype=np.float64))
    T, N = errors.shape
    if T < 2:
        var = np.full(N, 1.0) if T == 0 else errors[0] ** 2
        var = np.maximum(var, floor * max(float(var.mean()) if N else 1.0, 1.0))
        return ShrunkCovariance(var, np.zeros((0, N)), 1.0)
    centred = errors - errors.mean(axis=0)
    var = (centred**2).sum(axis=0) / (T - 1)
    sd = np.sqrt(var)
    std = np.divide(centred, sd, out=np.zeros_like(centred), where=sd > 0)
    gram = std @ std.T  # (T, T): ||std' std||_F = ||std std'||_F
    sq = (std**2).sum(axis=1)  # per point: sum_i x_ki^2
    col_sq = (std**2).sum(axis=0)  # per series: sum_k x_ki^2
    frob = float((gram**2).sum())  # sum_ij (sum_k x_ki x_kj)^2
    # sum over i != j of sum_k w_kij^2, and of mean_k(w_kij)^2
    w2 = float((sq**2).sum()) - float((std**4).sum())
    mean_w2 = (frob - float((col_sq**2).sum())) / T**2
    var_r = T / (T - 1) ** 3 * (w2 - T * mean_w2)
    r2 = (frob - float((col_sq**2).sum())) / (T - 1) ** 2
    lam = 1.0 if r2 <= 0 else float(np.clip(var_r / r2, 0.0, 1.0))
    floored = np.maximum(var, floor * max(float(var.mean()), 1.0))
    return ShrunkCovariance(floored, centred / np.sqrt(T - 1), lam)


#: fewer backtest error vectors than this: MinT weights by the in-sample naive error instead
MIN_ERROR_POINTS = 6


def error_covariance(errors: np.ndarray, prior_var: np.ndarray) -> ShrunkCovariance:
    """The shrunk covariance of ``errors`` (T x N), or with fewer than :data:`MIN_ERROR_POINTS`
    points the diagonal ``prior_var`` (each series' squared in-sample seasonal-naive MAE: weighted
    least squares by the scale of each series' changes)."""
    if errors.shape[0] < MIN_ERROR_POINTS:
        prior = np.maximum(np.asarray(prior_var, dtype=np.float64), 1e-9)
        return ShrunkCovariance(prior, np.zeros((0, len(prior))), 1.0)
    return shrunk_covariance(errors)


# --------------------------------------------------------------------------- reconciliation


def nonnegative(hierarchy: Hierarchy, full: np.ndarray) -> np.ndarray:
    """Products clipped at 0, aggregates re-summed: coherent and never negative."""
    return hierarchy.aggregate(np.maximum(full[hierarchy.m :], 0.0))


def bottom_up(hierarchy: Hierarchy, base: np.ndarray) -> np.ndarray:
    """``S b^``: the products' base forecasts, summed."""
    return nonnegative(hierarchy, base)


def split_down(hierarchy: Hierarchy, base: np.ndarray, level: str, shares: np.ndarray) -> np.ndarray:
    """The base forecasts of ``level``'s aggregates split over their products by ``shares``.

    ``base``: ``(m + n, k)``; ``shares``: ``(n,)`` or ``(n, k)`` historical shares (any scale: they
    are normalised within each aggregate). A product whose base forecast is 0 gets no share; an
    aggregate whose products have no share passes nothing down (its coherent value is then 0).
    """
    parent = hierarchy.parent[level]
    shares = np.asarray(shares, dtype=np.float64)
    if shares.ndim == 1:
        shares = np.repeat(shares[:, None], base.shape[1], axis=1)
    weight = np.where(base[hierarchy.m :] > 0, np.maximum(shares, 0.0), 0.0)
    totals = np.zeros((hierarchy.m, base.shape[1]))
    np.add.at(totals, parent, weight)
    denom = totals[parent]
    prop = np.divide(weight, denom, out=np.zeros_like(weight), where=denom > 0)
    top = np.maximum(np.nan_to_num(base[parent]), 0.0)
    return hierarchy.aggregate(top * prop)


def mint(hierarchy: Hierarchy, base: np.ndarray, cov) -> np.ndarray:
    """Trace-minimisation projection ``y^ - W U (U' W U)^-1 U' y^`` (then :func:`nonnegative`).

    ``cov``: a :class:`ShrunkCovariance` or a dense ``(m + n, m + n)`` matrix ``W``.
    """
    m = hierarchy.m
    U = np.vstack([np.eye(m), -hierarchy.C.T])
    WU = cov.matmul(U) if isinstance(cov, ShrunkCovariance) else np.asarray(cov) @ U
    UWU = U.T @ WU
    gap = U.T @ base  # (m, k): aggregates minus the sums of their products
    try:
        step = np.linalg.solve(UWU, gap)
    except np.linalg.LinAlgError:
        step = np.linalg.lstsq(UWU, gap, rcond=None)[0]
    return nonnegative(hierarchy, base - WU @ step)


def reconcile(
    hierarchy: Hierarchy,
    base: np.ndarray,
    method: str,
    shares: np.ndarray | None = None,
    cov=None,
) -> np.ndarray:
    """Coherent ``(m + n, k)`` forecasts from the base forecasts of every level by ``method``.

    ``shares`` (``top_down``, ``middle_out``): the products' historical demand; ``cov``
    (``mint_shrink``): the error covariance. A missing aggregate base forecast (NaN) is its
    products' sum; a missing product forecast is 0.
    """
    base = fill_base(hierarchy, base)
    if method == "bottom_up":
        return bottom_up(hierarchy, base)
    if method in ("top_down", "middle_out"):
        if shares is None:
            raise ValueError(f"{method} needs the products' historical shares")
        return split_down(hierarchy, base, "total" if method == "top_down" else "group", shares)
    if method == "mint_shrink":
        if cov is None:
            raise ValueError("mint_shrink needs the error covariance")
        return mint(hierarchy, base, cov)
    raise ValueError(f"unknown reconciliation method {method!r}; expected one of {METHODS}")


def fill_base(hierarchy: Hierarchy, base: np.ndarray) -> np.ndarray:
    """Missing product forecasts as 0, missing aggregate forecasts as their products' sum."""
    base = np.asarray(base, dtype=np.float64)
    if base.ndim == 1:
        base = base[:, None]
    if base.shape[0] != hierarchy.m + hierarchy.n:
        raise ValueError(f"base has {base.shape[0]} rows; the hierarchy has {hierarchy.m + hierarchy.n}")
    bottom = np.nan_to_num(base[hierarchy.m :])
    agg = base[: hierarchy.m]
    agg = np.where(np.isnan(agg), hierarchy.C @ bottom, agg)
    return np.vstack([agg, bottom])


def historical_shares(y: np.ndarray, origin: int, months: int = 12) -> np.ndarray:
    """Each product's demand over the ``months`` months up to column ``origin`` (missing = 0)."""
    lo = max(0, origin - months + 1)
    return np.nansum(y[:, lo : origin + 1], axis=1)


# --------------------------------------------------------------------------- the run


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
    """Coherent forecasts of every level, the method chosen on the backtest (module docstring).

    ``product_result`` is the product run (:func:`run_forecasting` on the same inputs);
    ``node_result`` the run on the aggregate series when already computed.
    """
    from .pipeline import run_forecasting  # the pipeline imports this module's callers, not this module

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
    all_ids = np.concatenate([H.node_ids, H.product_ids])

    # actuals and MASE scales of every series, on the products' month axis
    node_y = np.full((H.m, arrays.n_months), np.nan)
    offset = arrays.n_months - node_arrays.n_months
    node_pos = pd.Index(H.node_ids).get_indexer(node_arrays.product_ids)
    node_y[node_pos, offset:] = node_arrays.y
    y_all = np.vstack([node_y, arrays.y])
    scale = np.concatenate([np.full(H.m, np.nan), mase_scale_at(arrays, arrays.n_months - 1, config.season_length)])
    scale[node_pos] = mase_scale_at(node_arrays, node_arrays.n_months - 1, config.season_length)

    # backtest: one column per (cutoff, horizon)
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

    def shares_at(cols: np.ndarray) -> np.ndarray:
        return np.stack([historical_shares(arrays.y, int(c)) for c in cols], axis=1)

    prior = np.where(np.isfinite(scale), scale, np.nanmean(scale) if np.isfinite(scale).any() else 1.0) ** 2
    rec_bt: dict[str, np.ndarray] = {"base": base_bt_filled}
    for method in methods:
        if not keys:
            rec_bt[method] = base_bt_filled
            continue
        if method == "mint_shrink":
            out = np.empty_like(base_bt_filled)
            for cutoff, col in zip(cutoffs, cutoff_cols, strict=True):
                here = np.array([c == cutoff for c, _ in keys])
                cov = error_covariance(errors[target_col <= col], prior)  # errors known at the cutoff only
                out[:, here] = reconcile(H, base_bt_filled[:, here], method, cov=cov)
            rec_bt[method] = out
        else:
            rec_bt[method] = reconcile(H, base_bt_filled, method, shares=shares_at(cutoff_col))

    score_rows = []
    for method, forecast in rec_bt.items():
        for level in H.levels:
            mase, n = _mase(H, forecast, actual_bt, scale, level) if keys else (np.nan, 0)
            score_rows.append({"method": method, "level": level, "mase": mase, "n_points": n})
    scores = pd.DataFrame(score_rows)
    method, reason = choose_method(scores, methods)
    scores["chosen"] = scores["method"] == method

    # final forecasts
    fc = pd.concat(
        [_selected(node_result.forecasts, selected), _selected(product_result.forecasts, selected)], ignore_index=True
    )
    fc["horizon"] = fc["horizon"].astype(int)
    horizons = [(h,) for h in range(1, config.horizon + 1)]
    p50 = _matrix(fc, all_ids, horizons, "forecast_p50", ["horizon"])
    p10 = _matrix(fc, all_ids, horizons, "forecast_p10", ["horizon"])
    p90 = _matrix(fc, all_ids, horizons, "forecast_p90", ["horizon"])
    base_final = fill_base(H, p50)
    final_shares = shares_at(np.full(config.horizon, arrays.n_months - 1))
    final_cov = error_covariance(errors, prior)
    final = {name: reconcile(H, base_final, name, shares=final_shares, cov=final_cov) for name in methods}
    rec = final[method]
    # bands: the base band moved with the median; an aggregate without its own band sums its products'
    lo = np.where(np.isnan(p10), np.nan, p50 - p10)
    hi = np.where(np.isnan(p90), np.nan, p90 - p50)
    prod_lo, prod_hi = np.nan_to_num(lo[H.m :]), np.nan_to_num(hi[H.m :])
    lo[: H.m] = np.where(np.isnan(lo[: H.m]), H.C @ prod_lo, lo[: H.m])
    hi[: H.m] = np.where(np.isnan(hi[: H.m]), H.C @ prod_hi, hi[: H.m])
    lo, hi = np.nan_to_num(lo), np.nan_to_num(hi)
    f10 = np.clip(rec - np.maximum(lo, 0.0), 0.0, None)
    f90 = rec + np.maximum(hi, 0.0)

    n_products = np.concatenate([H.C.sum(axis=1), np.ones(H.n)]).astype(np.int64)
    level = np.concatenate([H.node_level, np.full(H.n, "product", dtype=object)])
    group = np.concatenate([H.node_group, arrays.group_names[arrays.group_codes]])
    category = np.concatenate([H.node_category, arrays.category_names[arrays.category_codes]])
    product = np.concatenate([np.full(H.m, None, dtype=object), H.product_ids])
    node_id = np.concatenate([H.node_ids, H.product_ids])
    frames = []
    for k in range(config.horizon):
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
                    "base_p50": base_final[:, k],
                    "reconciliation_method": method,
                    "method_reason": reason,
                }
            )
        )
    out = pd.concat(frames, ignore_index=True)
    order = {name: i for i, name in enumerate(LEVELS)}
    out["_level"] = out["level"].map(order)
    out = out.sort_values(["_level", "node_id", "horizon"], kind="stable").drop(columns="_level")
    return HierarchyResult(
        forecasts=out.reset_index(drop=True),
        scores=scores,
        method=method,
        node_result=node_result,
        backtest={"keys": keys, "actual": actual_bt, "forecasts": rec_bt, "scale": scale},
        hierarchy=H,
        final={"base": base_final, **final},
    )


def choose_method(scores: pd.DataFrame, methods: tuple[str, ...] = METHODS) -> tuple[str, str]:
    """The method with the lowest group MASE among those that keep the products' MASE (module docstring)."""
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

"""The reconciliation algebra of the product hierarchy: the summing matrix, the shrunk error
covariance and the methods that make forecasts of every level coherent.

Notation and methods: the package docstring (:mod:`demand_forecast.forecasting.hierarchy`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

#: reconciliation methods, simplest first (ties in the backtest go to the earlier one)
METHODS: tuple[str, ...] = ("bottom_up", "top_down", "middle_out", "mint_shrink")
#: levels from the top; ``category`` only when some group has more than one category
LEVELS: tuple[str, ...] = ("total", "group", "category", "product")


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

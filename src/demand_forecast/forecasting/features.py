"""Panel preparation, window helpers and demand classes.

The monthly panel (long format, one row per product and month; see
``docs/contracts.md``) is turned once into dense numpy matrices of shape
``(n_products, n_months)`` held by :class:`PanelArrays`.  Every vectorised
model, the backtest and the LightGBM feature builder work on these arrays, so
no per-product Python loop is needed for the cheap models.  The features of
the global LightGBM model live with that model
(:mod:`demand_forecast.forecasting.models.global_model`).

Conventions
-----------
* Products are sorted by ``product_id`` (string order) and months run from the
  first month in the panel to ``as_of_month`` without gaps; array row ``i`` is
  product ``product_ids[i]`` and column ``t`` is month ``months[t]``.
* ``y`` holds the target ``demand``.  A cell is ``NaN`` when the value is not
  usable: no panel row for that month (before the product's first month, or a
  gap) or the row has ``exclude_from_training = true``.  Models treat ``NaN`` as
  *missing*; see each model's docstring for how it copes.
* An *origin* is a column index ``o``: a forecast made at ``o`` may only read
  columns ``<= o``.  Every helper here that takes an origin honours that rule.

Importing this module has no side effects.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..months import add_months, month_numbers, month_start

REQUIRED_PANEL_COLUMNS = ("product_id", "month", "demand")

#: Syntetos-Boylan demand classes plus ``new`` (integer codes used internally).
DEMAND_CLASSES: tuple[str, ...] = ("smooth", "erratic", "intermittent", "lumpy", "new")

#: Default Syntetos-Boylan cut-offs (average demand interval and squared CV of sizes).  The dbt vars
#: ``adi_cutoff`` / ``cv2_cutoff`` carry them to ``int_series_profiles`` and, as the
#: :class:`~demand_forecast.forecasting.config.ForecastConfig` fields of the same names, here.
ADI_CUTOFF = 1.32
CV2_CUTOFF = 0.49

CLASS_CODE = {name: code for code, name in enumerate(DEMAND_CLASSES)}


@dataclass
class PanelArrays:
    """Dense view of the monthly panel.

    Attributes
    ----------
    product_ids : (n,) object array of product ids, sorted.
    months : DatetimeIndex of the ``T`` month starts; ``months[-1]`` is the as-of month.
    y : (n, T) float64 demand; NaN = missing (no row or excluded from training).
    has_row : (n, T) bool, the panel has a row for the cell (even if excluded).
    partial : (n, T) bool, ``is_partial_month``.
    price : (n, T) float64 ``avg_unit_price`` (NaN when unknown).
    start : (n,) int64 index of the product's first month in the panel.
    group_codes, category_codes : (n,) int32 codes into ``group_names`` / ``category_names``.
    """

    product_ids: np.ndarray
    months: pd.DatetimeIndex
    y: np.ndarray
    has_row: np.ndarray
    partial: np.ndarray
    price: np.ndarray
    start: np.ndarray
    group_codes: np.ndarray
    group_names: np.ndarray
    category_codes: np.ndarray
    category_names: np.ndarray

    @property
    def n_series(self) -> int:
        return int(self.y.shape[0])

    @property
    def n_months(self) -> int:
        return int(self.y.shape[1])

    @property
    def month_of_year(self) -> np.ndarray:
        """(T,) month of year 1..12 of every column."""
        return self.months.month.to_numpy(dtype=np.int64)

    def moy(self, t: np.ndarray | int) -> np.ndarray:
        """Month of year (1..12) of column index ``t`` (may lie past the panel)."""
        first = self.months[0].month - 1
        return (np.asarray(t) + first) % 12 + 1

    def history_length(self, origin: int) -> np.ndarray:
        """Months from each product's first month to ``origin`` inclusive (0 if not started)."""
        return np.clip(origin - self.start + 1, 0, None)

    def month_at(self, t: int) -> pd.Timestamp:
        """Timestamp of column ``t`` (may lie past the panel)."""
        return add_months(self.months[0], int(t))

    def index_of(self, month) -> int:
        """Column index of ``month``."""
        m = month_start(month)
        first = self.months[0]
        return (m.year - first.year) * 12 + (m.month - first.month)

    def subset(self, rows: np.ndarray) -> PanelArrays:
        """Panel restricted to the given product rows (sorted order kept)."""
        rows = np.asarray(rows)
        return PanelArrays(
            product_ids=self.product_ids[rows],
            months=self.months,
            y=self.y[rows],
            has_row=self.has_row[rows],
            partial=self.partial[rows],
            price=self.price[rows],
            start=self.start[rows],
            group_codes=self.group_codes[rows],
            group_names=self.group_names,
            category_codes=self.category_codes[rows],
            category_names=self.category_names,
        )

    def to_long(self, rows: np.ndarray | None = None, upto: int | None = None) -> pd.DataFrame:
        """Long frame ``product_id, month, demand`` (NaN demand = missing) for the rows."""
        rows = np.arange(self.n_series) if rows is None else np.asarray(rows)
        upto = self.n_months - 1 if upto is None else int(upto)
        has = self.has_row[rows, : upto + 1]
        r, t = np.nonzero(has)
        return pd.DataFrame(
            {
                "product_id": self.product_ids[rows][r],
                "month": self.months[: upto + 1][t],
                "demand": self.y[rows, : upto + 1][r, t],
            }
        )


def _first_non_null(frame: pd.DataFrame, column: str) -> pd.Series:
    values = frame[["product_id", column]].dropna()
    return values.groupby("product_id", sort=False)[column].first()


def build_panel_arrays(
    panel: pd.DataFrame,
    as_of_month,
    profiles: pd.DataFrame | None = None,
) -> PanelArrays:
    """Turn the long monthly panel into :class:`PanelArrays`.

    Rows with ``month > as_of_month`` are dropped (they must never reach a
    model).  ``exclude_from_training = true`` rows become NaN in ``y``.
    ``product_group`` / ``category`` come from the panel, else from
    ``profiles``, else ``"unknown"``.  A duplicated (product_id, month) pair is
    an error.
    """
    missing = [c for c in REQUIRED_PANEL_COLUMNS if c not in panel.columns]
    if missing:
        raise ValueError(f"panel lacks columns {missing}")
    as_of = month_start(as_of_month)
    as_of_idx = as_of.year * 12 + as_of.month - 1

    frame = panel.copy()
    frame["product_id"] = frame["product_id"].astype(str)
    midx = month_numbers(frame["month"])
    keep = midx <= as_of_idx
    frame = frame.loc[keep].reset_index(drop=True)
    midx = midx[keep]
    if frame.empty:
        raise ValueError("panel has no rows at or before as_of_month")

    first_idx = int(midx.min())
    n_months = as_of_idx - first_idx + 1
    months = pd.date_range(
        pd.Timestamp(year=first_idx // 12, month=first_idx % 12 + 1, day=1), periods=n_months, freq="MS"
    )
    product_ids, codes = np.unique(frame["product_id"].to_numpy(dtype=object), return_inverse=True)
    n = len(product_ids)
    col = midx - first_idx
    cell = codes.astype(np.int64) * n_months + col
    if len(np.unique(cell)) != len(cell):
        raise ValueError("panel has duplicated (product_id, month) rows")

    demand = pd.to_numeric(frame["demand"], errors="coerce").to_numpy(dtype=np.float64)
    if "exclude_from_training" in frame.columns:
        excl = frame["exclude_from_training"].fillna(False).astype(bool).to_numpy()
        demand = np.where(excl, np.nan, demand)
    y = np.full((n, n_months), np.nan)
    y[codes, col] = demand
    has_row = np.zeros((n, n_months), dtype=bool)
    has_row[codes, col] = True
    partial = np.zeros((n, n_months), dtype=bool)
    if "is_partial_month" in frame.columns:
        partial[codes, col] = frame["is_partial_month"].fillna(False).astype(bool).to_numpy()
    price = np.full((n, n_months), np.nan)
    if "avg_unit_price" in frame.columns:
        price[codes, col] = pd.to_numeric(frame["avg_unit_price"], errors="coerce").to_numpy(dtype=np.float64)
    start = np.full(n, n_months, dtype=np.int64)
    np.minimum.at(start, codes, col)

    pid_index = pd.Index(product_ids)
    attrs = {}
    for column in ("product_group", "category"):
        values = pd.Series("unknown", index=pid_index, dtype=object)
        if profiles is not None and column in profiles.columns:
            prof = profiles[["product_id", column]].copy()
            prof["product_id"] = prof["product_id"].astype(str)
            from_prof = _first_non_null(prof, column)
            from_prof = from_prof[from_prof.index.isin(pid_index)]
            values.loc[from_prof.index] = from_prof.astype(str).to_numpy()
        if column in frame.columns:
            from_panel = _first_non_null(frame, column)
            values.loc[from_panel.index] = from_panel.astype(str).to_numpy()
        names, cat_codes = np.unique(values.to_numpy(dtype=object), return_inverse=True)
        attrs[column] = (cat_codes.astype(np.int32), names)

    return PanelArrays(
        product_ids=product_ids,
        months=months,
        y=y,
        has_row=has_row,
        partial=partial,
        price=price,
        start=start,
        group_codes=attrs["product_group"][0],
        group_names=attrs["product_group"][1],
        category_codes=attrs["category"][0],
        category_names=attrs["category"][1],
    )


# ---------------------------------------------------------------------------
# window helpers (all read columns <= origin only)
# ---------------------------------------------------------------------------


def window(values: np.ndarray, origin: int, width: int) -> np.ndarray:
    """Columns ``origin-width+1 .. origin`` of ``values``, NaN-padded on the left."""
    lo = origin - width + 1
    if lo >= 0:
        return values[:, lo : origin + 1]
    pad = np.full((values.shape[0], -lo), np.nan)
    return np.concatenate([pad, values[:, : origin + 1]], axis=1)


def nan_mean(values: np.ndarray, axis: int = 1) -> np.ndarray:
    """Mean ignoring NaN; NaN where nothing is observed (no warning)."""
    valid = ~np.isnan(values)
    count = valid.sum(axis=axis)
    total = np.where(valid, values, 0.0).sum(axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def nan_std(values: np.ndarray, axis: int = 1, min_count: int = 2) -> np.ndarray:
    """Population standard deviation ignoring NaN; NaN below ``min_count`` values."""
    valid = ~np.isnan(values)
    count = valid.sum(axis=axis)
    mean = nan_mean(values, axis=axis)
    dev = np.where(valid, values - np.expand_dims(mean, axis), 0.0)
    var = (dev**2).sum(axis=axis) / np.maximum(count, 1)
    return np.where(count >= min_count, np.sqrt(var), np.nan)


def last_valid(values: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Last ``k`` non-NaN values of every row, most recent first.

    Returns ``(vals, ok)`` of shape ``(n, k)``; ``ok`` flags real values (rows
    with fewer than ``k`` observations are padded with NaN / False).
    """
    valid = ~np.isnan(values)
    # stable sort puts missing cells first and keeps the time order of the rest
    order = np.argsort(valid, axis=1, kind="stable")
    packed = np.take_along_axis(values, order, axis=1)
    tail = packed[:, ::-1][:, :k]
    ok = ~np.isnan(tail)
    if tail.shape[1] < k:
        pad = k - tail.shape[1]
        tail = np.concatenate([tail, np.full((tail.shape[0], pad), np.nan)], axis=1)
        ok = np.concatenate([ok, np.zeros((ok.shape[0], pad), dtype=bool)], axis=1)
    return tail, ok


def level_at(y: np.ndarray, origin: int, width: int = 12) -> np.ndarray:
    """Mean demand of the last ``width`` months (fallback: all history) at ``origin``."""
    recent = nan_mean(window(y, origin, width))
    overall = nan_mean(y[:, : origin + 1])
    return np.where(np.isnan(recent), overall, recent)


def demand_class_at(
    arrays: PanelArrays,
    origin: int,
    min_history: int,
    adi_cutoff: float = ADI_CUTOFF,
    cv2_cutoff: float = CV2_CUTOFF,
) -> np.ndarray:
    """Syntetos-Boylan class code (see :data:`CLASS_CODE`) of every product at ``origin``.

    ADI = observed months / months with demand > 0 (infinite when none);
    CV² = (std / mean)² of the non-zero demands (population std).  smooth: ADI < ``adi_cutoff``
    and CV² < ``cv2_cutoff``; erratic: ADI < ``adi_cutoff``, CV² >= ``cv2_cutoff``; intermittent:
    ADI >= ``adi_cutoff``, CV² < ``cv2_cutoff``; lumpy: both at or above (the rule of
    ``int_series_profiles``).  Products with fewer than ``min_history`` months of history are
    ``new``.  Only data up to ``origin`` is used, so the class is a legitimate backtest feature.
    """
    hist = arrays.y[:, : origin + 1]
    valid = ~np.isnan(hist)
    nz = valid & (np.nan_to_num(hist) > 0)
    n_obs = valid.sum(axis=1)
    n_nz = nz.sum(axis=1)
    sizes = np.where(nz, hist, np.nan)
    mean_nz = nan_mean(sizes)
    std_nz = nan_std(sizes, min_count=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        adi = np.where(n_nz > 0, n_obs / np.maximum(n_nz, 1), np.inf)
        cv2 = np.where(n_nz > 0, (std_nz / mean_nz) ** 2, 0.0)
    cv2 = np.nan_to_num(cv2)
    low_adi = adi < adi_cutoff
    low_cv = cv2 < cv2_cutoff
    code = np.where(
        low_adi,
        np.where(low_cv, CLASS_CODE["smooth"], CLASS_CODE["erratic"]),
        np.where(low_cv, CLASS_CODE["intermittent"], CLASS_CODE["lumpy"]),
    ).astype(np.int8)
    code[arrays.history_length(origin) < min_history] = CLASS_CODE["new"]
    return code


def forward_fill(values: np.ndarray) -> np.ndarray:
    """Forward-fill NaN along the time axis (rows independent)."""
    n, t = values.shape
    idx = np.where(~np.isnan(values), np.arange(t)[None, :], 0)
    np.maximum.accumulate(idx, axis=1, out=idx)
    out = values[np.arange(n)[:, None], idx]
    return out

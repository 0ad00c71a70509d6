"""Cold-start forecasts for products with little history.

A product is *new* at an origin when it has between 1 and
``min_history - 1`` months of history there.  Its forecast is::

    f(o + h) = level * index[g, month_of_year(o + h)]

``index[g, .]`` -- the seasonal profile of the product's group ``g``
    Established products of the group (at least 12 months of history at the
    origin) contribute their demand of the last ``profile_months`` months
    divided by their own mean over that window; these ratios are averaged by
    calendar month and the 12 values rescaled to mean 1.  A group with fewer
    than ``min_products`` contributing products (or a month without data)
    uses the profile of all products; with no established product at all the
    profile is flat (all ones).

``level`` -- the launch level, seasonally adjusted
    ``mean(y_m / index[g, month_of_year(m)])`` over the product's observed
    months.  Partial months (launch inside the month) are left out when the
    product has at least one full month; missing months (excluded from
    training) are always left out.

``growth[g, a, h]`` -- the launch curve (``launch_curve=True``, default)
    Products ramp up after launch, so the level of their first months
    under-forecasts the next ones.  Every product launched inside the panel
    whose first ``a + h`` months lie before the origin shows how demand
    ``h`` months ahead compares with its launch level at age ``a`` (both
    seasonally adjusted, the level computed as above)::

        growth[g, a, h] = sum(adjusted demand at age a + h) / sum(launch level at age a)

    over the group's past launches (all products' when the group has fewer
    than ``min_products`` of them; 1 when there are fewer than that in
    total), clipped to [0.25, 4].  The forecast is then
    ``level * growth[g, a, h] * index[g, month_of_year(o + h)]``.

Only columns ``<= origin`` are read, so the model is backtest-safe.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..features import PanelArrays, nan_mean, window
from .base import BaseForecaster, Needs, empty_forecasts

if TYPE_CHECKING:
    from ..config import ForecastConfig


class ColdStart(BaseForecaster):
    """Group seasonal profile x seasonally adjusted launch level."""

    name = "cold_start"

    def __init__(
        self,
        horizon: int = 3,
        min_history: int = 6,
        min_products: int = 5,
        profile_months: int = 36,
        season_length: int = 12,
        launch_curve: bool = True,
    ) -> None:
        super().__init__(horizon)
        self.min_history = int(min_history)
        self.min_products = int(min_products)
        self.profile_months = int(profile_months)
        self.season_length = int(season_length)
        self.launch_curve = bool(launch_curve)

    @classmethod
    def from_config(cls, config: ForecastConfig) -> ColdStart:
        return cls(
            config.horizon,
            min_history=config.min_history_months,
            min_products=config.cold_start_min_products,
            profile_months=config.cold_start_profile_months,
            season_length=config.season_length,
            launch_curve=config.cold_start_launch_curve,
        )

    @property
    def needs(self) -> Needs:
        return Needs(min_history=1, max_history=self.min_history)

    def features(self) -> list[str]:
        return ["demand", "product_group"]

    def seasonal_profiles(self, arrays: PanelArrays, origin: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Profiles at ``origin``.

        Returns ``(group_index, overall_index, uses_own)``: ``group_index`` is
        ``(n_groups, 12)`` (column ``m - 1`` is calendar month ``m``) with the
        fallback already applied, ``overall_index`` the all-products profile
        and ``uses_own`` flags groups that have their own profile.
        """
        m = self.season_length
        n_groups = len(arrays.group_names)
        width = max(m, min(self.profile_months, origin + 1))
        established = arrays.history_length(origin) >= m
        win = window(arrays.y[established], origin, width)
        mean = nan_mean(win)
        ok = np.isfinite(mean) & (mean > 0)
        ratios = win[ok] / mean[ok][:, None]
        groups = arrays.group_codes[established][ok]
        moy = arrays.moy(np.arange(origin - width + 1, origin + 1)) - 1  # 0..11
        valid = ~np.isnan(ratios)
        g_idx = np.repeat(groups, width)[valid.ravel()]
        m_idx = np.tile(moy, len(groups))[valid.ravel()]
        vals = ratios[valid]
        sums = np.zeros((n_groups, 12))
        counts = np.zeros((n_groups, 12))
        np.add.at(sums, (g_idx, m_idx), vals)
        np.add.at(counts, (g_idx, m_idx), 1.0)
        n_products = np.bincount(groups, minlength=n_groups)

        def normalise(s: np.ndarray, c: np.ndarray) -> np.ndarray | None:
            if np.any(c == 0):
                return None
            idx = s / c
            if not np.all(np.isfinite(idx)) or idx.mean() <= 0:
                return None
            return idx / idx.mean()

        overall = normalise(sums.sum(axis=0), counts.sum(axis=0))
        if overall is None:
            overall = np.ones(12)
        out = np.tile(overall, (n_groups, 1))
        uses_own = np.zeros(n_groups, dtype=bool)
        for g in range(n_groups):
            if n_products[g] >= self.min_products:
                own = normalise(sums[g], counts[g])
                if own is not None:
                    out[g] = own
                    uses_own[g] = True
        return out, overall, uses_own

    def _launch_level(self, arrays: PanelArrays, rows: np.ndarray, cols: np.ndarray, index: np.ndarray) -> np.ndarray:
        """Seasonally adjusted launch level of ``rows`` over their columns ``cols`` (rows x k)."""
        prof = index[arrays.group_codes[rows]]
        moy = arrays.moy(cols) - 1
        adjusted = arrays.y[rows[:, None], cols] / np.take_along_axis(prof, moy, axis=1)
        part = arrays.partial[rows[:, None], cols]
        observed = ~np.isnan(adjusted)
        full = observed & ~part
        use = np.where(full.any(axis=1)[:, None], full, observed)
        return nan_mean(np.where(use, adjusted, np.nan))

    def launch_growth(self, arrays: PanelArrays, origin: int, index: np.ndarray) -> np.ndarray:
        """``(n_groups, min_history, horizon)`` growth after launch at ``origin`` (see module docstring).

        Row ``a`` is the age in months at the forecast origin (1..min_history - 1; row 0 unused).
        """
        n_groups = len(arrays.group_names)
        H, A = self.horizon, self.min_history
        growth = np.ones((n_groups, A, H))
        if not self.launch_curve or A < 2:
            return growth
        launched = np.nonzero(arrays.start >= 1)[0]  # first month inside the panel: a real launch
        num = np.zeros((n_groups + 1, A, H))
        den = np.zeros((n_groups + 1, A, H))
        cnt = np.zeros((n_groups + 1, A, H))
        for a in range(1, A):
            # the launch level at age a is the same for every horizon: computed once, for the
            # launches with at least one month after age a, then narrowed per horizon
            rows_a = launched[arrays.start[launched] + a <= origin]
            if len(rows_a) == 0:
                continue
            level_a = self._launch_level(arrays, rows_a, arrays.start[rows_a][:, None] + np.arange(a)[None, :], index)
            for h in range(1, H + 1):
                keep = arrays.start[rows_a] + a - 1 + h <= origin
                rows, level = rows_a[keep], level_a[keep]
                if len(rows) == 0:
                    continue
                target_col = arrays.start[rows] + a - 1 + h
                prof = index[arrays.group_codes[rows], arrays.moy(target_col) - 1]
                target = arrays.y[rows, target_col] / prof
                ok = np.isfinite(level) & np.isfinite(target) & (level > 0)
                groups = arrays.group_codes[rows][ok]
                for key, weights in ((num, target[ok]), (den, level[ok]), (cnt, None)):
                    key[:n_groups, a, h - 1] += np.bincount(groups, weights=weights, minlength=n_groups)
                    key[n_groups, a, h - 1] += weights.sum() if weights is not None else ok.sum()
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = num / den
        overall = np.where((cnt[n_groups] >= self.min_products) & np.isfinite(ratio[n_groups]), ratio[n_groups], 1.0)
        own = (cnt[:n_groups] >= self.min_products) & np.isfinite(ratio[:n_groups])
        growth = np.where(own, ratio[:n_groups], overall[None, :, :])
        growth[:, 0, :] = 1.0
        return np.clip(growth, 0.25, 4.0)

    def _forecast(self, arrays: PanelArrays, origins: Sequence[int]) -> np.ndarray:
        out = empty_forecasts(arrays, origins, self.horizon)
        for j, o in enumerate(origins):
            hist = arrays.history_length(o)
            young = np.nonzero((hist >= 1) & (hist < self.min_history))[0]
            if len(young) == 0:
                continue
            index, _, _ = self.seasonal_profiles(arrays, o)
            growth = self.launch_growth(arrays, o, index)
            width = self.min_history
            win = window(arrays.y[young], o, width)
            part = window(arrays.partial[young].astype(np.float64), o, width) > 0
            moy = arrays.moy(np.arange(o - width + 1, o + 1)) - 1
            prof = index[arrays.group_codes[young]]  # (n_young, 12)
            adjusted = win / prof[:, moy]
            observed = ~np.isnan(adjusted)
            full = observed & ~part
            use = np.where(full.any(axis=1)[:, None], full, observed)
            level = nan_mean(np.where(use, adjusted, np.nan))
            age = hist[young]
            for h in range(1, self.horizon + 1):
                target = arrays.moy(o + h) - 1
                ramp = growth[arrays.group_codes[young], age, h - 1]
                out[young, j, h - 1] = np.clip(level * ramp * prof[:, target], 0.0, None)
        return out

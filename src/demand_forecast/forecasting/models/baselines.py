"""Benchmark models, vectorised over all products with numpy.

``baseline`` (:class:`WeightedMovingAverage`)
    Weighted mean of the last k *observed* months, weights most recent first
    (default 0.5, 0.3, 0.2); the same value for every horizon.  Missing months
    (``exclude_from_training`` or gaps) are skipped, so the window reaches back
    to the k most recent usable months; with fewer than k months the weights
    of the available ones are renormalised.

``seasonal_naive`` (:class:`SeasonalNaive`)
    ``f(o + h) = y(o + h - 12 * ceil(h / 12))`` -- the same month one season
    earlier.  Falls back to the naive forecast (last observed value) when the
    product has fewer than 12 months of history at the origin or that month
    is missing.

Both have no parameters to estimate, so a forecast at origin ``o`` is a pure
function of columns ``<= o``; they forecast every series with an observed month.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..features import PanelArrays, last_valid
from .base import BaseForecaster, empty_forecasts

if TYPE_CHECKING:
    from ..config import ForecastConfig


class WeightedMovingAverage(BaseForecaster):
    """Weighted moving average of the last ``len(weights)`` observed months."""

    name = "baseline"

    def __init__(self, horizon: int = 3, weights: Sequence[float] = (0.5, 0.3, 0.2)) -> None:
        super().__init__(horizon)
        self.weights = tuple(float(w) for w in weights)

    @classmethod
    def from_config(cls, config: ForecastConfig) -> WeightedMovingAverage:
        return cls(config.horizon, config.baseline_weights)

    def _forecast(self, arrays: PanelArrays, origins: Sequence[int]) -> np.ndarray:
        out = empty_forecasts(arrays, origins, self.horizon)
        w = np.asarray(self.weights, dtype=np.float64)
        k = len(w)
        for j, o in enumerate(origins):
            vals, ok = last_valid(arrays.y[:, : o + 1], k)
            wk = np.where(ok, w[None, :], 0.0)
            total = wk.sum(axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                f = np.where(
                    total > 0, (np.where(ok, vals, 0.0) * wk).sum(axis=1) / np.where(total > 0, total, 1.0), np.nan
                )
            out[:, j, :] = np.clip(f, 0.0, None)[:, None]
        return out


class SeasonalNaive(BaseForecaster):
    """Same month of the previous season; naive fallback for short series."""

    name = "seasonal_naive"

    def __init__(self, horizon: int = 3, season_length: int = 12) -> None:
        super().__init__(horizon)
        self.season_length = int(season_length)

    @classmethod
    def from_config(cls, config: ForecastConfig) -> SeasonalNaive:
        return cls(config.horizon, config.season_length)

    def _forecast(self, arrays: PanelArrays, origins: Sequence[int]) -> np.ndarray:
        out = empty_forecasts(arrays, origins, self.horizon)
        m = self.season_length
        y = arrays.y
        for j, o in enumerate(origins):
            last, ok = last_valid(y[:, : o + 1], 1)
            naive = np.where(ok[:, 0], last[:, 0], np.nan)
            hist = arrays.history_length(o)
            for h in range(1, self.horizon + 1):
                t = o + h - m * int(np.ceil(h / m))
                seasonal = y[:, t] if t >= 0 else np.full(arrays.n_series, np.nan)
                use = (hist >= m) & ~np.isnan(seasonal)
                out[:, j, h - 1] = np.where(use, seasonal, naive)
        return np.clip(out, 0.0, None)

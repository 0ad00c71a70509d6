"""Croston-type models for intermittent and lumpy demand (own numpy code).

Both run one recursion over time for all products at once (a Python loop over
months, numpy over products) and read the state after each origin, so every
origin's forecast only uses data up to that origin.  Months that are missing
(``exclude_from_training`` or gaps) are skipped: they neither count as a
period nor update any state.  Forecasts are flat over horizons.

``sba`` (:class:`CrostonSBA`) -- Croston with the Syntetos-Boylan correction
    Let ``q`` be the number of observed periods since the last demand (the
    demand period included).  At the first demand ``z = y`` and ``p = q``
    (periods since the series start).  At every later demand::

        z <- z + alpha * (y - z)          # smoothed demand size
        p <- p + alpha * (q - p)          # smoothed interval

    Forecast ``(1 - alpha / 2) * z / p``; 0 before the first demand.

``tsb`` (:class:`TSB`) -- Teunter-Syntetos-Babai
    Demand probability ``pr`` is updated every observed period and the size
    only at demand periods::

        pr <- pr + beta * (1[y > 0] - pr)
        z  <- z + alpha * (y - z)          if y > 0

    Initialised at the first demand with ``z = y`` and ``pr = 1 / q``.
    Forecast ``pr * z``; 0 before the first demand.  Unlike Croston the
    forecast decays during long runs of zeros (obsolescence).

Both forecast the established products (``min_history`` months of history,
``ForecastConfig.min_history_months``): a new product's few months say little
about its demand intervals.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..features import PanelArrays
from .base import BaseForecaster, Needs, empty_forecasts

if TYPE_CHECKING:
    from ..config import ForecastConfig


def _origin_slots(origins: Sequence[int]) -> dict[int, list[int]]:
    slots: dict[int, list[int]] = {}
    for j, o in enumerate(origins):
        slots.setdefault(int(o), []).append(j)
    return slots


def sba_path(y: np.ndarray, alpha: float, origins: Sequence[int], bias_correction: bool = True) -> np.ndarray:
    """Croston/SBA one-step forecasts at each origin: ``(n, len(origins))``.

    ``y`` is ``(n, T)`` with NaN = missing; rows that have not been observed
    by an origin get NaN there.
    """
    n, _ = y.shape
    z = np.full(n, np.nan)
    p = np.full(n, np.nan)
    q = np.zeros(n)
    seen = np.zeros(n, dtype=bool)
    factor = (1.0 - alpha / 2.0) if bias_correction else 1.0
    out = np.full((n, len(origins)), np.nan)
    slots = _origin_slots(origins)
    last = max(slots) if slots else -1
    for t in range(last + 1):
        yt = y[:, t]
        obs = ~np.isnan(yt)
        seen |= obs
        q = q + obs
        demand = obs & (yt > 0)
        first = demand & np.isnan(z)
        later = demand & ~first
        z = np.where(first, yt, z)
        p = np.where(first, q, p)
        z = np.where(later, z + alpha * (yt - z), z)
        p = np.where(later, p + alpha * (q - p), p)
        q = np.where(demand, 0.0, q)
        if t in slots:
            with np.errstate(invalid="ignore", divide="ignore"):
                f = np.where(np.isnan(z), 0.0, factor * z / p)
            f = np.where(seen, f, np.nan)
            for j in slots[t]:
                out[:, j] = f
    return out


def tsb_path(y: np.ndarray, alpha: float, beta: float, origins: Sequence[int]) -> np.ndarray:
    """TSB one-step forecasts at each origin: ``(n, len(origins))``."""
    n, _ = y.shape
    z = np.full(n, np.nan)
    pr = np.full(n, np.nan)
    q = np.zeros(n)
    seen = np.zeros(n, dtype=bool)
    out = np.full((n, len(origins)), np.nan)
    slots = _origin_slots(origins)
    last = max(slots) if slots else -1
    for t in range(last + 1):
        yt = y[:, t]
        obs = ~np.isnan(yt)
        seen |= obs
        q = q + obs
        demand = obs & (yt > 0)
        started = ~np.isnan(z)
        # updates for products already initialised
        upd = obs & started
        pr = np.where(upd, pr + beta * (demand.astype(np.float64) - pr), pr)
        z = np.where(upd & demand, z + alpha * (yt - z), z)
        # initialisation at the first demand
        first = demand & ~started
        z = np.where(first, yt, z)
        pr = np.where(first, 1.0 / np.maximum(q, 1.0), pr)
        q = np.where(demand, 0.0, q)
        if t in slots:
            f = np.where(np.isnan(z), 0.0, pr * z)
            f = np.where(seen, f, np.nan)
            for j in slots[t]:
                out[:, j] = f
    return out


class CrostonSBA(BaseForecaster):
    """Croston's method with the Syntetos-Boylan bias correction (flat forecast)."""

    name = "sba"

    def __init__(self, horizon: int = 3, alpha: float = 0.1, min_history: int = 1) -> None:
        super().__init__(horizon)
        self.alpha = float(alpha)
        self.min_history = int(min_history)

    @classmethod
    def from_config(cls, config: ForecastConfig) -> CrostonSBA:
        return cls(config.horizon, config.sba_alpha, min_history=config.min_history_months)

    @property
    def needs(self) -> Needs:
        return Needs(min_history=self.min_history)

    def _forecast(self, arrays: PanelArrays, origins: Sequence[int]) -> np.ndarray:
        out = empty_forecasts(arrays, origins, self.horizon)
        path = sba_path(arrays.y, self.alpha, origins)
        for j, o in enumerate(origins):
            f = np.where(arrays.history_length(o) >= self.min_history, path[:, j], np.nan)
            out[:, j, :] = np.clip(f, 0.0, None)[:, None]
        return out


class TSB(BaseForecaster):
    """Teunter-Syntetos-Babai method (flat forecast)."""

    name = "tsb"

    def __init__(self, horizon: int = 3, alpha: float = 0.1, beta: float = 0.1, min_history: int = 1) -> None:
        super().__init__(horizon)
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.min_history = int(min_history)

    @classmethod
    def from_config(cls, config: ForecastConfig) -> TSB:
        return cls(config.horizon, config.tsb_alpha, config.tsb_beta, min_history=config.min_history_months)

    @property
    def needs(self) -> Needs:
        return Needs(min_history=self.min_history)

    def _forecast(self, arrays: PanelArrays, origins: Sequence[int]) -> np.ndarray:
        out = empty_forecasts(arrays, origins, self.horizon)
        path = tsb_path(arrays.y, self.alpha, self.beta, origins)
        for j, o in enumerate(origins):
            f = np.where(arrays.history_length(o) >= self.min_history, path[:, j], np.nan)
            out[:, j, :] = np.clip(f, 0.0, None)[:, None]
        return out

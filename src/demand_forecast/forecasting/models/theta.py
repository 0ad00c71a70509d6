"""Theta (name ``theta``): statsmodels' Theta method, estimated per series, re-filtered.

``statsmodels.tsa.forecasting.theta.ThetaModel`` (theta = 2, seasonality test and classical
decomposition when >= 24 months).  Re-filter: the SES level ``L`` of the deseasonalised series is
updated with the fitted alpha, the drift ``b0`` and the seasonal indices stay fixed::

    forecast(h) = (b0 / 2 * (h - 1 + 1/alpha - (1 - alpha)^n / alpha) + L) (x|+) season

Estimation once and re-filter: :mod:`demand_forecast.forecasting.models.statistical`.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from .statistical import StatisticalForecaster, interpolate_gaps

if TYPE_CHECKING:
    from ..config import ForecastConfig


@dataclass
class ThetaState:
    """Fitted Theta model and SES level after the last processed month."""

    spec: str
    alpha: float = 0.0
    b0: float = 0.0
    multiplicative: bool = False
    season: np.ndarray = field(default_factory=lambda: np.zeros(12))
    level: float = 0.0
    n: int = 0  # months processed (statsmodels' nobs)


def fit_theta(y: np.ndarray, season_length: int = 12) -> ThetaState:
    """Estimate statsmodels' ThetaModel on ``y`` (NaN allowed, interpolated)."""
    from statsmodels.tsa.forecasting.theta import ThetaModel

    m = season_length
    n = len(y)
    if n < 4 or np.all(np.isnan(y)):
        tail = y[~np.isnan(y)][-12:]
        return ThetaState(spec="mean", level=float(tail.mean()) if len(tail) else 0.0, season=np.zeros(m), n=n)
    yi = interpolate_gaps(y)
    if np.ptp(yi) == 0.0:  # statsmodels' OLS drift is wrong on an exactly constant series
        return ThetaState(spec="constant", level=float(yi[0]), season=np.zeros(m), n=n)
    seasonal = n >= 2 * m
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = ThetaModel(yi, period=m if seasonal else None, deseasonalize=seasonal).fit()
            comp = res.forecast_components(m)
        alpha = float(res.params["alpha"])
        b0 = float(res.params["b0"])
        mult = seasonal and res.model.method.startswith("mul")
        season = np.zeros(m) if not mult else np.ones(m)
        if seasonal:
            vals = np.asarray(comp["seasonal"], dtype=np.float64)
            for k in range(m):
                season[(n + k) % m] = vals[k]
        level = float(np.asarray(comp["ses"])[0])
        if not all(math.isfinite(v) for v in (alpha, b0, level)) or not np.all(np.isfinite(season)):
            raise ValueError("non-finite theta fit")
    except Exception:
        tail = yi[-12:]
        return ThetaState(spec="mean", level=float(tail.mean()), season=np.zeros(m), n=n)
    has_season = seasonal and bool(np.any(season != (1.0 if mult else 0.0)))
    spec = f"theta({'mul' if mult else 'add'}{',seasonal' if has_season else ''})"
    return ThetaState(spec=spec, alpha=alpha, b0=b0, multiplicative=mult, season=season, level=level, n=n)


def theta_update(state: ThetaState, value: float) -> None:
    """Process the next month (NaN = missing) in place."""
    m = len(state.season)
    t = state.n  # position of the new month
    if state.spec not in ("mean", "constant") and not math.isnan(value):
        s = state.season[t % m]
        x = value / s if state.multiplicative else value - s
        state.level = state.alpha * x + (1.0 - state.alpha) * state.level
    state.n = t + 1


def theta_forecast(state: ThetaState, horizon: int) -> np.ndarray:
    """Forecasts for the next ``horizon`` months (statsmodels' formula, theta = 2)."""
    if state.spec in ("mean", "constant"):
        return np.full(horizon, state.level)
    m = len(state.season)
    a = state.alpha
    h = np.arange(1, horizon + 1, dtype=np.float64) - 1.0
    if a > 0:
        h = h + 1.0 / a - ((1.0 - a) ** state.n) / a
    f = 0.5 * state.b0 * h + state.level
    idx = (state.n + np.arange(horizon)) % m
    return f * state.season[idx] if state.multiplicative else f + state.season[idx]


class ThetaForecaster(StatisticalForecaster):
    """statsmodels Theta method (see module docstring)."""

    name = "theta"
    fit_function = staticmethod(fit_theta)
    update_function = staticmethod(theta_update)
    forecast_function = staticmethod(theta_forecast)

    @classmethod
    def from_config(cls, config: ForecastConfig) -> ThetaForecaster:
        return cls(config.horizon, **cls.config_args(config))

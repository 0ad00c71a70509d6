"""ETS (name ``ets``): statsmodels' exponential smoothing, estimated per series, re-filtered.

``statsmodels.tsa.exponential_smoothing.ets.ETSModel`` with additive errors.  The spec is chosen
per series by AICc among ``ets_specs`` (default ANN, AAdN, ANA, AAdA -- no trend or damped trend,
with or without additive seasonality; the undamped AAN can be added).  To halve the cost, a cheap
seasonality test (the one statsmodels' Theta uses: squared lag-12 autocorrelation against chi2(1)
at 90 %) first picks the seasonal or the non-seasonal half of the candidates (``season_test``).
Safe fallbacks: seasonal specs need at least two seasons (24 months); 10..23 months try only the
non-seasonal specs; 3..9 months fit ANN with estimated initial level; fewer than 3 months, a
constant series or a failed fit give the mean of the last (up to) 12 months (spec ``mean``).
Additive-error recursions used for the re-filter (``e = y - yhat``)::

    yhat = l + phi * b + s[t - m]
    l <- l + phi * b + alpha * e
    b <- phi * b + beta * e
    s[t] = s[t - m] + gamma * e
    forecast(h) = l + (phi + ... + phi^h) * b + s[t + h - m]

Multiplicative series (``log_candidates``): each candidate is also fitted to ``log(1 + y)``, an
additive model there being a multiplicative one (error, trend, season) for ``y``; its AICc is moved
to the scale of ``y`` by the Jacobian of the transform, ``+ 2 * sum(log(1 + y))``, so both kinds
compete on one likelihood.  A log spec (``"ANA/log"``) is re-filtered on ``log(1 + y)`` and
forecasts ``exp(f) - 1``: the median of the forecast distribution, which the absolute-error
metrics (MAE, MASE) reward.

Estimation once and re-filter: :mod:`demand_forecast.forecasting.models.statistical`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..catalog import DEFAULT_ETS_SPECS
from .statistical import StatisticalForecaster, interpolate_gaps

if TYPE_CHECKING:
    from ..config import ForecastConfig

_SPEC_ARGS = {
    "ANN": dict(trend=None, damped_trend=False, seasonal=None),
    "AAN": dict(trend="add", damped_trend=False, seasonal=None),
    "AAdN": dict(trend="add", damped_trend=True, seasonal=None),
    "ANA": dict(trend=None, damped_trend=False, seasonal="add"),
    "AAdA": dict(trend="add", damped_trend=True, seasonal="add"),
}


@dataclass
class EtsState:
    """Fitted ETS parameters and the state after the last processed month.

    ``season`` is a ring of length m: ``season[t % m]`` is the latest seasonal
    state for positions congruent to ``t`` (positions count months from the
    series start).  ``pos`` is the position of the last processed month.
    """

    spec: str
    alpha: float = 0.0
    beta: float = 0.0
    gamma: float = 0.0
    phi: float = 1.0
    level: float = 0.0
    trend: float = 0.0
    season: np.ndarray = field(default_factory=lambda: np.zeros(12))
    pos: int = -1
    aicc: float = float("nan")
    log: bool = False  # the recursions run on log(1 + y)


def _mean_state(y: np.ndarray, m: int) -> EtsState:
    tail = y[~np.isnan(y)][-12:]
    level = float(tail.mean()) if len(tail) else 0.0
    return EtsState(spec="mean", level=level, season=np.zeros(m), pos=len(y) - 1)


def has_seasonality(y: np.ndarray, m: int = 12) -> bool:
    """Seasonality test of statsmodels' Theta method (90 % level).

    ``n * acf(m)^2 / sum_{k<m} acf(k)^2 > chi2_1(0.90)`` on a gap-free series.
    """
    from statsmodels.tsa.stattools import acf

    if len(y) <= m + 1 or np.ptp(y) == 0.0:
        return False
    rho = acf(y, nlags=m, fft=True)
    stat = len(y) * rho[-1] ** 2 / np.sum(rho[:-1] ** 2)
    return bool(stat > 2.705543454095404)


def fit_ets(
    y: np.ndarray,
    specs: Sequence[str] = DEFAULT_ETS_SPECS,
    season_length: int = 12,
    season_test: bool = True,
    log_candidates: bool = False,
) -> EtsState:
    """Estimate ETS on ``y`` (positions 0..n-1, NaN allowed) and choose the spec by AICc.

    With ``season_test`` (default) the seasonality test of :func:`has_seasonality`
    first decides between the seasonal and the non-seasonal candidates, so
    only half of the specs are fitted.  With ``log_candidates`` every candidate is
    also fitted on ``log(1 + y)`` when ``y`` has 10 months or more and no negative
    value (see the module docstring).
    """
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    m = season_length
    n = len(y)
    if n < 3 or np.all(np.isnan(y)):
        return _mean_state(y, m)
    yi = interpolate_gaps(y)
    if np.ptp(yi) == 0.0:
        return _mean_state(y, m)
    if n >= 10:
        can_season = n >= max(2 * m, 10 + 2 * (m // 2))
        if can_season and season_test:
            seasonal = has_seasonality(yi, m)
            candidates = [s for s in specs if (_SPEC_ARGS[s]["seasonal"] is not None) == seasonal]
        else:
            candidates = [s for s in specs if _SPEC_ARGS[s]["seasonal"] is None or can_season]
        if not candidates:
            candidates = [s for s in specs if _SPEC_ARGS[s]["seasonal"] is None] or ["ANN"]
        init = "heuristic"
    else:
        candidates = ["ANN"]
        init = "estimated"
    fits = [(spec, False) for spec in candidates]
    if log_candidates and n >= 10 and float(np.min(yi)) >= 0.0:
        fits += [(spec, True) for spec in candidates]
        log_y = np.log1p(yi)
        jacobian = 2.0 * float(log_y.sum())
    best: EtsState | None = None
    for spec, log in fits:
        args = _SPEC_ARGS[spec]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = ETSModel(
                    log_y if log else yi,
                    error="add",
                    trend=args["trend"],
                    damped_trend=args["damped_trend"],
                    seasonal=args["seasonal"],
                    seasonal_periods=m if args["seasonal"] else None,
                    initialization_method=init,
                )
                res = model.fit(disp=False)
            aicc = float(res.aicc) + (jacobian if log else 0.0)
        except Exception:  # a candidate that cannot be fitted is skipped
            continue
        # -inf means a perfect fit (zero residual variance): the best possible
        if math.isnan(aicc) or aicc == math.inf or (best is not None and aicc >= best.aicc):
            continue
        season = np.zeros(m)
        if args["seasonal"]:
            s_hist = np.asarray(res.season, dtype=np.float64)
            for t in range(n - m, n):
                season[t % m] = s_hist[t]
        state = EtsState(
            spec=f"{spec}/log" if log else spec,
            alpha=float(res.smoothing_level),
            beta=float(res.smoothing_trend) if args["trend"] else 0.0,
            gamma=float(res.smoothing_seasonal) if args["seasonal"] else 0.0,
            phi=float(res.damping_trend) if args["damped_trend"] else (1.0 if args["trend"] else 0.0),
            level=float(np.asarray(res.level)[-1]),
            trend=float(np.asarray(res.slope)[-1]) if args["trend"] else 0.0,
            season=season,
            pos=n - 1,
            aicc=aicc,
            log=log,
        )
        if not all(math.isfinite(v) for v in (state.level, state.trend, state.alpha, state.phi)):
            continue
        best = state
    return best if best is not None else _mean_state(y, m)


def ets_update(state: EtsState, value: float) -> None:
    """Process the next month (``value`` NaN = missing) in place."""
    m = len(state.season)
    t = state.pos + 1
    if state.spec == "mean":
        state.pos = t
        return
    damped = state.phi * state.trend
    if state.log and not math.isnan(value):
        value = math.log1p(max(value, 0.0))
    e = 0.0 if math.isnan(value) else value - (state.level + damped + state.season[t % m])
    state.level = state.level + damped + state.alpha * e
    state.trend = damped + state.beta * e
    state.season[t % m] += state.gamma * e
    state.pos = t


def ets_forecast(state: EtsState, horizon: int) -> np.ndarray:
    """Forecasts for positions ``pos + 1 .. pos + horizon``."""
    m = len(state.season)
    out = np.empty(horizon)
    cum_phi = 0.0
    for h in range(1, horizon + 1):
        cum_phi += state.phi**h
        out[h - 1] = state.level + cum_phi * state.trend + state.season[(state.pos + h) % m]
    if state.log:
        # a log path that runs away (a fit gone wrong) is capped far above any plausible value
        return np.expm1(np.minimum(out, 700.0))
    return out


class ETSForecaster(StatisticalForecaster):
    """statsmodels ETS, spec per series by AICc (see module docstring)."""

    name = "ets"
    fit_function = staticmethod(fit_ets)
    update_function = staticmethod(ets_update)
    forecast_function = staticmethod(ets_forecast)

    def __init__(
        self,
        horizon: int = 3,
        ets_specs: Sequence[str] = DEFAULT_ETS_SPECS,
        season_test: bool = True,
        log_candidates: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(horizon, **kwargs)
        self.ets_specs = tuple(ets_specs)
        self.season_test = bool(season_test)
        self.log_candidates = bool(log_candidates)

    @classmethod
    def from_config(cls, config: ForecastConfig) -> ETSForecaster:
        return cls(config.horizon, config.ets_specs, config.ets_season_test, config.ets_log, **cls.config_args(config))

    def fit_args(self) -> dict[str, Any]:
        return {
            "specs": self.ets_specs,
            "season_length": self.season_length,
            "season_test": self.season_test,
            "log_candidates": self.log_candidates,
        }

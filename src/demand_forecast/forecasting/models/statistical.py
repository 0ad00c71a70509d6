"""Per-series statistical models: statsmodels ETS and Theta.

Cost design (why this fits the speed budget)
--------------------------------------------
A statsmodels fit costs milliseconds (ETS 1-4 ms per candidate with the
heuristic initialisation, Theta about 4 ms), far too much to repeat at every
backtest origin for tens of thousands of series.  So each series is
**estimated once, at the earliest origin**, using only data up to it, and the
fitted model is then **re-filtered with fixed parameters** through the later
months with a few lines of numpy/Python (:func:`ets_update`,
:func:`theta_update`).  The state after each later origin gives that origin's
forecast, and the state after the as-of month gives the final forecast.  No
leakage: the parameters come from data before every later origin and the
filter is causal.  (``ForecastConfig.stat_refit = "final"`` re-estimates once
more at the as-of month, at twice the cost.)

Only series where these models make sense are sent to them (the pipeline
routes smooth/erratic products with enough history; intermittent ones go to
Croston/TSB, new ones to cold start).

ETS (name ``ets``)
    ``statsmodels.tsa.exponential_smoothing.ets.ETSModel`` with additive
    errors.  The spec is chosen per series by AICc among ``ets_specs``
    (default ANN, AAdN, ANA, AAdA -- no trend or damped trend, with or
    without additive seasonality; the undamped AAN can be added).  To halve the cost, a cheap
    seasonality test (the one statsmodels' Theta uses: squared lag-12
    autocorrelation against chi2(1) at 90 %) first picks the seasonal or the
    non-seasonal half of the candidates (``ets_season_test``).  Safe
    fallbacks: seasonal specs need at least two seasons (24 months); 10..23
    months try only the non-seasonal specs; 3..9 months fit ANN with estimated initial level; fewer than 3
    months, a constant series or a failed fit give the mean of the last (up to)
    12 months (spec ``mean``).  Additive-error recursions used for the
    re-filter (``e = y - yhat``)::

        yhat = l + phi * b + s[t - m]
        l <- l + phi * b + alpha * e
        b <- phi * b + beta * e
        s[t] = s[t - m] + gamma * e
        forecast(h) = l + (phi + ... + phi^h) * b + s[t + h - m]

Theta (name ``theta``)
    ``statsmodels.tsa.forecasting.theta.ThetaModel`` (theta = 2, seasonality
    test and classical decomposition when >= 24 months).  Re-filter: the SES
    level ``L`` of the deseasonalised series is updated with the fitted alpha,
    the drift ``b0`` and the seasonal indices stay fixed::

        forecast(h) = (b0 / 2 * (h - 1 + 1/alpha - (1 - alpha)^n / alpha) + L) (x|+) season

Missing months (``exclude_from_training``, gaps)
    For the statsmodels estimation they are linearly interpolated (the
    estimators need a gap-free series); in the re-filter they are treated as
    missing observations (zero error: the state is only propagated).

The per-series work is :func:`statistical_series_forecast`, a pure function
of one product's history (pandas frame in, pandas frame out), so it can run in
worker processes here (:mod:`demand_forecast.forecasting.parallel`) or under a distributed
engine such as Spark ``applyInPandas``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ...months import month_numbers
from ..config import DEFAULT_ETS_SPECS
from ..features import ADI_CUTOFF, CLASS_CODE, CV2_CUTOFF, PanelArrays, demand_class_at
from .base import BaseForecaster, empty_forecasts

STAT_OUTPUT_COLUMNS = ("product_id", "model_name", "origin_month", "horizon", "forecast", "spec")

_SPEC_ARGS = {
    "ANN": dict(trend=None, damped_trend=False, seasonal=None),
    "AAN": dict(trend="add", damped_trend=False, seasonal=None),
    "AAdN": dict(trend="add", damped_trend=True, seasonal=None),
    "ANA": dict(trend=None, damped_trend=False, seasonal="add"),
    "AAdA": dict(trend="add", damped_trend=True, seasonal="add"),
}


# ---------------------------------------------------------------------------
# ETS
# ---------------------------------------------------------------------------


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


def _interpolate(y: np.ndarray) -> np.ndarray:
    s = pd.Series(y, dtype=np.float64)
    if s.isna().any():
        s = s.interpolate(method="linear", limit_direction="both")
    return s.to_numpy()


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
    y: np.ndarray, specs: Sequence[str] = DEFAULT_ETS_SPECS, season_length: int = 12, season_test: bool = True
) -> EtsState:
    """Estimate ETS on ``y`` (positions 0..n-1, NaN allowed) and choose the spec by AICc.

    With ``season_test`` (default) the seasonality test of :func:`has_seasonality`
    first decides between the seasonal and the non-seasonal candidates, so
    only half of the specs are fitted.
    """
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    m = season_length
    n = len(y)
    if n < 3 or np.all(np.isnan(y)):
        return _mean_state(y, m)
    yi = _interpolate(y)
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
    best: EtsState | None = None
    for spec in candidates:
        args = _SPEC_ARGS[spec]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = ETSModel(
                    yi,
                    error="add",
                    trend=args["trend"],
                    damped_trend=args["damped_trend"],
                    seasonal=args["seasonal"],
                    seasonal_periods=m if args["seasonal"] else None,
                    initialization_method=init,
                )
                res = model.fit(disp=False)
            aicc = float(res.aicc)
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
            spec=spec,
            alpha=float(res.smoothing_level),
            beta=float(res.smoothing_trend) if args["trend"] else 0.0,
            gamma=float(res.smoothing_seasonal) if args["seasonal"] else 0.0,
            phi=float(res.damping_trend) if args["damped_trend"] else (1.0 if args["trend"] else 0.0),
            level=float(np.asarray(res.level)[-1]),
            trend=float(np.asarray(res.slope)[-1]) if args["trend"] else 0.0,
            season=season,
            pos=n - 1,
            aicc=aicc,
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
    return out


# ---------------------------------------------------------------------------
# Theta
# ---------------------------------------------------------------------------


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
    yi = _interpolate(y)
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


# ---------------------------------------------------------------------------
# per-series pure function
# ---------------------------------------------------------------------------


def statistical_series_forecast(
    history: pd.DataFrame,
    origins: Sequence,
    horizon: int,
    models: Sequence[str] = ("ets", "theta"),
    ets_specs: Sequence[str] = DEFAULT_ETS_SPECS,
    season_length: int = 12,
    season_test: bool = True,
) -> pd.DataFrame:
    """Forecast one product at several origins (pure function, frame in/out).

    Parameters
    ----------
    history : one product's rows ``product_id, month, demand`` (NaN demand =
        missing, e.g. excluded from training).  Rows after the last origin are
        only used to move the filter forward to later origins.
    origins : months (ascending); parameters are estimated with data
        ``<= origins[0]`` and re-used (re-filtered) at the later origins.
    horizon : forecast months after each origin.

    Returns
    -------
    DataFrame ``product_id, model_name, origin_month, horizon, forecast, spec``
    (forecasts may be negative here; callers clip).  Empty if the product has
    no data at ``origins[0]``.
    """
    cols = list(STAT_OUTPUT_COLUMNS)
    if history.empty:
        return pd.DataFrame(columns=cols)
    product_id = history["product_id"].iloc[0]
    mi = month_numbers(history["month"])
    order = np.argsort(mi, kind="stable")
    mi = mi[order]
    demand = pd.to_numeric(history["demand"], errors="coerce").to_numpy(dtype=np.float64)[order]
    first = int(mi[0])
    origin_pos = [int(p) - first for p in month_numbers(pd.DatetimeIndex(list(origins)))]
    last_pos = max(origin_pos)
    n_total = max(last_pos, int(mi[-1]) - first) + 1
    y = np.full(n_total, np.nan)
    y[mi - first] = demand
    o0 = origin_pos[0]
    if o0 < 0 or np.all(np.isnan(y[: o0 + 1])):
        return pd.DataFrame(columns=cols)

    records: list[tuple] = []
    origin_months = [pd.Timestamp(o) for o in origins]
    fit_y = y[: o0 + 1]
    states = {}
    if "ets" in models:
        states["ets"] = (fit_ets(fit_y, ets_specs, season_length, season_test), ets_update, ets_forecast)
    if "theta" in models:
        states["theta"] = (fit_theta(fit_y, season_length), theta_update, theta_forecast)
    for name, (state, update, forecast) in states.items():
        t = o0
        for j, pos in enumerate(origin_pos):
            while t < pos:
                t += 1
                update(state, y[t])
            f = forecast(state, horizon)
            for h in range(horizon):
                records.append((product_id, name, origin_months[j], h + 1, float(f[h]), state.spec))
    return pd.DataFrame.from_records(records, columns=cols)


# ---------------------------------------------------------------------------
# model classes (bulk path over a panel)
# ---------------------------------------------------------------------------


class StatisticalForecaster(BaseForecaster):
    """ETS and/or Theta over the routed products of a panel.

    Routing (decided at ``origins[0]`` with data up to it): products with at
    least ``min_history`` months and a demand class in ``classes`` (``None`` =
    all classes; ``new`` is defined by ``min_history_months``).
    ``forecast_arrays_multi`` returns one array per model; ``specs_`` keeps
    the chosen spec per product and model.
    """

    name = "statistical"

    def __init__(
        self,
        horizon: int = 3,
        models: Sequence[str] = ("ets", "theta"),
        ets_specs: Sequence[str] = DEFAULT_ETS_SPECS,
        season_length: int = 12,
        min_history: int = 12,
        classes: Sequence[str] | None = ("smooth", "erratic"),
        min_history_months: int = 6,
        n_jobs: int = 1,
        chunk_size: int = 250,
        season_test: bool = True,
        adi_cutoff: float = ADI_CUTOFF,
        cv2_cutoff: float = CV2_CUTOFF,
    ) -> None:
        super().__init__(horizon)
        self.season_test = bool(season_test)
        self.adi_cutoff = float(adi_cutoff)
        self.cv2_cutoff = float(cv2_cutoff)
        self.models = tuple(models)
        self.ets_specs = tuple(ets_specs)
        self.season_length = int(season_length)
        self.min_history = int(min_history)
        self.classes = None if classes is None else tuple(classes)
        self.min_history_months = int(min_history_months)
        self.n_jobs = int(n_jobs)
        self.chunk_size = int(chunk_size)

    def eligible(self, arrays: PanelArrays, origin: int) -> np.ndarray:
        ok = arrays.history_length(origin) >= self.min_history
        if self.classes is not None:
            cls = demand_class_at(arrays, origin, self.min_history_months, self.adi_cutoff, self.cv2_cutoff)
            ok &= np.isin(cls, [CLASS_CODE[c] for c in self.classes])
        return ok

    def forecast_arrays_multi(self, arrays: PanelArrays, origins: Sequence[int]) -> dict[str, np.ndarray]:
        from ..parallel import map_series

        origins = [int(o) for o in origins]
        out = {name: empty_forecasts(arrays, origins, self.horizon) for name in self.models}
        rows = np.nonzero(self.eligible(arrays, origins[0]))[0]
        self.specs_ = {name: pd.Series(dtype=object) for name in self.models}
        self.n_fitted_ = int(len(rows))
        if len(rows) == 0:
            return out
        history = arrays.to_long(rows)
        result = map_series(
            statistical_series_forecast,
            history,
            key="product_id",
            n_jobs=self.n_jobs,
            chunk_size=self.chunk_size,
            origins=[arrays.month_at(o) for o in origins],
            horizon=self.horizon,
            models=self.models,
            ets_specs=self.ets_specs,
            season_length=self.season_length,
            season_test=self.season_test,
        )
        if result.empty:
            return out
        pos = pd.Index(arrays.product_ids).get_indexer(result["product_id"].to_numpy(dtype=object))
        origin_lookup = {arrays.month_at(o): j for j, o in enumerate(origins)}
        oj = pd.to_datetime(result["origin_month"]).map(origin_lookup).to_numpy(dtype=np.int64)
        hj = result["horizon"].to_numpy(dtype=np.int64) - 1
        fc = np.clip(result["forecast"].to_numpy(dtype=np.float64), 0.0, None)
        names = result["model_name"].to_numpy(dtype=object)
        for name in self.models:
            sel = names == name
            out[name][pos[sel], oj[sel], hj[sel]] = fc[sel]
            first = result.loc[sel & (oj == 0) & (hj == 0), ["product_id", "spec"]]
            self.specs_[name] = pd.Series(first["spec"].to_numpy(), index=first["product_id"].to_numpy())
        return out

    def forecast_arrays(self, arrays: PanelArrays, origins: Sequence[int]) -> np.ndarray:
        return self.forecast_arrays_multi(arrays, origins)[self.models[0]]


class ETSForecaster(StatisticalForecaster):
    """statsmodels ETS, spec per series by AICc (see module docstring)."""

    name = "ets"

    def __init__(self, horizon: int = 3, **kwargs) -> None:
        kwargs["models"] = ("ets",)
        super().__init__(horizon, **kwargs)


class ThetaForecaster(StatisticalForecaster):
    """statsmodels Theta method (see module docstring)."""

    name = "theta"

    def __init__(self, horizon: int = 3, **kwargs) -> None:
        kwargs["models"] = ("theta",)
        super().__init__(horizon, **kwargs)

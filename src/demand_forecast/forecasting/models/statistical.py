"""Per-series statistical models: what ETS and Theta share (estimate once, re-filter).

Cost design (why this fits the speed budget)
--------------------------------------------
A statsmodels fit costs milliseconds (ETS 1-4 ms per candidate with the
heuristic initialisation, Theta about 4 ms), far too much to repeat at every
backtest origin for tens of thousands of series.  So each series is
**estimated once, at the fit origin** (the earliest backtest cutoff by
default), using only data up to it, and the fitted model is then
**re-filtered with fixed parameters** through the later months with a few
lines of Python (each model's ``update`` function).  The state after each
later origin gives that origin's forecast, and the state after the as-of month
gives the final forecast.  No leakage: the parameters come from data before
every later origin and the filter is causal.  (The backtest's refit policy,
``ForecastConfig.stat_refit``, may re-estimate at the final origin or at
every origin.)

Only series where these models make sense are estimated (:attr:`needs`:
smooth/erratic products with at least ``min_history`` months at the fit
origin; intermittent ones go to Croston/TSB, new ones to cold start).

Where the work runs
    The estimation is :func:`estimate_series`, a pure function of one
    product's history (pandas frame in, pandas frame of its fitted state out),
    run by an executor (:mod:`demand_forecast.forecasting.executor`: worker
    processes here, a distributed engine such as Spark ``applyInPandas``
    there).  The re-filter is cheap and runs in the calling process.
    :func:`.series.statistical_series_forecast` does both for one product
    (estimate at the first origin, filter to the others), for engines that
    want one task per series.

Missing months (``exclude_from_training``, gaps)
    For the statsmodels estimation they are linearly interpolated (the
    estimators need a gap-free series); in the re-filter they are treated as
    missing observations (zero error: the state is only propagated).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd

from ...months import month_numbers
from ..features import ADI_CUTOFF, CV2_CUTOFF, PanelArrays
from .base import BaseForecaster, Needs, empty_forecasts

if TYPE_CHECKING:
    from ..config import ForecastConfig
    from ..executor import Executor

STAT_OUTPUT_COLUMNS = ("product_id", "model_name", "origin_month", "horizon", "forecast", "spec")
STATE_COLUMNS = ("product_id", "spec", "state")


def interpolate_gaps(y: np.ndarray) -> np.ndarray:
    """``y`` with missing months linearly interpolated (ends: the nearest value)."""
    s = pd.Series(y, dtype=np.float64)
    if s.isna().any():
        s = s.interpolate(method="linear", limit_direction="both")
    return s.to_numpy()


def series_positions(history: pd.DataFrame, origins: Sequence) -> tuple[Any, np.ndarray, list[int]]:
    """One product's rows as ``(product_id, y, origin positions)``.

    ``y[p]`` is the demand ``p`` months after the product's first row (NaN = missing); an origin's
    position is its month counted the same way (negative: before the first row).
    """
    product_id = history["product_id"].iloc[0]
    mi = month_numbers(history["month"])
    order = np.argsort(mi, kind="stable")
    mi = mi[order]
    demand = pd.to_numeric(history["demand"], errors="coerce").to_numpy(dtype=np.float64)[order]
    first = int(mi[0])
    positions = [int(p) - first for p in month_numbers(pd.DatetimeIndex(list(origins)))]
    y = np.full(max(max(positions), int(mi[-1]) - first) + 1, np.nan)
    y[mi - first] = demand
    return product_id, y, positions


def estimate_series(history: pd.DataFrame, origin: Any, fit: Callable[..., Any], **fit_args: Any) -> pd.DataFrame:
    """Fitted state of one product at ``origin`` (pure function, frame in / frame out).

    ``history`` is the product's rows ``product_id, month, demand`` (NaN = missing); only months up
    to ``origin`` are used.  Returns one row ``product_id, spec, state`` (``state`` is the model's
    state dataclass), or no row when the product has no data by ``origin``.
    """
    if history.empty:
        return pd.DataFrame(columns=list(STATE_COLUMNS))
    product_id, y, (o0,) = series_positions(history, [origin])
    if o0 < 0 or np.all(np.isnan(y[: o0 + 1])):
        return pd.DataFrame(columns=list(STATE_COLUMNS))
    state = fit(y[: o0 + 1], **fit_args)
    return pd.DataFrame({"product_id": [product_id], "spec": [state.spec], "state": [state]})


#: How each output column of :func:`estimate_series` crosses to another process or a cluster
#: (an executor that needs a schema reads it, e.g. the Spark executor: ``pickle`` columns travel as
#: bytes, since the fitted state is a Python object).
estimate_series.series_outputs = tuple(zip(STATE_COLUMNS, ("string", "string", "pickle"), strict=True))


def refilter(state: Any, y: np.ndarray, start: int, positions: Sequence[int], horizon: int, update, forecast):
    """Forecasts at each of ``positions`` (ascending, ``>= start``) from a state fitted at ``start``.

    The state is copied, then moved month by month through ``y[start + 1 ..]`` with ``update``.
    """
    state = copy.deepcopy(state)
    t = start
    out = []
    for pos in positions:
        while t < pos:
            t += 1
            update(state, y[t])
        out.append(forecast(state, horizon))
    return out


class StatisticalForecaster(BaseForecaster):
    """Base of the per-series models: routing, estimation through the executor, re-filter.

    A subclass names its three functions (``fit_function(y, **fit_args()) -> state``,
    ``update_function(state, value)``, ``forecast_function(state, horizon)``).  Fitted
    attributes: ``states_`` (product row -> state), ``specs_`` (chosen spec per product id),
    ``n_fitted_``.
    """

    fit_function: ClassVar[Callable[..., Any]]
    update_function: ClassVar[Callable[[Any, float], None]]
    forecast_function: ClassVar[Callable[[Any, int], np.ndarray]]

    def __init__(
        self,
        horizon: int = 3,
        season_length: int = 12,
        min_history: int = 12,
        classes: Sequence[str] | None = ("smooth", "erratic"),
        min_history_months: int = 6,
        adi_cutoff: float = ADI_CUTOFF,
        cv2_cutoff: float = CV2_CUTOFF,
    ) -> None:
        super().__init__(horizon)
        self.season_length = int(season_length)
        self.min_history = int(min_history)
        self.classes = None if classes is None else tuple(classes)
        self.min_history_months = int(min_history_months)
        self.adi_cutoff = float(adi_cutoff)
        self.cv2_cutoff = float(cv2_cutoff)

    @classmethod
    def config_args(cls, config: ForecastConfig) -> dict[str, Any]:
        """Constructor arguments every statistical model takes from the config."""
        return {
            "season_length": config.season_length,
            "min_history": config.stat_min_history,
            "classes": config.stat_classes,
            "min_history_months": config.min_history_months,
            "adi_cutoff": config.adi_cutoff,
            "cv2_cutoff": config.cv2_cutoff,
        }

    @property
    def needs(self) -> Needs:
        return Needs(
            min_history=self.min_history,
            classes=self.classes,
            estimated=True,
            per_series=True,
            new_below=self.min_history_months,
            adi_cutoff=self.adi_cutoff,
            cv2_cutoff=self.cv2_cutoff,
        )

    def fit_args(self) -> dict[str, Any]:
        """Keyword arguments of ``fit_function`` besides the series."""
        return {"season_length": self.season_length}

    def _estimate(self, panel: PanelArrays, origin: int, executor: Executor | None) -> None:
        from ..executor import LocalExecutor

        rows = np.nonzero(self.covers(panel, origin))[0]
        self.states_: dict[int, Any] = {}
        self.specs_ = pd.Series(dtype=object)
        self.n_fitted_ = int(len(rows))
        if len(rows) == 0:
            return
        executor = executor or LocalExecutor()
        fitted = executor.map_series(
            estimate_series,
            panel.to_long(rows, upto=origin),
            "product_id",
            origin=panel.month_at(origin),
            fit=type(self).fit_function,
            **self.fit_args(),
        )
        if fitted.empty:
            return
        pos = pd.Index(panel.product_ids).get_indexer(fitted["product_id"].to_numpy(dtype=object))
        self.states_ = dict(zip(pos.tolist(), fitted["state"], strict=True))
        self.specs_ = pd.Series(fitted["spec"].to_numpy(), index=fitted["product_id"].to_numpy())

    def _forecast(self, panel: PanelArrays, origins: Sequence[int]) -> np.ndarray:
        out = empty_forecasts(panel, origins, self.horizon)
        cls = type(self)
        for row, state in self.states_.items():
            start = int(panel.start[row])
            y = panel.y[row, start:]
            positions = [o - start for o in origins]
            paths = refilter(
                state, y, self.origin_ - start, positions, self.horizon, cls.update_function, cls.forecast_function
            )
            out[row] = np.asarray(paths)
        return out

    def describe(self) -> dict[str, Any]:
        """Parameters, the specs chosen at the last estimation and how many series were estimated."""
        params = self.get_params()
        specs = getattr(self, "specs_", pd.Series(dtype=object))
        params["chosen_specs"] = {str(k): int(v) for k, v in specs.value_counts().sort_index().items()}
        params["n_fitted"] = getattr(self, "n_fitted_", 0)
        return params

"""The one interface of every forecasting model, and what a model declares it needs.

A model is a small object in the manner of scikit-learn's estimators and statsforecast's models:

* parameters are set in ``__init__`` (no work there; ``horizon`` is one of them: the direct
  LightGBM model needs it at training time); :meth:`Forecaster.from_config` builds the model from
  a :class:`~demand_forecast.forecasting.config.ForecastConfig`;
* :attr:`Forecaster.needs` declares which series the model forecasts (:class:`Needs`: history,
  demand classes) and how it learns (nothing to estimate, series by series, or one global
  model);
* ``fit(panel, origin)`` estimates the parameters from the data up to column ``origin`` of the
  :class:`~demand_forecast.forecasting.features.PanelArrays` and returns ``self``; fitted state
  lives in attributes ending in ``_``.  Models without parameters only record the origin;
* ``forecast(panel, origins)`` returns an array ``(n_series, len(origins), horizon)``: the
  forecasts made at each origin (``>=`` the fit origin) with the fitted parameters and the data up
  to that origin only -- estimate once, then re-filter (statistical models move their state
  forward through the months after the fit origin; LightGBM recomputes its features).  NaN
  exactly where :meth:`BaseForecaster.covers` is False; never negative;
* ``describe()`` (parameters) and ``features()`` (inputs) feed the model registry.

The rolling-origin backtest (:func:`demand_forecast.forecasting.backtest.cross_validation`) needs
nothing else, and the shared test suite (``tests/python/test_forecast_protocol.py``) checks every
registered model against this contract.  For use outside the batch, ``fit`` also accepts the long
history ``product_id, month, demand`` (optional ``exclude_from_training, product_group, category,
avg_unit_price, is_partial_month``) and :meth:`BaseForecaster.predict` returns the long frame
``product_id, forecast_month, horizon, forecast``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import numpy as np
import pandas as pd

from ..features import ADI_CUTOFF, CLASS_CODE, CV2_CUTOFF, PanelArrays, build_panel_arrays, demand_class_at

if TYPE_CHECKING:
    from ..config import ForecastConfig
    from ..executor import Executor


@dataclass(frozen=True)
class Needs:
    """What a model needs of a series to forecast it, and how it learns.

    A series is covered at an origin when it has at least one observed month up to the origin,
    ``min_history`` months of history or more, less than ``max_history`` (when set) and a demand
    class (at the origin) in ``classes`` (when set).  Models estimated series by series
    (``per_series``) decide at the fit origin which series they estimate and forecast those at
    every later origin.
    """

    min_history: int = 1
    max_history: int | None = None
    classes: tuple[str, ...] | None = None
    #: parameters estimated from the data (the backtest's refit policy applies)
    estimated: bool = False
    #: estimated series by series, through the executor
    per_series: bool = False
    #: one model learned across all series
    is_global: bool = False
    #: months with fewer than this much history are "new" when ``classes`` is checked
    new_below: int = 6
    adi_cutoff: float = ADI_CUTOFF
    cv2_cutoff: float = CV2_CUTOFF


class Forecaster(Protocol):
    """What the backtest, the pipeline and the registry use of a model."""

    name: ClassVar[str]
    horizon: int

    @classmethod
    def from_config(cls, config: ForecastConfig) -> Forecaster: ...

    @property
    def needs(self) -> Needs: ...

    def fit(self, panel: PanelArrays, origin: int, *, executor: Executor | None = None) -> Forecaster: ...

    def forecast(self, panel: PanelArrays, origins: Sequence[int]) -> np.ndarray: ...

    def covers(self, panel: PanelArrays, origin: int) -> np.ndarray: ...

    def describe(self) -> dict[str, Any]: ...

    def features(self) -> Any: ...


class BaseForecaster:
    """Shared implementation of :class:`Forecaster`; a subclass implements :meth:`_forecast`
    (and :meth:`_estimate` when it has parameters)."""

    name: ClassVar[str] = "base"

    def __init__(self, horizon: int = 3) -> None:
        self.horizon = horizon

    @classmethod
    def from_config(cls, config: ForecastConfig) -> BaseForecaster:  # pragma: no cover
        raise NotImplementedError

    @property
    def needs(self) -> Needs:
        return Needs()

    # -- the protocol ---------------------------------------------------------------------------
    def fit(
        self, panel: PanelArrays | pd.DataFrame, origin: Any = None, *, executor: Executor | None = None
    ) -> BaseForecaster:
        """Estimate with the data up to ``origin`` (column index; default: the panel's last month).

        ``panel`` may also be the long history frame; ``origin`` is then the as-of month.
        """
        if isinstance(panel, pd.DataFrame):
            as_of = pd.to_datetime(panel["month"]).max() if origin is None else origin
            panel = build_panel_arrays(panel, as_of)
            origin = panel.n_months - 1
        origin = panel.n_months - 1 if origin is None else int(origin)
        if not 0 <= origin < panel.n_months:
            raise ValueError(f"origin {origin} lies outside the panel's {panel.n_months} months")
        self.panel_ = panel
        self.origin_ = origin
        self._estimate(panel, origin, executor)
        return self

    def forecast(self, panel: PanelArrays, origins: Sequence[int]) -> np.ndarray:
        """``(n_series, len(origins), horizon)`` forecasts at ``origins`` (see the module docstring)."""
        if not hasattr(self, "origin_"):
            raise RuntimeError(f"{type(self).__name__} is not fitted; call fit() first")
        origins = [int(o) for o in origins]
        if origins and min(origins) < self.origin_:
            raise ValueError(f"origins {origins} lie before the fit origin {self.origin_}")
        out = self._forecast(panel, origins)
        return np.clip(out, 0.0, None)

    def covers(self, panel: PanelArrays, origin: int) -> np.ndarray:
        """Series the model forecasts at ``origin`` (decided at the fit origin for per-series models)."""
        needs = self.needs
        at = self.origin_ if needs.per_series and hasattr(self, "origin_") else int(origin)
        hist = panel.history_length(at)
        ok = (hist >= max(needs.min_history, 1)) & (~np.isnan(panel.y[:, : at + 1])).any(axis=1)
        if needs.max_history is not None:
            ok &= hist < needs.max_history
        if needs.classes is not None:
            cls = demand_class_at(panel, at, needs.new_below, needs.adi_cutoff, needs.cv2_cutoff)
            ok &= np.isin(cls, [CLASS_CODE[c] for c in needs.classes])
        return ok

    def describe(self) -> dict[str, Any]:
        """Parameters for the model registry."""
        return self.get_params()

    def features(self) -> Any:
        """Inputs of the model for the model registry."""
        return ["demand"]

    def training_end(self, final_origin: int) -> int:
        """Last column of the data that shaped the final forecast's parameters (registry ``train_end``)."""
        return final_origin

    def model_blob(self) -> str | None:
        """The fitted model as text when it is small enough to store (registry ``model_blob``)."""
        return None

    # -- for subclasses -------------------------------------------------------------------------
    def _estimate(self, panel: PanelArrays, origin: int, executor: Executor | None) -> None:
        """Estimate the parameters at ``origin`` (nothing to estimate by default)."""

    def _forecast(self, panel: PanelArrays, origins: list[int]) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    # -- conveniences ---------------------------------------------------------------------------
    def predict(self, horizon: int | None = None) -> pd.DataFrame:
        """Forecasts after the fit origin: ``product_id, forecast_month, horizon, forecast``."""
        if not hasattr(self, "origin_"):
            raise RuntimeError(f"{type(self).__name__} is not fitted; call fit() first")
        horizon = self.horizon if horizon is None else int(horizon)
        if not 1 <= horizon <= self.horizon:
            raise ValueError(f"horizon must be in 1..{self.horizon} (the fitted horizon)")
        forecasts = self.forecast(self.panel_, [self.origin_])[:, 0, :horizon]
        return forecast_frame(self.panel_, forecasts, self.origin_)

    def get_params(self) -> dict[str, Any]:
        """Constructor parameters (scikit-learn style)."""
        return {k: v for k, v in vars(self).items() if not k.endswith("_") and not k.startswith("_")}

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"


def empty_forecasts(panel: PanelArrays, origins: Sequence[int], horizon: int) -> np.ndarray:
    return np.full((panel.n_series, len(origins), horizon), np.nan)


def forecast_frame(panel: PanelArrays, forecasts: np.ndarray, origin: int) -> pd.DataFrame:
    """Long frame of an ``(n, H)`` forecast array made at ``origin``."""
    _, horizon = forecasts.shape
    r, h = np.nonzero(~np.isnan(forecasts))
    months = pd.DatetimeIndex([panel.month_at(origin + k) for k in range(1, horizon + 1)])
    return pd.DataFrame(
        {
            "product_id": panel.product_ids[r],
            "forecast_month": months[h],
            "horizon": (h + 1).astype(np.int64),
            "forecast": forecasts[r, h],
        }
    )

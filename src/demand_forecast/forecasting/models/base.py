"""Common interface of every forecasting model.

All models follow the same scikit-learn-like contract:

* parameters are set in ``__init__`` (``horizon`` is one of them: the direct
  LightGBM model needs it at training time, the others use it as the default
  forecast length);
* ``fit(df)`` takes the long history ``product_id, month, demand`` (optional
  columns ``exclude_from_training``, ``product_group``, ``category``,
  ``avg_unit_price``, ``is_partial_month``), estimates at the last month of the
  data and returns ``self``; fitted state lives in attributes ending in ``_``;
* ``predict(horizon=None)`` returns the long frame
  ``product_id, forecast_month, horizon, forecast`` (products the model does not
  cover are absent);
* ``forecast_arrays(arrays, origins)`` is the bulk path used by the backtest:
  it returns an array ``(n_products, len(origins), horizon)`` of forecasts made
  at each origin from data up to that origin only (NaN where the model does
  not forecast the product).  Models with estimated parameters estimate them
  once at ``origins[0]`` and re-use them at later origins (see each model).

Forecasts are clipped at zero (demand cannot be negative).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np
import pandas as pd

from ..features import PanelArrays, build_panel_arrays


class BaseForecaster:
    """Base class; subclasses implement :meth:`forecast_arrays`."""

    name: ClassVar[str] = "base"

    def __init__(self, horizon: int = 3) -> None:
        self.horizon = horizon

    # -- public API ---------------------------------------------------------
    def fit(self, df: pd.DataFrame, as_of_month=None, profiles: pd.DataFrame | None = None) -> BaseForecaster:
        """Fit on the long history ``df`` (estimation origin = ``as_of_month`` or the last month)."""
        if as_of_month is None:
            as_of_month = pd.to_datetime(df["month"]).max()
        arrays = build_panel_arrays(df, as_of_month, profiles)
        self.arrays_ = arrays
        self.origin_ = arrays.n_months - 1
        self.forecast_ = self.forecast_arrays(arrays, [self.origin_])[:, 0, :]
        return self

    def predict(self, horizon: int | None = None) -> pd.DataFrame:
        """Forecasts for months after the fitted data: ``product_id, forecast_month, horizon, forecast``."""
        if not hasattr(self, "forecast_"):
            raise RuntimeError(f"{type(self).__name__} is not fitted; call fit() first")
        horizon = self.horizon if horizon is None else int(horizon)
        if not 1 <= horizon <= self.horizon:
            raise ValueError(f"horizon must be in 1..{self.horizon} (the fitted horizon)")
        return forecast_frame(self.arrays_, self.forecast_[:, :horizon], self.origin_)

    def forecast_arrays(self, arrays: PanelArrays, origins: Sequence[int]) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def get_params(self) -> dict:
        """Constructor parameters (scikit-learn style)."""
        return {k: v for k, v in vars(self).items() if not k.endswith("_") and not k.startswith("_")}

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"


def empty_forecasts(arrays: PanelArrays, origins: Sequence[int], horizon: int) -> np.ndarray:
    return np.full((arrays.n_series, len(origins), horizon), np.nan)


def forecast_frame(arrays: PanelArrays, forecasts: np.ndarray, origin: int) -> pd.DataFrame:
    """Long frame of an ``(n, H)`` forecast array made at ``origin``."""
    n, horizon = forecasts.shape
    r, h = np.nonzero(~np.isnan(forecasts))
    months = pd.DatetimeIndex([arrays.month_at(origin + k) for k in range(1, horizon + 1)])
    return pd.DataFrame(
        {
            "product_id": arrays.product_ids[r],
            "forecast_month": months[h],
            "horizon": (h + 1).astype(np.int64),
            "forecast": forecasts[r, h],
        }
    )

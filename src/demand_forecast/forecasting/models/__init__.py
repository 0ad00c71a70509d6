"""Forecasting models behind one interface (:mod:`demand_forecast.forecasting.models.base`).

================  ==========================================  ==========================
name              class                                       forecasts
================  ==========================================  ==========================
baseline          :class:`WeightedMovingAverage`              every product (vectorised)
seasonal_naive    :class:`SeasonalNaive`                      every product (vectorised)
sba               :class:`CrostonSBA`                         established products
tsb               :class:`TSB`                                established products
ets               :class:`ETSForecaster` (statsmodels)        smooth/erratic, >= 12 months
theta             :class:`ThetaForecaster` (statsmodels)      smooth/erratic, >= 12 months
lightgbm          :class:`LightGBMForecaster` (global)        every product with history
cold_start        :class:`ColdStart`                          new products only
================  ==========================================  ==========================

Adding a model: write its file (a :class:`BaseForecaster` subclass with ``name``,
``from_config``, ``needs`` and ``_forecast``, plus ``_estimate`` when it has parameters), add the
class to :data:`REGISTRY` and its name to :data:`demand_forecast.forecasting.catalog.ALL_MODELS`.
The backtest, selection, intervals, registry and the shared test suite
(``tests/python/test_forecast_protocol.py``) then take it up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..catalog import ALL_MODELS
from .base import BaseForecaster, Forecaster, Needs, forecast_frame
from .baselines import SeasonalNaive, WeightedMovingAverage
from .cold_start import ColdStart
from .ets import ETSForecaster
from .global_model import LightGBMForecaster
from .intermittent import TSB, CrostonSBA
from .series import statistical_series_forecast
from .statistical import StatisticalForecaster
from .theta import ThetaForecaster

#: Every model, in the fixed order used for tie-breaks (simpler models first, so an exact tie goes
#: to the simpler model).
REGISTRY: tuple[type[BaseForecaster], ...] = (
    WeightedMovingAverage,
    SeasonalNaive,
    CrostonSBA,
    TSB,
    ETSForecaster,
    ThetaForecaster,
    LightGBMForecaster,
    ColdStart,
)

if tuple(model.name for model in REGISTRY) != ALL_MODELS:  # pragma: no cover - a developer's slip, caught at import
    raise ImportError(
        f"models.REGISTRY names {[m.name for m in REGISTRY]} but forecasting.catalog.ALL_MODELS is "
        f"{list(ALL_MODELS)}: list each model's name in catalog.ALL_MODELS, in registry order"
    )

if TYPE_CHECKING:
    from ..config import ForecastConfig


def build_models(config: ForecastConfig) -> list[BaseForecaster]:
    """The models ``config.models`` names, built from the config, in registry order."""
    return [model.from_config(config) for model in REGISTRY if model.name in config.models]


__all__ = [
    "ALL_MODELS",
    "REGISTRY",
    "TSB",
    "BaseForecaster",
    "ColdStart",
    "CrostonSBA",
    "ETSForecaster",
    "Forecaster",
    "LightGBMForecaster",
    "Needs",
    "SeasonalNaive",
    "StatisticalForecaster",
    "ThetaForecaster",
    "WeightedMovingAverage",
    "build_models",
    "forecast_frame",
    "statistical_series_forecast",
]

"""Forecasting models (one interface, see :mod:`demand_forecast.forecasting.models.base`).

================  ==========================================  ==========================
name              class                                       runs on
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
"""

from .base import BaseForecaster, forecast_frame
from .baselines import SeasonalNaive, WeightedMovingAverage
from .cold_start import ColdStart
from .global_model import LightGBMForecaster
from .intermittent import TSB, CrostonSBA
from .statistical import ETSForecaster, StatisticalForecaster, ThetaForecaster, statistical_series_forecast

__all__ = [
    "BaseForecaster",
    "ColdStart",
    "CrostonSBA",
    "ETSForecaster",
    "LightGBMForecaster",
    "SeasonalNaive",
    "StatisticalForecaster",
    "TSB",
    "ThetaForecaster",
    "WeightedMovingAverage",
    "forecast_frame",
    "statistical_series_forecast",
]

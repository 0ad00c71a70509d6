"""Forecasting: models behind one interface, rolling-origin backtest, selection, intervals, metrics.

:func:`demand_forecast.forecasting.pipeline.run_forecasting` is the entry point the dbt Python
models call (through :mod:`demand_forecast.dbt_bridge`).
"""

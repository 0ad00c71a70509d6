"""Demand forecasting package used by the dbt Python models of this project."""

__version__ = "0.1.0"

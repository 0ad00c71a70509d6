"""Typed schemas of the tables the forecasting run writes: the one owner of their columns.

Each :class:`TableSchema` names a dbt Python model and lists its columns, in table order, with a
kind (``str``, ``int``, ``float``, ``bool``, ``date``, ``timestamp``; :data:`DUCKDB_TYPES` gives
the warehouse type of each).  Three places read them:

* :func:`demand_forecast.forecasting.pipeline.run_forecasting` builds its frames with the
  columns of :meth:`TableSchema.run_columns` (the table minus what the dbt model adds: the
  selected flag, run ids, registration time);
* the dbt Python models cast their frame with :func:`demand_forecast.dbt_bridge.typed`;
* ``python_models/_forecasting__models.yml`` documents the same columns with their warehouse
  ``data_type`` (:meth:`TableSchema.warehouse_types`: DATE months in the marts);
  ``tests/python/test_forecast_schemas.py`` checks that the yml, the frames and
  the DuckDB types agree with this module.
"""

from __future__ import annotations

from dataclasses import dataclass

#: DuckDB type of every column kind (what :func:`demand_forecast.dbt_bridge.typed` produces).  A
#: ``date`` is a month or day normalised to midnight; pandas hands it to DuckDB as a TIMESTAMP, the
#: type the marts reading these tables (``fct_forecast_accuracy``'s contract) expect.
DUCKDB_TYPES: dict[str, str] = {
    "str": "varchar",
    "int": "bigint",
    "float": "double",
    "bool": "boolean",
    "date": "timestamp",
    "timestamp": "timestamp",
}


@dataclass(frozen=True)
class TableSchema:
    """Columns of one table (dbt model ``name``) in order, with their kinds."""

    name: str
    columns: tuple[tuple[str, str], ...]
    #: columns the dbt model adds to the forecasting run's frame
    added_by_model: tuple[str, ...] = ()
    #: a mart: the marts' post-hook ``cast_declared_date_columns`` makes its ``date`` columns DATE
    mart: bool = False

    def __post_init__(self) -> None:
        unknown = {kind for _, kind in self.columns} - set(DUCKDB_TYPES)
        if unknown:
            raise ValueError(f"{self.name}: unknown column kinds {sorted(unknown)}")
        missing = set(self.added_by_model) - set(self.names)
        if missing:
            raise ValueError(f"{self.name}: added_by_model names unknown columns {sorted(missing)}")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.columns)

    @property
    def kinds(self) -> dict[str, str]:
        return dict(self.columns)

    def run_columns(self) -> tuple[str, ...]:
        """Columns of the forecasting run's frame (the table without what the dbt model adds)."""
        return tuple(name for name in self.names if name not in self.added_by_model)

    def duckdb_types(self) -> dict[str, str]:
        """The types DuckDB gives the typed frame's columns (what the dbt model returns)."""
        return {name: DUCKDB_TYPES[kind] for name, kind in self.columns}

    def warehouse_types(self) -> dict[str, str]:
        """The types of the table in the warehouse (the yml's ``data_type``): in a mart a ``date`` is DATE."""
        types = self.duckdb_types()
        if self.mart:
            types.update({name: "date" for name, kind in self.columns if kind == "date"})
        return types


BACKTEST = TableSchema(
    "int_forecast_backtest",
    (
        ("product_id", "str"),
        ("model_name", "str"),
        ("cutoff_month", "date"),
        ("horizon", "int"),
        ("forecast_month", "date"),
        ("forecast", "float"),
        ("actual", "float"),
    ),
)

METRICS = TableSchema(
    "int_forecast_metrics",
    (
        ("product_id", "str"),
        ("model_name", "str"),
        ("horizon", "int"),
        ("n", "int"),
        ("mae", "float"),
        ("rmse", "float"),
        ("wape", "float"),
        ("bias", "float"),
        ("mase", "float"),
        ("coverage_80", "float"),
    ),
)

SELECTION = TableSchema(
    "int_forecast_selection",
    (
        ("product_id", "str"),
        ("champion_model", "str"),
        ("ensemble_members", "str"),
        ("selection_reason", "str"),
        ("segment", "str"),
        ("selection_level", "str"),
        ("backtest_points", "int"),
        ("ensemble_reason", "str"),
    ),
)

FORECASTS = TableSchema(
    "fct_forecasts",
    (
        ("product_id", "str"),
        ("as_of_month", "date"),
        ("forecast_month", "date"),
        ("horizon", "int"),
        ("model_name", "str"),
        ("is_selected", "bool"),
        ("selected_model", "str"),
        ("forecast_p10", "float"),
        ("forecast_p50", "float"),
        ("forecast_p90", "float"),
        ("selection_reason", "str"),
        ("run_id", "str"),
    ),
    added_by_model=("is_selected", "selected_model", "run_id"),
    mart=True,
)

REGISTRY = TableSchema(
    "fct_model_registry",
    (
        ("model_name", "str"),
        ("model_version", "str"),
        ("as_of_month", "date"),
        ("config_hash", "str"),
        ("config_json", "str"),
        ("params_json", "str"),
        ("features_json", "str"),
        ("train_start", "date"),
        ("train_end", "date"),
        ("n_series", "int"),
        ("wape", "float"),
        ("mase", "float"),
        ("bias", "float"),
        ("coverage_80", "float"),
        ("fit_seconds", "float"),
        ("model_blob", "str"),
        ("dbt_invocation_id", "str"),
        ("registered_at", "timestamp"),
    ),
    added_by_model=("config_hash", "config_json", "dbt_invocation_id", "registered_at"),
    mart=True,
)

FORECASTS_BY_GROUP = TableSchema(
    "fct_forecasts_by_group",
    (
        ("level", "str"),
        ("node_id", "str"),
        ("product_group", "str"),
        ("category", "str"),
        ("product_id", "str"),
        ("n_products", "int"),
        ("as_of_month", "date"),
        ("forecast_month", "date"),
        ("horizon", "int"),
        ("forecast_p10", "float"),
        ("forecast_p50", "float"),
        ("forecast_p90", "float"),
        ("base_p50", "float"),
        ("reconciliation_method", "str"),
        ("method_reason", "str"),
        ("run_id", "str"),
    ),
    added_by_model=("run_id",),
    mart=True,
)

#: every table of the forecasting run, by dbt model name
TABLES: dict[str, TableSchema] = {
    schema.name: schema for schema in (BACKTEST, METRICS, SELECTION, FORECASTS, REGISTRY, FORECASTS_BY_GROUP)
}

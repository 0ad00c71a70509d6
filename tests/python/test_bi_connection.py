"""The BI connection of docs/bi.md: SQLAlchemy + duckdb-engine, read-only, on a built warehouse.

SQLAlchemy 2.1 with duckdb-engine 0.17 fails on ``inspect().get_columns`` (its pg_catalog query
binds a parameter DuckDB rejects); requirements pin SQLAlchemy below 2.1. These tests run what a
BI tool does when it connects: list schemas and tables, describe columns (types and comments),
run a query, and fail to write.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest
import sqlalchemy as sa
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.dbt, pytest.mark.slow]


def _engine(database: Path) -> sa.Engine:
    # the URL of docs/bi.md
    return sa.create_engine(f"duckdb:///{database}", connect_args={"read_only": True})


def test_the_pinned_sqlalchemy_is_the_one_that_works() -> None:
    assert Version(sa.__version__) < Version("2.1"), "SQLAlchemy 2.1 breaks duckdb-engine's get_columns"
    pins = (ROOT / "requirements" / "constraints.txt").read_text()
    assert f"SQLAlchemy=={sa.__version__}" in pins


def test_a_bi_tool_lists_and_describes_the_marts(built_warehouse: dict[str, object]) -> None:
    engine = _engine(built_warehouse["database"])
    try:
        inspector = sa.inspect(engine)
        assert {"fct_forecasts", "mart_forecast_wide", "fct_forecast_accuracy", "dim_products"} <= set(
            inspector.get_table_names(schema="marts")
        )
        columns = {column["name"]: column for column in inspector.get_columns("mart_forecast_wide", schema="marts")}
        assert len(columns) >= 25
        assert isinstance(columns["month_1"]["type"], sa.Date)
        assert isinstance(columns["as_of_month"]["type"], sa.Date)
        assert isinstance(columns["month_1_p50"]["type"], sa.Float)
        assert "P50" in (columns["month_1_p50"]["comment"] or "")
        assert all(column["comment"] for column in columns.values()), "every column carries its description"
        table = inspector.get_table_comment("mart_forecast_wide", schema="marts")["text"]
        assert "one row per product" in (table or "").lower()
    finally:
        engine.dispose()


def test_a_bi_query_returns_what_duckdb_returns(built_warehouse: dict[str, object]) -> None:
    sql = (
        "select product_group, month_1, round(sum(month_1_p50), 1) as units "
        "from marts.mart_forecast_wide group by all order by all"
    )
    engine = _engine(built_warehouse["database"])
    try:
        with engine.connect() as connection:
            through_sqlalchemy = [tuple(row) for row in connection.execute(sa.text(sql)).fetchall()]
    finally:
        engine.dispose()
    with duckdb.connect(str(built_warehouse["database"]), read_only=True) as connection:
        direct = connection.execute(sql).fetchall()
    assert through_sqlalchemy == direct
    assert len(direct) >= 2 and all(isinstance(month, dt.date) for _, month, _ in direct)


def test_the_bi_connection_cannot_write(built_warehouse: dict[str, object]) -> None:
    engine = _engine(built_warehouse["database"])
    try:
        with engine.connect() as connection, pytest.raises(sa.exc.DBAPIError, match="read-only"):
            connection.execute(sa.text("delete from marts.mart_forecast_wide"))
    finally:
        engine.dispose()
    with duckdb.connect(str(built_warehouse["database"]), read_only=True) as connection:
        assert connection.execute("select count(*) from marts.mart_forecast_wide").fetchone()[0] > 0

"""What a BI tool finds in the warehouse after the batch: no temp tables, months as DATE, units
rounded where people read them, and every mart and mart column described (persist_docs).

Built once per session by the real batch on small data (conftest ``built_warehouse``: the replay's
several as-of months, so the incremental Python marts also take their incremental path). The prose checks at
the end read the yml and docs files only.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
MARTS = [
    "dim_products",
    "fct_forecast_accuracy",
    "fct_forecasts",
    "fct_forecasts_by_group",
    "fct_model_registry",
    "fct_purchase_plans",
    "mart_accuracy_by_segment",
    "mart_best_worst_performers",
    "mart_forecast_wide",
    "mart_inventory_simulation",
    "mart_purchase_suggestions",
    "mart_quarantine_summary",
]
# A TIMESTAMP in a mart is a moment, never a month or a day.
MOMENTS = {("fct_model_registry", "registered_at")}


def _query(built_warehouse: dict[str, object], sql: str) -> list[tuple]:
    with duckdb.connect(str(built_warehouse["database"]), read_only=True) as connection:
        return connection.execute(sql).fetchall()


@pytest.mark.dbt
@pytest.mark.slow
def test_no_temp_or_backup_table_is_left_after_incremental_builds(built_warehouse: dict[str, object]) -> None:
    months = _query(built_warehouse, "select count(distinct as_of_month) from marts.fct_forecasts")[0][0]
    assert months >= 2, "the later builds must have taken the incremental path"
    leftovers = _query(
        built_warehouse,
        "select schema_name || '.' || table_name from duckdb_tables() "
        "where table_name like '%\\_\\_dbt\\_tmp%' escape '\\' or table_name like '%\\_\\_dbt\\_backup%' escape '\\'",
    )
    assert leftovers == []


@pytest.mark.dbt
@pytest.mark.slow
def test_every_mart_is_there_and_months_are_dates(built_warehouse: dict[str, object]) -> None:
    columns = _query(
        built_warehouse,
        "select table_name, column_name, data_type from duckdb_columns() where schema_name = 'marts'",
    )
    assert {table for table, _, _ in columns} == set(MARTS)
    moments = {(table, column) for table, column, kind in columns if kind.startswith("TIMESTAMP")}
    assert moments == MOMENTS
    # month and day columns by name: month, *_month, month_1.., *_date, train_start/_end; not the
    # figures *of* a month (demand_last_month; forecast_arrival_month, purchasing's P50 units of the
    # month an order arrives)
    figures_of_a_month = ("_last_month", "forecast_arrival_month")
    dated = [
        (table, column, kind)
        for table, column, kind in columns
        if re.search(r"(^|_)(month|date)(_\d+)?$|^train_(start|end)$", column)
        and not any(part in column for part in figures_of_a_month)
    ]
    assert len(dated) >= 15
    assert [d for d in dated if d[2] != "DATE"] == []
    # BI drivers map HUGEINT badly (or not at all)
    assert [(t, c) for t, c, kind in columns if kind == "HUGEINT"] == []


@pytest.mark.dbt
@pytest.mark.slow
def test_units_are_rounded_where_people_read_them_and_exact_where_code_does(
    built_warehouse: dict[str, object],
) -> None:
    wide = _query(
        built_warehouse,
        "select count(*), count(*) filter (where month_1_p50 <> round(month_1_p50, 1) "
        "or month_2_p10 <> round(month_2_p10, 1) or month_3_p90 <> round(month_3_p90, 1) "
        "or demand_last_12m <> round(demand_last_12m, 1)) from marts.mart_forecast_wide",
    )[0]
    assert wide[0] > 0 and wide[1] == 0
    exact = _query(
        built_warehouse,
        "select count(*) filter (where forecast_p50 <> round(forecast_p50, 1)) from marts.fct_forecasts",
    )[0][0]
    assert exact > 0, "fct_forecasts must keep full precision"
    # the rounded wide mart still shows what fct_forecasts holds
    differences = _query(
        built_warehouse,
        """
        select max(abs(wide.month_1_p50 - forecasts.forecast_p50))
        from marts.mart_forecast_wide as wide
        inner join marts.fct_forecasts as forecasts
            on wide.product_id = forecasts.product_id and wide.month_1 = forecasts.forecast_month
            and wide.as_of_month = forecasts.as_of_month and forecasts.is_selected
        """,
    )[0][0]
    assert differences is not None and differences <= 0.05 + 1e-9


@pytest.mark.dbt
@pytest.mark.slow
def test_descriptions_are_in_the_warehouse_for_every_mart_and_column(built_warehouse: dict[str, object]) -> None:
    tables = dict(
        _query(built_warehouse, "select table_name, comment from duckdb_tables() where schema_name = 'marts'")
    )
    assert sorted(tables) == MARTS
    assert [t for t, comment in tables.items() if not (comment or "").strip()] == []
    columns = _query(
        built_warehouse, "select table_name, column_name, comment from duckdb_columns() where schema_name = 'marts'"
    )
    assert len(columns) > 100
    assert [(t, c) for t, c, comment in columns if not (comment or "").strip()] == []
    # doc() blocks are rendered, not stored as Jinja
    assert [(t, c) for t, c, comment in columns if "{{" in comment or "doc(" in comment] == []
    wape = {comment for t, c, comment in columns if c == "wape"}
    assert len(wape) == 1 and "sum |forecast - actual| / sum |actual|" in wape.pop()
    # the intermediate and staging layers are described too (base_raw__* mirror the raw files,
    # whose columns are described on the source)
    layers = _query(
        built_warehouse,
        "select table_name, column_name, comment from duckdb_columns() "
        "where schema_name in ('intermediate', 'staging') and not starts_with(table_name, 'base_raw__')",
    )
    assert len(layers) > 100
    assert [(t, c) for t, c, comment in layers if not (comment or "").strip()] == []


# ------------------------------------------------------------------ prose written once
def _yml_files() -> list[Path]:
    return sorted([*ROOT.glob("models/**/*.yml"), *ROOT.glob("python_models/**/*.yml")])


def _descriptions(node: object) -> list[str]:
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "description" and isinstance(value, str):
                found.append(value.strip())
            else:
                found += _descriptions(value)
    elif isinstance(node, list):
        for item in node:
            found += _descriptions(item)
    return found


def test_no_description_is_written_twice() -> None:
    """Prose used more than once lives in a {% docs %} block and is used through doc()."""
    seen: dict[str, int] = {}
    for path in _yml_files():
        for text in _descriptions(yaml.safe_load(path.read_text())):
            if "doc(" not in text:
                seen[text] = seen.get(text, 0) + 1
    assert len(seen) > 100
    assert {text: n for text, n in seen.items() if n > 1} == {}


def test_every_doc_block_is_used_and_every_used_block_exists() -> None:
    blocks = set(re.findall(r"{%\s*docs\s+(\w+)\s*%}", (ROOT / "models" / "docs.md").read_text()))
    used = {name for path in _yml_files() for name in re.findall(r"doc\('(\w+)'\)", path.read_text())}
    assert len(used) >= 20
    assert used - blocks == set()
    assert blocks - used == {"__overview__"}

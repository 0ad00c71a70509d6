"""Everything the dashboard shows, read from the warehouse the dbt project built.

:func:`load_dashboard_data` opens the DuckDB file read-only, runs one loader per section and
closes it. Aggregates are computed in DuckDB (``GROUPING SETS`` over groups and categories);
Python only shapes the result. A loader that fails records its error under ``data["errors"]``
and the page shows a note for that section instead of crashing.

Tables read (each optional; a missing or empty one gives a "no data yet" note):

* marts: ``fct_forecasts``, ``fct_forecast_accuracy``, ``mart_accuracy_by_segment``,
  ``mart_best_worst_performers`` (its window only), ``mart_forecast_wide``, ``dim_products``,
  ``mart_quarantine_summary``, ``fct_model_registry``, ``mart_purchase_suggestions``,
  ``mart_inventory_simulation`` (orders to place, :mod:`.data_purchasing`);
* intermediate (no mart holds them): ``int_monthly_demand`` (history), ``int_series_profiles``
  (attributes when ``dim_products`` is missing), ``int_forecast_backtest`` (per-product model errors);
* ``ops.batch_step_metrics`` and ``elementary.elementary_test_results`` (data health).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..months import add_months
from .data_accuracy import (
    evaluation_window,
    load_accuracy_trend,
    load_attention,
    load_breakdown,
    load_headline,
    load_models,
)
from .data_health import load_quarantine, load_steps, load_stockouts, load_tests
from .data_products import load_products
from .data_purchasing import load_orders, load_simulation
from .formatting import (
    DEFAULT_TOP_N,
    TABLE_MAX_PRODUCTS,
    TREND_MONTHS,
    as_date,
    compact,
    finite,
)
from .warehouse import Segments, Warehouse, col

TABLES = {
    "forecasts": "marts.fct_forecasts",
    "by_group": "marts.fct_forecasts_by_group",
    "accuracy": "marts.fct_forecast_accuracy",
    "by_segment": "marts.mart_accuracy_by_segment",
    "performers": "marts.mart_best_worst_performers",
    "wide": "marts.mart_forecast_wide",
    "dim": "marts.dim_products",
    "quarantine": "marts.mart_quarantine_summary",
    "registry": "marts.fct_model_registry",
    "suggestions": "marts.mart_purchase_suggestions",
    "simulation": "marts.mart_inventory_simulation",
    "panel": "intermediate.int_monthly_demand",
    "profiles": "intermediate.int_series_profiles",
    "steps": "ops.batch_step_metrics",
    "tests": "elementary.elementary_test_results",
}


def load_dashboard_data(warehouse_path: str | Path, top_n: int = DEFAULT_TOP_N) -> dict[str, Any]:
    """Query everything the dashboard shows. Opens the DuckDB file read-only and closes it."""
    import duckdb

    path = Path(warehouse_path)
    data: dict[str, Any] = {"errors": {}, "warehouse": str(path)}
    if not path.exists():
        data["warehouse_missing"] = True
        data["segments"] = Segments([])
        return data
    # a lock held by a writer fails here: the batch runs its steps one after another, so that is a
    # real error (build_dashboard refuses to write the page), not "no data yet"
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as error:
        data["errors"]["warehouse"] = f"cannot open {path} read-only: {error}"
        data["segments"] = Segments([])
        return data
    try:
        _load(Warehouse(con), data, top_n)
    except Exception as error:
        data["errors"]["warehouse"] = f"{type(error).__name__}: {error}"
    finally:
        con.close()
    data.setdefault("segments", Segments([]))
    return data


def _safe(data: dict[str, Any], section: str, loader: Callable[[], None]) -> None:
    """Run one section's loader; a query error becomes a note instead of a crash."""
    try:
        loader()
    except Exception as error:
        data["errors"][section] = f"{type(error).__name__}: {error}"


def _load(w: Warehouse, data: dict[str, Any], top_n: int) -> None:
    t = {name: w.table(qualified) for name, qualified in TABLES.items()}
    t["backtest"] = w.find("int_forecast_backtest", ("intermediate", "marts", "main"))
    data["tables"] = t
    if t["forecasts"] and "is_selected" not in w.columns(t["forecasts"]):
        data["errors"]["forecasts"] = "marts.fct_forecasts has no is_selected column (built by an older version?)"
        t["forecasts"] = None

    as_of = None
    if t["forecasts"]:
        as_of = as_date(w.scalar(f"select max(as_of_month) from {t['forecasts']}"))
    if as_of is None and t["panel"]:
        as_of = as_date(w.scalar(f"select max(month) from {t['panel']}"))
    data["as_of"] = as_of
    data["run_id"] = _run_id(w, t, as_of)
    attrs_sql = _attributes_sql(w, t)
    data["attrs_sql"] = attrs_sql
    pairs: list[tuple[str, str]] = []
    if attrs_sql:
        pairs = [
            (r["g"], r["c"])
            for r in w.rows(
                f"select distinct coalesce(product_group, 'unknown') as g, coalesce(category, 'unknown') as c "
                f"from ({attrs_sql})"
            )
        ]
    data["segments"] = Segments(pairs)
    data["seg"] = {item["key"]: {} for item in data["segments"].items}
    data["window"] = _safe_window(w, t, data)

    _safe(data, "kpis", lambda: _load_kpis(w, data, t, attrs_sql, as_of))
    _safe(data, "actuals", lambda: _load_actuals(w, data, t, as_of))
    _safe(data, "forecast", lambda: _load_segment_forecasts(w, data, t, attrs_sql, as_of))
    _safe(data, "accuracy", lambda: load_accuracy_trend(w, data, t, as_of))
    _safe(data, "headline", lambda: load_headline(w, data, t))
    _safe(data, "breakdown", lambda: load_breakdown(w, data, t))
    _safe(data, "attention", lambda: load_attention(w, data, t))
    _safe(data, "models", lambda: load_models(w, data, t, as_of))
    _safe(data, "table", lambda: _load_forecast_table(w, data, t))
    _safe(data, "products", lambda: load_products(w, data, t, attrs_sql, as_of, top_n))
    _safe(data, "quarantine", lambda: load_quarantine(w, data, t))
    _safe(data, "stockouts", lambda: load_stockouts(w, data, t, as_of))
    _safe(data, "tests", lambda: load_tests(w, data, t))
    _safe(data, "steps", lambda: load_steps(w, data, t))
    _safe(data, "orders", lambda: load_orders(w, data, t))
    _safe(data, "simulation", lambda: load_simulation(w, data, t))


def _run_id(w: Warehouse, t: dict, as_of: dt.date | None) -> Any:
    if t["wide"] and "run_id" in w.columns(t["wide"]):
        run_id = w.scalar(f"select max(run_id) from {t['wide']}")
        if run_id is not None:
            return run_id
    if t["forecasts"] and as_of and "run_id" in w.columns(t["forecasts"]):
        return w.scalar(f"select max(run_id) from {t['forecasts']} where as_of_month = ?", [as_of])
    return None


def _attributes_sql(w: Warehouse, t: dict) -> str | None:
    """A query of one row per product with name, group, category, demand class and lifecycle,
    from the best table available."""
    for source in ("dim", "wide", "profiles"):
        if t[source]:
            cols = w.columns(t[source])
            return (
                f"select product_id, {col(cols, 'product_name', default='product_id')}, "
                f"{col(cols, 'product_group')}, {col(cols, 'category')}, {col(cols, 'demand_class')}, "
                f"{col(cols, 'lifecycle')} from {t[source]}"
            )
    if t["panel"]:
        return (
            f"select product_id, product_id as product_name, any_value(product_group) as product_group, "
            f"any_value(category) as category, null as demand_class, null as lifecycle "
            f"from {t['panel']} group by product_id"
        )
    return None


def _safe_window(w: Warehouse, t: dict, data: dict) -> tuple[dt.date, dt.date] | None:
    try:
        return evaluation_window(w, t)
    except Exception as error:
        data["errors"]["window"] = f"{type(error).__name__}: {error}"
        return None


def _segment_rows(data: dict, rows: list[dict], field: str, value: Callable[[dict], Any]) -> None:
    """Append ``value(row)`` to ``seg[key][field]`` for rows of a ``GROUPING SETS`` query."""
    for row in rows:
        key = data["segments"].key_of(row["gg"], row["gc"], row["pg"], row["cat"])
        if key:
            data["seg"][key].setdefault(field, []).append(value(row))


def _load_kpis(w: Warehouse, data: dict, t: dict, attrs_sql: str | None, as_of: dt.date | None) -> None:
    if not attrs_sql:
        return
    forecast_join = ""
    forecast_count = "null"
    if t["forecasts"] and as_of:
        forecast_join = (
            f"left join (select distinct product_id as forecast_product_id from {t['forecasts']} "
            f"where as_of_month = ? and is_selected) as forecast_products "
            f"on products.product_id = forecast_products.forecast_product_id"
        )
        forecast_count = "count(forecast_products.forecast_product_id)"
    rows = w.rows(
        f"""
        select
            grouping(pg) as gg, grouping(cat) as gc, pg, cat,
            count(*) as n_products,
            {forecast_count} as n_forecast,
            count(*) filter (where lifecycle = 'new') as n_new,
            count(*) filter (where lifecycle = 'discontinued') as n_discontinued,
            count(*) filter (where demand_class = 'intermittent') as n_intermittent,
            count(*) filter (where demand_class = 'lumpy') as n_lumpy
        from (
            select product_id, coalesce(product_group, 'unknown') as pg, coalesce(category, 'unknown') as cat,
                lifecycle, demand_class
            from ({attrs_sql})
        ) as products
        {forecast_join}
        group by grouping sets ((), (pg), (pg, cat))
        """,
        [as_of] if forecast_join else [],
    )
    names = ("n_products", "n_forecast", "n_new", "n_discontinued", "n_intermittent", "n_lumpy")
    for row in rows:
        key = data["segments"].key_of(row["gg"], row["gc"], row["pg"], row["cat"])
        if key:
            data["seg"][key]["kpis"] = {k: row[k] for k in names}


def _load_actuals(w: Warehouse, data: dict, t: dict, as_of: dt.date | None) -> None:
    if not (t["panel"] and as_of):
        return
    rows = w.rows(
        f"""
        select grouping(pg) as gg, grouping(cat) as gc, pg, cat, month,
            sum(units_net) as raw, sum(demand) as demand
        from (
            select coalesce(product_group, 'unknown') as pg, coalesce(category, 'unknown') as cat,
                month, units_net, demand
            from {t["panel"]}
            where month between ? and ?
        )
        group by grouping sets ((month), (month, pg), (month, pg, cat))
        order by month
        """,
        [add_months(as_of, -(TREND_MONTHS - 1)), as_of],
    )
    _segment_rows(data, rows, "actuals", lambda r: (as_date(r["month"]), finite(r["raw"]), finite(r["demand"])))


def _load_segment_forecasts(w: Warehouse, data: dict, t: dict, attrs_sql: str | None, as_of: dt.date | None) -> None:
    if not (t["forecasts"] and as_of):
        return
    if t["by_group"] and w.scalar(f"select count(*) from {t['by_group']} where as_of_month = ?", [as_of]):
        _load_coherent_segment_forecasts(w, data, t, as_of)
        return
    join = f"left join ({attrs_sql}) as products on forecasts.product_id = products.product_id" if attrs_sql else ""
    group_expr = "coalesce(products.product_group, 'unknown')" if attrs_sql else "'unknown'"
    category_expr = "coalesce(products.category, 'unknown')" if attrs_sql else "'unknown'"
    rows = w.rows(
        f"""
        select grouping(pg) as gg, grouping(cat) as gc, pg, cat, horizon,
            max(forecast_month) as forecast_month,
            sum(forecast_p10) as p10, sum(forecast_p50) as p50, sum(forecast_p90) as p90
        from (
            select forecasts.horizon, forecasts.forecast_month, forecasts.forecast_p10,
                forecasts.forecast_p50, forecasts.forecast_p90,
                {group_expr} as pg, {category_expr} as cat
            from {t["forecasts"]} as forecasts
            {join}
            where forecasts.as_of_month = ? and forecasts.is_selected
        )
        group by grouping sets ((horizon), (horizon, pg), (horizon, pg, cat))
        order by horizon
        """,
        [as_of],
    )
    _segment_rows(
        data,
        rows,
        "forecast",
        lambda r: (as_date(r["forecast_month"]), finite(r["p10"]), finite(r["p50"]), finite(r["p90"])),
    )


def _load_coherent_segment_forecasts(w: Warehouse, data: dict, t: dict, as_of: dt.date) -> None:
    """P10/P50/P90 of every segment from ``fct_forecasts_by_group`` (coherent: a group's P50 is the sum
    of its products' reconciled P50). A node of the table (the total, a group, a category) gives its own
    band; a segment without a node (categories when each group has one) sums its product rows."""
    rows = w.rows(
        f"""
        select grouping(pg) as gg, grouping(cat) as gc, pg, cat, horizon,
            max(forecast_month) as forecast_month,
            sum(forecast_p10) as p10, sum(forecast_p50) as p50, sum(forecast_p90) as p90
        from (
            select horizon, forecast_month, forecast_p10, forecast_p50, forecast_p90,
                coalesce(product_group, 'unknown') as pg, coalesce(category, 'unknown') as cat
            from {t["by_group"]}
            where as_of_month = ? and level = 'product'
        )
        group by grouping sets ((horizon), (horizon, pg), (horizon, pg, cat))
        """,
        [as_of],
    )
    nodes = w.rows(
        f"""
        select case when level = 'total' then 1 else 0 end as gg,
            case when level = 'category' then 0 else 1 end as gc,
            coalesce(product_group, 'unknown') as pg, coalesce(category, 'unknown') as cat, horizon,
            forecast_month, forecast_p10 as p10, forecast_p50 as p50, forecast_p90 as p90
        from {t["by_group"]}
        where as_of_month = ? and level in ('total', 'group', 'category')
        """,
        [as_of],
    )

    def key(row: dict) -> tuple:
        return (row["gg"], row["gc"], None if row["gg"] else row["pg"], row["cat"] if not row["gc"] else None)

    own = {(*key(row), row["horizon"]): row for row in nodes}
    merged = [own.get((*key(row), row["horizon"]), row) for row in rows]
    merged.sort(key=lambda row: row["horizon"])
    _segment_rows(
        data,
        merged,
        "forecast",
        lambda r: (as_date(r["forecast_month"]), finite(r["p10"]), finite(r["p50"]), finite(r["p90"])),
    )


def _load_forecast_table(w: Warehouse, data: dict, t: dict) -> None:
    """The next months' P10/P50/P90 of every product (the largest ``TABLE_MAX_PRODUCTS`` by volume),
    from mart_forecast_wide: the table and the CSV files of the group section."""
    if not t["wide"]:
        return
    cols = w.columns(t["wide"])
    horizons = []
    while {f"month_{len(horizons) + 1}{s}" for s in ("", "_p10", "_p50", "_p90")} <= cols:
        horizons.append(len(horizons) + 1)
    if not horizons:
        data["errors"]["table"] = (
            "marts.mart_forecast_wide has no month_1, month_1_p10, month_1_p50, month_1_p90 columns"
        )
        return
    values = ", ".join(f"month_{h}_p10, month_{h}_p50, month_{h}_p90" for h in horizons)
    volume = "demand_last_12m desc nulls last, " if "demand_last_12m" in cols else ""
    months = w.rows(f"select {', '.join(f'max(month_{h}) as m{h}' for h in horizons)} from {t['wide']}")[0]
    n_total = w.scalar(f"select count(*) from {t['wide']}")
    rows = w.rows(
        f"""select * from (
                select product_id, {col(cols, "product_name", default="product_id")},
                    coalesce(product_group, 'unknown') as product_group, coalesce(category, 'unknown') as category,
                    {col(cols, "selected_model")}, {values}
                from {t["wide"]}
                order by {volume}product_id
                limit ?
            ) order by month_1_p50 desc nulls last, product_id""",
        [TABLE_MAX_PRODUCTS],
    )
    data["table"] = {
        "months": [as_date(months[f"m{h}"]) for h in horizons],
        "rows": [
            [r["product_id"], r["product_name"], r["product_group"], r["category"], r["selected_model"]]
            + [compact(r[f"month_{h}_{p}"]) for h in horizons for p in ("p10", "p50", "p90")]
            for r in rows
        ],
        "n_total": n_total,
    }

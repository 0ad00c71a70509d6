"""Static purchasing dashboard: one self-contained HTML file built from the warehouse marts.

.. code-block:: console

    python -m demand_forecast.dashboard --warehouse warehouse/demand.duckdb \\
        --out reports/dashboard.html [--elementary-report elementary_report.html] [--top-n 300]

or, from Python (the batch runner)::

    from demand_forecast.dashboard import build_dashboard
    stats = build_dashboard("warehouse/demand.duckdb", "reports/dashboard.html")
    stats["rows"], stats["bytes"], stats["products_embedded"]

No server and no CDN: plotly.js is embedded once in a ``<script>``, the figures are JSON in one
``<script type="application/json">`` block and a small script of our own draws them with
``Plotly.react``. The file opens offline.

Sections
--------
* **Overview** -- product counts (new, discontinued, intermittent, lumpy); the next three months'
  total forecast with the P10-P90 band against the last 24 months of actuals; WAPE and bias by
  month (last month highlighted); P10-P90 coverage by horizon; which models were selected and
  their backtest / live accuracy.
* **By product group and category** -- a selector (all products, each group, each category) that
  swaps the data of *every* chart and the counts of that section: forecast vs actuals, WAPE and
  bias over time, accuracy by group (or by category inside a group) with the best and worst
  marked, best and worst products with their WAPE. Clicking a product bar opens it below.
* **One product** -- a search box over the embedded products: raw and cleaned monthly history with
  stock-out and outlier months marked, the selected forecast with its band and the baseline
  forecast, the selected model's error against the baseline and the other models.
* **Data health** -- quarantined sales lines by reason, stock-out and outlier-capped months, the
  last dbt run's Elementary test results (counts and the failing ones), the last batch run's steps,
  and a link to the Elementary report (``elementary_report.html`` in the same folder).
* A footer with the as-of month, the run id and when the file was generated.

Every section reads its own tables; a missing or empty table (first run, failed build) gives a
"no data yet" note for that section, never an error.

What is embedded, and how large the file gets
---------------------------------------------
All aggregates are computed in DuckDB (``GROUPING SETS`` over groups and categories); Python only
shapes the result. Per segment (all, every group, every category) the file holds four small
figures (at most ~40 points or bars each) and the counts: ~9 kB per segment. Per-product series
are embedded only for the top ``top_n`` products by cleaned demand over the last 12 months
(``--top-n``, default 300) plus every best/worst performer shown in the group section (up to 20
for all products and for each group, 10 for each category): 36 months of raw and cleaned demand,
the flagged months, the selected forecast, the baseline forecast and each model's WAPE, ~1 kB per
product. Every other product is in ``marts.mart_forecast_wide``; the page says how many are
embedded.

Measured with the synthetic warehouse of ``tests/python/test_dashboard.py`` (48 months, 6 as-of
months, 7 models, 8 groups x 5 categories = 49 segments), 2 cores; plotly.js alone is 4.8 MB:

* 200 products: 5.5 MB file, 200 products embedded, built in 0.3 s;
* 30,000 products: 6.1 MB file, 745 products embedded (300 + performers), built in 0.7 s
  (200 MB peak RSS); the page is interactive in ~2 s in headless Chromium, a group switch
  redraws in ~0.15 s.

Choices worth knowing
---------------------
* The band of a total (overview, group) is the sum of the products' P10 and P90: wider than the
  true band of the sum; the chart says so.
* A product's "backtest error" per model comes from ``int_forecast_backtest`` (latest run) when
  that table is in the warehouse, else from ``fct_forecast_accuracy`` (all horizons, last 12
  evaluated months); the chart's subtitle names the source.
* Best/worst lists: all products from ``mart_best_worst_performers``; per group and category the
  same rule (selected forecasts, horizon 1, the mart's window, WAPE) computed here.
* The only ``cdn.plot.ly`` text in the file is plotly.js's own default ``topojsonURL`` (used by
  geo maps, which the dashboard has none of): nothing is fetched from the network.
"""

from __future__ import annotations

import argparse
import datetime as dt
import html
import json
import math
import sys
import time
from collections.abc import Callable, Iterable
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

from ..months import add_months

__all__ = ["build_dashboard", "load_dashboard_data", "build_figures", "render_html", "main", "MODEL_COLORS"]

DEFAULT_TOP_N = 300
TREND_MONTHS = 24  # months of actuals and accuracy shown in the trend charts
PRODUCT_MONTHS = 36  # months of history embedded per product
PERFORMERS_PER_SIDE = {"all": 10, "group": 10, "category": 5}
COVERAGE_TARGET = 0.8
PLOT_HEIGHT = 270  # px of plot area of a time-series chart
TITLE_WIDTH = 76  # characters per title line (15 px font in a ~650 px wide chart)
SUBTITLE_WIDTH = 105

#: One colour per model, used in every chart that encodes a model.
MODEL_COLORS: dict[str, str] = {
    "baseline": "#7f7f7f",
    "seasonal_naive": "#bcbd22",
    "sba": "#17becf",
    "tsb": "#9467bd",
    "ets": "#1f77b4",
    "theta": "#ff7f0e",
    "lightgbm": "#2ca02c",
    "cold_start": "#8c564b",
    "ensemble": "#e377c2",
    "champion": "#5d4037",
}
_EXTRA_MODEL_COLORS = ("#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd", "#e6550d")

COLORS = {
    "actual": "#1b2631",
    "raw": "#95a5a6",
    "forecast": "#d62728",
    "band": "rgba(214, 39, 40, 0.15)",
    "wape": "#34495e",
    "over": "rgba(230, 126, 34, 0.55)",
    "under": "rgba(52, 152, 219, 0.55)",
    "highlight": "#d62728",
    "best": "#2e7d32",
    "worst": "#c62828",
    "neutral": "#b0bec5",
    "stockout": "#c62828",
    "outlier": "#37474f",
    "imputed": "#8e44ad",
    "target": "#2e7d32",
}

_FONT = "-apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif"


# ============================================================================ small helpers
def _as_date(value: Any) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def _mon(day: dt.date | None) -> str:
    return day.strftime("%b %Y") if day else "n/a"


def _f(value: Any) -> float | None:
    """A finite float or None."""
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _r(value: Any, digits: int = 1) -> float | None:
    number = _f(value)
    return None if number is None else round(number, digits)


def _compact(value: Any) -> float | int | None:
    """Units for the embedded product series: one decimal, an int when whole (shorter JSON)."""
    number = _r(value, 1)
    if number is None:
        return None
    return int(number) if number.is_integer() else number


def _units(value: Any) -> str:
    number = _f(value)
    return "n/a" if number is None else f"{number:,.0f}"


def _count(value: Any) -> str:
    number = _f(value)
    return "" if number is None else f"{number:,.0f}"


def _pct(value: Any, signed: bool = False) -> str:
    number = _f(value)
    if number is None:
        return "n/a"
    if abs(number) < 0.005:
        number = 0.0  # no "-0%"
    return f"{number:+.0%}" if signed else f"{number:.0%}"


def _wrap(text: str, width: int = 80) -> str:
    """Break a title into lines of at most ``width`` characters (Plotly titles do not wrap)."""
    lines: list[str] = []
    current = ""
    for word in text.split(" "):
        if current and len(current) + 1 + len(word) > width:
            lines.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    if current:
        lines.append(current)
    return "<br>".join(lines)


def _model_color(name: str) -> str:
    if name in MODEL_COLORS:
        return MODEL_COLORS[name]
    return _EXTRA_MODEL_COLORS[sum(map(ord, name)) % len(_EXTRA_MODEL_COLORS)]


def _jsonable(value: Any) -> Any:
    """Make a value JSON-serialisable: NaN/inf -> null, dates -> ISO strings, Decimal -> float."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return _f(value)
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalar
        return _jsonable(value.item())
    return str(value)


# ============================================================================ warehouse access
class _Warehouse:
    """Read-only access with table discovery: every query of the dashboard goes through here."""

    def __init__(self, con: Any) -> None:
        self.con = con
        rows = con.execute(
            "select schema_name, table_name from duckdb_tables() where database_name = current_database() "
            "union all select schema_name, view_name from duckdb_views() "
            "where database_name = current_database() and not internal"
        ).fetchall()
        self._relations = {(s.lower(), t.lower()): (s, t) for s, t in rows}
        self._columns: dict[str, set[str]] = {}
        self._nonempty: dict[str, bool] = {}

    def table(self, name: str) -> str | None:
        """Quoted ``schema.table`` when it exists and has rows, else None."""
        schema, _, table = name.partition(".")
        found = self._relations.get((schema.lower(), table.lower()))
        if found is None:
            return None
        quoted = f'"{found[0]}"."{found[1]}"'
        if quoted not in self._nonempty:
            try:
                self._nonempty[quoted] = self.con.execute(f"select 1 from {quoted} limit 1").fetchone() is not None
            except Exception:
                self._nonempty[quoted] = False
        return quoted if self._nonempty[quoted] else None

    def find(self, table: str, schemas: Iterable[str]) -> str | None:
        for schema in schemas:
            found = self.table(f"{schema}.{table}")
            if found:
                return found
        return None

    def columns(self, quoted: str) -> set[str]:
        if quoted not in self._columns:
            cursor = self.con.execute(f"select * from {quoted} limit 0")
            self._columns[quoted] = {d[0].lower() for d in cursor.description}
        return self._columns[quoted]

    def rows(self, sql: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
        cursor = self.con.execute(sql, list(params))
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=False)) for row in cursor.fetchall()]

    def scalar(self, sql: str, params: Iterable[Any] = ()) -> Any:
        row = self.con.execute(sql, list(params)).fetchone()
        return row[0] if row else None


def _col(columns: set[str], name: str, alias: str | None = None, default: str = "null") -> str:
    """``name`` if the relation has it, else ``default``; always aliased."""
    alias = alias or name
    return f'"{name}" as "{alias}"' if name.lower() in columns else f'{default} as "{alias}"'


# ============================================================================ segments
class _Segments:
    """All products, every product group, every category inside its group; stable keys."""

    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        by_group: dict[str, set[str]] = {}
        for group, category in pairs:
            by_group.setdefault(group or "unknown", set()).add(category or "unknown")
        self.items: list[dict[str, Any]] = [
            {"key": "all", "level": "all", "label": "All products", "group": None, "category": None}
        ]
        self.group_key: dict[str, str] = {}
        self.category_key: dict[tuple[str, str], str] = {}
        for gi, group in enumerate(sorted(by_group)):
            key = f"g{gi}"
            self.group_key[group] = key
            self.items.append({"key": key, "level": "group", "label": group, "group": group, "category": None})
            for ci, category in enumerate(sorted(by_group[group])):
                ckey = f"g{gi}c{ci}"
                self.category_key[(group, category)] = ckey
                self.items.append(
                    {"key": ckey, "level": "category", "label": category, "group": group, "category": category}
                )
        self.by_key = {item["key"]: item for item in self.items}

    def key_of(self, grouping_group: int, grouping_category: int, group: Any, category: Any) -> str | None:
        if grouping_group:
            return "all"
        if grouping_category:
            return self.group_key.get(group or "unknown")
        return self.category_key.get((group or "unknown", category or "unknown"))

    def keys_for_category_name(self, category: str) -> list[str]:
        return [key for (g, c), key in self.category_key.items() if c == category]

    @property
    def groups(self) -> list[str]:
        return list(self.group_key)


# ============================================================================ loading
def load_dashboard_data(warehouse_path: str | Path, top_n: int = DEFAULT_TOP_N) -> dict[str, Any]:
    """Query everything the dashboard shows. Opens the DuckDB file read-only and closes it."""
    import duckdb

    path = Path(warehouse_path)
    data: dict[str, Any] = {"errors": {}, "warehouse": str(path)}
    if not path.exists():
        data["warehouse_missing"] = True
        data["segments"] = _Segments([])
        return data
    # a lock held by a writer raises here: the batch runs its steps one after another, so that is a
    # real error, not "no data yet"
    con = duckdb.connect(str(path), read_only=True)
    try:
        _load(_Warehouse(con), data, top_n)
    except Exception as error:
        data["errors"]["warehouse"] = f"{type(error).__name__}: {error}"
    finally:
        con.close()
    data.setdefault("segments", _Segments([]))
    return data


def _safe(data: dict[str, Any], section: str, loader: Callable[[], None]) -> None:
    """Run one section's loader; a query error becomes a note instead of a crash."""
    try:
        loader()
    except Exception as error:
        data["errors"][section] = f"{type(error).__name__}: {error}"


def _load(w: _Warehouse, data: dict[str, Any], top_n: int) -> None:
    t = {
        "forecasts": w.table("marts.fct_forecasts"),
        "accuracy": w.table("marts.fct_forecast_accuracy"),
        "by_segment": w.table("marts.mart_accuracy_by_segment"),
        "performers": w.table("marts.mart_best_worst_performers"),
        "wide": w.table("marts.mart_forecast_wide"),
        "dim": w.table("marts.dim_products"),
        "quarantine": w.table("marts.mart_quarantine_summary"),
        "panel": w.table("intermediate.int_monthly_demand"),
        "profiles": w.table("intermediate.int_series_profiles"),
        "registry": w.table("marts.fct_model_registry"),
        "backtest": w.find("int_forecast_backtest", ("intermediate", "marts", "main")),
        "steps": w.table("ops.batch_step_metrics"),
        "tests": w.table("elementary.elementary_test_results"),
    }
    data["tables"] = t
    if t["forecasts"] and "is_selected" not in w.columns(t["forecasts"]):
        data["errors"]["forecasts"] = "marts.fct_forecasts has no is_selected column (old build?)"
        t["forecasts"] = None

    # ---- as-of month and run id
    as_of = None
    if t["forecasts"]:
        as_of = _as_date(w.scalar(f"select max(as_of_month) from {t['forecasts']}"))
    if as_of is None and t["panel"]:
        as_of = _as_date(w.scalar(f"select max(month) from {t['panel']}"))
    data["as_of"] = as_of
    run_id = None
    if t["wide"] and "run_id" in w.columns(t["wide"]):
        run_id = w.scalar(f"select max(run_id) from {t['wide']}")
    if run_id is None and t["forecasts"] and as_of and "run_id" in w.columns(t["forecasts"]):
        run_id = w.scalar(f"select max(run_id) from {t['forecasts']} where as_of_month = ?", [as_of])
    data["run_id"] = run_id

    # ---- product attributes: the best table available
    attrs_sql = None
    for source in ("dim", "wide", "profiles"):
        if t[source]:
            cols = w.columns(t[source])
            attrs_sql = (
                f"select product_id, {_col(cols, 'product_name', default='product_id')}, "
                f"{_col(cols, 'product_group')}, {_col(cols, 'category')}, {_col(cols, 'demand_class')}, "
                f"{_col(cols, 'lifecycle')} from {t[source]}"
            )
            break
    if attrs_sql is None and t["panel"]:
        attrs_sql = (
            f"select product_id, product_id as product_name, any_value(product_group) as product_group, "
            f"any_value(category) as category, null as demand_class, null as lifecycle "
            f"from {t['panel']} group by product_id"
        )
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
    segments = _Segments(pairs)
    data["segments"] = segments
    data["seg"] = {item["key"]: {} for item in segments.items}

    _safe(data, "kpis", lambda: _load_kpis(w, data, t, attrs_sql, as_of))
    _safe(data, "actuals", lambda: _load_actuals(w, data, t, as_of))
    _safe(data, "forecast", lambda: _load_segment_forecasts(w, data, t, attrs_sql, as_of))
    _safe(data, "accuracy", lambda: _load_accuracy_trend(w, data, t, as_of))
    _safe(data, "breakdown", lambda: _load_breakdown(w, data, t))
    _safe(data, "performers", lambda: _load_performers(w, data, t))
    _safe(data, "models", lambda: _load_models(w, data, t, as_of))
    _safe(data, "products", lambda: _load_products(w, data, t, attrs_sql, as_of, top_n))
    _safe(data, "quarantine", lambda: _load_quarantine(w, data, t))
    _safe(data, "stockouts", lambda: _load_stockouts(w, data, t, as_of))
    _safe(data, "tests", lambda: _load_tests(w, data, t))
    _safe(data, "steps", lambda: _load_steps(w, data, t))


def _load_kpis(w: _Warehouse, data: dict, t: dict, attrs_sql: str | None, as_of: dt.date | None) -> None:
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
    for row in rows:
        key = data["segments"].key_of(row["gg"], row["gc"], row["pg"], row["cat"])
        if key:
            data["seg"][key]["kpis"] = {
                k: row[k] for k in ("n_products", "n_forecast", "n_new", "n_discontinued", "n_intermittent", "n_lumpy")
            }


def _load_actuals(w: _Warehouse, data: dict, t: dict, as_of: dt.date | None) -> None:
    if not (t["panel"] and as_of):
        return
    start = add_months(as_of, -(TREND_MONTHS - 1))
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
        [start, as_of],
    )
    # demand of the months a year before the forecast months, for "x% above last year"
    for row in rows:
        key = data["segments"].key_of(row["gg"], row["gc"], row["pg"], row["cat"])
        if key:
            data["seg"][key].setdefault("actuals", []).append(
                (_as_date(row["month"]), _f(row["raw"]), _f(row["demand"]))
            )


def _load_segment_forecasts(w: _Warehouse, data: dict, t: dict, attrs_sql: str | None, as_of: dt.date | None) -> None:
    if not (t["forecasts"] and as_of):
        return
    join = f"left join ({attrs_sql}) as products on forecasts.product_id = products.product_id" if attrs_sql else ""
    group_expr = "coalesce(products.product_group, 'unknown')" if attrs_sql else "'unknown'"
    category_expr = "coalesce(products.category, 'unknown')" if attrs_sql else "'unknown'"
    rows = w.rows(
        f"""
        select grouping(pg) as gg, grouping(cat) as gc, pg, cat, horizon,
            max(forecast_month) as forecast_month,
            sum(forecast_p10) as p10, sum(forecast_p50) as p50, sum(forecast_p90) as p90,
            count(*) as n
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
    for row in rows:
        key = data["segments"].key_of(row["gg"], row["gc"], row["pg"], row["cat"])
        if key:
            data["seg"][key].setdefault("forecast", []).append(
                (_as_date(row["forecast_month"]), _f(row["p10"]), _f(row["p50"]), _f(row["p90"]))
            )


def _load_accuracy_trend(w: _Warehouse, data: dict, t: dict, as_of: dt.date | None) -> None:
    if not t["by_segment"]:
        return
    params: list[Any] = []
    where = ""
    if as_of:
        where = "and forecast_month > ?"
        params.append(add_months(as_of, -TREND_MONTHS))
    cols = w.columns(t["by_segment"])
    rows = w.rows(
        f"""
        select segment_type, segment_value, forecast_month, horizon, wape, bias,
            {_col(cols, "coverage_p10_p90")}, {_col(cols, "n_products")}, {_col(cols, "total_actual")}
        from {t["by_segment"]}
        where segment_type in ('all', 'product_group', 'category') {where}
        order by forecast_month, horizon
        """,
        params,
    )
    segments: _Segments = data["segments"]
    coverage: list[tuple] = []
    for row in rows:
        month = _as_date(row["forecast_month"])
        point = (month, _f(row["wape"]), _f(row["bias"]), row["n_products"], _f(row["total_actual"]))
        if row["segment_type"] == "all":
            keys = ["all"]
            coverage.append((month, int(row["horizon"]), _f(row["coverage_p10_p90"]), row["n_products"]))
        elif row["segment_type"] == "product_group":
            keys = [k for k in [segments.group_key.get(row["segment_value"])] if k]
        else:
            keys = segments.keys_for_category_name(row["segment_value"])
        if int(row["horizon"]) != 1:
            continue
        for key in keys:
            data["seg"][key].setdefault("accuracy", []).append(point)
    data["coverage"] = coverage


def _accuracy_window(w: _Warehouse, t: dict) -> tuple[dt.date, dt.date] | None:
    """Months the best/worst lists cover: the performers mart's window, else the last 3 evaluated."""
    if t["performers"]:
        cols = w.columns(t["performers"])
        if {"window_start_month", "window_end_month"} <= cols:
            row = w.rows(f"select min(window_start_month) as s, max(window_end_month) as e from {t['performers']}")
            if row and row[0]["s"] and row[0]["e"]:
                return _as_date(row[0]["s"]), _as_date(row[0]["e"])
    if not t["accuracy"]:
        return None
    last = _as_date(w.scalar(f"select max(forecast_month) from {t['accuracy']} where is_selected and horizon = 1"))
    return (add_months(last, -2), last) if last else None


def _load_breakdown(w: _Warehouse, data: dict, t: dict) -> None:
    if not t["accuracy"]:
        return
    window = _accuracy_window(w, t)
    data["window"] = window
    if not window:
        return
    rows = w.rows(
        f"""
        select grouping(pg) as gg, grouping(cat) as gc, pg, cat,
            count(distinct product_id) as n_products,
            sum(actual) as total_actual,
            sum(abs_error) as total_abs_error,
            sum(abs_error) / nullif(sum(abs(actual)), 0) as wape,
            sum(error) / nullif(sum(actual), 0) as bias
        from (
            select product_id, coalesce(product_group, 'unknown') as pg, coalesce(category, 'unknown') as cat,
                actual, abs_error, error
            from {t["accuracy"]}
            where is_selected and horizon = 1 and forecast_month between ? and ?
        )
        group by grouping sets ((pg), (pg, cat))
        """,
        list(window),
    )
    groups: list[dict] = []
    categories: dict[str, list[dict]] = {}
    for row in rows:
        item = {
            "name": row["cat"] if not row["gc"] else row["pg"],
            "group": row["pg"],
            "n_products": row["n_products"],
            "total_actual": _f(row["total_actual"]),
            "total_abs_error": _f(row["total_abs_error"]),
            "wape": _f(row["wape"]),
            "bias": _f(row["bias"]),
        }
        if row["gc"]:
            groups.append(item)
        else:
            categories.setdefault(row["pg"], []).append(item)
    data["breakdown"] = {"groups": groups, "categories": categories}


def _load_performers(w: _Warehouse, data: dict, t: dict) -> None:
    window = data.get("window")
    segments: _Segments = data["segments"]
    performers: dict[str, list[dict]] = {}
    use_mart = bool(t["performers"])
    if use_mart:
        for row in w.rows(
            f"""select entity_id as product_id, performance, performance_rank, total_actual, total_abs_error,
                    wape, bias
                from {t["performers"]} where entity_type = 'product'
                order by performance, performance_rank"""
        ):
            performers.setdefault("all", []).append(row)
    if t["accuracy"] and window:
        lengths = " ".join(f"when '{lvl}' then {n}" for lvl, n in PERFORMERS_PER_SIDE.items())
        all_level = "" if use_mart else "select 'all' as lvl, '' as pg_key, '' as cat_key, * from by_product union all"
        rows = w.rows(
            f"""
            with by_product as (
                select product_id,
                    coalesce(any_value(product_group), 'unknown') as pg,
                    coalesce(any_value(category), 'unknown') as cat,
                    sum(actual) as total_actual,
                    sum(abs_error) as total_abs_error,
                    sum(abs_error) / nullif(sum(abs(actual)), 0) as wape,
                    sum(error) / nullif(sum(actual), 0) as bias
                from {t["accuracy"]}
                where is_selected and horizon = 1 and forecast_month between ? and ?
                group by product_id
                having sum(actual) > 0
            ),
            levels as (
                {all_level}
                select 'group' as lvl, pg as pg_key, '' as cat_key, * from by_product
                union all
                select 'category' as lvl, pg as pg_key, cat as cat_key, * from by_product
            ),
            ranked as (
                select *,
                    row_number() over (partition by lvl, pg_key, cat_key order by wape asc, product_id) as rank_best,
                    row_number() over (partition by lvl, pg_key, cat_key order by wape desc, product_id) as rank_worst,
                    least(case lvl {lengths} end,
                          greatest(1, count(*) over (partition by lvl, pg_key, cat_key) // 2)) as list_length
                from levels
            )
            select lvl, pg_key, cat_key, product_id, total_actual, total_abs_error, wape, bias,
                case when rank_best <= list_length then 'best' else 'worst' end as performance,
                case when rank_best <= list_length then rank_best else rank_worst end as performance_rank
            from ranked
            where rank_best <= list_length or rank_worst <= list_length
            order by lvl, pg_key, cat_key, performance, performance_rank
            """,
            list(window),
        )
        for row in rows:
            if row["lvl"] == "all":
                key = "all"
            elif row["lvl"] == "group":
                key = segments.group_key.get(row["pg_key"])
            else:
                key = segments.category_key.get((row["pg_key"], row["cat_key"]))
            if key:
                performers.setdefault(key, []).append(row)
    for rows_of_key in performers.values():
        for row in rows_of_key:
            for name in ("total_actual", "total_abs_error", "wape", "bias"):
                row[name] = _f(row[name])
    data["performers"] = performers


def _load_models(w: _Warehouse, data: dict, t: dict, as_of: dt.date | None) -> None:
    models: dict[str, dict[str, Any]] = {}
    if t["forecasts"] and as_of:
        for row in w.rows(
            f"""select model_name, count(distinct product_id) as n_products from {t["forecasts"]}
                where as_of_month = ? and is_selected group by model_name order by n_products desc, model_name""",
            [as_of],
        ):
            models.setdefault(row["model_name"], {})["n_selected"] = row["n_products"]
    if t["registry"]:
        cols = w.columns(t["registry"])
        coverage = next((c for c in ("coverage_80", "coverage_p10_p90", "coverage") if c in cols), None)
        registry_as_of = _as_date(w.scalar(f"select max(as_of_month) from {t['registry']}"))
        data["registry_as_of"] = registry_as_of
        for row in w.rows(
            f"""select model_name, avg(wape) as wape, {"avg(mase)" if "mase" in cols else "null"} as mase,
                    {"avg(bias)" if "bias" in cols else "null"} as bias,
                    {f'avg("{coverage}")' if coverage else "null"} as coverage
                from {t["registry"]} where as_of_month = ? group by model_name""",
            [registry_as_of],
        ):
            models.setdefault(row["model_name"], {}).update(
                backtest_wape=_f(row["wape"]),
                backtest_mase=_f(row["mase"]),
                backtest_bias=_f(row["bias"]),
                backtest_coverage=_f(row["coverage"]),
            )
    window = data.get("window")
    if t["accuracy"] and window:
        for row in w.rows(
            f"""select model_name, sum(abs_error) / nullif(sum(abs(actual)), 0) as wape,
                    sum(error) / nullif(sum(actual), 0) as bias, count(*) as n
                from {t["accuracy"]} where horizon = 1 and forecast_month between ? and ?
                group by model_name""",
            list(window),
        ):
            models.setdefault(row["model_name"], {}).update(
                live_wape=_f(row["wape"]), live_bias=_f(row["bias"]), live_n=row["n"]
            )
    data["models"] = models


def _load_products(
    w: _Warehouse, data: dict, t: dict, attrs_sql: str | None, as_of: dt.date | None, top_n: int
) -> None:
    """Per-product series for the top ``top_n`` products by volume plus every best/worst performer."""
    ranked: list[str] = []
    if t["panel"] and as_of:
        ranked = [
            r["product_id"]
            for r in w.rows(
                f"""select product_id, sum(demand) as volume from {t["panel"]}
                where month > ? and month <= ? group by product_id
                order by volume desc nulls last, product_id limit ?""",
                [add_months(as_of, -12), as_of, int(top_n)],
            )
        ]
    elif t["wide"]:
        cols = w.columns(t["wide"])
        order = "demand_last_12m desc nulls last, " if "demand_last_12m" in cols else ""
        ranked = [
            r["product_id"]
            for r in w.rows(f"select product_id from {t['wide']} order by {order}product_id limit ?", [int(top_n)])
        ]
    elif t["forecasts"] and as_of:
        ranked = [
            r["product_id"]
            for r in w.rows(
                f"""select product_id, sum(forecast_p50) as volume from {t["forecasts"]}
                where as_of_month = ? and is_selected group by product_id
                order by volume desc nulls last, product_id limit ?""",
                [as_of, int(top_n)],
            )
        ]
    ids = list(dict.fromkeys(ranked))
    for rows in data.get("performers", {}).values():
        for row in rows:
            if row["product_id"] not in ids:
                ids.append(row["product_id"])
    data["n_products_total"] = w.scalar(f"select count(*) from ({attrs_sql})") if attrs_sql else None
    if not ids:
        return
    products: dict[str, dict[str, Any]] = {pid: {"id": pid} for pid in ids}

    if attrs_sql:
        for row in w.rows(f"select * from ({attrs_sql}) where product_id in (select unnest(?::varchar[]))", [ids]):
            products[row["product_id"]].update(
                name=row["product_name"],
                group=row["product_group"],
                category=row["category"],
                demand_class=row["demand_class"],
                lifecycle=row["lifecycle"],
            )
    if t["wide"]:
        cols = w.columns(t["wide"])
        for row in w.rows(
            f"""select product_id, {_col(cols, "selected_model")}, {_col(cols, "selection_reason")},
                    {_col(cols, "wape_last_3m")}, {_col(cols, "bias_last_3m")}, {_col(cols, "demand_last_12m")},
                    {_col(cols, "history_months")}
                from {t["wide"]} where product_id in (select unnest(?::varchar[]))""",
            [ids],
        ):
            products[row["product_id"]].update(
                model=row["selected_model"],
                reason=row["selection_reason"],
                wape3=_r(row["wape_last_3m"], 4),
                bias3=_r(row["bias_last_3m"], 4),
                volume12=_r(row["demand_last_12m"]),
                history_months=row["history_months"],
            )

    data["product_months"] = []
    if t["panel"] and as_of:
        months = [add_months(as_of, -k) for k in range(PRODUCT_MONTHS - 1, -1, -1)]
        index = {m: i for i, m in enumerate(months)}
        data["product_months"] = months
        cols = w.columns(t["panel"])
        rows = w.rows(
            f"""select product_id, month, units_net, demand, {_col(cols, "is_stockout_month", default="false")},
                    {_col(cols, "is_outlier_adjusted", default="false")}, {_col(cols, "is_imputed", default="false")},
                    {_col(cols, "stockout_days")}, {_col(cols, "units_outlier_capped")}
                from {t["panel"]}
                where month between ? and ? and product_id in (select unnest(?::varchar[]))""",
            [months[0], as_of, ids],
        )
        for row in rows:
            product = products[row["product_id"]]
            if "raw" not in product:
                product.update(
                    raw=[None] * len(months),
                    demand=[None] * len(months),
                    stockout=[],
                    outlier=[],
                    imputed=[],
                    stockout_days={},
                    capped={},
                )
            i = index.get(_as_date(row["month"]))
            if i is None:
                continue
            product["raw"][i] = _compact(row["units_net"])
            product["demand"][i] = _compact(row["demand"])
            if row["is_stockout_month"]:
                product["stockout"].append(i)
                if row["stockout_days"] is not None:
                    product["stockout_days"][str(i)] = row["stockout_days"]
            if row["is_outlier_adjusted"]:
                product["outlier"].append(i)
                if _f(row["units_outlier_capped"]) is not None:
                    product["capped"][str(i)] = _r(row["units_outlier_capped"])
            if row["is_imputed"]:
                product["imputed"].append(i)
        for product in products.values():
            if "raw" in product:
                product["volume12"] = product.get("volume12") or _r(sum(v or 0 for v in product["demand"][-12:]))

    data["forecast_months"] = [add_months(as_of, h) for h in (1, 2, 3)] if as_of else []
    if t["forecasts"] and as_of:
        for row in w.rows(
            f"""select product_id, model_name, horizon, is_selected, forecast_p10, forecast_p50, forecast_p90,
                    {_col(w.columns(t["forecasts"]), "selection_reason")}
                from {t["forecasts"]}
                where as_of_month = ? and (is_selected or model_name = 'baseline')
                    and product_id in (select unnest(?::varchar[]))
                order by product_id, horizon""",
            [as_of, ids],
        ):
            product = products[row["product_id"]]
            h = int(row["horizon"]) - 1
            if not 0 <= h < 3:
                continue
            if row["is_selected"]:
                product.setdefault("forecast", [None, None, None])[h] = [
                    _compact(row["forecast_p10"]),
                    _compact(row["forecast_p50"]),
                    _compact(row["forecast_p90"]),
                ]
                product.setdefault("model", row["model_name"])
                if not product.get("reason"):
                    product["reason"] = row["selection_reason"]
            if row["model_name"] == "baseline":
                product.setdefault("baseline", [None, None, None])[h] = _compact(row["forecast_p50"])

    # each model's error for the product: the latest run's backtest if stored, else the live track record
    if t["backtest"]:
        cols = w.columns(t["backtest"])
        latest = ""
        params: list[Any] = [ids]
        if "as_of_month" in cols:
            latest = f"and as_of_month = (select max(as_of_month) from {t['backtest']})"
        rows = w.rows(
            f"""select product_id, model_name, sum(abs(forecast - actual)) / nullif(sum(abs(actual)), 0) as wape,
                    count(*) as n
                from {t["backtest"]}
                where actual is not null and product_id in (select unnest(?::varchar[])) {latest}
                group by product_id, model_name""",
            params,
        )
        data["model_error_source"] = "backtest"
    elif t["accuracy"] and as_of:
        rows = w.rows(
            f"""select product_id, model_name, sum(abs_error) / nullif(sum(abs(actual)), 0) as wape, count(*) as n
                from {t["accuracy"]}
                where forecast_month > ? and product_id in (select unnest(?::varchar[]))
                group by product_id, model_name""",
            [add_months(as_of, -12), ids],
        )
        data["model_error_source"] = "live"
    else:
        rows = []
    for row in rows:
        products[row["product_id"]].setdefault("errors", {})[row["model_name"]] = [_r(row["wape"], 4), row["n"]]

    data["products"] = products
    data["product_order"] = ids


def _load_quarantine(w: _Warehouse, data: dict, t: dict) -> None:
    if not t["quarantine"]:
        return
    cols = w.columns(t["quarantine"])
    reason = next((c for c in ("reject_reason", "reason", "bucket") if c in cols), None)
    count = next((c for c in ("line_count", "n_lines", "lines", "quarantined_lines", "count") if c in cols), None)
    if not (reason and count):
        data["errors"]["quarantine"] = f"unexpected columns in marts.mart_quarantine_summary: {sorted(cols)}"
        return
    filters = []
    params: list[Any] = []
    if "as_of_month" in cols:
        filters.append(f"as_of_month = (select max(as_of_month) from {t['quarantine']})")
    if "line_status" in cols:
        filters.append("line_status = 'quarantined'")
    else:
        filters.append(f"\"{reason}\" is not null and \"{reason}\" not in ('accepted', 'not_yet_in_scope')")
    order = '"bucket_order", ' if "bucket_order" in cols else ""
    rows = w.rows(
        f"""select "{reason}" as reason, sum("{count}") as lines,
                {"sum(units)" if "units" in cols else "null"} as units
            from {t["quarantine"]} where {" and ".join(filters)}
            group by "{reason}"{", bucket_order" if order else ""}
            order by {order}reason""",
        params,
    )
    in_scope = None
    if "in_scope_line_count" in cols:
        in_scope = w.scalar(
            f"select max(in_scope_line_count) from {t['quarantine']} where {filters[0]}"
            if "as_of_month" in cols
            else f"select max(in_scope_line_count) from {t['quarantine']}"
        )
    as_of = _as_date(w.scalar(f"select max(as_of_month) from {t['quarantine']}")) if "as_of_month" in cols else None
    data["quarantine"] = {
        "rows": [(r["reason"], int(r["lines"] or 0), _f(r["units"])) for r in rows],
        "in_scope": in_scope,
        "as_of": as_of,
    }


def _load_stockouts(w: _Warehouse, data: dict, t: dict, as_of: dt.date | None) -> None:
    if not (t["panel"] and as_of):
        return
    cols = w.columns(t["panel"])

    def flag(name: str) -> str:
        return f"count(*) filter (where {name})" if name in cols else "null"

    rows = w.rows(
        f"""select month, count(*) as product_months,
                {flag("is_stockout_month")} as stockout, {flag("is_outlier_adjusted")} as outlier,
                {flag("is_imputed")} as imputed,
                {"sum(units_outlier_capped)" if "units_outlier_capped" in cols else "null"} as capped_units
            from {t["panel"]} where month between ? and ?
            group by month order by month""",
        [add_months(as_of, -(TREND_MONTHS - 1)), as_of],
    )
    data["stockouts"] = rows


def _load_tests(w: _Warehouse, data: dict, t: dict) -> None:
    if not t["tests"]:
        return
    table = t["tests"]
    cols = w.columns(table)
    if "status" not in cols:
        data["errors"]["tests"] = "elementary.elementary_test_results has no status column"
        return
    order = "detected_at" if "detected_at" in cols else ("created_at" if "created_at" in cols else None)
    if "invocation_id" in cols and order:
        scope = (
            f"invocation_id = (select invocation_id from {table} where invocation_id is not null "
            f"order by {order} desc nulls last limit 1)"
        )
    elif order:
        scope = f"{order} = (select max({order}) from {table})"
    else:
        scope = "true"
    name_expr = (
        ("coalesce(" + ", ".join(c for c in ("test_short_name", "test_name", "test_unique_id") if c in cols) + ")")
        if cols & {"test_short_name", "test_name", "test_unique_id"}
        else "'?'"
    )
    counts = w.rows(
        f"select lower(status) as status, count(*) as n from {table} where {scope} "
        f"group by lower(status) order by n desc"
    )
    failing = w.rows(
        f"""select {name_expr} as test, {_col(cols, "table_name")}, {_col(cols, "column_name")},
                lower(status) as status, {_col(cols, "failures")}, {_col(cols, "test_type")},
                {_col(cols, "detected_at")}
            from {table}
            where {scope} and lower(status) not in ('pass', 'passed', 'success')
            order by case lower(status) when 'error' then 0 when 'fail' then 1 else 2 end, table_name, test
            limit 50"""
    )
    detected = w.scalar(f"select max({order}) from {table} where {scope}") if order else None
    data["tests"] = {"counts": counts, "failing": failing, "detected_at": detected}


def _load_steps(w: _Warehouse, data: dict, t: dict) -> None:
    if not t["steps"]:
        return
    table = t["steps"]
    cols = w.columns(table)
    order = "started_at" if "started_at" in cols else ("loaded_at" if "loaded_at" in cols else "run_id")
    run_id = w.scalar(f"select run_id from {table} order by {order} desc nulls last limit 1")
    rows = w.rows(
        f"""select step_name, status, {_col(cols, "duration_s")}, {_col(cols, "peak_memory_mb")},
                {_col(cols, "rows", "row_count")}, {_col(cols, "rows_per_second")}, {_col(cols, "started_at")}
            from {table} where run_id = ?
            order by {"step_index, " if "step_index" in cols else ""}{order}""",
        [run_id],
    )
    data["steps"] = {"run_id": run_id, "rows": rows}


# ============================================================================ figures
def _layout(
    title: str,
    subtitle: str = "",
    *,
    yaxis: dict | None = None,
    xaxis: dict | None = None,
    height: int = PLOT_HEIGHT,
    **extra: Any,
) -> dict:
    """Common layout. ``height`` is the plot area; :func:`_figure` adds the title block (finding +
    what is plotted, wrapped here because Plotly titles do not wrap, starting below the mode bar)
    and the bottom margin for the axis title and the legend rows."""
    title_html = _wrap(title, TITLE_WIDTH)
    subtitle_html = _wrap(subtitle, SUBTITLE_WIDTH) if subtitle else ""
    title_lines = title_html.count("<br>") + 1
    subtitle_lines = subtitle_html.count("<br>") + 1 if subtitle_html else 0
    layout: dict[str, Any] = {
        "title": {
            "text": title_html,
            "x": 0.01,
            "xanchor": "left",
            "y": 1,
            "yref": "container",
            "yanchor": "top",
            "pad": {"t": 40},
            "font": {"size": 15},
        },
        "height": height,
        "margin": {"l": 70, "r": 25, "t": 54 + 19 * title_lines + 15 * subtitle_lines, "b": 40},
        "font": {"family": _FONT, "size": 12, "color": "#263238"},
        "paper_bgcolor": "#ffffff",
        "plot_bgcolor": "#ffffff",
        "hovermode": "x unified",
        "legend": {"orientation": "h", "yref": "container", "y": 0, "yanchor": "bottom", "x": 0.01},
        "xaxis": {"gridcolor": "#eceff1", "linecolor": "#b0bec5", "zeroline": False, **(xaxis or {})},
        "yaxis": {"gridcolor": "#eceff1", "linecolor": "#b0bec5", "zerolinecolor": "#cfd8dc", **(yaxis or {})},
    }
    if subtitle_html:
        layout["title"]["subtitle"] = {"text": subtitle_html, "font": {"size": 11, "color": "#607d8b"}}
    layout.update(extra)
    return layout


def _figure(traces: list[dict], layout: dict) -> dict:
    """Size the figure: plot area + title block + x-axis title + legend rows (3 entries a row)."""
    entries = 0
    if layout.get("showlegend", True):
        entries = sum(1 for t in traces if t.get("showlegend", True) is not False)
    legend_rows = math.ceil(entries / 3) if entries > 1 else 0
    bottom = 40 + (22 if (layout.get("xaxis") or {}).get("title") else 0) + 22 * legend_rows
    layout["margin"]["b"] = bottom
    layout["height"] = layout["height"] + layout["margin"]["t"] + bottom
    return {"data": traces, "layout": layout}


def _empty_figure(title: str, message: str) -> dict:
    layout = _layout(title, height=170, hovermode=False)
    layout["xaxis"] = {"visible": False}
    layout["yaxis"] = {"visible": False}
    layout["annotations"] = [
        {
            "text": message,
            "showarrow": False,
            "x": 0.5,
            "y": 0.5,
            "xref": "paper",
            "yref": "paper",
            "font": {"size": 13, "color": "#78909c"},
        }
    ]
    return {**_figure([], layout), "empty": True}


def _month_axis() -> dict:
    return {"type": "date", "tickformat": "%b %Y", "hoverformat": "%b %Y"}


def _forecast_figure(label: str, seg: dict, as_of: dt.date | None) -> dict:
    actuals = seg.get("actuals") or []
    forecast = seg.get("forecast") or []
    if not actuals and not forecast:
        return _empty_figure(
            f"{label}: no forecast or actuals yet",
            "No data yet: int_monthly_demand / fct_forecasts are missing or empty",
        )
    by_month = {m: demand for m, _, demand in actuals}
    traces: list[dict] = []
    if actuals:
        x = [m.isoformat() for m, _, _ in actuals]
        traces.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": "Raw net units",
                "x": x,
                "y": [_r(raw) for _, raw, _ in actuals],
                "line": {"color": COLORS["raw"], "width": 1.5, "dash": "dot"},
                "hovertemplate": "%{y:,.0f}",
            }
        )
        traces.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": "Actual (cleaned demand)",
                "x": x,
                "y": [_r(d) for _, _, d in actuals],
                "line": {"color": COLORS["actual"], "width": 2},
                "marker": {"size": 4},
                "hovertemplate": "%{y:,.0f}",
            }
        )
    if forecast:
        last_month, last_value = (actuals[-1][0], actuals[-1][2]) if actuals else (None, None)
        fx = ([last_month.isoformat()] if last_month else []) + [m.isoformat() for m, *_ in forecast]
        lead = [_r(last_value)] if last_month else []
        traces.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": "P10",
                "x": fx,
                "y": lead + [_r(p10) for _, p10, _, _ in forecast],
                "line": {"width": 0},
                "showlegend": False,
                "hovertemplate": "%{y:,.0f}",
            }
        )
        traces.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": "P90",
                "x": fx,
                "y": lead + [_r(p90) for _, _, _, p90 in forecast],
                "line": {"width": 0},
                "fill": "tonexty",
                "fillcolor": COLORS["band"],
                "showlegend": False,
                "hovertemplate": "%{y:,.0f}",
            }
        )
        traces.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": "Forecast P50 (P10-P90 band)",
                "x": fx,
                "y": lead + [_r(p50) for _, _, p50, _ in forecast],
                "line": {"color": COLORS["forecast"], "width": 2.5, "dash": "dash"},
                "marker": {"size": 6},
                "hovertemplate": "%{y:,.0f}",
            }
        )
        month, p10, p50, p90 = forecast[0]
        title = (
            f"{label} - next month ({_mon(month)}): {_units(p50)} units forecast (P10-P90 {_units(p10)}-{_units(p90)})"
        )
        last_year = by_month.get(add_months(month, -12)) if month else None
        if last_year and p50 is not None:
            change = p50 / last_year - 1
            direction = "above" if change >= 0 else "below"
            title += f", {abs(change):.0%} {direction} {_mon(add_months(month, -12))}"
        if len(forecast) >= 3:
            title += f"; 3 months: {_units(sum(p or 0 for _, _, p, _ in forecast))} units"
    else:
        title = f"{label}: no forecast yet; {_mon(actuals[-1][0])} demand {_units(actuals[-1][2])} units"
    subtitle = f"Cleaned demand and raw net units, last {len(actuals)} months" if actuals else "No actuals yet"
    if forecast:
        subtitle += (
            "; selected forecast P50 with the sum of the products' P10 and P90 (wider than the band of the total)"
        )
    return _figure(
        traces,
        _layout(
            title,
            subtitle,
            xaxis=_month_axis(),
            yaxis={"title": {"text": "units / month"}, "rangemode": "tozero", "tickformat": ",.0f"},
        ),
    )


def _accuracy_figure(label: str, seg: dict) -> dict:
    points = [p for p in (seg.get("accuracy") or []) if p[1] is not None or p[2] is not None]
    if not points:
        return _empty_figure(
            f"{label}: no accuracy yet",
            "No data yet: mart_accuracy_by_segment is missing or no forecast has an actual yet",
        )
    x = [p[0].isoformat() for p in points]
    wape = [_r(p[1], 4) for p in points]
    bias = [_r(p[2], 4) for p in points]
    last = points[-1]
    traces = [
        {
            "type": "bar",
            "name": "Bias (+ = over-forecast)",
            "x": x,
            "y": bias,
            "marker": {"color": [COLORS["over"] if (b or 0) >= 0 else COLORS["under"] for b in bias]},
            "hovertemplate": "%{y:+.1%}",
        },
        {
            "type": "scatter",
            "mode": "lines+markers",
            "name": "WAPE",
            "x": x,
            "y": wape,
            "line": {"color": COLORS["wape"], "width": 2},
            "marker": {"size": 5},
            "hovertemplate": "%{y:.1%}",
        },
        {
            "type": "scatter",
            "mode": "markers",
            "name": f"Last month ({_mon(last[0])})",
            "x": [x[-1]],
            "y": [wape[-1]],
            "marker": {"size": 14, "color": COLORS["highlight"], "symbol": "circle-open", "line": {"width": 3}},
            "hoverinfo": "skip",
        },
    ]
    recent = [p[1] for p in points[-12:] if p[1] is not None]
    avg = sum(recent) / len(recent) if recent else None
    bias_word = ""
    if last[2] is not None:
        bias_word = " (over-forecast)" if last[2] > 0.005 else (" (under-forecast)" if last[2] < -0.005 else "")
    title = f"{label} - {_mon(last[0])}: WAPE {_pct(last[1])}"
    if avg is not None and len(recent) > 1:
        title += f" ({len(recent)}-month average {_pct(avg)})"
    title += f", bias {_pct(last[2], signed=True)}{bias_word}"
    layout = _layout(
        title,
        "Selected forecasts 1 month ahead: WAPE = sum|error| / sum actual; bias = sum error / sum actual",
        xaxis=_month_axis(),
        yaxis={"title": {"text": "% of actual demand"}, "tickformat": ".0%"},
        barmode="overlay",
    )
    layout["annotations"] = [
        {
            "x": x[-1],
            "y": wape[-1],
            "text": f"WAPE {_pct(last[1])}",
            "showarrow": True,
            "arrowhead": 0,
            "ax": -40,
            "ay": -30,
            "font": {"color": COLORS["highlight"]},
        }
    ]
    return _figure(traces, layout)


def _coverage_figure(coverage: list[tuple]) -> dict:
    points = [c for c in coverage if c[2] is not None]
    if not points:
        return _empty_figure(
            "Interval coverage: no data yet",
            "No data yet: mart_accuracy_by_segment is missing or has no evaluated forecast",
        )
    traces = []
    dashes = {1: "solid", 2: "dash", 3: "dot"}
    for horizon in sorted({c[1] for c in points}):
        series = [c for c in points if c[1] == horizon]
        traces.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": f"{horizon} month{'s' if horizon > 1 else ''} ahead",
                "x": [c[0].isoformat() for c in series],
                "y": [_r(c[2], 4) for c in series],
                "line": {
                    "color": "#455a64",
                    "width": 2.5 if horizon == 1 else 1.5,
                    "dash": dashes.get(horizon, "dashdot"),
                },
                "hovertemplate": "%{y:.0%}",
            }
        )
    h1 = [c for c in points if c[1] == 1] or points
    month, _, value, _ = h1[-1]
    verdict = ""
    if value is not None:
        if value < COVERAGE_TARGET - 0.1:
            verdict = " - bands too narrow"
        elif value > COVERAGE_TARGET + 0.1:
            verdict = " - bands wider than needed"
        else:
            verdict = " - on target"
    title = (
        f"{_mon(month)}: the P10-P90 band held {_pct(value)} of actuals 1 month ahead "
        f"(target {_pct(COVERAGE_TARGET)}){verdict}"
    )
    layout = _layout(
        title,
        "Share of products whose actual fell inside the selected forecast's P10-P90 band",
        xaxis=_month_axis(),
        yaxis={"title": {"text": "actuals inside band (%)"}, "tickformat": ".0%", "range": [0, 1.05]},
    )
    layout["shapes"] = [
        {
            "type": "line",
            "xref": "paper",
            "x0": 0,
            "x1": 1,
            "y0": COVERAGE_TARGET,
            "y1": COVERAGE_TARGET,
            "line": {"color": COLORS["target"], "dash": "dash", "width": 1.5},
        }
    ]
    layout["annotations"] = [
        {
            "xref": "paper",
            "x": 1,
            "y": COVERAGE_TARGET,
            "xanchor": "right",
            "yanchor": "bottom",
            "text": "target 80%",
            "showarrow": False,
            "font": {"color": COLORS["target"]},
        }
    ]
    return _figure(traces, layout)


def _rank_colors(items: list[dict]) -> list[str]:
    """Best / worst / neutral by WAPE, with the performers mart's rule: at most 10 each way, never
    more than half."""
    n = len(items)
    side = min(10, max(1, n // 2)) if n > 1 else 0
    order = sorted(range(n), key=lambda i: (items[i]["wape"] is None, items[i]["wape"] or 0, items[i]["name"]))
    colors = [COLORS["neutral"]] * n
    for rank, i in enumerate(order):
        if rank < side:
            colors[i] = COLORS["best"]
        elif rank >= n - side:
            colors[i] = COLORS["worst"]
    return colors


def _breakdown_figure(segment: dict, breakdown: dict | None, window: tuple | None) -> dict:
    level = segment["level"]
    if level == "all":
        items = list((breakdown or {}).get("groups", []))
        what, where = "group", ""
    else:
        items = list((breakdown or {}).get("categories", {}).get(segment["group"], []))
        what, where = "category", f" in {segment['group']}"
    items = [i for i in items if i["wape"] is not None]
    title_stub = f"Accuracy by {what}{where}"
    if not items:
        return _empty_figure(
            f"{title_stub}: no data yet", "No data yet: fct_forecast_accuracy is missing or has no evaluated forecast"
        )
    items.sort(key=lambda i: (i["wape"], i["name"]))
    colors = _rank_colors(items)
    line_widths = [3 if (level == "category" and i["name"] == segment["category"]) else 0 for i in items]
    trace = {
        "type": "bar",
        "orientation": "h",
        "name": "WAPE",
        "y": [i["name"] for i in items],
        "x": [_r(i["wape"], 4) for i in items],
        "marker": {"color": colors, "line": {"color": "#000000", "width": line_widths}},
        "text": [f"{_pct(i['wape'])} (bias {_pct(i['bias'], signed=True)})" for i in items],
        "textposition": "auto",
        "customdata": [[i["n_products"], _r(i["total_actual"]), _r(i["bias"], 4)] for i in items],
        "hovertemplate": (
            "%{y}: WAPE %{x:.1%}, bias %{customdata[2]:+.1%}<br>"
            "%{customdata[0]} products, %{customdata[1]:,.0f} units actual<extra></extra>"
        ),
    }
    best, worst = items[0], items[-1]
    if level == "category":
        selected = next((i for i in items if i["name"] == segment["category"]), None)
        if selected:
            rank = items.index(selected) + 1
            title = (
                f"{segment['category']}: WAPE {_pct(selected['wape'])}, rank {rank} of {len(items)} "
                f"categories in {segment['group']} (best {best['name']} {_pct(best['wape'])})"
            )
        else:
            title = f"{segment['category']}: no evaluated forecasts; best in {segment['group']}: {best['name']}"
    elif len(items) == 1:
        title = f"{title_stub}: only {best['name']} evaluated, WAPE {_pct(best['wape'])}"
    else:
        title = (
            f"Best {what}{where}: {best['name']} (WAPE {_pct(best['wape'])}); "
            f"worst: {worst['name']} (WAPE {_pct(worst['wape'])})"
        )
    period = f"{_mon(window[0])}-{_mon(window[1])}" if window else "last 3 months"
    layout = _layout(
        title,
        f"WAPE of the selected forecasts 1 month ahead, {period}; green = best, red = worst",
        height=max(120, 28 * len(items)),
        xaxis={"title": {"text": "WAPE (% of actual demand)"}, "tickformat": ".0%", "rangemode": "tozero"},
        yaxis={"autorange": "reversed", "automargin": True},
        hovermode="closest",
        showlegend=False,
    )
    return _figure([trace], layout)


def _performers_figure(segment: dict, rows: list[dict], products: dict, window: tuple | None) -> dict:
    label = segment["label"]
    if not rows:
        return _empty_figure(
            f"{label}: no best/worst products yet",
            "No data yet: no product with demand has an evaluated forecast in the window",
        )
    best = sorted((r for r in rows if r["performance"] == "best"), key=lambda r: r["performance_rank"])
    worst = sorted((r for r in rows if r["performance"] == "worst"), key=lambda r: -r["performance_rank"])
    ordered = best + worst

    def name(pid: str) -> str:
        product_name = (products.get(pid) or {}).get("name")
        text = f"{pid} {product_name}" if product_name and product_name != pid else pid
        return text if len(text) <= 34 else text[:33] + "..."

    trace = {
        "type": "bar",
        "orientation": "h",
        "name": "WAPE",
        "y": [name(r["product_id"]) for r in ordered],
        "x": [_r(r["wape"], 4) for r in ordered],
        "marker": {"color": [COLORS["best"] if r["performance"] == "best" else COLORS["worst"] for r in ordered]},
        "text": [f"{_pct(r['wape'])}" for r in ordered],
        "textposition": "auto",
        "customdata": [
            [r["product_id"], _r(r["total_actual"]), _r(r["total_abs_error"]), _r(r["bias"], 4), r["performance"]]
            for r in ordered
        ],
        "hovertemplate": (
            "%{customdata[0]} (%{customdata[4]}): WAPE %{x:.1%}, bias %{customdata[3]:+.1%}<br>"
            "actual %{customdata[1]:,.0f} units, abs. error %{customdata[2]:,.0f} units"
            "<br>click to open the product<extra></extra>"
        ),
    }
    parts = []
    if best:
        parts.append(f"best product {best[0]['product_id']} (WAPE {_pct(best[0]['wape'])})")
    if worst:
        parts.append(f"worst {worst[-1]['product_id']} (WAPE {_pct(worst[-1]['wape'])})")
    title = f"{label}: " + "; ".join(parts)
    period = f"{_mon(window[0])}-{_mon(window[1])}" if window else "last 3 months"
    layout = _layout(
        title,
        f"WAPE of the selected 1-month-ahead forecasts, {period}, products with demand; "
        "green = best, red = worst; click a bar to open the product",
        height=max(120, 24 * len(ordered)),
        xaxis={"title": {"text": "WAPE (% of actual demand)"}, "tickformat": ".0%", "rangemode": "tozero"},
        yaxis={"autorange": "reversed", "automargin": True},
        hovermode="closest",
        showlegend=False,
    )
    return _figure([trace], layout)


def _model_mix_figure(models: dict) -> dict:
    chosen = [(m, v["n_selected"]) for m, v in models.items() if v.get("n_selected")]
    if not chosen:
        return _empty_figure("Selected models: no data yet", "No data yet: fct_forecasts is missing or empty")
    chosen.sort(key=lambda mv: (-mv[1], mv[0]))
    total = sum(n for _, n in chosen)
    top, top_n = chosen[0]
    title = f"{top} forecasts {top_n / total:.0%} of products ({top_n:,} of {total:,}); {len(chosen)} models in use"
    trace = {
        "type": "bar",
        "x": [m for m, _ in chosen],
        "y": [n for _, n in chosen],
        "marker": {"color": [_model_color(m) for m, _ in chosen]},
        "text": [f"{n / total:.0%}" for _, n in chosen],
        "textposition": "auto",
        "hovertemplate": "%{x}: %{y:,} products<extra></extra>",
    }
    layout = _layout(
        title,
        "Products per selected model in the latest run",
        showlegend=False,
        hovermode="closest",
        yaxis={"title": {"text": "products"}, "tickformat": ",d"},
    )
    return _figure([trace], layout)


def _model_accuracy_figure(models: dict, registry_as_of: dt.date | None, window: tuple | None) -> dict:
    names = [m for m, v in models.items() if v.get("backtest_wape") is not None or v.get("live_wape") is not None]
    if not names:
        return _empty_figure(
            "Model accuracy: no data yet",
            "No data yet: fct_model_registry and fct_forecast_accuracy are missing or empty",
        )
    key = "backtest_wape" if any(models[m].get("backtest_wape") is not None for m in names) else "live_wape"
    names.sort(key=lambda m: (models[m].get(key) is None, models[m].get(key) or 0, m))
    traces = []
    if key == "backtest_wape":
        traces.append(
            {
                "type": "bar",
                "name": f"Backtest WAPE ({_mon(registry_as_of)} run)",
                "x": names,
                "y": [_r(models[m].get("backtest_wape"), 4) for m in names],
                "marker": {"color": [_model_color(m) for m in names]},
                "customdata": [
                    [_r(models[m].get("backtest_bias"), 4), _r(models[m].get("backtest_coverage"), 4)] for m in names
                ],
                "hovertemplate": "%{x}: backtest WAPE %{y:.1%}, bias %{customdata[0]:+.1%}, "
                "coverage %{customdata[1]:.0%}<extra></extra>",
            }
        )
    if any(models[m].get("live_wape") is not None for m in names):
        traces.append(
            {
                "type": "bar",
                "name": "Live WAPE, 1 month ahead (hatched)",
                "x": names,
                "y": [_r(models[m].get("live_wape"), 4) for m in names],
                "marker": {
                    "color": [_model_color(m) for m in names],
                    "opacity": 0.55,
                    "pattern": {"shape": "/", "fgcolor": "#ffffff"},
                },
                "hovertemplate": "%{x}: live WAPE %{y:.1%}<extra></extra>",
            }
        )
    best = names[0]
    label = "backtest" if key == "backtest_wape" else "live"
    title = f"Most accurate model ({label}): {best}, WAPE {_pct(models[best].get(key))}"
    if "baseline" in models and models["baseline"].get(key) is not None and best != "baseline":
        base = models["baseline"][key]
        title += f" vs baseline {_pct(base)}"
    period = f"{_mon(window[0])}-{_mon(window[1])}" if window else "recent months"
    layout = _layout(
        title,
        f"Solid: backtest of the latest run (fct_model_registry); hatched: live accuracy of all "
        f"models' forecasts, {period}",
        barmode="group",
        hovermode="closest",
        yaxis={"title": {"text": "WAPE (% of actual demand)"}, "tickformat": ".0%"},
    )
    return _figure(traces, layout)


def _quarantine_figure(quarantine: dict | None) -> dict:
    if not quarantine or not quarantine["rows"]:
        return _empty_figure(
            "Quarantined sales lines: no data yet", "No data yet: marts.mart_quarantine_summary is missing or empty"
        )
    rows = sorted(quarantine["rows"], key=lambda r: (-r[1], r[0]))
    total = sum(r[1] for r in rows)
    as_of = quarantine.get("as_of")
    when = f" in the {_mon(as_of)} batch" if as_of else ""
    if total == 0:
        title = f"No sales lines quarantined{when}"
    else:
        share = ""
        if quarantine.get("in_scope"):
            share = f" ({total / quarantine['in_scope']:.2%} of {int(quarantine['in_scope']):,} in-scope lines)"
        title = f"{total:,} sales lines quarantined{when}{share}; most: {rows[0][0]} ({rows[0][1]:,})"
    trace = {
        "type": "bar",
        "orientation": "h",
        "y": [r[0] for r in rows],
        "x": [r[1] for r in rows],
        "marker": {"color": ["#c62828" if r[1] else "#cfd8dc" for r in rows]},
        "text": [f"{r[1]:,}" for r in rows],
        "textposition": "auto",
        "customdata": [[_r(r[2])] for r in rows],
        "hovertemplate": "%{y}: %{x:,} lines, %{customdata[0]:,.0f} units<extra></extra>",
    }
    layout = _layout(
        title,
        "Sales lines kept out of the demand by reject reason (first matching reason)",
        height=max(120, 26 * len(rows)),
        hovermode="closest",
        showlegend=False,
        xaxis={"title": {"text": "sales lines"}, "tickformat": ",d", "rangemode": "tozero"},
        yaxis={"autorange": "reversed", "automargin": True},
    )
    return _figure([trace], layout)


def _stockout_figure(rows: list[dict] | None) -> dict:
    if not rows:
        return _empty_figure(
            "Stock-outs and outliers: no data yet", "No data yet: intermediate.int_monthly_demand is missing or empty"
        )
    x = [_as_date(r["month"]).isoformat() for r in rows]
    traces = []
    for column, name, color in (
        ("stockout", "Stock-out months", COLORS["stockout"]),
        ("outlier", "Months with outliers capped", COLORS["outlier"]),
        ("imputed", "Months imputed", COLORS["imputed"]),
    ):
        if any(r[column] is not None for r in rows):
            traces.append(
                {
                    "type": "bar",
                    "name": name,
                    "x": x,
                    "y": [r[column] for r in rows],
                    "marker": {"color": color},
                    "hovertemplate": "%{y:,}",
                }
            )
    last12 = rows[-12:]
    stockouts = sum(r["stockout"] or 0 for r in last12)
    outliers = sum(r["outlier"] or 0 for r in last12)
    product_months = sum(r["product_months"] or 0 for r in last12)
    capped = sum(_f(r["capped_units"]) or 0 for r in last12)
    title = (
        (
            f"Last {len(last12)} months: {stockouts:,} stock-out product-months "
            f"({stockouts / product_months:.1%} of {product_months:,}) and {outliers:,} with outliers capped "
            f"({_units(capped)} units removed)"
        )
        if product_months
        else "Stock-outs and outliers"
    )
    layout = _layout(
        title,
        "Product-months flagged by the cleaning: stock-out months get imputed demand, outlier days are capped",
        xaxis=_month_axis(),
        barmode="group",
        yaxis={"title": {"text": "product-months"}, "tickformat": ",d"},
    )
    return _figure(traces, layout)


def build_figures(data: dict[str, Any]) -> dict[str, Any]:
    """Every figure of the page: ``static`` (overview, data health) and ``segments`` (one set per
    selector entry). Each figure is a plain ``{"data": [...], "layout": {...}}`` dict."""
    segments: _Segments = data["segments"]
    as_of = data.get("as_of")
    window = data.get("window")
    seg_data = data.get("seg", {})
    static = {
        "ov-forecast": _forecast_figure("All products", seg_data.get("all", {}), as_of),
        "ov-accuracy": _accuracy_figure("All products", seg_data.get("all", {})),
        "ov-coverage": _coverage_figure(data.get("coverage") or []),
        "ov-models": _model_mix_figure(data.get("models") or {}),
        "ov-model-accuracy": _model_accuracy_figure(data.get("models") or {}, data.get("registry_as_of"), window),
        "dh-quarantine": _quarantine_figure(data.get("quarantine")),
        "dh-stockouts": _stockout_figure(data.get("stockouts")),
    }
    per_segment: dict[str, dict[str, Any]] = {}
    products = data.get("products") or {}
    for item in segments.items:
        seg = seg_data.get(item["key"], {})
        label = item["label"] if item["level"] != "category" else f"{item['group']} / {item['label']}"
        per_segment[item["key"]] = {
            "seg-forecast": _forecast_figure(label, seg, as_of),
            "seg-accuracy": _accuracy_figure(label, seg),
            "seg-breakdown": _breakdown_figure(item, data.get("breakdown"), window),
            "seg-performers": _performers_figure(
                {**item, "label": label}, (data.get("performers") or {}).get(item["key"], []), products, window
            ),
        }
    return {"static": static, "segments": per_segment}


# ============================================================================ HTML
_CSS = resources.files(__package__).joinpath("assets/dashboard.css").read_text(encoding="utf-8")
_JS = resources.files(__package__).joinpath("assets/dashboard.js").read_text(encoding="utf-8")


def _no_data(message: str, warn: bool = False) -> str:
    return f'<div class="no-data{" warn" if warn else ""}">{html.escape(message)}</div>'


def _kpi_cards(kpis: dict | None) -> str:
    if not kpis:
        return _no_data("No data yet: marts.dim_products is missing or empty, so there are no product counts.")
    cards = [
        ("Products", kpis.get("n_products")),
        ("With a forecast", kpis.get("n_forecast")),
        ("New", kpis.get("n_new")),
        ("Discontinued", kpis.get("n_discontinued")),
        ("Intermittent", kpis.get("n_intermittent")),
        ("Lumpy", kpis.get("n_lumpy")),
    ]
    return "".join(
        f'<div class="kpi"><div class="value">{int(v):,}</div><div class="label">{html.escape(k)}</div></div>'
        for k, v in cards
        if v is not None
    )


def _tests_html(tests: dict | None) -> str:
    if not tests:
        return _no_data(
            "No data yet: elementary.elementary_test_results is missing or empty "
            "(dbt has not run the tests with the Elementary package yet)."
        )
    counts = tests["counts"]
    total = sum(c["n"] for c in counts)
    detected = tests.get("detected_at")
    when = f" ({_as_date(detected).isoformat()})" if detected else ""
    chips = "".join(
        f'<div class="kpi"><div class="value status-{html.escape(str(c["status"]).replace(" ", "_"))}">'
        f'{c["n"]:,}</div><div class="label">{html.escape(str(c["status"]))}</div></div>'
        for c in counts
    )
    bad = [c for c in counts if c["status"] not in ("pass", "passed", "success")]
    headline = (
        f"Last dbt run{when}: {total:,} tests, all passed"
        if not bad
        else f"Last dbt run{when}: {total:,} tests, " + ", ".join(f"{c['n']:,} {c['status']}" for c in bad)
    )
    out = [f'<h3 id="tests-headline">{html.escape(headline)}</h3>', f'<div class="kpis">{chips}</div>']
    if tests["failing"]:
        rows = "".join(
            f'<tr><td class="status-{html.escape(str(r["status"]).replace(" ", "_"))}">'
            f"{html.escape(str(r['status']))}</td>"
            f"<td>{html.escape(str(r['test']))}</td><td>{html.escape(str(r['table_name'] or ''))}</td>"
            f"<td>{html.escape(str(r['column_name'] or ''))}</td>"
            f'<td class="num">{_count(r["failures"])}</td></tr>'
            for r in tests["failing"]
        )
        out.append(
            '<table class="list" id="failing-tests"><thead><tr><th>status</th><th>test</th><th>table</th>'
            f"<th>column</th><th>failures</th></tr></thead><tbody>{rows}</tbody></table>"
        )
    return "".join(out)


def _steps_html(steps: dict | None) -> str:
    if not steps or not steps["rows"]:
        return _no_data("No data yet: ops.batch_step_metrics is missing or empty (no batch run recorded).")
    rows = steps["rows"]
    total = sum(_f(r["duration_s"]) or 0 for r in rows)
    failed = [r for r in rows if r["status"] not in ("ok", "success")]
    slowest = max(rows, key=lambda r: _f(r["duration_s"]) or 0)
    headline = (
        f"Last batch run {steps['run_id']}: {len(rows)} steps in {total / 60:.1f} min"
        + (f", {len(failed)} not ok" if failed else ", all ok")
        + f"; slowest: {slowest['step_name']} ({_f(slowest['duration_s']) or 0:,.0f} s)"
    )

    def num(value: Any, pattern: str) -> str:
        number = _f(value)
        return "" if number is None else pattern.format(number)

    body = "".join(
        f"<tr><td>{html.escape(str(r['step_name']))}</td>"
        f'<td class="status-{"pass" if r["status"] in ("ok", "success") else "fail"}">'
        f"{html.escape(str(r['status']))}</td>"
        f'<td class="num">{num(r["duration_s"], "{:,.1f}")}</td>'
        f'<td class="num">{num(r["peak_memory_mb"], "{:,.0f}")}</td>'
        f'<td class="num">{num(r["row_count"], "{:,.0f}")}</td>'
        f'<td class="num">{num(r["rows_per_second"], "{:,.0f}")}</td></tr>'
        for r in rows
    )
    return (
        f'<h3>{html.escape(headline)}</h3><table class="list"><thead><tr><th>step</th><th>status</th>'
        f"<th>duration (s)</th><th>peak memory (MB)</th><th>rows</th><th>rows/s</th></tr></thead>"
        f"<tbody>{body}</tbody></table>"
    )


def _chart(div_id: str) -> str:
    return f'<div class="chart" id="{div_id}"></div>'


def render_html(
    data: dict[str, Any],
    figures: dict[str, Any],
    *,
    elementary_report: str = "elementary_report.html",
    elementary_exists: bool | None = None,
    top_n: int = DEFAULT_TOP_N,
    generated_at: dt.datetime | None = None,
) -> str:
    """The page: CSS, plotly.js (once), the data as JSON, our script."""
    from plotly.offline import get_plotlyjs

    segments: _Segments = data["segments"]
    as_of = data.get("as_of")
    generated_at = generated_at or dt.datetime.now(dt.timezone.utc)
    seg_data = data.get("seg", {})
    tables = data.get("tables") or {}
    products = data.get("products") or {}
    order = data.get("product_order") or []
    errors = data.get("errors") or {}

    def warn_for(*sections: str) -> str:
        return "".join(_no_data(f"Could not read {s}: {errors[s]}", warn=True) for s in sections if s in errors)

    esc = html.escape
    payload = {
        "figures": figures,
        "segment_kpis": {k: v.get("kpis") for k, v in seg_data.items()},
        "segment_labels": {
            item["key"]: (item["label"] if item["level"] != "category" else f"{item['group']} / {item['label']}")
            for item in segments.items
        },
        "products": {pid: products[pid] for pid in order},
        "product_order": order,
        "product_months": [m.isoformat() for m in data.get("product_months") or []],
        "forecast_months": [m.isoformat() for m in data.get("forecast_months") or []],
        "model_error_source": data.get("model_error_source"),
        "model_colors": {**MODEL_COLORS, **{m: _model_color(m) for m in (data.get("models") or {})}},
        "colors": COLORS,
        "font": _FONT,
        "title_width": TITLE_WIDTH,
        "plot_height": PLOT_HEIGHT,
        "subtitle_width": SUBTITLE_WIDTH,
        "top_n": top_n,
    }
    payload_json = json.dumps(_jsonable(payload), separators=(",", ":"), allow_nan=False)
    payload_json = payload_json.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")

    # ---- selector
    options = ['<option value="all">All products</option>']
    if segments.groups:
        options.append('<optgroup label="Product groups">')
        options += [f'<option value="{segments.group_key[g]}">{esc(g)}</option>' for g in segments.groups]
        options.append("</optgroup>")
        for group in segments.groups:
            cats = [i for i in segments.items if i["level"] == "category" and i["group"] == group]
            options.append(f'<optgroup label="Categories in {esc(group)}">')
            options += [f'<option value="{i["key"]}">{esc(group)} / {esc(i["label"])}</option>' for i in cats]
            options.append("</optgroup>")

    # ---- notes per section
    overview_notes = []
    if data.get("warehouse_missing"):
        overview_notes.append(
            _no_data(
                f"No data yet: the warehouse {data['warehouse']} does not exist. Run the monthly batch first.",
                warn=True,
            )
        )
    elif not tables.get("forecasts"):
        overview_notes.append(
            _no_data(
                "No data yet: marts.fct_forecasts is missing or empty - no forecast has been "
                "made (first run, or the forecast step failed)."
            )
        )
    overview_notes.append(warn_for("warehouse", "forecasts", "kpis", "actuals", "forecast", "accuracy", "models"))

    n_total = data.get("n_products_total")
    product_note = (
        f"{len(order):,} of {int(n_total):,} products embedded: the top {top_n:,} by cleaned demand "
        f"over the last 12 months plus the best and worst performers. Type an id or a name."
        if n_total
        else f"{len(order):,} products embedded."
    )
    datalist = "".join(
        f'<option value="{esc(pid)}">{esc(str(products[pid].get("name") or pid))} - '
        f"{esc(str(products[pid].get('group') or ''))}</option>"
        for pid in order
    )
    if order:
        product_body = f"""
      <div class="controls">
        <label for="product-search">Product</label>
        <input id="product-search" list="product-list" placeholder="type a product id or name" autocomplete="off">
        <datalist id="product-list">{datalist}</datalist>
        <span style="font-size:12px;color:#607d8b">{esc(product_note)}</span>
      </div>
      <div id="product-message" class="no-data" style="display:none"></div>
      <div class="product-info" id="product-info"></div>
      <div class="grid">{_chart("prod-history")}{_chart("prod-models")}</div>"""
    else:
        product_body = _no_data(
            "No data yet: no product has monthly demand or a forecast "
            "(intermediate.int_monthly_demand and marts.fct_forecasts are missing or empty)."
        )

    report_exists_note = ""
    if elementary_exists is False:
        report_exists_note = " (not generated yet: the batch writes it with <code>edr report</code>)"
    run_id = data.get("run_id") or "n/a"
    footer = (
        f'As of <span id="footer-as-of">{esc(_mon(as_of))}</span> &middot; run <span id="footer-run-id">'
        f"{esc(str(run_id))}</span> &middot; generated {esc(generated_at.strftime('%Y-%m-%d %H:%M UTC'))} "
        f"&middot; warehouse {esc(Path(data.get('warehouse', '')).name)} &middot; "
        f"{len(order):,} products embedded"
    )

    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Demand forecast - {esc(_mon(as_of))}</title>
<style>{_CSS.replace("FONT", _FONT)}</style>
<script type="text/javascript">{get_plotlyjs()}</script>
</head>
<body>
<header>
  <h1>Demand forecast for purchasing</h1>
  <nav><a href="#overview">Overview</a><a href="#groups">Groups &amp; categories</a><a href="#product">Product</a>
  <a href="#health">Data health</a></nav>
  <div class="asof">as of {esc(_mon(as_of))}</div>
</header>
<main>
  <section id="overview">
    <h2>Overview</h2>
    <p class="lead">All products: the next three months against the last {TREND_MONTHS} months, and how accurate the
    forecasts handed to purchasing have been.</p>
    {"".join(overview_notes)}
    <div class="kpis" id="overview-kpis">{_kpi_cards(seg_data.get("all", {}).get("kpis"))}</div>
    <div class="grid">{_chart("ov-forecast")}{_chart("ov-accuracy")}{_chart("ov-coverage")}{_chart("ov-models")}
    {_chart("ov-model-accuracy")}</div>
  </section>

  <section id="groups">
    <h2>By product group and category: <span id="segment-current">All products</span></h2>
    <p class="lead">The selector switches every chart and count of this section.</p>
    {warn_for("breakdown", "performers")}
    <div class="controls">
      <label for="segment-select">Group or category</label>
      <select id="segment-select">{"".join(options)}</select>
    </div>
    <div class="kpis" id="seg-kpis"></div>
    <div class="grid">{_chart("seg-forecast")}{_chart("seg-accuracy")}{_chart("seg-breakdown")}
    {_chart("seg-performers")}</div>
  </section>

  <section id="product">
    <h2>One product</h2>
    <p class="lead">Monthly history (raw and cleaned, stock-out and outlier months marked), the forecast handed to
    purchasing and how its model compares with the baseline.</p>
    {warn_for("products")}
    {product_body}
  </section>

  <section id="health">
    <h2>Data health</h2>
    <p class="lead">What the cleaning kept out or repaired, and the data tests of the last run. Details:
    <a id="elementary-link" href="{esc(elementary_report)}">Elementary report</a>{report_exists_note}.</p>
    {warn_for("quarantine", "stockouts", "tests", "steps")}
    <div class="grid">{_chart("dh-quarantine")}{_chart("dh-stockouts")}</div>
    <div class="grid" style="margin-top:14px">
      <div id="dh-tests">{_tests_html(data.get("tests"))}</div>
      <div id="dh-steps">{_steps_html(data.get("steps"))}</div>
    </div>
  </section>
</main>
<footer id="footer">{footer}</footer>
<script type="application/json" id="dashboard-data">{payload_json}</script>
<script type="text/javascript">{_JS}</script>
</body>
</html>
"""


# ============================================================================ entry points
def build_dashboard(
    warehouse_path: str | Path,
    out_path: str | Path,
    *,
    elementary_report: str = "elementary_report.html",
    top_n: int = DEFAULT_TOP_N,
    generated_at: dt.datetime | None = None,
) -> dict[str, Any]:
    """Build the dashboard HTML from the warehouse; returns counts for the batch log.

    ``rows`` is the number of products embedded (the batch runner logs an int as rows).
    """
    started = time.perf_counter()
    data = load_dashboard_data(warehouse_path, top_n=top_n)
    figures = build_figures(data)
    out = Path(out_path)
    report_path = Path(elementary_report)
    if not report_path.is_absolute():
        report_path = out.parent / report_path
    text = render_html(
        data,
        figures,
        elementary_report=elementary_report,
        elementary_exists=report_path.exists(),
        top_n=top_n,
        generated_at=generated_at,
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(out)
    empty = sorted(k for k, fig in figures["static"].items() if fig.get("empty"))
    return {
        "path": str(out),
        "bytes": out.stat().st_size,
        "rows": len(data.get("product_order") or []),
        "products_embedded": len(data.get("product_order") or []),
        "products_total": data.get("n_products_total"),
        "segments": len(data["segments"].items),
        "as_of_month": data["as_of"].isoformat() if data.get("as_of") else None,
        "run_id": data.get("run_id"),
        "empty_charts": empty,
        "errors": dict(data.get("errors") or {}),
        "seconds": round(time.perf_counter() - started, 2),
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``demand-forecast dashboard`` (also ``python -m demand_forecast.dashboard``)."""
    parser.add_argument("--warehouse", required=True, help="DuckDB file (opened read-only)")
    parser.add_argument("--out", required=True, help="HTML file to write")
    parser.add_argument(
        "--elementary-report",
        default="elementary_report.html",
        help="link to the Elementary report, relative to the dashboard (default %(default)s)",
    )
    parser.add_argument(
        "--top-n",
        type=int,
        default=DEFAULT_TOP_N,
        help="products with embedded series, by 12-month volume (default %(default)s)",
    )


def run(args: argparse.Namespace) -> int:
    stats = build_dashboard(args.warehouse, args.out, elementary_report=args.elementary_report, top_n=args.top_n)
    print(
        f"dashboard: {stats['path']} ({stats['bytes'] / 1e6:.1f} MB, {stats['products_embedded']} products "
        f"embedded, as of {stats['as_of_month'] or 'n/a'}, {stats['seconds']} s)"
    )
    if stats["empty_charts"]:
        print(f"dashboard: no data yet for {', '.join(stats['empty_charts'])}")
    for section, error in stats["errors"].items():
        print(f"dashboard: WARNING could not read {section}: {error}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    from ..cli import main as cli_main

    return cli_main(["dashboard", *(sys.argv[1:] if argv is None else argv)])

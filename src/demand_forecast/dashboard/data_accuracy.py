"""The accuracy parts of the page: what the forecasts handed to purchasing achieved once the actual
sales came in (out of sample), by month, by group and per product, and how every model compares.

All of it reads ``fct_forecast_accuracy`` and ``mart_accuracy_by_segment`` over the evaluation
window (:func:`evaluation_window`); the registry's backtest metrics appear only beside them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from ..months import add_months
from .formatting import ATTENTION_MIN_VOLUME, ATTENTION_PER_SEGMENT, TREND_MONTHS, WINDOW_MONTHS, as_date, finite
from .warehouse import Segments, Warehouse, col


def evaluation_window(w: Warehouse, t: dict) -> tuple[dt.date, dt.date] | None:
    """The evaluated months behind the headline and "needs attention": the performers mart's window
    (var performer_window_months) when it is built, else the last ``WINDOW_MONTHS`` evaluated months;
    its start moved to the first month that has an evaluated forecast, so labels name real months."""
    source = t["by_segment"] or t["accuracy"]
    if not source:
        return None
    selected = "" if source == t["by_segment"] else "and is_selected"
    window = None
    if t["performers"] and {"window_start_month", "window_end_month"} <= w.columns(t["performers"]):
        row = w.rows(f"select min(window_start_month) as s, max(window_end_month) as e from {t['performers']}")[0]
        if row["s"] and row["e"]:
            window = (as_date(row["s"]), as_date(row["e"]))
    if window is None:
        last = as_date(w.scalar(f"select max(forecast_month) from {source} where horizon = 1 {selected}"))
        if last is None:
            return None
        window = (add_months(last, -(WINDOW_MONTHS - 1)), last)
    first = as_date(
        w.scalar(
            f"select min(forecast_month) from {source} where horizon = 1 {selected} and forecast_month between ? and ?",
            list(window),
        )
    )
    return (first, window[1]) if first else window


def load_accuracy_trend(w: Warehouse, data: dict, t: dict, as_of: dt.date | None) -> None:
    """WAPE and bias by month (horizon 1) per segment, and P10-P90 coverage by horizon, from
    mart_accuracy_by_segment."""
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
            {col(cols, "coverage_p10_p90")}, {col(cols, "n_products")}, {col(cols, "total_actual")}
        from {t["by_segment"]}
        where segment_type in ('all', 'product_group', 'category') {where}
        order by forecast_month, horizon
        """,
        params,
    )
    segments: Segments = data["segments"]
    coverage: list[tuple] = []
    for row in rows:
        month = as_date(row["forecast_month"])
        point = (month, finite(row["wape"]), finite(row["bias"]), row["n_products"], finite(row["total_actual"]))
        if row["segment_type"] == "all":
            keys = ["all"]
            coverage.append((month, int(row["horizon"]), finite(row["coverage_p10_p90"]), row["n_products"]))
        elif row["segment_type"] == "product_group":
            keys = [k for k in [segments.group_key.get(row["segment_value"])] if k]
        else:
            keys = segments.keys_for_category_name(row["segment_value"])
        if int(row["horizon"]) != 1:
            continue
        for key in keys:
            data["seg"][key].setdefault("accuracy", []).append(point)
    data["coverage"] = coverage


def load_headline(w: Warehouse, data: dict, t: dict) -> None:
    """Out-of-sample accuracy of the forecast purchasing received (selected, 1 month ahead) over the
    window, from mart_accuracy_by_segment; the baseline's over the same months for comparison.

    The mart holds WAPE and bias per month; over several months they are weighted by the month's
    actual demand (WAPE = sum|error| / sum actual, so a month's sum|error| is its WAPE times its actual)."""
    window = data.get("window")
    if not (t["by_segment"] and window):
        return
    cols = w.columns(t["by_segment"])
    coverage = "sum(coverage_p10_p90 * n_forecasts) / nullif(sum(n_forecasts), 0)"
    row = w.rows(
        f"""
        select sum(wape * total_actual) / nullif(sum(total_actual), 0) as wape,
            sum(bias * total_actual) / nullif(sum(total_actual), 0) as bias,
            {coverage if {"coverage_p10_p90", "n_forecasts"} <= cols else "null"} as coverage,
            max(n_products) as n_products, sum(total_actual) as total_actual, count(*) as n_months,
            min(forecast_month) as first_month, max(forecast_month) as last_month
        from {t["by_segment"]}
        where segment_type = 'all' and horizon = 1 and forecast_month between ? and ?
        """,
        list(window),
    )[0]
    if not row["n_months"]:
        return
    headline = {k: finite(row[k]) for k in ("wape", "bias", "coverage", "total_actual")}
    headline.update(
        n_products=row["n_products"],
        n_months=row["n_months"],
        months=(as_date(row["first_month"]), as_date(row["last_month"])),
    )
    if t["accuracy"]:
        selected = w.rows(
            f"""select model_name, count(*) as n from {t["accuracy"]}
                where is_selected and horizon = 1 and forecast_month between ? and ?
                group by model_name order by n desc, model_name""",
            list(window),
        )
        headline["selected_models"] = [r["model_name"] for r in selected]
        headline["baseline_wape"] = finite(
            w.scalar(
                f"""select sum(abs_error) / nullif(sum(abs(actual)), 0) from {t["accuracy"]}
                    where model_name = 'baseline' and horizon = 1 and forecast_month between ? and ?""",
                list(window),
            )
        )
    data["headline"] = headline


def load_breakdown(w: Warehouse, data: dict, t: dict) -> None:
    """Accuracy of the selected forecasts (horizon 1, window) by group and by category in its group,
    with the total of all products and of each group as the reference line."""
    window = data.get("window")
    if not (t["accuracy"] and window):
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
        group by grouping sets ((), (pg), (pg, cat))
        """,
        list(window),
    )
    groups: list[dict] = []
    categories: dict[str, list[dict]] = {}
    totals: dict[str, dict] = {}
    for row in rows:
        item = {
            "name": row["cat"] if not row["gc"] else row["pg"],
            "group": row["pg"],
            "n_products": row["n_products"],
            "total_actual": finite(row["total_actual"]),
            "total_abs_error": finite(row["total_abs_error"]),
            "wape": finite(row["wape"]),
            "bias": finite(row["bias"]),
        }
        if row["gg"]:
            totals["all"] = item
        elif row["gc"]:
            groups.append(item)
            totals[row["pg"]] = item
        else:
            categories.setdefault(row["pg"], []).append(item)
    data["breakdown"] = {"groups": groups, "categories": categories, "totals": totals}


def load_attention(w: Warehouse, data: dict, t: dict) -> None:
    """ "Needs attention" per selector entry: the products with the largest absolute error in units
    (selected forecast, 1 month ahead, over the window). A volume floor leaves out products that sold
    less than ``ATTENTION_MIN_VOLUME`` of the entry's average product in the window, so a product
    that sold a unit or two never makes the list, at any scale of data."""
    window = data.get("window")
    if not (t["accuracy"] and window):
        return
    rows = w.rows(
        f"""
        with by_product as (
            select product_id,
                coalesce(any_value(product_group), 'unknown') as pg,
                coalesce(any_value(category), 'unknown') as cat,
                sum(actual) as total_actual,
                sum(forecast_p50) as total_forecast,
                sum(abs_error) as total_abs_error,
                sum(abs_error) / nullif(sum(abs(actual)), 0) as wape,
                sum(error) / nullif(sum(actual), 0) as bias,
                count(*) as n_months
            from {t["accuracy"]}
            where is_selected and horizon = 1 and forecast_month between ? and ?
            group by product_id
            having sum(actual) > 0
        ),
        levels as (
            select 'all' as lvl, '' as pg_key, '' as cat_key, * from by_product
            union all
            select 'group' as lvl, pg as pg_key, '' as cat_key, * from by_product
            union all
            select 'category' as lvl, pg as pg_key, cat as cat_key, * from by_product
        ),
        floored as (
            select *, avg(total_actual) over (partition by lvl, pg_key, cat_key) as average_volume
            from levels
        ),
        ranked as (
            select *,
                row_number() over (partition by lvl, pg_key, cat_key order by total_abs_error desc, product_id)
                    as attention_rank
            from floored
            where total_actual >= ? * average_volume
        )
        select lvl, pg_key, cat_key, product_id, attention_rank, total_actual, total_forecast, total_abs_error,
            wape, bias, n_months
        from ranked
        where attention_rank <= ?
        order by lvl, pg_key, cat_key, attention_rank
        """,
        [*window, ATTENTION_MIN_VOLUME, ATTENTION_PER_SEGMENT],
    )
    segments: Segments = data["segments"]
    attention: dict[str, list[dict]] = {}
    for row in rows:
        if row["lvl"] == "all":
            key = "all"
        elif row["lvl"] == "group":
            key = segments.group_key.get(row["pg_key"])
        else:
            key = segments.category_key.get((row["pg_key"], row["cat_key"]))
        if key:
            for name in ("total_actual", "total_forecast", "total_abs_error", "wape", "bias"):
                row[name] = finite(row[name])
            attention.setdefault(key, []).append(row)
    data["attention"] = attention


def load_models(w: Warehouse, data: dict, t: dict, as_of: dt.date | None) -> None:
    """Per model: products it forecasts for purchasing (latest run), its out-of-sample WAPE (1 month
    ahead, window) and its backtest metrics of the latest run (what the model choice relied on)."""
    models: dict[str, dict[str, Any]] = {}
    if t["forecasts"] and as_of:
        # in champion mode the selected rows are named 'champion' and selected_model names the model
        cols = w.columns(t["forecasts"])
        name = "coalesce(selected_model, model_name)" if "selected_model" in cols else "model_name"
        for row in w.rows(
            f"""select {name} as model_name, count(distinct product_id) as n_products from {t["forecasts"]}
                where as_of_month = ? and is_selected group by 1 order by n_products desc, 1""",
            [as_of],
        ):
            models.setdefault(row["model_name"], {})["n_selected"] = row["n_products"]
    if t["registry"]:
        cols = w.columns(t["registry"])
        coverage = next((c for c in ("coverage_80", "coverage_p10_p90", "coverage") if c in cols), None)
        registry_as_of = as_date(w.scalar(f"select max(as_of_month) from {t['registry']}"))
        data["registry_as_of"] = registry_as_of
        for row in w.rows(
            f"""select model_name, avg(wape) as wape, {"avg(mase)" if "mase" in cols else "null"} as mase,
                    {"avg(bias)" if "bias" in cols else "null"} as bias,
                    {f'avg("{coverage}")' if coverage else "null"} as coverage
                from {t["registry"]} where as_of_month = ? group by model_name""",
            [registry_as_of],
        ):
            models.setdefault(row["model_name"], {}).update(
                backtest_wape=finite(row["wape"]),
                backtest_mase=finite(row["mase"]),
                backtest_bias=finite(row["bias"]),
                backtest_coverage=finite(row["coverage"]),
            )
    window = data.get("window")
    if t["accuracy"] and window:
        for row in w.rows(
            f"""select model_name, sum(abs_error) / nullif(sum(abs(actual)), 0) as wape,
                    sum(error) / nullif(sum(actual), 0) as bias, count(*) as n,
                    bool_or(is_selected) as was_selected
                from {t["accuracy"]} where horizon = 1 and forecast_month between ? and ?
                group by model_name""",
            list(window),
        ):
            models.setdefault(row["model_name"], {}).update(
                live_wape=finite(row["wape"]),
                live_bias=finite(row["bias"]),
                live_n=row["n"],
                was_selected=bool(row["was_selected"]),
            )
    data["models"] = models

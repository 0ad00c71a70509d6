"""Figures of the data health section: quarantined sales lines and flagged product-months."""

from __future__ import annotations

from .charts import empty_figure, figure, integer_axis, layout, month_axis
from .formatting import COLORS, as_date, finite, month_label, rounded, units


def quarantine_figure(quarantine: dict | None) -> dict:
    """Sales lines kept out of the demand, by reject reason, in the latest batch."""
    if not quarantine or not quarantine["rows"]:
        return empty_figure(
            "Quarantined sales lines: no data yet", "No data yet: marts.mart_quarantine_summary is missing or empty"
        )
    rows = sorted(quarantine["rows"], key=lambda r: (-r[1], r[0]))
    total = sum(r[1] for r in rows)
    as_of = quarantine.get("as_of")
    when = f" in the {month_label(as_of)} batch" if as_of else ""
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
        "customdata": [[rounded(r[2])] for r in rows],
        "hovertemplate": "%{y}: %{x:,} lines, %{customdata[0]:,.0f} units<extra></extra>",
    }
    fig_layout = layout(
        title,
        "Sales lines kept out of the demand by reject reason (first matching reason)",
        height=max(120, 26 * len(rows)),
        hovermode="closest",
        showlegend=False,
        xaxis={**integer_axis(max(r[1] for r in rows)), "title": {"text": "sales lines"}},
        yaxis={"autorange": "reversed"},
    )
    return figure([trace], fig_layout)


def stockout_figure(rows: list[dict] | None) -> dict:
    """Product-months flagged by the cleaning per month: stock-outs, outliers capped, imputed."""
    if not rows:
        return empty_figure(
            "Stock-outs and outliers: no data yet", "No data yet: intermediate.int_monthly_demand is missing or empty"
        )
    months = [as_date(r["month"]) for r in rows]
    x = [m.isoformat() for m in months]
    traces = []
    largest = 0
    for column, name, color in (
        ("stockout", "Stock-out months", COLORS["stockout"]),
        ("outlier", "Months with outliers capped", COLORS["outlier"]),
        ("imputed", "Months imputed", COLORS["imputed"]),
    ):
        if any(r[column] is not None for r in rows):
            largest = max([largest, *(r[column] or 0 for r in rows)])
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
    capped = sum(finite(r["capped_units"]) or 0 for r in last12)
    title = (
        (
            f"Last {len(last12)} months: {stockouts:,} stock-out product-months "
            f"({stockouts / product_months:.1%} of {product_months:,}) and {outliers:,} with outliers capped "
            f"({units(capped)} units removed)"
        )
        if product_months
        else "Stock-outs and outliers"
    )
    fig_layout = layout(
        title,
        "Product-months flagged by the cleaning: stock-out months get imputed demand, outlier days are capped",
        xaxis=month_axis(months),
        barmode="group",
        yaxis={**integer_axis(largest), "title": {"text": "product-months"}},
    )
    return figure(traces, fig_layout)

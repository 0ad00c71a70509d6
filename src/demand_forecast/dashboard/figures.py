"""The figures of the page, built from what :mod:`.data` loaded.

Every title states the finding (a number and what it means), the subtitle what is plotted.
:func:`build_figures` returns ``static`` figures (overview, data health) and one set per selector
entry (``segments``); the charts of one product are drawn in the browser (``assets/dashboard.js``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from ..months import add_months
from .charts import empty_figure, figure, integer_axis, layout, month_axis
from .figures_health import quarantine_figure, stockout_figure
from .formatting import (
    ATTENTION_MIN_VOLUME,
    COLORS,
    COVERAGE_TARGET,
    model_color,
    month_label,
    pct,
    period_label,
    plural,
    rounded,
    units,
)
from .warehouse import Segments


def build_figures(data: dict[str, Any]) -> dict[str, Any]:
    """Every figure of the page: ``static`` (overview, data health) and ``segments`` (one set per
    selector entry). Each figure is a plain ``{"data": [...], "layout": {...}}`` dict."""
    segments: Segments = data["segments"]
    as_of = data.get("as_of")
    window = data.get("window")
    seg_data = data.get("seg", {})
    models = data.get("models") or {}
    static = {
        "ov-forecast": forecast_figure("All products", seg_data.get("all", {}), as_of),
        "ov-accuracy": accuracy_figure("All products", seg_data.get("all", {})),
        "ov-coverage": coverage_figure(data.get("coverage") or []),
        "ov-models": model_mix_figure(models),
        "ov-model-accuracy": model_accuracy_figure(models, data.get("headline"), data.get("registry_as_of"), window),
        "dh-quarantine": quarantine_figure(data.get("quarantine")),
        "dh-stockouts": stockout_figure(data.get("stockouts")),
    }
    per_segment: dict[str, dict[str, Any]] = {}
    products = data.get("products") or {}
    for item in segments.items:
        seg = seg_data.get(item["key"], {})
        label = segments.full_label(item["key"])
        per_segment[item["key"]] = {
            "seg-forecast": forecast_figure(label, seg, as_of),
            "seg-accuracy": accuracy_figure(label, seg),
            "seg-breakdown": breakdown_figure(item, data.get("breakdown"), window),
            "seg-attention": attention_figure(
                label, (data.get("attention") or {}).get(item["key"], []), products, window
            ),
        }
    return {"static": static, "segments": per_segment}


def _band_traces(x: list[str], p10: list, p90: list, fill: str) -> list[dict]:
    """An invisible P10 line and a P90 line filled down to it: the P10-P90 band."""
    line = {"type": "scatter", "mode": "lines", "x": x, "line": {"width": 0}, "showlegend": False}
    return [
        {**line, "name": "P10", "y": p10, "hovertemplate": "%{y:,.0f}"},
        {**line, "name": "P90", "y": p90, "fill": "tonexty", "fillcolor": fill, "hovertemplate": "%{y:,.0f}"},
    ]


def forecast_figure(label: str, seg: dict, as_of: dt.date | None) -> dict:
    """Actuals of the last months and the selected forecast's next months with its band."""
    actuals = seg.get("actuals") or []
    forecast = seg.get("forecast") or []
    if not actuals and not forecast:
        return empty_figure(
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
                "y": [rounded(raw) for _, raw, _ in actuals],
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
                "y": [rounded(d) for _, _, d in actuals],
                "line": {"color": COLORS["actual"], "width": 2},
                "marker": {"size": 4},
                "hovertemplate": "%{y:,.0f}",
            }
        )
    if forecast:
        # the forecast line starts at the last actual, so the two read as one series
        last_month, last_value = (actuals[-1][0], actuals[-1][2]) if actuals else (None, None)
        fx = ([last_month.isoformat()] if last_month else []) + [m.isoformat() for m, *_ in forecast]
        lead = [rounded(last_value)] if last_month else []
        traces += _band_traces(
            fx, lead + [rounded(f[1]) for f in forecast], lead + [rounded(f[3]) for f in forecast], COLORS["band"]
        )
        traces.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": "Forecast P50 (P10-P90 band)",
                "x": fx,
                "y": lead + [rounded(f[2]) for f in forecast],
                "line": {"color": COLORS["forecast"], "width": 2.5, "dash": "dash"},
                "marker": {"size": 6},
                "hovertemplate": "%{y:,.0f}",
            }
        )
        month, p10, p50, p90 = forecast[0]
        title = (
            f"{label} - next month ({month_label(month)}): {units(p50)} units forecast "
            f"(P10-P90 {units(p10)}-{units(p90)})"
        )
        last_year = by_month.get(add_months(month, -12)) if month else None
        if last_year and p50 is not None:
            change = p50 / last_year - 1
            direction = "above" if change >= 0 else "below"
            title += f", {abs(change):.0%} {direction} {month_label(add_months(month, -12))}"
        if len(forecast) >= 3:
            title += f"; {len(forecast)} months: {units(sum(f[2] or 0 for f in forecast))} units"
    else:
        title = f"{label}: no forecast yet; {month_label(actuals[-1][0])} demand {units(actuals[-1][2])} units"
    subtitle = f"Cleaned demand and raw net units, last {len(actuals)} months" if actuals else "No actuals yet"
    if forecast:
        subtitle += (
            "; selected forecast P50 with the sum of the products' P10 and P90 (wider than the band of the total)"
        )
    months = [m for m, *_ in actuals] + [m for m, *_ in forecast if m]
    return figure(
        traces,
        layout(
            title,
            subtitle,
            xaxis=month_axis(months),
            yaxis={"title": {"text": "units / month"}, "rangemode": "tozero", "tickformat": ",.0f"},
        ),
    )


def accuracy_figure(label: str, seg: dict) -> dict:
    """WAPE (line) and bias (bars) of the selected forecast, 1 month ahead, by month."""
    points = [p for p in (seg.get("accuracy") or []) if p[1] is not None or p[2] is not None]
    if not points:
        return empty_figure(
            f"{label}: no accuracy yet",
            "No data yet: mart_accuracy_by_segment is missing or no forecast has an actual yet",
        )
    x = [p[0].isoformat() for p in points]
    wape = [rounded(p[1], 4) for p in points]
    bias = [rounded(p[2], 4) for p in points]
    last = points[-1]
    traces = [
        {
            "type": "bar",
            "name": "Bias (+ = over-forecast)",
            "x": x,
            "y": bias,
            "width": [20 * 86_400_000] * len(x),  # ms: a bar narrower than its month
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
            "name": f"Last month ({month_label(last[0])})",
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
    title = f"{label} - {month_label(last[0])}: WAPE {pct(last[1])}"
    if avg is not None and len(recent) > 1:
        title += f" ({len(recent)}-month average {pct(avg)})"
    title += f", bias {pct(last[2], signed=True)}{bias_word}"
    fig_layout = layout(
        title,
        "Selected forecasts 1 month ahead, out of sample: WAPE = sum|error| / sum actual; "
        "bias = sum error / sum actual",
        xaxis=month_axis([p[0] for p in points]),
        yaxis={"title": {"text": "% of actual demand"}, "tickformat": ".0%"},
        barmode="overlay",
    )
    fig_layout["annotations"] = [
        {
            "x": x[-1],
            "y": wape[-1],
            "text": f"WAPE {pct(last[1])}",
            "showarrow": True,
            "arrowhead": 0,
            "ax": -40,
            "ay": -30,
            "font": {"color": COLORS["highlight"]},
        }
    ]
    return figure(traces, fig_layout)


def coverage_figure(coverage: list[tuple]) -> dict:
    """Share of actuals inside the selected forecast's P10-P90 band, by month and horizon."""
    points = [c for c in coverage if c[2] is not None]
    if not points:
        return empty_figure(
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
                "name": f"{plural(horizon, 'month')} ahead",
                "x": [c[0].isoformat() for c in series],
                "y": [rounded(c[2], 4) for c in series],
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
    if value < COVERAGE_TARGET - 0.1:
        verdict = " - bands too narrow: more actuals fall outside than planned, so P90 understates the risk"
    elif value > COVERAGE_TARGET + 0.1:
        verdict = " - bands wider than needed: P90 overstates the risk"
    else:
        verdict = " - on target"
    title = (
        f"{month_label(month)}: the P10-P90 band held {pct(value)} of actuals 1 month ahead "
        f"(target {pct(COVERAGE_TARGET)}){verdict}"
    )
    fig_layout = layout(
        title,
        "Share of products whose actual fell inside the selected forecast's P10-P90 band",
        xaxis=month_axis([c[0] for c in points]),
        yaxis={"title": {"text": "actuals inside band (%)"}, "tickformat": ".0%", "range": [0, 1.05]},
    )
    fig_layout["shapes"] = [
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
    fig_layout["annotations"] = [
        {
            "xref": "paper",
            "x": 1,
            "y": COVERAGE_TARGET,
            "xanchor": "right",
            "yanchor": "bottom",
            "text": f"target {pct(COVERAGE_TARGET)}",
            "showarrow": False,
            "font": {"color": COLORS["target"]},
        }
    ]
    return figure(traces, fig_layout)


def model_mix_figure(models: dict) -> dict:
    """Products per model of the forecast handed to purchasing, latest run."""
    chosen = [(m, v["n_selected"]) for m, v in models.items() if v.get("n_selected")]
    if not chosen:
        return empty_figure("Models in use: no data yet", "No data yet: fct_forecasts is missing or empty")
    chosen.sort(key=lambda mv: (-mv[1], mv[0]))
    total = sum(n for _, n in chosen)
    top, top_count = chosen[0]
    if len(chosen) == 1:
        title = f"One model for all {plural(total, 'product')}: {top}"
    else:
        title = (
            f"{top} forecasts {top_count / total:.0%} of products ({top_count:,} of {total:,}); "
            f"{plural(len(chosen), 'model')} in use"
        )
    trace = {
        "type": "bar",
        "orientation": "h",
        "y": [m for m, _ in chosen],
        "x": [n for _, n in chosen],
        "marker": {"color": [model_color(m) for m, _ in chosen]},
        "text": [f"{n:,} ({n / total:.0%})" for _, n in chosen],
        "textposition": "auto",
        "hovertemplate": "%{y}: %{x:,} products<extra></extra>",
    }
    fig_layout = layout(
        title,
        "Products per model of the forecast handed to purchasing, latest run",
        height=max(90, 34 * len(chosen)),
        showlegend=False,
        hovermode="closest",
        xaxis={**integer_axis(top_count), "title": {"text": "products"}},
        yaxis={"autorange": "reversed"},
    )
    return figure([trace], fig_layout)


def model_accuracy_figure(
    models: dict, headline: dict | None, registry_as_of: dt.date | None, window: tuple | None
) -> dict:
    """Out-of-sample WAPE of every model (1 month ahead, the window), the forecast purchasing got
    outlined; the backtest WAPE that the model choice relied on as a marker beside it."""
    names = [m for m, v in models.items() if v.get("backtest_wape") is not None or v.get("live_wape") is not None]
    if not names:
        return empty_figure(
            "Model accuracy: no data yet",
            "No data yet: fct_model_registry and fct_forecast_accuracy are missing or empty",
        )
    live = any(models[m].get("live_wape") is not None for m in names)
    key = "live_wape" if live else "backtest_wape"
    names.sort(key=lambda m: (models[m].get(key) is None, models[m].get(key) or 0, m))
    selected = {m for m in names if models[m].get("was_selected")}
    period = period_label(window)
    traces = []
    if live:
        traces.append(
            {
                "type": "bar",
                "orientation": "h",
                "name": f"Out of sample, 1 month ahead ({period})",
                "y": names,
                "x": [rounded(models[m].get("live_wape"), 4) for m in names],
                "marker": {
                    "color": [model_color(m) for m in names],
                    "line": {"color": "#000000", "width": [3 if m in selected else 0 for m in names]},
                },
                "text": [f"{pct(models[m].get('live_wape'))}{' (purchasing)' if m in selected else ''}" for m in names],
                "textposition": "auto",
                "hovertemplate": "%{y}: WAPE %{x:.1%} out of sample<extra></extra>",
            }
        )
    if any(models[m].get("backtest_wape") is not None for m in names):
        traces.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": f"Backtest on history ({month_label(registry_as_of)} run, used to choose)",
                "y": names,
                "x": [rounded(models[m].get("backtest_wape"), 4) for m in names],
                "marker": {"symbol": "diamond-open", "size": 11, "color": "#263238", "line": {"width": 2}},
                "hovertemplate": "%{y}: backtest WAPE %{x:.1%}<extra></extra>",
            }
        )
    title = _model_accuracy_title(models, headline, names, live, period)
    fig_layout = layout(
        title,
        "WAPE of each model's forecasts once the actuals arrived (bars; the forecast handed to purchasing "
        "is outlined) and in the backtest of the latest run (diamonds)",
        height=max(120, 30 * len(names)),
        hovermode="closest",
        xaxis={"title": {"text": "WAPE (% of actual demand)"}, "tickformat": ".0%", "rangemode": "tozero"},
        yaxis={"autorange": "reversed"},
    )
    return figure(traces, fig_layout)


def _model_accuracy_title(models: dict, headline: dict | None, names: list[str], live: bool, period: str) -> str:
    if not live:
        best = names[0]
        return (
            f"No forecast has been scored yet; in the backtest {best} was most accurate "
            f"(WAPE {pct(models[best].get('backtest_wape'))})"
        )
    selected = (headline or {}).get("selected_models") or [m for m in names if models[m].get("was_selected")]
    wape = (headline or {}).get("wape")
    if wape is None and selected:
        wape = models.get(selected[0], {}).get("live_wape")
    title = f"Forecast handed to purchasing ({', '.join(selected) or 'n/a'}): WAPE {pct(wape)} 1 month ahead, {period}"
    base = models.get("baseline", {}).get("live_wape")
    if base is not None and "baseline" not in selected:
        title += f" vs baseline {pct(base)}"
    best = names[0]
    if best not in selected:
        title += f"; most accurate: {best} {pct(models[best].get('live_wape'))}"
    return title


def breakdown_figure(segment: dict, breakdown: dict | None, window: tuple | None) -> dict:
    """WAPE by group (all products) or by category (a group or one of its categories), with the
    parent's WAPE as a reference line; groups are compared, not labelled best or worst."""
    level = segment["level"]
    breakdown = breakdown or {}
    if level == "all":
        items = list(breakdown.get("groups", []))
        what, where, parent = "group", "", (breakdown.get("totals") or {}).get("all")
        parent_label = "all products"
    else:
        items = list(breakdown.get("categories", {}).get(segment["group"], []))
        what, where, parent = (
            "category",
            f" in {segment['group']}",
            (breakdown.get("totals") or {}).get(segment["group"]),
        )
        parent_label = segment["group"]
    items = [i for i in items if i["wape"] is not None]
    if not items:
        return empty_figure(
            f"Accuracy by {what}{where}: no data yet",
            "No data yet: fct_forecast_accuracy is missing or has no evaluated forecast",
        )
    items.sort(key=lambda i: (-(i["total_abs_error"] or 0), i["name"]))
    outlined = [3 if (level == "category" and i["name"] == segment["category"]) else 0 for i in items]
    trace = {
        "type": "bar",
        "orientation": "h",
        "name": "WAPE",
        "y": [i["name"] for i in items],
        "x": [rounded(i["wape"], 4) for i in items],
        "marker": {"color": COLORS["neutral"], "line": {"color": "#000000", "width": outlined}},
        "text": [f"{pct(i['wape'])}, {units(i['total_abs_error'])} units off" for i in items],
        "textposition": "auto",
        "customdata": [[i["n_products"], rounded(i["total_actual"]), rounded(i["bias"], 4)] for i in items],
        "hovertemplate": (
            "%{y}: WAPE %{x:.1%}, bias %{customdata[2]:+.1%}<br>"
            "%{customdata[0]} products, %{customdata[1]:,.0f} units actual<extra></extra>"
        ),
    }
    largest = items[0]
    if level == "category":
        selected = next((i for i in items if i["name"] == segment["category"]), None)
        if selected:
            title = (
                f"{segment['category']}: WAPE {pct(selected['wape'])}, {units(selected['total_abs_error'])} units off"
                f" ({parent_label} {pct(parent['wape'] if parent else None)})"
            )
        else:
            title = f"{segment['category']}: no evaluated forecasts yet in {segment['group']}"
    elif len(items) == 1:
        title = f"Accuracy by {what}{where}: only {largest['name']} evaluated, WAPE {pct(largest['wape'])}"
    else:
        title = (
            f"Largest error in units{where}: {largest['name']} ({units(largest['total_abs_error'])} units off, "
            f"WAPE {pct(largest['wape'])}); {parent_label} WAPE {pct(parent['wape'] if parent else None)}"
        )
    fig_layout = layout(
        title,
        f"WAPE of the selected forecasts 1 month ahead by {what}, {period_label(window)}, largest error in units "
        f"first; the dashed line is {parent_label}",
        height=max(90, 28 * len(items)),
        xaxis={"title": {"text": "WAPE (% of actual demand)"}, "tickformat": ".0%", "rangemode": "tozero"},
        yaxis={"autorange": "reversed"},
        hovermode="closest",
        showlegend=False,
    )
    if parent and parent.get("wape") is not None:
        fig_layout["shapes"] = [
            {
                "type": "line",
                "yref": "paper",
                "y0": 0,
                "y1": 1,
                "x0": parent["wape"],
                "x1": parent["wape"],
                "line": {"color": COLORS["reference"], "dash": "dash", "width": 1.5},
            }
        ]
    return figure([trace], fig_layout)


def attention_figure(label: str, rows: list[dict], products: dict, window: tuple | None) -> dict:
    """The products with the largest absolute error in units (a volume floor keeps out products that
    barely sell); colour says whether the forecast was too high or too low."""
    if not rows:
        return empty_figure(
            f"{label}: nothing to flag yet",
            "No data yet: no product with demand has an evaluated forecast in the window",
        )
    ordered = sorted(rows, key=lambda r: r["attention_rank"])

    def name(pid: str) -> str:
        product_name = (products.get(pid) or {}).get("name")
        text = f"{pid} {product_name}" if product_name and product_name != pid else pid
        return text if len(text) <= 34 else text[:33] + "..."

    trace = {
        "type": "bar",
        "orientation": "h",
        "name": "Absolute error",
        "y": [name(r["product_id"]) for r in ordered],
        "x": [rounded(r["total_abs_error"]) for r in ordered],
        "marker": {"color": [COLORS["over"] if (r["bias"] or 0) >= 0 else COLORS["under"] for r in ordered]},
        "text": [f"{units(r['total_abs_error'])} units ({pct(r['wape'])})" for r in ordered],
        "textposition": "auto",
        "customdata": [
            [
                r["product_id"],
                rounded(r["total_actual"]),
                rounded(r["total_forecast"]),
                rounded(r["wape"], 4),
                rounded(r["bias"], 4),
            ]
            for r in ordered
        ],
        "hovertemplate": (
            "%{customdata[0]}: %{x:,.0f} units off (WAPE %{customdata[3]:.0%}, bias %{customdata[4]:+.0%})<br>"
            "actual %{customdata[1]:,.0f} units, forecast %{customdata[2]:,.0f} units"
            "<br>click to open the product<extra></extra>"
        ),
    }
    top = ordered[0]
    direction = "over-forecast" if (top["bias"] or 0) >= 0 else "under-forecast"
    where = "" if label == "All products" else f" in {label}"
    title = (
        f"Needs attention{where}: {name(top['product_id'])}, {units(top['total_abs_error'])} units off "
        f"({pct(top['wape'])} of its demand, {direction})"
    )
    fig_layout = layout(
        title,
        f"Largest absolute errors of the selected forecasts 1 month ahead, {period_label(window)}, of products "
        f"that sold at least {ATTENTION_MIN_VOLUME:.0%} of the average product; orange = forecast too high, "
        "blue = too low; click a bar to open the product",
        height=max(90, 24 * len(ordered)),
        xaxis={"title": {"text": "absolute error (units)"}, "tickformat": ",.0f", "rangemode": "tozero"},
        yaxis={"autorange": "reversed"},
        hovermode="closest",
        showlegend=False,
    )
    return figure([trace], fig_layout)

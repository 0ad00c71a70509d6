"""Plotly building blocks every figure uses: the title block, sizing, axes, the empty chart.

A figure is a plain ``{"data": [...], "layout": {...}}`` dict (no plotly import needed to build
it); the page draws it with ``Plotly.react``. ``assets/dashboard.js`` mirrors :func:`layout` and
:func:`figure` for the charts it builds in the browser (one product).
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from .formatting import FONT, PLOT_HEIGHT, SUBTITLE_WIDTH, TITLE_WIDTH, wrap


def layout(
    title: str,
    subtitle: str = "",
    *,
    yaxis: dict | None = None,
    xaxis: dict | None = None,
    height: int = PLOT_HEIGHT,
    **extra: Any,
) -> dict:
    """Common layout. ``height`` is the plot area; :func:`figure` adds the title block (finding +
    what is plotted, wrapped here because Plotly titles do not wrap, starting below the mode bar)
    and the bottom margin for the axis title and the legend rows. Axes grow their margins to fit
    their tick labels (``automargin``), so long names are never cut off."""
    title_html = wrap(title, TITLE_WIDTH)
    subtitle_html = wrap(subtitle, SUBTITLE_WIDTH) if subtitle else ""
    title_lines = title_html.count("<br>") + 1
    subtitle_lines = subtitle_html.count("<br>") + 1 if subtitle_html else 0
    result: dict[str, Any] = {
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
        "font": {"family": FONT, "size": 12, "color": "#263238"},
        "paper_bgcolor": "#ffffff",
        "plot_bgcolor": "#ffffff",
        "hovermode": "x unified",
        "legend": {"orientation": "h", "yref": "container", "y": 0, "yanchor": "bottom", "x": 0.01},
        "xaxis": {"gridcolor": "#eceff1", "linecolor": "#b0bec5", "zeroline": False, "automargin": True},
        "yaxis": {"gridcolor": "#eceff1", "linecolor": "#b0bec5", "zerolinecolor": "#cfd8dc", "automargin": True},
    }
    result["xaxis"].update(xaxis or {})
    result["yaxis"].update(yaxis or {})
    if subtitle_html:
        result["title"]["subtitle"] = {"text": subtitle_html, "font": {"size": 11, "color": "#607d8b"}}
    result.update(extra)
    return result


def figure(traces: list[dict], fig_layout: dict) -> dict:
    """Size the figure: plot area + title block + x-axis title + legend rows (3 entries a row)."""
    entries = 0
    if fig_layout.get("showlegend", True):
        entries = sum(1 for t in traces if t.get("showlegend", True) is not False)
    legend_rows = math.ceil(entries / 3) if entries > 1 else 0
    bottom = 40 + (22 if (fig_layout.get("xaxis") or {}).get("title") else 0) + 22 * legend_rows
    fig_layout["margin"]["b"] = bottom
    fig_layout["height"] = fig_layout["height"] + fig_layout["margin"]["t"] + bottom
    return {"data": traces, "layout": fig_layout}


def empty_figure(title: str, message: str) -> dict:
    """A chart with no data: the title and a centred note saying why."""
    fig_layout = layout(title, height=170, hovermode=False)
    fig_layout["xaxis"] = {"visible": False}
    fig_layout["yaxis"] = {"visible": False}
    fig_layout["annotations"] = [
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
    return {**figure([], fig_layout), "empty": True}


def month_axis(months: list[dt.date]) -> dict:
    """A date axis labelled once per tick month: Plotly's automatic ticks fall between months on a
    short span and then print the same month twice ("Sep 2026, Sep 2026")."""
    axis: dict[str, Any] = {"type": "date", "tickformat": "%b %Y", "hoverformat": "%b %Y"}
    if not months:
        return axis
    first, last = min(months), max(months)
    span = (last.year - first.year) * 12 + last.month - first.month + 1
    step = 1 if span <= 8 else 2 if span <= 16 else 3 if span <= 30 else 6
    axis.update(
        tick0=first.isoformat(),
        dtick=f"M{step}",
        range=[(first - dt.timedelta(days=16)).isoformat(), (last + dt.timedelta(days=16)).isoformat()],
    )
    return axis


def integer_step(largest: float) -> int:
    """A tick step of 1, 2 or 5 times a power of ten, at least 1, giving about five ticks up to
    ``largest``: counts never get ticks at 0.5 (which ``,d`` prints as "0, 0, 1, 1")."""
    if largest <= 5:
        return 1
    raw = largest / 5
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if raw <= factor * power:
            return int(factor * power)
    return int(10 * power)


def integer_axis(largest: float, **extra: Any) -> dict:
    """A count axis: whole-number ticks only."""
    return {"tickformat": ",d", "tick0": 0, "dtick": integer_step(largest), "rangemode": "tozero", **extra}

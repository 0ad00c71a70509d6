"""Constants and formatting shared by the data access, the figures and the page.

Numbers reach the page in two forms: text (``units``, ``pct``: what a title or a table cell says)
and JSON (``rounded``, ``compact``, ``jsonable``: what a chart plots).
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from typing import Any

DEFAULT_TOP_N = 300
TREND_MONTHS = 24  # months of actuals and accuracy shown in the trend charts
PRODUCT_MONTHS = 36  # months of history embedded per product
WINDOW_MONTHS = 3  # evaluated months behind the headline and "needs attention" (the performers mart's default)
ATTENTION_PER_SEGMENT = 10  # products listed as "needs attention" per selector entry
ATTENTION_MIN_VOLUME = 0.1  # "needs attention" leaves out products below this share of the segment's average volume
TABLE_MAX_PRODUCTS = 50_000  # products in the forecast table and its CSV files (the largest by volume)
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
    "attention": "#c0392b",
    "neutral": "#90a4ae",
    "reference": "#37474f",
    "stockout": "#c62828",
    "outlier": "#37474f",
    "imputed": "#8e44ad",
    "target": "#2e7d32",
}

FONT = "-apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif"


def as_date(value: Any) -> dt.date | None:
    """A date from a DATE, a TIMESTAMP (dbt Python models write those) or ISO text."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def month_label(day: dt.date | None) -> str:
    return day.strftime("%b %Y") if day else "n/a"


def period_label(window: tuple[dt.date, dt.date] | None) -> str:
    if not window:
        return "recent months"
    if window[0] == window[1]:
        return month_label(window[0])
    return f"{month_label(window[0])}-{month_label(window[1])}"


def finite(value: Any) -> float | None:
    """A finite float or None."""
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def rounded(value: Any, digits: int = 1) -> float | None:
    number = finite(value)
    return None if number is None else round(number, digits)


def compact(value: Any) -> float | int | None:
    """Units for embedded series: one decimal, an int when whole (shorter JSON)."""
    number = rounded(value, 1)
    if number is None:
        return None
    return int(number) if number.is_integer() else number


def units(value: Any) -> str:
    number = finite(value)
    return "n/a" if number is None else f"{number:,.0f}"


def count(value: Any) -> str:
    number = finite(value)
    return "" if number is None else f"{number:,.0f}"


def pct(value: Any, signed: bool = False) -> str:
    number = finite(value)
    if number is None:
        return "n/a"
    if abs(number) < 0.005:
        number = 0.0  # no "-0%"
    return f"{number:+.0%}" if signed else f"{number:.0%}"


def plural(n: int, word: str, words: str | None = None) -> str:
    """``1 model``, ``3 models``."""
    return f"{n:,} {word if n == 1 else (words or word + 's')}"


def wrap(text: str, width: int = 80) -> str:
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


def model_color(name: str) -> str:
    if name in MODEL_COLORS:
        return MODEL_COLORS[name]
    return _EXTRA_MODEL_COLORS[sum(map(ord, name)) % len(_EXTRA_MODEL_COLORS)]


def jsonable(value: Any) -> Any:
    """Make a value JSON-serialisable: NaN/inf -> null, dates -> ISO strings, Decimal -> float."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, (str, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return finite(value)
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalar
        return jsonable(value.item())
    return str(value)

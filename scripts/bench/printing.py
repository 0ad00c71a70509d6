"""Plain-text output of the benchmarks: tables that paste into markdown, section headings.

``common`` re-exports every name for the scripts' ``import common as bench``.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Sequence


def fmt(value: object, digits: int = 3) -> str:
    """A table cell: numbers rounded, NaN/None as '-'."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}"
    try:
        number = float(value)  # numpy scalars too
    except (TypeError, ValueError):
        return str(value)
    if number != number:
        return "-"
    if float(number).is_integer() and abs(number) >= 1000:
        return f"{int(number):,}"
    return f"{number:,.{digits}f}"


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[object]], digits: int = 3) -> str:
    """Rows as a markdown table (first column left-aligned, the others right-aligned)."""
    body = [[fmt(cell, digits) for cell in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in body]) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        parts = [c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=False))]
        return "| " + " | ".join(parts) + " |"

    rule = "|" + "|".join(":" + "-" * (w + 1) if i == 0 else "-" * (w + 1) + ":" for i, w in enumerate(widths)) + "|"
    return "\n".join([line(headers), rule, *(line(r) for r in body)])


def section(title: str) -> None:
    print(f"\n## {title}\n")

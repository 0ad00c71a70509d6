"""Static purchasing dashboard: one self-contained HTML file built from the warehouse marts.

.. code-block:: console

    demand-forecast dashboard --warehouse warehouse/demand.duckdb \\
        --out reports/dashboard.html [--elementary-report elementary_report.html] [--top-n 300]

or, from Python::

    from demand_forecast.dashboard import build_dashboard
    stats = build_dashboard("warehouse/demand.duckdb", "reports/dashboard.html")
    stats["bytes"], stats["products_embedded"]

The package, by concern (docs/dashboard.md has the sections, the sources and the rules):

* :mod:`.data` (with :mod:`.data_accuracy`, :mod:`.data_products`, :mod:`.data_health`,
  :mod:`.warehouse`): SQL against the warehouse, opened read-only;
* :mod:`.figures` (with :mod:`.figures_health`, :mod:`.charts`): plotly figures as plain dicts;
* :mod:`.render` (with :mod:`.explain` and ``assets/``): the HTML page;
* this module: :func:`build_dashboard` and the ``demand-forecast dashboard`` command.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path
from typing import Any

from .data import load_dashboard_data
from .figures import build_figures
from .formatting import DEFAULT_TOP_N, MODEL_COLORS
from .render import render_html

__all__ = [
    "MODEL_COLORS",
    "WarehouseUnreadable",
    "add_arguments",
    "build_dashboard",
    "build_figures",
    "load_dashboard_data",
    "main",
    "render_html",
    "run",
]


class WarehouseUnreadable(RuntimeError):
    """The warehouse exists but could not be read at all; the previous page is left as it was."""


def build_dashboard(
    warehouse_path: str | Path,
    out_path: str | Path,
    *,
    elementary_report: str = "elementary_report.html",
    top_n: int = DEFAULT_TOP_N,
    generated_at: dt.datetime | None = None,
) -> dict[str, Any]:
    """Build the dashboard HTML from the warehouse; returns counts for the batch log.

    ``rows`` is the number of products embedded (the batch runner logs an int as rows). The file is
    written to a temporary name and renamed, so a reader never sees half a page. A warehouse that
    exists but cannot be opened (another process writing it) raises :class:`WarehouseUnreadable` and
    leaves the previous page in place; a missing warehouse gives a page that says so.
    """
    started = time.perf_counter()
    data = load_dashboard_data(warehouse_path, top_n=top_n)
    out = Path(out_path)
    if "warehouse" in data["errors"]:
        raise WarehouseUnreadable(
            f"could not read the warehouse: {data['errors']['warehouse']}. The previous page {out} is left as it "
            "was. If another process is writing the warehouse (a dbt build), wait for it to finish and run "
            "this command again."
        )
    figures = build_figures(data)
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
    embedded = len(data.get("product_order") or [])
    return {
        "path": str(out),
        "bytes": out.stat().st_size,
        "rows": embedded,
        "products_embedded": embedded,
        "products_total": data.get("n_products_total"),
        "table_products": len((data.get("table") or {}).get("rows") or []),
        "segments": len(data["segments"].items),
        "as_of_month": data["as_of"].isoformat() if data.get("as_of") else None,
        "run_id": data.get("run_id"),
        "empty_charts": sorted(k for k, fig in figures["static"].items() if fig.get("empty")),
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
        help="products with embedded history charts, by 12-month volume (default %(default)s)",
    )


def run(args: argparse.Namespace) -> int:
    """``demand-forecast dashboard``: build the page and print one line about it."""
    if args.top_n < 0:
        print("dashboard: --top-n must be 0 or more (the number of products with history charts)", file=sys.stderr)
        return 2
    if not Path(args.warehouse).exists():
        print(
            f"dashboard: WARNING the warehouse {args.warehouse} does not exist: the page says 'no data yet'. "
            "Run the batch first (demand-forecast run) or pass the right --warehouse.",
            file=sys.stderr,
        )
    try:
        stats = build_dashboard(args.warehouse, args.out, elementary_report=args.elementary_report, top_n=args.top_n)
    except WarehouseUnreadable as error:
        print(f"dashboard: ERROR {error}", file=sys.stderr)
        return 1
    print(
        f"dashboard: {stats['path']} ({stats['bytes'] / 1e6:.1f} MB, {stats['products_embedded']} products "
        f"embedded, {stats['table_products']} in the forecast table, as of {stats['as_of_month'] or 'n/a'}, "
        f"{stats['seconds']} s)"
    )
    if stats["empty_charts"]:
        print(f"dashboard: no data yet for {', '.join(stats['empty_charts'])}")
    for section, error in stats["errors"].items():
        print(f"dashboard: WARNING could not read {section}: {error}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    from ..cli import main as cli_main

    return cli_main(["dashboard", *(sys.argv[1:] if argv is None else argv)])

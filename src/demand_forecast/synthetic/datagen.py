"""Deterministic synthetic sales data with known, recorded defects.

Run::

    python -m demand_forecast.synthetic.datagen --out data --products 200 --years 4 \\
        --end-date 2026-10-31 --seed 42 [--format parquet|csv] [--chunk-size 1000] [--workers N]

Output (layout and column types follow ``docs/contracts.md``)::

    <out>/raw/sales_lines/part-00000.parquet ...    one part per chunk of products
    <out>/raw/products/products.parquet
    <out>/raw/stock_snapshots/part-00000.parquet ...
    <out>/raw/purchase_orders/part-00000.parquet ... the simulated company's orders, open and past
    <out>/raw/ordering_rules/ordering_rules.parquet  pack size, minimum order, costs per product
    <out>/truth/true_monthly_demand.parquet          product_id, month, true_demand
    <out>/truth/products_truth.parquet               demand_type and every generating parameter
    <out>/truth/defect_lines.parquet                 line_id, defect, product_id, sale_date, related_line_id
    <out>/truth/stockout_episodes.parquet            product_id, start_date, end_date, days, lost_units
    <out>/truth/outlier_events.parquet               product_id, sale_date, line_id, quantity, ...
    <out>/truth/manifest.json                        seed, parameters, exact count of every defect

With ``--format csv`` the raw folders hold ``.csv`` files with a header row instead (timestamps as
ISO text ``YYYY-MM-DDTHH:MM:SS``; a CSV cannot tell a null from an empty string, so null product ids
and the empty-string malformed values both arrive as empty fields). Truth files are always parquet.
Existing ``*.parquet``/``*.csv`` files in the five raw source folders and the truth files are
removed first, so a smaller run never leaves stale parts behind.

History window
--------------
``--end-date`` (default: yesterday) is the last day with sales. The history
is the ``12 * years`` calendar months ending with the month of the end date, so the first day is
the first of a month. The data is "extracted" on the day after the end date at 06:00; nothing in
the files was loaded later than that.

Demand model
------------
For product ``p`` on day ``t`` the expected demand is::

    lam[p, t] = level[p] * exp(trend[p] * years_since_start)
                * (1 + amplitude[p] * (group_month_profile[month_of_year] - 1))
                * group_weekday_profile[weekday] * lifecycle[p, t] * active[p, t]

``lifecycle`` ramps cold-start products up after launch (1 - exp(-age / tau)) and fades
discontinued products down to 30% over their last 120 days; ``active`` is 1 from
``max(launch_date, start)`` to ``min(discontinued_date, end_date)`` and 0 otherwise.
The realised daily demand (an integer) is::

    demand[p, t] = Poisson(lam[p, t] * month_shock[p, month] * Gamma(k, 1/k)[p, t])     (x size for lumpy)

with per demand type: smooth (small shock, mild daily noise, 45%), erratic (month shocks with
sigma 0.85 and strongly overdispersed days, 20%), intermittent (slow movers, 0.004-0.045 units a day,
25%) and lumpy (rare orders, 0.004-0.05 a day, each of a log-normal size with sigma 0.9, 10%).

Ground truth definition
-----------------------
``true_monthly_demand.true_demand`` is, per product and calendar month, the sum of the realised
daily demand ``demand[p, t]`` over the product's active days of that month. It includes the demand
of stock-out days (which did not sell), excludes the one-off bulk orders (outliers), excludes every
dirty line effect (duplicates, malformed values, late loading) and does not subtract returns. Rows
exist for every month from the month of ``max(launch_date, start)`` to the month of
``min(discontinued_date, end_date)``, zero months included; first and last months can be partial.

Sales lines
-----------
Every day with sales (``min(demand, on hand) > 0``, see "Stock") gives one line, except that 12% of
the days with at least 2 units are split: into 3 lines (4% of days, when there are at least 3 units)
or else into 2 lines; the parts are >= 1 and add up to the day's sales exactly. Hence, for a product
and month without stock-out days, outlier, return or any defect line, the sum of the line quantities
equals ``true_demand`` exactly (tolerance 0).
Prices are the list price +-4%, with an 8% chance of a 10-25% discount. ``loaded_at`` is the next
day between 01:00 and 06:00.

Line ids are ``L`` + 6-digit product number + 6-digit sequence within the product (day order, then
returns, then the bulk order), so they do not depend on the chunking.

Defects (all counted exactly in ``manifest.json["defects"]``; every affected line is listed in
``truth/defect_lines.parquet`` under the same ``defect`` name)
----------------------------------------------------------------------------------------------
Mutations of a real sale line (the line keeps its line_id; its units are lost to a pipeline that
quarantines it; at most one defect per line):

* ``null_product_id`` - product_id is null.
* ``unknown_product_id`` - product_id like ``P9xxxxx``, never in ``products``.
* ``unparseable_sale_date`` - sale_date one of ``n/a``, empty, ``0000-00-00``, ``YYYY-13-DD``,
  ``YYYY-MM-32``, ``YYYY-02-30``.
* ``future_sale_date`` - a valid date 1-365 days after the end date.
* ``non_numeric_quantity`` - quantity one of ``abc``, empty, ``n/a``, ``one``, ``1O``, ``#VALUE!``.
* ``absurd_quantity`` - quantity of at least 99,999 (real lines stay at or below 9,000 units).
* ``negative_unit_price`` - unit_price negated.
* ``non_numeric_unit_price`` - unit_price one of ``abc``, empty, ``n/a``, ``EUR``, or a decimal comma.

Valid lines that a pipeline must handle rather than reject:

* ``late_arriving`` - loaded_at 36-150 days after sale_date (only where that is before extraction).
* ``duplicate_line`` - the whole row is written twice; the count is the number of extra copies.
* ``return`` - an extra line with negative quantity (1..original units), 1-45 days after an earlier
  clean sale of the same product, at the same price; ``related_line_id`` names that sale. Never on
  a stock-out day or after the product's last active day.
* ``outlier_bulk_order`` - one extra line per affected product (~2%) with 10-30 x the product's
  typical (mean non-zero) daily quantity, at most 9,000 units, on an in-stock active day.

Stock
-----
Stock comes from an ordering policy in the simulated world (:mod:`.ordering`): the company reviews
every product monthly with a three-month lead time and orders up to its trailing 91-day sales rate x
the days until the end of the arrival month x a cover, in whole packs and at least the minimum order;
suppliers decline 1 % of orders and deliver 8 % late. Day by day ``sales = min(demand, on hand)``;
the end-of-day on hand is the snapshot, so on hand, receipts (``purchase_orders.received_date``) and
sales balance exactly. A stock-out day is an active day ending with nothing on hand: demand continues
(the truth counts it), sales stop once the stock is gone. Stock-outs therefore fall where such a
company runs out -- seasonal ramps, erratic months, lumps, late deliveries -- and ``manifest.json``
records their days, episodes, the lost units and the fill rate.

Modules
-------
:mod:`.world` (calendar, products, expected and realised demand, monthly truth), :mod:`.ordering`
(the company's ordering: purchase orders, stock, sales, stock-outs), :mod:`.defects` (sales lines
and every defect), :mod:`.columns` (fast text columns and ids), :mod:`.writer` (files); this module
runs them per chunk of products and writes the manifest.

Determinism
-----------
Product attributes come from one generator seeded with ``SeedSequence(seed, spawn_key=(0,))``; all
daily and line-level randomness of product number ``i`` comes from its own stream
``SeedSequence(seed, spawn_key=(1, i))``. The output is therefore identical for any chunk size or
number of worker processes, and parquet files are byte-identical between runs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .columns import product_ids
from .defects import (
    ABSURD_QUANTITY_MIN,
    DEFECT_NAMES,
    EXTRA_LINE_KINDS,
    LATE_MIN_DAYS,
    LINE_DEFECTS,
    RETURN_RATE,
    SPLIT2,
    SPLIT3,
    sales_lines,
)
from .ordering import (
    CANCELLED,
    DELAY_DAYS,
    LEAD_TIME_MONTHS,
    OPEN,
    P_CANCELLED,
    P_DELAYED,
    SALES_WINDOW_DAYS,
    ordering_rules,
    purchase_orders,
    simulate_ordering,
    snapshots,
    stockout_episodes,
)
from .world import (
    DEMAND_TYPE_SHARES,
    DEMAND_TYPES,
    MAX_BULK_ORDER,
    MAX_DAILY_SIZE,
    SHARE_COLD_START,
    SHARE_COLD_START_RECENT,
    SHARE_DISCONTINUED,
    SHARE_OUTLIER,
    Calendar,
    default_end_date,
    expected_demand,
    make_products,
    monthly_truth,
    realised_demand,
    slice_products,
)
from .writer import clean_output, products_tables, write_table

GENERATOR_VERSION = "2.0"  # 2.0: stock from an ordering policy, purchase orders, ordering rules


def _simulate_chunk(task: dict) -> dict:
    """Simulate products ``i0 .. i1-1`` and write their sales, snapshot and purchase order parts."""
    seed, i0, cal, pr = task["seed"], task["i0"], task["calendar"], task["products"]
    C = len(pr["level"])
    numbers = np.arange(i0, i0 + C) + 1
    pids = product_ids(numbers)

    lam, active = expected_demand(pr, cal)
    demand, split_u, rngs = realised_demand(pr, cal, lam, seed, i0)
    truth = monthly_truth(pids, pr, cal, demand)
    stock = simulate_ordering(pr, cal, demand, lam, active, rngs)
    lines = sales_lines(stock["sales"], demand, stock["stockout"], active, split_u, rngs, pr, cal, numbers, pids)
    snaps = snapshots(cal, stock["on_hand"], active, pids)
    orders = purchase_orders(cal, stock["orders"], numbers, pids)

    raw = Path(task["raw_dir"])
    name = f"part-{task['chunk']:05d}"
    write_table(lines["table"], raw / "sales_lines" / name, task["fmt"])
    write_table(snaps, raw / "stock_snapshots" / name, task["fmt"])
    write_table(orders, raw / "purchase_orders" / name, task["fmt"])
    status = stock["orders"]["status"]
    delayed = stock["orders"]["arrival_day"] > stock["orders"]["planned_day"]
    return {
        "chunk": task["chunk"],
        "n_products": C,
        "sales_rows": lines["table"].num_rows,
        "snapshot_rows": snaps.num_rows,
        "purchase_order_rows": orders.num_rows,
        "stockout_days": int(stock["stockout"].sum()),
        "active_days": int(active.sum()),
        "demand_units": int((demand * active).sum()),
        "lost_units": int((demand - stock["sales"]).sum()),
        "open_orders": int((status == OPEN).sum()),
        "cancelled_orders": int((status == CANCELLED).sum()),
        "delayed_orders": int((delayed & (status != CANCELLED)).sum()),
        "product_stockout_days": stock["stockout"].sum(axis=1),
        "counts": lines["counts"],
        "truth": truth,
        "defects": lines["defects"],
        "outliers": lines["outliers"],
        "episodes": stockout_episodes(cal, stock["stockout"], demand, stock["sales"], pids),
    }


_TOTAL_KEYS = (
    "sales_rows",
    "snapshot_rows",
    "purchase_order_rows",
    "stockout_days",
    "active_days",
    "demand_units",
    "lost_units",
    "open_orders",
    "cancelled_orders",
    "delayed_orders",
)


def _resolve_end_date(fmt: str, years: int, end_date: dt.date | str | None) -> dt.date:
    """Check the options and return the last day of history (default: yesterday)."""
    if fmt not in ("parquet", "csv"):
        raise ValueError("format must be 'parquet' or 'csv'")
    if years < 1:
        raise ValueError("years must be >= 1")
    if end_date is None:
        return default_end_date()
    if isinstance(end_date, str):
        return dt.date.fromisoformat(end_date)
    return end_date


def _chunk_tasks(
    prod: dict, products: int, cal: Calendar, seed: int, fmt: str, raw: Path, chunk_size: int
) -> list[dict]:
    """One task per chunk of ``chunk_size`` products, each carrying the slice of product attributes it needs."""
    chunk_size = max(1, int(chunk_size))
    return [
        {
            "seed": seed,
            "i0": i0,
            "chunk": c,
            "calendar": cal,
            "fmt": fmt,
            "raw_dir": str(raw),
            "products": slice_products(prod, i0, min(products, i0 + chunk_size)),
        }
        for c, i0 in enumerate(range(0, products, chunk_size))
    ]


def _worker_count(workers: int, n_tasks: int) -> int:
    """Processes to use: ``workers`` (0 = auto: up to 4, the cores), never more than the chunks."""
    if workers <= 0:
        workers = min(os.cpu_count() or 1, n_tasks, 4)
    return max(1, min(workers, n_tasks))


class _ChunkResults:
    """Collects the chunk results in chunk order: summed totals and defect counts, and the truth tables' parts."""

    def __init__(self) -> None:
        self.totals = {key: 0 for key in _TOTAL_KEYS}
        self.counts = {kind: 0 for kind in DEFECT_NAMES + ["return", "outlier_bulk_order"]}
        self.truth: list[pa.Table] = []
        self.defects: list[pa.Table] = []
        self.outliers: list[pa.Table] = []
        self.episodes: list[pa.Table] = []
        self.product_stockout_days: list[np.ndarray] = []
        self.products_done = 0

    def add(self, res: dict) -> None:
        self.products_done += res["n_products"]
        for key in self.totals:
            self.totals[key] += res[key]
        for key, val in res["counts"].items():
            self.counts[key] += val
        self.truth.append(res["truth"])
        self.defects.append(res["defects"])
        self.outliers.append(res["outliers"])
        self.episodes.append(res["episodes"])
        self.product_stockout_days.append(res["product_stockout_days"])


def _run_chunks(tasks: list[dict], workers: int, on_result) -> None:
    """Simulate every chunk (in this process or in a pool) and hand each result, in chunk order, to ``on_result``."""
    if workers == 1:
        for task in tasks:
            on_result(_simulate_chunk(task))
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for res in pool.map(_simulate_chunk, tasks):
                on_result(res)


def _write_products_and_truth(out: Path, fmt: str, prod: dict, cal: Calendar, results: _ChunkResults) -> pa.Table:
    """Write the per-product raw files (products, ordering rules) and the truth tables; return the episodes."""
    raw = out / "raw"
    products_tbl, products_truth = products_tables(prod, cal, np.concatenate(results.product_stockout_days))
    write_table(products_tbl, raw / "products" / "products", fmt)
    write_table(
        ordering_rules(prod, cal, products_tbl.column("product_id")), raw / "ordering_rules" / "ordering_rules", fmt
    )
    truth_dir = out / "truth"
    pq.write_table(pa.concat_tables(results.truth), truth_dir / "true_monthly_demand.parquet")
    pq.write_table(products_truth, truth_dir / "products_truth.parquet")
    pq.write_table(pa.concat_tables(results.defects), truth_dir / "defect_lines.parquet")
    pq.write_table(pa.concat_tables(results.outliers), truth_dir / "outlier_events.parquet")
    episodes = pa.concat_tables(results.episodes)
    pq.write_table(episodes, truth_dir / "stockout_episodes.parquet")
    return episodes


def _manifest_config() -> dict:
    """The generator's fixed settings as the manifest records them (``config`` and the sections after it)."""
    return {
        "config": {
            "demand_type_shares": dict(zip(DEMAND_TYPES, DEMAND_TYPE_SHARES.tolist(), strict=False)),
            "share_cold_start": SHARE_COLD_START,
            "share_cold_start_last_3_months": SHARE_COLD_START * SHARE_COLD_START_RECENT,
            "share_discontinued": SHARE_DISCONTINUED,
            "ordering": {
                "lead_time_months": LEAD_TIME_MONTHS,
                "sales_window_days": SALES_WINDOW_DAYS,
                "p_cancelled": P_CANCELLED,
                "p_delayed": P_DELAYED,
                "delay_days": list(DELAY_DAYS),
            },
            "share_outlier_products": SHARE_OUTLIER,
            "split_line_probabilities": {"2_lines": SPLIT2 - SPLIT3, "3_lines": SPLIT3},
            "return_rate": RETURN_RATE,
            "line_defect_rates": {name: rate for name, rate, _ in LINE_DEFECTS},
        },
        "defect_names_in_defect_lines": {
            "duplicate_lines": "duplicate_line",
            "returns": "return",
            "late_arriving_lines": "late_arriving",
            "outlier_bulk_orders": "outlier_bulk_order",
        },
        "expected_handling": {
            **{name: handling for name, _, handling in LINE_DEFECTS},
            **dict(EXTRA_LINE_KINDS),
        },
        "rules": {
            "absurd_quantity_min": ABSURD_QUANTITY_MIN,
            "late_after_days": LATE_MIN_DAYS - 1,
            "max_real_daily_quantity": MAX_DAILY_SIZE,
            "max_bulk_order_quantity": MAX_BULK_ORDER,
        },
        "truth_definition": (
            "true_demand = sum over the product's active days in the month of the realised daily "
            "demand: includes demand lost to stock-outs, excludes bulk outlier orders and all dirty "
            "lines, returns not subtracted."
        ),
    }


def _manifest_files(fmt: str) -> dict:
    """Where each table of the dataset lies, relative to the output folder."""
    return {
        "sales_lines": f"raw/sales_lines/part-*.{fmt}",
        "products": f"raw/products/products.{fmt}",
        "stock_snapshots": f"raw/stock_snapshots/part-*.{fmt}",
        "purchase_orders": f"raw/purchase_orders/part-*.{fmt}",
        "ordering_rules": f"raw/ordering_rules/ordering_rules.{fmt}",
        "truth": [
            "truth/true_monthly_demand.parquet",
            "truth/products_truth.parquet",
            "truth/defect_lines.parquet",
            "truth/stockout_episodes.parquet",
            "truth/outlier_events.parquet",
        ],
    }


def _manifest(
    seed: int,
    products: int,
    years: int,
    fmt: str,
    prod: dict,
    cal: Calendar,
    results: _ChunkResults,
    episodes: pa.Table,
) -> dict:
    """The run's manifest: seed and parameters, row counts, product and stock figures, every defect's exact count."""
    totals, counts = results.totals, results.counts
    type_counts = np.bincount(prod["dtype_idx"], minlength=4)
    defects = {
        "duplicate_lines": counts["duplicate_line"],
        "returns": counts["return"],
        "late_arriving_lines": counts["late_arriving"],
        **{k: counts[k] for k in DEFECT_NAMES if k not in ("duplicate_line", "late_arriving")},
        "outlier_bulk_orders": counts["outlier_bulk_order"],
    }
    return {
        "generator": "demand_forecast.synthetic.datagen",
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "parameters": {
            "products": products,
            "years": years,
            "start_date": cal.start.isoformat(),
            "end_date": cal.end.isoformat(),
            "format": fmt,
            "days": cal.n_days,
            "months": cal.n_months,
        },
        "extracted_at": (dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=int(cal.extract_us))).isoformat(),
        "rows": {
            "sales_lines": totals["sales_rows"],
            "products": products,
            "stock_snapshots": totals["snapshot_rows"],
            "purchase_orders": totals["purchase_order_rows"],
            "ordering_rules": products,
            "true_monthly_demand": sum(tp.num_rows for tp in results.truth),
        },
        "products": {
            "demand_types": {name: int(c) for name, c in zip(DEMAND_TYPES, type_counts, strict=False)},
            "cold_start": int(prod["cold"].sum()),
            "cold_start_last_3_months": int(prod["recent"].sum()),
            "discontinued": int(prod["discontinued"].sum()),
            "with_stockouts": len(set(episodes.column("product_id").to_pylist())),
            "stockout_episodes": episodes.num_rows,
            "stockout_days": totals["stockout_days"],
            "with_outlier": counts["outlier_bulk_order"],
        },
        "stock": {
            "stockout_day_share": round(totals["stockout_days"] / max(1, totals["active_days"]), 6),
            "fill_rate": round(1 - totals["lost_units"] / max(1, totals["demand_units"]), 6),
            "lost_units": totals["lost_units"],
            "purchase_orders": totals["purchase_order_rows"],
            "open_at_extraction": totals["open_orders"],
            "cancelled": totals["cancelled_orders"],
            "delayed": totals["delayed_orders"],
        },
        "defects": defects,
        **_manifest_config(),
        "files": _manifest_files(fmt),
    }


def generate(
    out: str | Path = "data",
    products: int = 200,
    years: int = 4,
    end_date: dt.date | str | None = None,
    seed: int = 42,
    fmt: str = "parquet",
    chunk_size: int = 1000,
    workers: int = 0,
    progress: bool = True,
) -> dict:
    """Generate the raw files and the ground truth under ``out``; return the manifest."""
    t0 = time.perf_counter()
    end_date = _resolve_end_date(fmt, years, end_date)
    out = Path(out)
    cal = Calendar(end_date, years)
    prod = make_products(products, cal, seed)
    clean_output(out)
    tasks = _chunk_tasks(prod, products, cal, seed, fmt, out / "raw", chunk_size)
    workers = _worker_count(workers, len(tasks))

    def log(msg: str) -> None:
        if progress:
            print(f"[datagen] {msg}", file=sys.stderr, flush=True)

    log(
        f"{products} products x {cal.n_days} days ({cal.start} .. {cal.end}), "
        f"{len(tasks)} chunk(s), {workers} worker(s), seed {seed}"
    )
    results = _ChunkResults()

    def consume(res: dict) -> None:
        results.add(res)
        done, totals = results.products_done, results.totals
        log(
            f"products {done}/{products} ({100 * done / products:.0f}%), "
            f"sales rows {totals['sales_rows']:,}, snapshot rows {totals['snapshot_rows']:,}, "
            f"elapsed {time.perf_counter() - t0:.1f}s"
        )

    _run_chunks(tasks, workers, consume)
    episodes = _write_products_and_truth(out, fmt, prod, cal, results)
    manifest = _manifest(seed, products, years, fmt, prod, cal, results, episodes)
    (out / "truth" / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    elapsed = time.perf_counter() - t0
    log(
        f"done: {results.totals['sales_rows']:,} sales rows, {results.totals['snapshot_rows']:,} snapshot rows, "
        f"{products} products in {elapsed:.1f}s -> {out}"
    )
    return manifest


def add_arguments(ap: argparse.ArgumentParser) -> None:
    """Arguments of ``demand-forecast generate`` (also ``python -m demand_forecast.synthetic.datagen``)."""
    ap.add_argument("--out", default="data", help="output folder (raw/ and truth/ are created inside)")
    ap.add_argument("--products", type=int, default=200)
    ap.add_argument("--years", type=int, default=4)
    ap.add_argument("--end-date", default=None, help="last day of history, YYYY-MM-DD (default: yesterday)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--format", dest="fmt", choices=["parquet", "csv"], default="parquet")
    ap.add_argument("--chunk-size", type=int, default=1000, help="products per part file (output is the same)")
    ap.add_argument("--workers", type=int, default=0, help="processes (0 = auto); output is the same")
    ap.add_argument("--quiet", action="store_true", help="no progress lines on stderr")


def run(args: argparse.Namespace) -> int:
    try:
        end = dt.date.fromisoformat(args.end_date) if args.end_date else None
    except ValueError:
        print(f"error: --end-date must be YYYY-MM-DD, got {args.end_date!r}", file=sys.stderr)
        return 2
    try:
        generate(
            args.out,
            args.products,
            args.years,
            end,
            args.seed,
            args.fmt,
            args.chunk_size,
            args.workers,
            progress=not args.quiet,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    from ..cli import main as cli_main

    return cli_main(["generate", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())

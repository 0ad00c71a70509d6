"""Deterministic synthetic sales data with known, recorded defects.

Run::

    python -m demand_forecast.synthetic.datagen --out data --products 200 --years 4 \\
        --end-date 2026-10-31 --seed 42 [--format parquet|csv] [--chunk-size 1000] [--workers N]

Output (layout and column types follow ``docs/contracts.md``)::

    <out>/raw/sales_lines/part-00000.parquet ...    one part per chunk of products
    <out>/raw/products/products.parquet
    <out>/raw/stock_snapshots/part-00000.parquet ...
    <out>/truth/true_monthly_demand.parquet          product_id, month, true_demand
    <out>/truth/products_truth.parquet               demand_type and every generating parameter
    <out>/truth/defect_lines.parquet                 line_id, defect, product_id, sale_date, related_line_id
    <out>/truth/stockout_episodes.parquet            product_id, start_date, end_date, days
    <out>/truth/outlier_events.parquet               product_id, sale_date, line_id, quantity, ...
    <out>/truth/manifest.json                        seed, parameters, exact count of every defect

With ``--format csv`` the raw folders hold ``.csv`` files with a header row instead (timestamps as
ISO text ``YYYY-MM-DDTHH:MM:SS``; a CSV cannot tell a null from an empty string, so null product ids
and the empty-string malformed values both arrive as empty fields). Truth files are always parquet.
Existing ``*.parquet``/``*.csv`` files in the three raw source folders and the truth files are
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
Every day with sales (demand > 0 and not out of stock) gives one line, except that 12% of the days
with at least 2 units are split: into 3 lines (4% of days, when there are at least 3 units) or else
into 2 lines; the parts are >= 1 and add up to the day's demand exactly. Hence, for a product and
month without stock-out days, outlier, return or any defect line, the sum of the line quantities
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
Snapshots are daily per product over the active window. ~15% of products (with an active window of
at least 60 days) get 1-3 stock-out episodes of 5-40 days: ``on_hand_qty = 0`` and no sales line at
all on those days although demand continues. Otherwise on-hand follows a replenishment saw-tooth and
is always > 0.

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
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ..data.contract import PRODUCTS_SCHEMA, SALES_SCHEMA, SNAPSHOT_SCHEMA

GENERATOR_VERSION = "1.0"

US_PER_DAY = 86_400_000_000
US_PER_HOUR = 3_600_000_000
EPOCH = dt.date(1970, 1, 1)

# (group, categories, month-of-year profile Jan..Dec, weekday profile Mon..Sun, median list price)
GROUPS = [
    (
        "Garden",
        ["Tools", "Seeds", "Furniture", "Irrigation"],
        [0.45, 0.55, 0.9, 1.45, 1.75, 1.65, 1.4, 1.1, 0.8, 0.65, 0.55, 0.75],
        [0.8, 0.8, 0.85, 0.9, 1.1, 1.6, 0.95],
        25.0,
    ),
    (
        "Heating",
        ["Heaters", "Insulation", "Fuel"],
        [1.8, 1.6, 1.2, 0.8, 0.5, 0.4, 0.4, 0.5, 0.8, 1.2, 1.5, 1.8],
        [0.95, 0.95, 1.0, 1.0, 1.05, 1.25, 0.8],
        80.0,
    ),
    (
        "Toys",
        ["Games", "Puzzles", "Outdoor toys", "Dolls"],
        [0.7, 0.65, 0.75, 0.8, 0.8, 0.8, 0.9, 0.9, 0.9, 1.0, 1.6, 2.2],
        [0.8, 0.8, 0.85, 0.9, 1.1, 1.55, 1.0],
        20.0,
    ),
    (
        "Stationery",
        ["Paper", "Pens", "School bags"],
        [1.1, 0.9, 0.9, 0.8, 0.8, 0.8, 1.0, 1.9, 1.6, 0.9, 0.8, 0.7],
        [1.25, 1.25, 1.25, 1.2, 1.05, 0.0, 0.0],
        4.0,
    ),
    (
        "Kitchen",
        ["Cookware", "Utensils", "Storage", "Appliances"],
        [0.9, 0.9, 1.0, 1.0, 1.0, 0.9, 0.9, 0.9, 1.0, 1.0, 1.2, 1.5],
        [0.9, 0.9, 0.95, 0.95, 1.05, 1.35, 0.9],
        18.0,
    ),
    (
        "Beverages",
        ["Soft drinks", "Water", "Juice"],
        [0.7, 0.7, 0.85, 1.0, 1.2, 1.45, 1.55, 1.45, 1.1, 0.85, 0.8, 1.0],
        [0.9, 0.9, 0.95, 1.0, 1.2, 1.35, 0.7],
        2.5,
    ),
    (
        "Electronics",
        ["Cables", "Batteries", "Lighting", "Audio"],
        [0.9, 0.8, 0.85, 0.85, 0.85, 0.85, 0.9, 0.95, 0.95, 1.0, 1.5, 1.8],
        [0.9, 0.9, 0.95, 1.0, 1.1, 1.35, 0.8],
        15.0,
    ),
    (
        "Cleaning",
        ["Detergents", "Paper goods", "Brushes"],
        [1.05, 1.0, 1.05, 1.05, 1.0, 0.95, 0.95, 0.95, 1.0, 1.0, 0.95, 1.05],
        [1.2, 1.2, 1.2, 1.15, 1.1, 0.15, 0.0],
        6.0,
    ),
]
GROUP_WEIGHTS = np.array([0.14, 0.08, 0.12, 0.10, 0.16, 0.12, 0.14, 0.14])

DEMAND_TYPES = ["smooth", "erratic", "intermittent", "lumpy"]
DEMAND_TYPE_SHARES = np.array([0.45, 0.20, 0.25, 0.10])
# per demand type: daily Gamma shape (overdispersion), month shock sigma
GAMMA_SHAPE = np.array([8.0, 1.2, 50.0, 50.0])
MONTH_SHOCK_SIGMA = np.array([0.08, 0.85, 0.15, 0.3])
LUMPY_SIZE_SIGMA = 0.9
MAX_DAILY_SIZE = 5_000
MAX_BULK_ORDER = 9_000  # a bulk order is an outlier to cap, not an absurd value to reject

SHARE_COLD_START = 0.10
SHARE_COLD_START_RECENT = 0.25  # of the cold starts: launched within the last 3 months
SHARE_DISCONTINUED = 0.05
SHARE_STOCKOUT = 0.15
SHARE_OUTLIER = 0.02
SPLIT2, SPLIT3 = 0.12, 0.04
RETURN_RATE = 0.021
ABSURD_QUANTITY_MIN = 99_999
LATE_MIN_DAYS, LATE_MAX_DAYS = 36, 150

# Mutations/flags of real sale lines, drawn per line: (name, probability, expected handling)
LINE_DEFECTS = [
    ("null_product_id", 0.0015, "quarantine"),
    ("unknown_product_id", 0.0006, "quarantine"),
    ("unparseable_sale_date", 0.0004, "quarantine"),
    ("future_sale_date", 0.0002, "quarantine"),
    ("non_numeric_quantity", 0.0004, "quarantine"),
    ("absurd_quantity", 0.0002, "quarantine"),
    ("negative_unit_price", 0.0003, "quarantine"),
    ("non_numeric_unit_price", 0.0003, "quarantine"),
    ("late_arriving", 0.005, "keep (flag as late)"),
    ("duplicate_line", 0.005, "deduplicate (keep one copy)"),
]
DEFECT_NAMES = [name for name, _, _ in LINE_DEFECTS]
DEFECT_CODE = {name: i + 1 for i, name in enumerate(DEFECT_NAMES)}
EXTRA_LINE_KINDS = [
    ("return", "keep (negative quantity, subtract as returned units)"),
    ("outlier_bulk_order", "keep but cap as an outlier"),
]

BAD_DATES = ["n/a", "", "0000-00-00", "{y}-13-{d}", "{y}-{m}-32", "{y}-02-30"]
BAD_QUANTITIES = ["abc", "", "n/a", "one", "1O", "#VALUE!"]
ABSURD_QUANTITIES = [99_999, 999_999, 1_000_000, 9_999_999]
BAD_PRICES = ["abc", "", "n/a", "EUR", "{comma}"]

TRUTH_SCHEMA = pa.schema(
    [
        ("product_id", pa.string()),
        ("month", pa.date32()),
        ("true_demand", pa.float64()),
    ]
)
DEFECT_SCHEMA = pa.schema(
    [
        ("line_id", pa.string()),
        ("defect", pa.string()),
        ("product_id", pa.string()),
        ("sale_date", pa.date32()),
        ("related_line_id", pa.string()),
    ]
)
OUTLIER_SCHEMA = pa.schema(
    [
        ("product_id", pa.string()),
        ("sale_date", pa.date32()),
        ("line_id", pa.string()),
        ("quantity", pa.int64()),
        ("multiplier", pa.float64()),
        ("typical_daily_quantity", pa.float64()),
    ]
)


# --------------------------------------------------------------------------------------------
# fast text columns built straight from numpy (arrow casts are slower at tens of millions of rows)
# --------------------------------------------------------------------------------------------


def _string_array(offsets: np.ndarray, data: np.ndarray) -> pa.Array:
    return pa.StringArray.from_buffers(len(offsets) - 1, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(data))


def fixed_width_text(parts: list) -> pa.Array:
    """Concatenate fixed-width pieces: ``bytes`` literals and ``(int array, width)`` zero-padded."""
    buf = _fixed_width_bytes(parts)
    n, width = buf.shape
    return _string_array(np.arange(n + 1, dtype=np.int64) * width, buf.reshape(-1))


def _fixed_width_bytes(parts: list) -> np.ndarray:
    n = next(len(p[0]) for p in parts if isinstance(p, tuple))
    width = sum(len(p) if isinstance(p, bytes) else p[1] for p in parts)
    buf = np.empty((n, width), dtype=np.uint8)
    col = 0
    for part in parts:
        if isinstance(part, bytes):
            buf[:, col : col + len(part)] = np.frombuffer(part, dtype=np.uint8)
            col += len(part)
            continue
        values, w = part
        v = np.asarray(values, dtype=np.int64)
        for k in range(w):
            buf[:, col + w - 1 - k] = 48 + (v // 10**k) % 10
        col += w
    return buf


def int_text(values: np.ndarray, scale: int = 0) -> pa.Array:
    """Integers as decimal text; ``scale=2`` turns cents into ``123.45`` (sign kept)."""
    v = np.asarray(values, dtype=np.int64)
    n = len(v)
    neg = v < 0
    a = np.abs(v)
    max_digits = max(len(str(int(a.max()))) if n else 1, scale + 1)
    nd = np.ones(n, dtype=np.int64)
    for k in range(1, max_digits):
        nd += a >= 10**k
    nd = np.maximum(nd, scale + 1)
    length = nd + neg + (1 if scale else 0)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(length, out=offsets[1:])
    data = np.empty(int(offsets[-1]), dtype=np.uint8)
    start, end = offsets[:-1], offsets[1:]
    data[start[neg]] = ord("-")
    if scale:
        data[end - 1 - scale] = ord(".")
    for k in range(max_digits):
        pos = end - 1 - k - (1 if scale and k >= scale else 0)
        digit = 48 + (a // 10**k) % 10
        mask = nd > k
        data[pos[mask]] = digit[mask]
    return _string_array(offsets, data)


def _ymd(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    d = days.astype("datetime64[D]")
    years = d.astype("datetime64[Y]").astype(np.int64) + 1970
    months = d.astype("datetime64[M]").astype(np.int64) % 12 + 1
    mdays = (d - d.astype("datetime64[M]").astype("datetime64[D]")).astype(np.int64) + 1
    return years, months, mdays


def date_text(days_since_epoch: np.ndarray) -> pa.Array:
    """``YYYY-MM-DD`` text; formats each distinct day once and gathers the bytes."""
    days = np.asarray(days_since_epoch, dtype=np.int64)
    n = len(days)
    if n == 0:
        return pa.array([], pa.string())
    lo = int(days.min())
    span = np.arange(lo, int(days.max()) + 1)
    y, m, d = _ymd(span)
    table = _fixed_width_bytes([(y, 4), b"-", (m, 2), b"-", (d, 2)])
    return _string_array(np.arange(n + 1, dtype=np.int64) * 10, table[days - lo].reshape(-1))


def timestamp_text(us: np.ndarray) -> pa.Array:
    us = np.asarray(us, dtype=np.int64)
    days = us // US_PER_DAY
    secs = (us - days * US_PER_DAY) // 1_000_000
    years, months, mdays = _ymd(days)
    return fixed_width_text(
        [
            (years, 4),
            b"-",
            (months, 2),
            b"-",
            (mdays, 2),
            b"T",
            (secs // 3600, 2),
            b":",
            (secs // 60 % 60, 2),
            b":",
            (secs % 60, 2),
        ]
    )


def _override(arr: pa.Array, overrides: list[tuple[np.ndarray, list]]) -> pa.Array:
    """Replace the rows of each ``(mask, values)`` pair (values in row order) in one pass."""
    combined = np.zeros(len(arr), dtype=bool)
    for mask, _ in overrides:
        combined |= mask
    if not combined.any():
        return arr
    rows = np.flatnonzero(combined)
    values = np.empty(len(rows), dtype=object)
    for mask, vals in overrides:
        values[np.searchsorted(rows, np.flatnonzero(mask))] = vals
    return pc.replace_with_mask(arr, pa.array(combined), pa.array(values.tolist(), type=pa.string()))


# --------------------------------------------------------------------------------------------
# calendar and product attributes
# --------------------------------------------------------------------------------------------


def default_end_date(today: dt.date | None = None) -> dt.date:
    """Yesterday: data that runs up to the day before the batch, as a warehouse fed daily would.

    The batch forecasts from the last complete month (the SQL cuts there); the days of the running
    month keep Elementary's daily volume and freshness monitors, measured back from now, meaningful.
    """
    today = today or dt.date.today()
    return today - dt.timedelta(days=1)


class Calendar:
    def __init__(self, end_date: dt.date, years: int):
        end_month = end_date.year * 12 + end_date.month - 1
        start_month = end_month - 12 * years + 1
        self.start = dt.date(start_month // 12, start_month % 12 + 1, 1)
        self.end = end_date
        self.n_days = (end_date - self.start).days + 1
        self.start_epoch = (self.start - EPOCH).days
        days = np.arange(self.n_days) + self.start_epoch
        d64 = days.astype("datetime64[D]")
        m64 = d64.astype("datetime64[M]")
        month_abs = m64.astype(np.int64)
        self.month_of_day = (month_abs - month_abs[0]).astype(np.int64)
        self.n_months = int(self.month_of_day[-1]) + 1
        self.month_start_day = np.flatnonzero(np.r_[True, np.diff(self.month_of_day) > 0])
        self.month_epoch = (
            (np.arange(self.n_months) + month_abs[0]).astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
        )
        self.moy = (month_abs % 12).astype(np.int64)
        self.dow = ((days + 3) % 7).astype(np.int64)  # 1970-01-01 was a Thursday; 0 = Monday
        self.years_since_start = np.arange(self.n_days) / 365.25
        self.extract_us = (self.start_epoch + self.n_days) * US_PER_DAY + 6 * US_PER_HOUR


def _month_profiles() -> tuple[np.ndarray, np.ndarray]:
    moy = np.array([g[2] for g in GROUPS], dtype=float)
    moy /= moy.mean(axis=1, keepdims=True)
    dow = np.array([g[3] for g in GROUPS], dtype=float)
    dow /= dow.mean(axis=1, keepdims=True)
    return moy, dow


def make_products(n: int, cal: Calendar, seed: int) -> dict:
    """All product-level attributes, drawn vectorised from one generator."""
    if n < 1 or n >= 900_000:
        raise ValueError("--products must be between 1 and 899,999")
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(0,))))
    D = cal.n_days
    group = rng.choice(len(GROUPS), size=n, p=GROUP_WEIGHTS / GROUP_WEIGHTS.sum())
    n_cats = np.array([len(GROUPS[g][1]) for g in group])
    cat_idx = np.floor(rng.random(n) * n_cats).astype(np.int64)
    dtype_idx = rng.choice(4, size=n, p=DEMAND_TYPE_SHARES)
    med_price = np.array([GROUPS[g][4] for g in group])
    raw_price = med_price * rng.lognormal(0.0, 0.6, n)
    list_cents = np.maximum(99, np.rint(raw_price) * 100 - 1).astype(np.int64)

    # lifecycle
    u_life = rng.random(n)
    cold = u_life < SHARE_COLD_START
    recent = cold & (u_life < SHARE_COLD_START * SHARE_COLD_START_RECENT)
    launch = -1 - np.floor(rng.random(n) * 2500).astype(np.int64)
    lo_old, hi_old = 30, max(31, D - 91)
    launch_cold = lo_old + np.floor(rng.random(n) * (hi_old - lo_old)).astype(np.int64)
    launch_recent = (D - 90) + np.floor(rng.random(n) * 77).astype(np.int64)
    launch = np.where(cold, launch_cold, launch)
    launch = np.where(recent, launch_recent, launch)
    launch = np.minimum(launch, D - 1)
    u_disc = rng.random(n)
    disc_day = 180 + np.floor(rng.random(n) * max(1, D - 210)).astype(np.int64)
    discontinued = (~cold) & (u_disc < SHARE_DISCONTINUED / (1 - SHARE_COLD_START)) & (D > 400)
    disc_day = np.where(discontinued, disc_day, -1)
    active_from = np.maximum(launch, 0)
    active_to = np.where(discontinued, disc_day, D - 1)

    # demand parameters
    lv = rng.standard_normal(n)
    level = np.select(
        [dtype_idx == 0, dtype_idx == 1, dtype_idx == 2],
        [
            np.clip(4.0 * np.exp(0.8 * lv), 0.8, 60.0),
            np.clip(2.5 * np.exp(0.8 * lv), 0.3, 40.0),
            np.clip(0.02 * np.exp(0.5 * lv), 0.004, 0.045),
        ],
        np.clip(0.02 * np.exp(0.5 * lv), 0.004, 0.05),
    )
    lumpy_size = np.clip(15.0 * rng.lognormal(0.0, 0.6, n), 3.0, 200.0)
    trend = np.clip(rng.normal(0.02, 0.10, n), -0.25, 0.30)
    amplitude = rng.uniform(0.3, 1.0, n)
    ramp_tau = rng.uniform(20.0, 90.0, n)

    # stock: saw-tooth parameters
    cycle_len = rng.integers(7, 36, n)
    cycle_phase = np.floor(rng.random(n) * cycle_len).astype(np.int64)
    safety = 1 + np.floor(rng.random(n) * 5).astype(np.int64)
    cover = rng.uniform(1.0, 1.6, n)

    # stock-out episodes: up to three per product, one per equal segment of the active window
    window = active_to - active_from + 1
    has_so = (rng.random(n) < SHARE_STOCKOUT) & (window >= 60)
    n_eps = rng.integers(1, 4, n)
    ep_len = rng.integers(5, 41, (n, 3))
    ep_pos = rng.random((n, 3))
    so_prod, so_start, so_end = [], [], []
    for p in np.flatnonzero(has_so):
        k = int(n_eps[p])
        while k > 1 and window[p] // k < 20:
            k -= 1
        seg = window[p] // k
        for j in range(k):
            length = int(min(ep_len[p, j], seg - 4))
            s = active_from[p] + j * seg + 2 + int(ep_pos[p, j] * (seg - 4 - length))
            so_prod.append(p)
            so_start.append(s)
            so_end.append(min(s + length - 1, active_to[p]))
    so_prod = np.array(so_prod, dtype=np.int64)
    so_start = np.array(so_start, dtype=np.int64)
    so_end = np.array(so_end, dtype=np.int64)

    has_outlier = (rng.random(n) < SHARE_OUTLIER) & (window >= 30)
    outlier_pos = rng.random(n)
    outlier_mult = rng.uniform(10.0, 30.0, n)

    return dict(
        n=n,
        group=group,
        cat_idx=cat_idx,
        dtype_idx=dtype_idx,
        list_cents=list_cents,
        cold=cold,
        recent=recent,
        launch=launch,
        discontinued=discontinued,
        disc_day=disc_day,
        active_from=active_from,
        active_to=active_to,
        level=level,
        lumpy_size=lumpy_size,
        trend=trend,
        amplitude=amplitude,
        ramp_tau=ramp_tau,
        cycle_len=cycle_len,
        cycle_phase=cycle_phase,
        safety=safety,
        cover=cover,
        has_so=has_so,
        so_prod=so_prod,
        so_start=so_start,
        so_end=so_end,
        has_outlier=has_outlier,
        outlier_pos=outlier_pos,
        outlier_mult=outlier_mult,
    )


def _slice_products(prod: dict, i0: int, i1: int) -> dict:
    out = {}
    for key, val in prod.items():
        if key.startswith("so_"):
            continue
        out[key] = val[i0:i1] if isinstance(val, np.ndarray) else val
    sel = (prod["so_prod"] >= i0) & (prod["so_prod"] < i1)
    out["so_prod"] = prod["so_prod"][sel] - i0
    out["so_start"] = prod["so_start"][sel]
    out["so_end"] = prod["so_end"][sel]
    return out


def product_ids(numbers: np.ndarray) -> pa.Array:
    return fixed_width_text([b"P", (numbers, 6)])


def line_ids(product_numbers: np.ndarray, seq: np.ndarray) -> pa.Array:
    return fixed_width_text([b"L", (product_numbers, 6), (seq, 6)])


# --------------------------------------------------------------------------------------------
# one chunk of products
# --------------------------------------------------------------------------------------------


def _simulate_chunk(task: dict) -> dict:
    """Simulate products ``i0 .. i1-1`` and write their sales and snapshot parts."""
    seed, i0, cal, pr = task["seed"], task["i0"], task["calendar"], task["products"]
    C = len(pr["level"])
    D, M = cal.n_days, cal.n_months
    t = np.arange(D)
    moy_prof, dow_prof = _month_profiles()
    numbers = np.arange(i0, i0 + C) + 1
    pids = product_ids(numbers)

    # expected daily demand lam (C x D)
    a, b = pr["active_from"], pr["active_to"]
    active = (t[None, :] >= a[:, None]) & (t[None, :] <= b[:, None])
    season = 1.0 + pr["amplitude"][:, None] * (moy_prof[pr["group"]] - 1.0)  # C x 12
    lam = pr["level"][:, None] * np.exp(pr["trend"][:, None] * cal.years_since_start[None, :])
    lam *= season[:, cal.moy]
    lam *= dow_prof[pr["group"]][:, cal.dow]
    age = t[None, :] - pr["launch"][:, None]
    ramp = np.where(pr["cold"][:, None], 1.0 - np.exp(-(np.maximum(age, 0) + 1) / pr["ramp_tau"][:, None]), 1.0)
    lam *= ramp
    to_end = pr["disc_day"][:, None] - t[None, :]
    fade = np.where(pr["discontinued"][:, None] & (to_end < 120), 0.3 + 0.7 * np.clip(to_end, 0, 120) / 120.0, 1.0)
    lam *= fade
    lam *= active

    # realised demand from each product's own stream
    demand = np.zeros((C, D), dtype=np.int64)
    split_u = np.empty((C, D, 3), dtype=np.float32)
    rngs = []
    for j in range(C):
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(1, i0 + j))))
        rngs.append(rng)
        kind = pr["dtype_idx"][j]
        shape = GAMMA_SHAPE[kind]
        shock = rng.lognormal(0.0, MONTH_SHOCK_SIGMA[kind], M)
        noise = rng.gamma(shape, 1.0 / shape, D)
        row = rng.poisson(lam[j] * shock[cal.month_of_day] * noise)
        if kind == 3:
            size = np.rint(rng.lognormal(np.log(pr["lumpy_size"][j]), LUMPY_SIZE_SIGMA, D))
            row = row * np.clip(size, 1, MAX_DAILY_SIZE).astype(np.int64)
            row = np.minimum(row, MAX_DAILY_SIZE)
        demand[j] = row
        split_u[j] = rng.random((D, 3), dtype=np.float32)

    # ground truth per month over the active window
    monthly = np.add.reduceat(demand, cal.month_start_day, axis=1)
    m_lo = cal.month_of_day[a]
    m_hi = cal.month_of_day[b]
    months = np.arange(M)
    in_window = (months[None, :] >= m_lo[:, None]) & (months[None, :] <= m_hi[:, None])
    tr_r, tr_m = np.nonzero(in_window)
    truth = pa.table(
        {
            "product_id": pids.take(pa.array(tr_r)),
            "month": pa.array(cal.month_epoch[tr_m].astype(np.int32), pa.date32()),
            "true_demand": pa.array(monthly[tr_r, tr_m].astype(np.float64)),
        },
        schema=TRUTH_SCHEMA,
    )

    # stock-outs
    stockout = np.zeros((C, D), dtype=bool)
    for r, s, e in zip(pr["so_prod"], pr["so_start"], pr["so_end"], strict=False):
        stockout[r, s : e + 1] = True
    sales = np.where(stockout, 0, demand)

    # day records -> lines (split)
    rows_d, days_d = np.nonzero(sales)
    q_d = sales[rows_d, days_d]
    su = split_u[rows_d, days_d].astype(np.float64)
    nl = 1 + ((su[:, 0] < SPLIT2) & (q_d >= 2)) + ((su[:, 0] < SPLIT3) & (q_d >= 3))
    first = np.where(
        nl == 1, q_d, np.where(nl == 2, 1 + np.floor(su[:, 1] * (q_d - 1)), 1 + np.floor(su[:, 1] * (q_d - 2)))
    )
    first = first.astype(np.int64)
    second = np.where(nl == 2, q_d - first, 1 + np.floor(su[:, 2] * np.maximum(q_d - first - 1, 0))).astype(np.int64)
    third = q_d - first - second
    rep = np.repeat(np.arange(len(q_d)), nl)
    k = np.arange(len(rep)) - (np.cumsum(nl) - nl)[rep]
    qty = np.where(k == 0, first[rep], np.where(k == 1, second[rep], third[rep]))
    r_l = rows_d[rep]
    d_l = days_d[rep]
    n_lines = len(qty)
    per_prod = np.bincount(r_l, minlength=C)
    prod_off = np.cumsum(per_prod) - per_prod
    seq = np.arange(n_lines) - prod_off[r_l]

    # line-level uniforms, again from each product's own stream
    U = np.empty((n_lines, 7))
    for j in range(C):
        U[prod_off[j] : prod_off[j] + per_prod[j]] = rngs[j].random((per_prod[j], 7))

    discount = np.where(U[:, 1] < 0.08, 1.0 - (0.10 + 0.15 * U[:, 1] / 0.08), 1.0)
    cents = np.maximum(1, np.rint(pr["list_cents"][r_l] * (1.0 + 0.04 * (2 * U[:, 0] - 1)) * discount)).astype(np.int64)
    day_us = (d_l + cal.start_epoch + 1) * US_PER_DAY
    loaded = day_us + US_PER_HOUR + np.floor(U[:, 2] * 5 * 3600).astype(np.int64) * 1_000_000

    # defects on sale lines: one category per line
    cum = np.cumsum([p for _, p, _ in LINE_DEFECTS])
    code = np.searchsorted(cum, U[:, 3], side="right") + 1
    code[U[:, 3] >= cum[-1]] = 0
    late_delay = LATE_MIN_DAYS + np.floor(U[:, 4] * (LATE_MAX_DAYS - LATE_MIN_DAYS + 1)).astype(np.int64)
    late = code == DEFECT_CODE["late_arriving"]
    feasible = d_l + late_delay <= D  # day D is the extraction day
    code[late & ~feasible] = 0
    late = code == DEFECT_CODE["late_arriving"]
    loaded = np.where(late, loaded + late_delay * US_PER_DAY - US_PER_DAY, loaded)

    # returns of clean sales
    ret_day = d_l + 1 + np.floor(U[:, 6] * 45).astype(np.int64)
    ret_ok = (code == 0) & (U[:, 5] < RETURN_RATE) & (ret_day <= b[r_l])
    ret_ok[ret_ok] &= ~stockout[r_l[ret_ok], ret_day[ret_ok]]
    ri = np.flatnonzero(ret_ok)
    ret_qty = -(1 + np.floor(U[ri, 5] / RETURN_RATE * qty[ri])).astype(np.int64)
    ret_qty = np.maximum(ret_qty, -qty[ri])
    r_ret = r_l[ri]
    ret_count = np.bincount(r_ret, minlength=C)
    ret_seq = per_prod[r_ret] + (np.arange(len(ri)) - (np.cumsum(ret_count) - ret_count)[r_ret])
    ret_loaded = (
        (ret_day[ri] + cal.start_epoch + 1) * US_PER_DAY
        + US_PER_HOUR
        + np.floor(U[ri, 2] * 5 * 3600).astype(np.int64) * 1_000_000
    )

    # one bulk order per outlier product, on an in-stock active day
    out_rows = np.flatnonzero(pr["has_outlier"])
    o_day, o_qty, o_typ = [], [], []
    for r in out_rows:
        allowed = np.flatnonzero(active[r] & ~stockout[r])
        o_day.append(int(allowed[int(pr["outlier_pos"][r] * len(allowed))]))
        pos = demand[r][demand[r] > 0]
        typical = float(pos.mean()) if len(pos) else 1.0
        o_typ.append(typical)
        o_qty.append(min(MAX_BULK_ORDER, max(1, int(round(pr["outlier_mult"][r] * typical)))))
    o_day = np.array(o_day, dtype=np.int64)
    o_qty = np.array(o_qty, dtype=np.int64)
    o_seq = per_prod[out_rows] + ret_count[out_rows]
    o_cents = np.maximum(1, np.rint(pr["list_cents"][out_rows] * 0.9)).astype(np.int64)
    o_loaded = (o_day + cal.start_epoch + 1) * US_PER_DAY + 2 * US_PER_HOUR

    # all lines of the chunk
    R = np.concatenate([r_l, r_ret, out_rows])
    Dd = np.concatenate([d_l, ret_day[ri], o_day])
    Q = np.concatenate([qty, ret_qty, o_qty])
    P = np.concatenate([cents, cents[ri], o_cents])
    L = np.concatenate([loaded, ret_loaded, o_loaded])
    S = np.concatenate([seq, ret_seq, o_seq])
    CODE = np.concatenate([code, np.zeros(len(ri) + len(out_rows), dtype=np.int64)])
    PARAM = np.concatenate([U[:, 4], np.zeros(len(ri) + len(out_rows))])
    num = numbers[R]

    lid = line_ids(num, S)
    true_pid = pids.take(pa.array(R))
    sale_date = date_text(Dd + cal.start_epoch)
    quantity = int_text(Q)
    price_cents = np.where(DEFECT_CODE["negative_unit_price"] == CODE, -P, P)
    unit_price = int_text(price_cents, scale=2)

    def pick(options: list, mask: np.ndarray) -> np.ndarray:
        return np.floor(PARAM[mask] * len(options)).astype(np.int64)

    # mutations (few rows: python formatting is fine)
    def is_(kind: str) -> np.ndarray:
        return DEFECT_CODE[kind] == CODE

    m_null, m_unknown = is_("null_product_id"), is_("unknown_product_id")
    product_col = _override(
        true_pid,
        [
            (m_null, [None] * int(m_null.sum())),
            (m_unknown, [f"P9{int(u * 100000):05d}" for u in PARAM[m_unknown]]),
        ],
    )
    m_bad_date, m_future = is_("unparseable_sale_date"), is_("future_sale_date")
    bad_dates = []
    for opt, day in zip(pick(BAD_DATES, m_bad_date), Dd[m_bad_date], strict=False):
        real = cal.start + dt.timedelta(days=int(day))
        bad_dates.append(BAD_DATES[opt].format(y=f"{real.year:04d}", m=f"{real.month:02d}", d=f"{real.day:02d}"))
    future = cal.n_days + np.floor(PARAM[m_future] * 365).astype(np.int64) + cal.start_epoch
    sale_date = _override(sale_date, [(m_bad_date, bad_dates), (m_future, date_text(future).to_pylist())])
    m_nonnum, m_absurd = is_("non_numeric_quantity"), is_("absurd_quantity")
    quantity = _override(
        quantity,
        [
            (m_nonnum, [BAD_QUANTITIES[i] for i in pick(BAD_QUANTITIES, m_nonnum)]),
            (m_absurd, [str(ABSURD_QUANTITIES[i]) for i in pick(ABSURD_QUANTITIES, m_absurd)]),
        ],
    )
    m_price = is_("non_numeric_unit_price")
    unit_price = _override(
        unit_price,
        [
            (
                m_price,
                [
                    BAD_PRICES[opt].format(comma=f"{c // 100},{c % 100:02d}")
                    for opt, c in zip(pick(BAD_PRICES, m_price), P[m_price], strict=False)
                ],
            ),
        ],
    )

    table = pa.table(
        [lid, sale_date, product_col, quantity, unit_price, pa.array(L, pa.timestamp("us"))], schema=SALES_SCHEMA
    )
    dup = np.flatnonzero(DEFECT_CODE["duplicate_line"] == CODE)
    if len(dup):
        table = pa.concat_tables([table, table.take(pa.array(dup))])

    # truth: defect lines
    kinds = np.array(["none"] + DEFECT_NAMES, dtype=object)
    dl = np.flatnonzero(CODE > 0)
    n_sale, n_ret = n_lines, len(ri)
    defect_names = np.concatenate(
        [
            kinds[CODE[dl]],
            np.full(n_ret, "return", dtype=object),
            np.full(len(out_rows), "outlier_bulk_order", dtype=object),
        ]
    )
    extra_idx = np.arange(n_sale, n_sale + n_ret + len(out_rows))
    di = np.concatenate([dl, extra_idx])
    related = [None] * len(dl) + lid.take(pa.array(ri)).to_pylist() + [None] * len(out_rows)
    defects = pa.table(
        {
            "line_id": lid.take(pa.array(di)),
            "defect": pa.array(defect_names.tolist(), pa.string()),
            "product_id": true_pid.take(pa.array(di)),
            "sale_date": pa.array((Dd[di] + cal.start_epoch).astype(np.int32), pa.date32()),
            "related_line_id": pa.array(related, pa.string()),
        },
        schema=DEFECT_SCHEMA,
    )
    outliers = pa.table(
        {
            "product_id": pids.take(pa.array(out_rows)),
            "sale_date": pa.array((o_day + cal.start_epoch).astype(np.int32), pa.date32()),
            "line_id": line_ids(numbers[out_rows], o_seq) if len(out_rows) else pa.array([], pa.string()),
            "quantity": pa.array(o_qty, pa.int64()),
            "multiplier": pa.array(pr["outlier_mult"][out_rows]),
            "typical_daily_quantity": pa.array(np.array(o_typ, dtype=np.float64)),
        },
        schema=OUTLIER_SCHEMA,
    )

    # stock snapshots over the active window
    lam_mean = lam.sum(axis=1) / np.maximum(1, active.sum(axis=1))
    cyc = pr["cycle_len"][:, None]
    saw = 1.0 - ((t[None, :] + pr["cycle_phase"][:, None]) % cyc) / cyc
    stock_level = np.ceil(pr["safety"][:, None] + (lam_mean * pr["cycle_len"] * pr["cover"])[:, None] * saw)
    s_r, s_d = np.nonzero(active)
    on_hand = np.where(stockout[s_r, s_d], 0, np.maximum(1, stock_level[s_r, s_d])).astype(np.int32)
    snapshots = pa.table(
        {
            "snapshot_date": pa.array((s_d + cal.start_epoch).astype(np.int32), pa.date32()),
            "product_id": pids.take(pa.array(s_r)),
            "on_hand_qty": pa.array(on_hand, pa.int32()),
            "loaded_at": pa.array((s_d + cal.start_epoch + 1) * US_PER_DAY + US_PER_HOUR // 2, pa.timestamp("us")),
        },
        schema=SNAPSHOT_SCHEMA,
    )

    raw = Path(task["raw_dir"])
    name = f"part-{task['chunk']:05d}"
    _write(table, raw / "sales_lines" / name, task["fmt"])
    _write(snapshots, raw / "stock_snapshots" / name, task["fmt"])

    counts = {kind: int((DEFECT_CODE[kind] == CODE).sum()) for kind in DEFECT_NAMES}
    counts["return"] = int(n_ret)
    counts["outlier_bulk_order"] = int(len(out_rows))
    return {
        "chunk": task["chunk"],
        "n_products": C,
        "sales_rows": table.num_rows,
        "snapshot_rows": snapshots.num_rows,
        "stockout_days": int(stockout.sum()),
        "counts": counts,
        "truth": truth,
        "defects": defects,
        "outliers": outliers,
    }


def _write(table: pa.Table, path_no_ext: Path, fmt: str) -> None:
    if fmt == "parquet":
        # unique ids gain nothing from dictionary encoding
        dictionary = [f.name for f in table.schema if f.name != "line_id"]
        pq.write_table(table, str(path_no_ext) + ".parquet", use_dictionary=dictionary)
        return
    cols = {}
    for field in table.schema:
        col = table.column(field.name).combine_chunks()
        if pa.types.is_timestamp(field.type):
            ts = col.cast(pa.int64()).to_numpy(zero_copy_only=False)
            col = timestamp_text(ts)
        cols[field.name] = col
    pacsv.write_csv(pa.table(cols), str(path_no_ext) + ".csv", write_options=pacsv.WriteOptions(quoting_style="needed"))


# --------------------------------------------------------------------------------------------
# orchestration
# --------------------------------------------------------------------------------------------


def _clean_output(out: Path) -> None:
    for src in ("sales_lines", "products", "stock_snapshots"):
        folder = out / "raw" / src
        folder.mkdir(parents=True, exist_ok=True)
        for f in folder.iterdir():
            if f.is_file() and f.suffix in (".parquet", ".csv"):
                f.unlink()
    truth = out / "truth"
    truth.mkdir(parents=True, exist_ok=True)
    for f in truth.iterdir():
        if f.is_file() and f.suffix in (".parquet", ".json"):
            f.unlink()


def _products_table(prod: dict, cal: Calendar) -> tuple[pa.Table, pa.Table]:
    n = prod["n"]
    numbers = np.arange(1, n + 1)
    pids = product_ids(numbers)
    groups = [GROUPS[g][0] for g in prod["group"]]
    cats = [GROUPS[g][1][c] for g, c in zip(prod["group"], prod["cat_idx"], strict=False)]
    names = [f"{c} item {i:06d}" for c, i in zip(cats, numbers, strict=False)]
    launch = (prod["launch"] + cal.start_epoch).astype(np.int32)
    disc = pa.array((prod["disc_day"] + cal.start_epoch).astype(np.int32), pa.date32(), mask=~prod["discontinued"])
    products = pa.table(
        {
            "product_id": pids,
            "product_name": pa.array(names, pa.string()),
            "product_group": pa.array(groups, pa.string()),
            "category": pa.array(cats, pa.string()),
            "launch_date": pa.array(launch, pa.date32()),
            "discontinued_date": disc,
            "list_price": pa.array(prod["list_cents"] / 100.0),
            "loaded_at": pa.array(np.full(n, cal.extract_us), pa.timestamp("us")),
        },
        schema=PRODUCTS_SCHEMA,
    )
    so_days = np.bincount(prod["so_prod"], weights=prod["so_end"] - prod["so_start"] + 1, minlength=n)
    truth = pa.table(
        {
            "product_id": pids,
            "product_group": pa.array(groups, pa.string()),
            "category": pa.array(cats, pa.string()),
            "demand_type": pa.array([DEMAND_TYPES[k] for k in prod["dtype_idx"]], pa.string()),
            "launch_date": pa.array(launch, pa.date32()),
            "discontinued_date": disc,
            "active_from": pa.array((prod["active_from"] + cal.start_epoch).astype(np.int32), pa.date32()),
            "active_to": pa.array((prod["active_to"] + cal.start_epoch).astype(np.int32), pa.date32()),
            "is_cold_start": pa.array(prod["cold"]),
            "launched_last_3_months": pa.array(prod["recent"]),
            "is_discontinued": pa.array(prod["discontinued"]),
            "has_stockout": pa.array(np.isin(numbers - 1, prod["so_prod"])),
            "stockout_days": pa.array(so_days.astype(np.int64)),
            "has_outlier": pa.array(prod["has_outlier"]),
            "list_price": pa.array(prod["list_cents"] / 100.0),
            "level": pa.array(prod["level"]),
            "lumpy_order_size": pa.array(np.where(prod["dtype_idx"] == 3, prod["lumpy_size"], np.nan)),
            "trend_per_year": pa.array(prod["trend"]),
            "season_amplitude": pa.array(prod["amplitude"]),
        }
    )
    return products, truth


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
    if fmt not in ("parquet", "csv"):
        raise ValueError("format must be 'parquet' or 'csv'")
    if years < 1:
        raise ValueError("years must be >= 1")
    if end_date is None:
        end_date = default_end_date()
    elif isinstance(end_date, str):
        end_date = dt.date.fromisoformat(end_date)
    out = Path(out)
    cal = Calendar(end_date, years)
    prod = make_products(products, cal, seed)
    _clean_output(out)
    raw = out / "raw"

    chunk_size = max(1, int(chunk_size))
    starts = list(range(0, products, chunk_size))
    tasks = [
        {
            "seed": seed,
            "i0": i0,
            "chunk": c,
            "calendar": cal,
            "fmt": fmt,
            "raw_dir": str(raw),
            "products": _slice_products(prod, i0, min(products, i0 + chunk_size)),
        }
        for c, i0 in enumerate(starts)
    ]
    if workers <= 0:
        workers = min(os.cpu_count() or 1, len(tasks), 4)
    workers = max(1, min(workers, len(tasks)))

    def log(msg: str) -> None:
        if progress:
            print(f"[datagen] {msg}", file=sys.stderr, flush=True)

    log(
        f"{products} products x {cal.n_days} days ({cal.start} .. {cal.end}), "
        f"{len(tasks)} chunk(s), {workers} worker(s), seed {seed}"
    )
    totals = {"sales_rows": 0, "snapshot_rows": 0, "stockout_days": 0}
    counts = {kind: 0 for kind in DEFECT_NAMES + ["return", "outlier_bulk_order"]}
    truth_parts, defect_parts, outlier_parts = [], [], []
    done = 0

    def consume(res: dict) -> None:
        nonlocal done
        done += res["n_products"]
        for key in totals:
            totals[key] += res[key]
        for key, val in res["counts"].items():
            counts[key] += val
        truth_parts.append(res["truth"])
        defect_parts.append(res["defects"])
        outlier_parts.append(res["outliers"])
        log(
            f"products {done}/{products} ({100 * done / products:.0f}%), "
            f"sales rows {totals['sales_rows']:,}, snapshot rows {totals['snapshot_rows']:,}, "
            f"elapsed {time.perf_counter() - t0:.1f}s"
        )

    if workers == 1:
        for task in tasks:
            consume(_simulate_chunk(task))
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for res in pool.map(_simulate_chunk, tasks):
                consume(res)

    products_tbl, products_truth = _products_table(prod, cal)
    _write(products_tbl, raw / "products" / "products", fmt)
    truth_dir = out / "truth"
    pq.write_table(pa.concat_tables(truth_parts), truth_dir / "true_monthly_demand.parquet")
    pq.write_table(products_truth, truth_dir / "products_truth.parquet")
    pq.write_table(pa.concat_tables(defect_parts), truth_dir / "defect_lines.parquet")
    pq.write_table(pa.concat_tables(outlier_parts), truth_dir / "outlier_events.parquet")
    episodes = pa.table(
        {
            "product_id": product_ids(prod["so_prod"] + 1) if len(prod["so_prod"]) else pa.array([], pa.string()),
            "start_date": pa.array((prod["so_start"] + cal.start_epoch).astype(np.int32), pa.date32()),
            "end_date": pa.array((prod["so_end"] + cal.start_epoch).astype(np.int32), pa.date32()),
            "days": pa.array((prod["so_end"] - prod["so_start"] + 1).astype(np.int64)),
        }
    )
    pq.write_table(episodes, truth_dir / "stockout_episodes.parquet")

    type_counts = np.bincount(prod["dtype_idx"], minlength=4)
    defects = {
        "duplicate_lines": counts["duplicate_line"],
        "returns": counts["return"],
        "late_arriving_lines": counts["late_arriving"],
        **{k: counts[k] for k in DEFECT_NAMES if k not in ("duplicate_line", "late_arriving")},
        "outlier_bulk_orders": counts["outlier_bulk_order"],
    }
    manifest = {
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
            "true_monthly_demand": sum(tp.num_rows for tp in truth_parts),
        },
        "products": {
            "demand_types": {name: int(c) for name, c in zip(DEMAND_TYPES, type_counts, strict=False)},
            "cold_start": int(prod["cold"].sum()),
            "cold_start_last_3_months": int(prod["recent"].sum()),
            "discontinued": int(prod["discontinued"].sum()),
            "with_stockouts": int(len(np.unique(prod["so_prod"]))),
            "stockout_episodes": int(len(prod["so_prod"])),
            "stockout_days": totals["stockout_days"],
            "with_outlier": counts["outlier_bulk_order"],
        },
        "defects": defects,
        "config": {
            "demand_type_shares": dict(zip(DEMAND_TYPES, DEMAND_TYPE_SHARES.tolist(), strict=False)),
            "share_cold_start": SHARE_COLD_START,
            "share_cold_start_last_3_months": SHARE_COLD_START * SHARE_COLD_START_RECENT,
            "share_discontinued": SHARE_DISCONTINUED,
            "share_stockout_products": SHARE_STOCKOUT,
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
        "files": {
            "sales_lines": f"raw/sales_lines/part-*.{fmt}",
            "products": f"raw/products/products.{fmt}",
            "stock_snapshots": f"raw/stock_snapshots/part-*.{fmt}",
            "truth": [
                "truth/true_monthly_demand.parquet",
                "truth/products_truth.parquet",
                "truth/defect_lines.parquet",
                "truth/stockout_episodes.parquet",
                "truth/outlier_events.parquet",
            ],
        },
    }
    (truth_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    elapsed = time.perf_counter() - t0
    log(
        f"done: {totals['sales_rows']:,} sales rows, {totals['snapshot_rows']:,} snapshot rows, "
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

"""Sales lines of the simulated days, and the dirt a pipeline must handle: every defect counted.

See the module docstring of :mod:`demand_forecast.synthetic.datagen` ("Sales lines", "Defects").
"""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple

import numpy as np
import pyarrow as pa

from ..data.contract import SALES_SCHEMA
from .columns import US_PER_DAY, US_PER_HOUR, _override, date_text, int_text, line_ids
from .world import MAX_BULK_ORDER, Calendar

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


class _Lines(NamedTuple):
    """Lines of a chunk as parallel arrays: product row, day (relative to the start), quantity, unit price in
    cents, ``loaded_at`` (microseconds), sequence within the product, defect code (0 = none) and the uniform that
    picks a defect's bad value.
    """

    row: np.ndarray
    day: np.ndarray
    quantity: np.ndarray
    cents: np.ndarray
    loaded: np.ndarray
    seq: np.ndarray
    code: np.ndarray
    param: np.ndarray

    @classmethod
    def concat(cls, parts: list[_Lines]) -> _Lines:
        return cls(*(np.concatenate(columns) for columns in zip(*parts, strict=True)))

    def has(self, kind: str) -> np.ndarray:
        """Mask of the lines carrying defect ``kind``."""
        return DEFECT_CODE[kind] == self.code


def _split_days(sales: np.ndarray, split_u: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One line per day with sales, some days split in 2 or 3 lines; returns each line's row, day and quantity.

    The parts of a split day are >= 1 and add up to the day's sales exactly.
    """
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
    return rows_d[rep], days_d[rep], qty


def _line_uniforms(rngs: list[np.random.Generator], per_prod: np.ndarray, prod_off: np.ndarray) -> np.ndarray:
    """Seven uniforms per sale line, drawn from each product's own stream (so chunking does not matter)."""
    U = np.empty((int(per_prod.sum()), 7))
    for j in range(len(per_prod)):
        U[prod_off[j] : prod_off[j] + per_prod[j]] = rngs[j].random((per_prod[j], 7))
    return U


def _draw_line_defects(
    U: np.ndarray, day: np.ndarray, n_days: int, loaded: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """One defect category per sale line (code 0 = none); late lines get their later ``loaded_at``.

    A late line whose delay would reach past the extraction day (day ``n_days``) stays on time and clean.
    """
    cum = np.cumsum([p for _, p, _ in LINE_DEFECTS])
    code = np.searchsorted(cum, U[:, 3], side="right") + 1
    code[U[:, 3] >= cum[-1]] = 0
    late_delay = LATE_MIN_DAYS + np.floor(U[:, 4] * (LATE_MAX_DAYS - LATE_MIN_DAYS + 1)).astype(np.int64)
    late = code == DEFECT_CODE["late_arriving"]
    feasible = day + late_delay <= n_days
    code[late & ~feasible] = 0
    late = code == DEFECT_CODE["late_arriving"]
    loaded = np.where(late, loaded + late_delay * US_PER_DAY - US_PER_DAY, loaded)
    return code, loaded


def _sale_lines(
    sales: np.ndarray, split_u: np.ndarray, rngs: list[np.random.Generator], pr: dict, cal: Calendar
) -> tuple[_Lines, np.ndarray, np.ndarray]:
    """The chunk's sale lines with price, load time and defect; also the line uniforms and lines per product."""
    C, D = sales.shape
    r_l, d_l, qty = _split_days(sales, split_u)
    per_prod = np.bincount(r_l, minlength=C)
    prod_off = np.cumsum(per_prod) - per_prod
    seq = np.arange(len(qty)) - prod_off[r_l]
    U = _line_uniforms(rngs, per_prod, prod_off)

    discount = np.where(U[:, 1] < 0.08, 1.0 - (0.10 + 0.15 * U[:, 1] / 0.08), 1.0)
    cents = np.maximum(1, np.rint(pr["list_cents"][r_l] * (1.0 + 0.04 * (2 * U[:, 0] - 1)) * discount)).astype(np.int64)
    day_us = (d_l + cal.start_epoch + 1) * US_PER_DAY
    loaded = day_us + US_PER_HOUR + np.floor(U[:, 2] * 5 * 3600).astype(np.int64) * 1_000_000
    code, loaded = _draw_line_defects(U, d_l, D, loaded)  # day D is the extraction day
    lines = _Lines(r_l, d_l, qty, cents, loaded, seq, code, U[:, 4])
    return lines, U, per_prod


def _returns(
    sale: _Lines, U: np.ndarray, per_prod: np.ndarray, stockout: np.ndarray, pr: dict, cal: Calendar
) -> tuple[_Lines, np.ndarray]:
    """Return lines of clean sales (1-45 days later, same price, never on a stock-out day or after the
    product's last active day); also the index of the sale each return refers to.
    """
    C = len(per_prod)
    r_l = sale.row
    ret_day = sale.day + 1 + np.floor(U[:, 6] * 45).astype(np.int64)
    ret_ok = (sale.code == 0) & (U[:, 5] < RETURN_RATE) & (ret_day <= pr["active_to"][r_l])
    ret_ok[ret_ok] &= ~stockout[r_l[ret_ok], ret_day[ret_ok]]
    ri = np.flatnonzero(ret_ok)
    ret_qty = -(1 + np.floor(U[ri, 5] / RETURN_RATE * sale.quantity[ri])).astype(np.int64)
    ret_qty = np.maximum(ret_qty, -sale.quantity[ri])
    r_ret = r_l[ri]
    ret_count = np.bincount(r_ret, minlength=C)
    ret_seq = per_prod[r_ret] + (np.arange(len(ri)) - (np.cumsum(ret_count) - ret_count)[r_ret])
    ret_loaded = (
        (ret_day[ri] + cal.start_epoch + 1) * US_PER_DAY
        + US_PER_HOUR
        + np.floor(U[ri, 2] * 5 * 3600).astype(np.int64) * 1_000_000
    )
    n = len(ri)
    returns = _Lines(
        r_ret, ret_day[ri], ret_qty, sale.cents[ri], ret_loaded, ret_seq, np.zeros(n, dtype=np.int64), np.zeros(n)
    )
    return returns, ri


def _bulk_orders(
    pr: dict, cal: Calendar, demand: np.ndarray, active: np.ndarray, stockout: np.ndarray, first_seq: np.ndarray
) -> tuple[_Lines, np.ndarray]:
    """One bulk order per outlier product, on an in-stock active day, of 10-30 x its typical (mean non-zero)
    daily quantity; also each one's typical quantity. ``first_seq`` is each product's next free line sequence.
    """
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
    o_cents = np.maximum(1, np.rint(pr["list_cents"][out_rows] * 0.9)).astype(np.int64)
    o_loaded = (o_day + cal.start_epoch + 1) * US_PER_DAY + 2 * US_PER_HOUR
    n = len(out_rows)
    bulk = _Lines(
        out_rows,
        o_day,
        np.array(o_qty, dtype=np.int64),
        o_cents,
        o_loaded,
        first_seq[out_rows],
        np.zeros(n, dtype=np.int64),
        np.zeros(n),
    )
    return bulk, np.array(o_typ, dtype=np.float64)


def _pick(options: list, lines: _Lines, mask: np.ndarray) -> np.ndarray:
    """Which of ``options`` each masked line gets, from its defect uniform."""
    return np.floor(lines.param[mask] * len(options)).astype(np.int64)


# The mutations below touch few rows: python formatting is fine.
def _product_column(lines: _Lines, true_pid: pa.Array) -> pa.Array:
    m_null, m_unknown = lines.has("null_product_id"), lines.has("unknown_product_id")
    return _override(
        true_pid,
        [
            (m_null, [None] * int(m_null.sum())),
            (m_unknown, [f"P9{int(u * 100000):05d}" for u in lines.param[m_unknown]]),
        ],
    )


def _sale_date_column(lines: _Lines, cal: Calendar) -> pa.Array:
    m_bad_date, m_future = lines.has("unparseable_sale_date"), lines.has("future_sale_date")
    bad_dates = []
    for opt, day in zip(_pick(BAD_DATES, lines, m_bad_date), lines.day[m_bad_date], strict=False):
        real = cal.start + dt.timedelta(days=int(day))
        bad_dates.append(BAD_DATES[opt].format(y=f"{real.year:04d}", m=f"{real.month:02d}", d=f"{real.day:02d}"))
    future = cal.n_days + np.floor(lines.param[m_future] * 365).astype(np.int64) + cal.start_epoch
    sale_date = date_text(lines.day + cal.start_epoch)
    return _override(sale_date, [(m_bad_date, bad_dates), (m_future, date_text(future).to_pylist())])


def _quantity_column(lines: _Lines) -> pa.Array:
    m_nonnum, m_absurd = lines.has("non_numeric_quantity"), lines.has("absurd_quantity")
    return _override(
        int_text(lines.quantity),
        [
            (m_nonnum, [BAD_QUANTITIES[i] for i in _pick(BAD_QUANTITIES, lines, m_nonnum)]),
            (m_absurd, [str(ABSURD_QUANTITIES[i]) for i in _pick(ABSURD_QUANTITIES, lines, m_absurd)]),
        ],
    )


def _unit_price_column(lines: _Lines) -> pa.Array:
    price_cents = np.where(lines.has("negative_unit_price"), -lines.cents, lines.cents)
    m_price = lines.has("non_numeric_unit_price")
    bad_prices = [
        BAD_PRICES[opt].format(comma=f"{c // 100},{c % 100:02d}")
        for opt, c in zip(_pick(BAD_PRICES, lines, m_price), lines.cents[m_price], strict=False)
    ]
    return _override(int_text(price_cents, scale=2), [(m_price, bad_prices)])


def _raw_table(lines: _Lines, lid: pa.Array, true_pid: pa.Array, cal: Calendar) -> pa.Table:
    """The raw sales lines as the source system exports them: mutated values, duplicated rows appended."""
    table = pa.table(
        [
            lid,
            _sale_date_column(lines, cal),
            _product_column(lines, true_pid),
            _quantity_column(lines),
            _unit_price_column(lines),
            pa.array(lines.loaded, pa.timestamp("us")),
        ],
        schema=SALES_SCHEMA,
    )
    dup = np.flatnonzero(lines.has("duplicate_line"))
    if len(dup):
        table = pa.concat_tables([table, table.take(pa.array(dup))])
    return table


def _defect_truth(
    lines: _Lines, n_sale: int, returned: np.ndarray, n_bulk: int, lid: pa.Array, true_pid: pa.Array, cal: Calendar
) -> pa.Table:
    """Every defect line: the sale lines with a defect, then the returns (naming their sale), then the bulk orders."""
    kinds = np.array(["none"] + DEFECT_NAMES, dtype=object)
    dl = np.flatnonzero(lines.code > 0)
    n_ret = len(returned)
    defect_names = np.concatenate(
        [
            kinds[lines.code[dl]],
            np.full(n_ret, "return", dtype=object),
            np.full(n_bulk, "outlier_bulk_order", dtype=object),
        ]
    )
    extra_idx = np.arange(n_sale, n_sale + n_ret + n_bulk)
    di = np.concatenate([dl, extra_idx])
    related = [None] * len(dl) + lid.take(pa.array(returned)).to_pylist() + [None] * n_bulk
    return pa.table(
        {
            "line_id": lid.take(pa.array(di)),
            "defect": pa.array(defect_names.tolist(), pa.string()),
            "product_id": true_pid.take(pa.array(di)),
            "sale_date": pa.array((lines.day[di] + cal.start_epoch).astype(np.int32), pa.date32()),
            "related_line_id": pa.array(related, pa.string()),
        },
        schema=DEFECT_SCHEMA,
    )


def _outlier_truth(
    bulk: _Lines, typical: np.ndarray, pr: dict, cal: Calendar, numbers: np.ndarray, pids: pa.Array
) -> pa.Table:
    """The bulk orders with the multiplier and the typical daily quantity they were drawn from."""
    return pa.table(
        {
            "product_id": pids.take(pa.array(bulk.row)),
            "sale_date": pa.array((bulk.day + cal.start_epoch).astype(np.int32), pa.date32()),
            "line_id": line_ids(numbers[bulk.row], bulk.seq) if len(bulk.row) else pa.array([], pa.string()),
            "quantity": pa.array(bulk.quantity, pa.int64()),
            "multiplier": pa.array(pr["outlier_mult"][bulk.row]),
            "typical_daily_quantity": pa.array(typical),
        },
        schema=OUTLIER_SCHEMA,
    )


def sales_lines(
    sales: np.ndarray,
    demand: np.ndarray,
    stockout: np.ndarray,
    active: np.ndarray,
    split_u: np.ndarray,
    rngs: list[np.random.Generator],
    pr: dict,
    cal: Calendar,
    numbers: np.ndarray,
    pids: pa.Array,
) -> dict:
    """Lines of a chunk: one per day with sales (some split), returns, one bulk order per outlier
    product, each with its defects. Returns ``table`` (the raw sales lines, duplicates included),
    ``defects`` and ``outliers`` (truth tables) and ``counts`` per defect kind.
    """
    sale, U, per_prod = _sale_lines(sales, split_u, rngs, pr, cal)
    returns, returned = _returns(sale, U, per_prod, stockout, pr, cal)
    next_seq = per_prod + np.bincount(returns.row, minlength=len(per_prod))
    bulk, typical = _bulk_orders(pr, cal, demand, active, stockout, next_seq)
    lines = _Lines.concat([sale, returns, bulk])

    lid = line_ids(numbers[lines.row], lines.seq)
    true_pid = pids.take(pa.array(lines.row))
    counts = {kind: int(lines.has(kind).sum()) for kind in DEFECT_NAMES}
    counts["return"] = len(returned)
    counts["outlier_bulk_order"] = len(bulk.row)
    return {
        "table": _raw_table(lines, lid, true_pid, cal),
        "defects": _defect_truth(lines, len(sale.row), returned, len(bulk.row), lid, true_pid, cal),
        "outliers": _outlier_truth(bulk, typical, pr, cal, numbers, pids),
        "counts": counts,
    }

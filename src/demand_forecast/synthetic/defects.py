"""Sales lines of the simulated days, and the dirt a pipeline must handle: every defect counted.

See the module docstring of :mod:`demand_forecast.synthetic.datagen` ("Sales lines", "Defects").
"""

from __future__ import annotations

import datetime as dt

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
    C, D = sales.shape
    b = pr["active_to"]
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

    counts = {kind: int((DEFECT_CODE[kind] == CODE).sum()) for kind in DEFECT_NAMES}
    counts["return"] = int(n_ret)
    counts["outlier_bulk_order"] = int(len(out_rows))
    return {"table": table, "defects": defects, "outliers": outliers, "counts": counts}

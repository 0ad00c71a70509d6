"""The simulated company's ordering: purchase orders, arrivals, stock on hand, sales and stock-outs.

The company reviews every product monthly and orders with the lead time of the pipeline's policy
(``LEAD_TIME_MONTHS`` = 3: an order placed on day 2 of month ``m``, right after month ``m - 1``
closed, is expected on the first day of month ``m + 2``), but it forecasts naively: its order-up-to
level is its average daily sales of the last 91 days x the days until the end of the arrival month x
a product's ``cover`` (1.15-1.6), at least one unit. Sales that find no stock are lost, so a trailing average of sales
misses seasonal ramps (stock-outs in the rise, excess stock after the peak) and under-estimates after a
stock-out. Orders are rounded up to the product's pack size and minimum order quantity. Suppliers are
imperfect: an order is declined at once with probability 1 % (status ``cancelled``; the month's order
is simply missing) and arrives 5-40 days late with probability 8 %.

Day by day, per product: arrivals are added at the start of the day, ``sales = min(demand, on hand)``,
and the end-of-day on hand is the snapshot; a stock-out day is an active day ending with nothing on
hand (the first day of an episode may still have sales: the stock ran out during it). Products active
on the first day start with stock for the time until their first order arrives; a launched product
receives a launch order on its launch day, sized from the buyer's guess of its rate; discontinued
products get no order that would arrive after their last day. One-off bulk orders (outliers) are
shipped directly by the supplier and do not touch the stock.

Per-order randomness comes from each product's own stream (a fixed number of draws per product), so
the output does not depend on chunking.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from ..data.contract import ORDERING_RULES_SCHEMA, PURCHASE_ORDERS_SCHEMA, SNAPSHOT_SCHEMA
from .columns import US_PER_DAY, US_PER_HOUR, fixed_width_text
from .world import Calendar

LEAD_TIME_MONTHS = 3
SALES_WINDOW_DAYS = 91
P_CANCELLED = 0.01
P_DELAYED = 0.08
DELAY_DAYS = (5, 40)
#: order status codes, in the order of PURCHASE_ORDER_STATUSES
OPEN, RECEIVED, CANCELLED = 0, 1, 2
STATUS_NAMES = np.array(["open", "received", "cancelled"], dtype=object)

EPISODE_SCHEMA = pa.schema(
    [
        ("product_id", pa.string()),
        ("start_date", pa.date32()),
        ("end_date", pa.date32()),
        ("days", pa.int64()),
        ("lost_units", pa.int64()),
    ]
)


def _round_up(need: np.ndarray, pack: np.ndarray, moq: np.ndarray) -> np.ndarray:
    packs = np.maximum(np.ceil(need / pack), np.ceil(moq / pack))
    return np.where(need > 0, packs * pack, 0).astype(np.int64)


ORDER_FIELDS = ("row", "order_day", "arrival_month", "planned_day", "arrival_day", "quantity", "status")


def _month_first_days(cal: Calendar, n_months: int) -> np.ndarray:
    """First day of months ``0 .. n_months - 1`` relative to the start (they may run past the data)."""
    month0 = np.datetime64(cal.start, "M")
    return ((month0 + np.arange(n_months)).astype("datetime64[D]") - np.datetime64(cal.start, "D")).astype(np.int64)


def _prior_rate(pr: dict, lam: np.ndarray, active: np.ndarray) -> np.ndarray:
    """The company's prior daily rate per product: expected demand of its first weeks (the sales before the data
    began, or the buyer's guess for a launch).
    """
    a = pr["active_from"]
    horizon = np.arange(lam.shape[1])[None, :]
    first_weeks = active & (horizon < a[:, None] + 60)
    prior_rate = (lam * first_weeks).sum(axis=1) / np.maximum(1, first_weeks.sum(axis=1))
    return np.where(a > 0, prior_rate * pr["launch_guess"], prior_rate)


class _OrderBook:
    """The purchase orders as booked, the units each day receives, and the orders still in transit."""

    def __init__(self, n_days: int, n_products: int) -> None:
        self.n_days = n_days
        self.arrivals = np.zeros((n_days + 1, n_products), dtype=np.int64)
        self.columns: dict[str, list] = {key: [] for key in ORDER_FIELDS}
        self.open_until: list[tuple] = []  # (rows, arrival_day, qty) of orders still in transit

    def book(self, rows, order_day, arrival_month, planned, arrival, qty, status) -> None:
        n = len(rows)
        for key, value in zip(
            ORDER_FIELDS, (rows, order_day, arrival_month, planned, arrival, qty, status), strict=True
        ):
            self.columns[key].append(np.broadcast_to(np.asarray(value, dtype=np.int64), (n,)).copy())
        landed = (status != CANCELLED) & (arrival <= self.n_days)
        np.add.at(self.arrivals, (np.minimum(arrival[landed], self.n_days), rows[landed]), qty[landed])

    def track(self, rows: np.ndarray, arrival: np.ndarray, qty: np.ndarray, today: int) -> None:
        """Remember orders placed today as in transit; forget the ones that have all arrived."""
        self.open_until.append((rows, arrival, qty))
        self.open_until = [(r, d, q) for r, d, q in self.open_until if (d > today).any()]

    def in_transit(self, today: int, n_products: int) -> np.ndarray:
        """Units per product booked, not cancelled, arriving after today."""
        transit = np.zeros(n_products)
        for rows, arr, qty in self.open_until:
            still = arr > today
            np.add.at(transit, rows[still], qty[still])
        return transit

    def arrays(self) -> dict:
        return {k: (np.concatenate(v) if v else np.zeros(0, np.int64)) for k, v in self.columns.items()}


class _Buyer:
    """The company's buyer: the opening stock and launch orders, then one order-up-to review a month."""

    def __init__(self, pr: dict, cal: Calendar, prior_rate: np.ndarray, draws: np.ndarray, book: _OrderBook) -> None:
        self.pr, self.prior_rate, self.draws, self.book = pr, prior_rate, draws, book
        self.pack = pr["pack_size"].astype(np.float64)
        self.moq = pr["min_order_qty"].astype(np.float64)
        self.month_day = _month_first_days(cal, cal.n_months + LEAD_TIME_MONTHS + 2)
        self.n_months = cal.n_months
        self.old = ~(pr["active_from"] > 0)  # active from the first day: sales before the data began

    def opening_stock(self) -> np.ndarray:
        """On hand at the start: until the first monthly order arrives (month L - 1) for products active on the
        first day; the others get a launch order of that size, received on their launch day, and start at 0.
        """
        a, L = self.pr["active_from"], LEAD_TIME_MONTHS
        start_month = np.searchsorted(self.month_day, a, side="right") - 1
        until = self.month_day[np.minimum(start_month + L, len(self.month_day) - 1)] - a
        first_stock = _round_up(np.ceil(self.prior_rate * until * self.pr["cover"]), self.pack, self.moq)
        launch_rows = np.flatnonzero(~self.old & (first_stock > 0))
        if len(launch_rows):
            la = a[launch_rows]
            self.book.book(
                launch_rows,
                la - 75,
                start_month[launch_rows],
                la,
                la,
                first_stock[launch_rows],
                np.full(len(launch_rows), RECEIVED),
            )
        return np.where(self.old, first_stock, 0).astype(np.int64)

    def review_days(self, n_days: int) -> dict[int, int]:
        """Day of each monthly review (day 2 of the month, within the data) -> the month's index."""
        month_day = self.month_day
        return {int(month_day[m] + 1): m for m in range(self.n_months) if month_day[m] + 1 < n_days}

    def review(self, t: int, m: int, on_hand: np.ndarray, recent: np.ndarray) -> None:
        """Month ``m``'s review on day ``t``: order up to the trailing sales rate x the days until the end of the
        arrival month x the cover, in whole packs; suppliers decline some orders and deliver some late.
        """
        pr, C, D = self.pr, len(on_hand), self.book.n_days
        a, b = pr["active_from"], pr["active_to"]
        arrival_month = m + LEAD_TIME_MONTHS - 1
        planned = np.full(C, self.month_day[arrival_month])
        age = t - a
        known = np.clip(age, 0, SALES_WINDOW_DAYS)
        # products active from the start see their prior rate for the days before the data
        prior_days = np.where(self.old, SALES_WINDOW_DAYS - known, 0)
        rate = np.where(
            self.old | (age >= 28),
            (recent + self.prior_rate * prior_days) / np.maximum(1, known + prior_days),
            self.prior_rate,
        )
        protect = self.month_day[arrival_month + 1] - t
        # a minimum on hand or on order: a listed product is never dropped for a quiet quarter, and a
        # lumpy one keeps two to three and a half of its typical orders
        target = np.maximum(rate * protect * pr["cover"], pr["min_stock"])
        need = np.ceil(target - on_hand - self.book.in_transit(t, C))
        ordering = (t >= a) & (t <= b) & (~pr["discontinued"] | (planned <= b)) & (need > 0)
        rows = np.flatnonzero(ordering)
        if not len(rows):
            return
        qty = _round_up(need[rows], self.pack[rows], self.moq[rows])
        u = self.draws[rows, m]
        status = np.where(u[:, 0] < P_CANCELLED, CANCELLED, RECEIVED)
        delay = np.where(
            u[:, 1] < P_DELAYED, DELAY_DAYS[0] + np.floor(u[:, 2] * (DELAY_DAYS[1] - DELAY_DAYS[0] + 1)), 0
        ).astype(np.int64)
        arrival = planned[rows] + delay
        status = np.where((status == RECEIVED) & (arrival > D - 1), OPEN, status)
        self.book.book(
            rows, np.full(len(rows), t), np.full(len(rows), arrival_month), planned[rows], arrival, qty, status
        )
        keep = status != CANCELLED
        self.book.track(rows[keep], arrival[keep], qty[keep], t)


def simulate_ordering(
    pr: dict, cal: Calendar, demand: np.ndarray, lam: np.ndarray, active: np.ndarray, rngs: list
) -> dict:
    """Run the company's ordering over the chunk's days.

    Returns ``sales`` and ``on_hand`` (C x D end of day, int64), ``stockout`` (C x D bool) and
    ``orders``: arrays ``row, order_day, arrival_month, planned_day, arrival_day, quantity, status``
    (days relative to the first day; ``arrival_day`` past the last day = not yet received).
    """
    C, D = demand.shape
    M = cal.n_months
    draws = np.stack([rngs[j].random((M + 1, 3)) for j in range(C)]) if C else np.zeros((0, M + 1, 3))
    book = _OrderBook(D, C)
    buyer = _Buyer(pr, cal, _prior_rate(pr, lam, active), draws, book)
    on_hand = buyer.opening_stock()
    review_days = buyer.review_days(D)

    # day-major copies: the loop below reads and writes one day of every product at a time
    demand_by_day = np.ascontiguousarray(demand.T)
    active_by_day = np.ascontiguousarray(active.T)
    recent = np.zeros(C, dtype=np.int64)  # sales of the last SALES_WINDOW_DAYS days
    sales = np.zeros((D, C), dtype=np.int64)
    end_stock = np.zeros((D, C), dtype=np.int64)
    for t in range(D):
        if t in review_days:
            buyer.review(t, review_days[t], on_hand, recent)
        live = active_by_day[t]
        on_hand = on_hand + np.where(live, book.arrivals[t], 0)
        sold = np.where(live, np.minimum(demand_by_day[t], on_hand), 0)
        on_hand = on_hand - sold
        sales[t] = sold
        end_stock[t] = on_hand
        recent += sold
        if t >= SALES_WINDOW_DAYS:
            recent -= sales[t - SALES_WINDOW_DAYS]
    sales, end_stock = np.ascontiguousarray(sales.T), np.ascontiguousarray(end_stock.T)
    stockout = active & (end_stock == 0)
    return {"sales": sales, "on_hand": end_stock, "stockout": stockout, "orders": book.arrays()}


def snapshots(cal: Calendar, on_hand: np.ndarray, active: np.ndarray, pids: pa.Array) -> pa.Table:
    """End-of-day on hand over each product's active window."""
    s_r, s_d = np.nonzero(active)
    return pa.table(
        {
            "snapshot_date": pa.array((s_d + cal.start_epoch).astype(np.int32), pa.date32()),
            "product_id": pids.take(pa.array(s_r)),
            "on_hand_qty": pa.array(on_hand[s_r, s_d].astype(np.int32), pa.int32()),
            "loaded_at": pa.array((s_d + cal.start_epoch + 1) * US_PER_DAY + US_PER_HOUR // 2, pa.timestamp("us")),
        },
        schema=SNAPSHOT_SCHEMA,
    )


def purchase_orders(cal: Calendar, orders: dict, numbers: np.ndarray, pids: pa.Array) -> pa.Table:
    """The company's purchase order lines, open and past, as the purchasing system exports them."""
    rows = orders["row"]
    order = np.lexsort((orders["order_day"], rows))
    rows = rows[order]
    seq = np.arange(len(rows)) - np.searchsorted(rows, rows)
    month0 = np.datetime64(cal.start, "M")
    arrival_month = (month0 + orders["arrival_month"][order]).astype("datetime64[D]").astype(np.int64)
    status = orders["status"][order]
    received = status == RECEIVED
    return pa.table(
        {
            "purchase_order_id": fixed_width_text([b"PO", (numbers[rows], 6), b"-", (seq, 4)])
            if len(rows)
            else pa.array([], pa.string()),
            "product_id": pids.take(pa.array(rows)),
            "order_date": pa.array((orders["order_day"][order] + cal.start_epoch).astype(np.int32), pa.date32()),
            "expected_arrival_month": pa.array(arrival_month.astype(np.int32), pa.date32()),
            "quantity": pa.array(orders["quantity"][order], pa.int64()),
            "status": pa.array(STATUS_NAMES[status].tolist(), pa.string()),
            "received_date": pa.array(
                (orders["arrival_day"][order] + cal.start_epoch).astype(np.int32), pa.date32(), mask=~received
            ),
            # known the morning after it was placed (a launch order placed before the data began: at the start)
            "loaded_at": pa.array(
                (np.maximum(orders["order_day"][order], -1) + cal.start_epoch + 1) * US_PER_DAY + 7 * US_PER_HOUR,
                pa.timestamp("us"),
            ),
        },
        schema=PURCHASE_ORDERS_SCHEMA,
    )


def ordering_rules(prod: dict, cal: Calendar, pids: pa.Array) -> pa.Table:
    """Pack size, minimum order, unit cost (5 % missing) and holding cost rate (30 % missing) per product."""
    n = prod["n"]
    return pa.table(
        {
            "product_id": pids,
            "pack_size": pa.array(prod["pack_size"], pa.int64()),
            "min_order_qty": pa.array(prod["min_order_qty"], pa.int64()),
            "unit_cost": pa.array(prod["unit_cost"], pa.float64(), mask=np.isnan(prod["unit_cost"])),
            "holding_cost_rate": pa.array(
                prod["holding_cost_rate"], pa.float64(), mask=np.isnan(prod["holding_cost_rate"])
            ),
            "loaded_at": pa.array(np.full(n, cal.extract_us), pa.timestamp("us")),
        },
        schema=ORDERING_RULES_SCHEMA,
    )


def stockout_episodes(cal: Calendar, stockout: np.ndarray, demand: np.ndarray, sales: np.ndarray, pids) -> pa.Table:
    """Runs of consecutive stock-out days per product, with the demand they lost."""
    C, D = stockout.shape
    padded = np.zeros((C, D + 2), dtype=np.int8)
    padded[:, 1:-1] = stockout
    edges = np.diff(padded, axis=1)
    s_r, s_d = np.nonzero(edges == 1)
    e_r, e_d = np.nonzero(edges == -1)
    lost = np.concatenate([np.zeros((C, 1)), np.cumsum(demand - sales, axis=1)], axis=1)
    # the demand lost from the day the stock ran out (its sales were partial) to the episode's last day
    lost_units = (lost[s_r, e_d] - lost[s_r, s_d]).astype(np.int64)
    return pa.table(
        {
            "product_id": pids.take(pa.array(s_r)),
            "start_date": pa.array((s_d + cal.start_epoch).astype(np.int32), pa.date32()),
            "end_date": pa.array((e_d - 1 + cal.start_epoch).astype(np.int32), pa.date32()),
            "days": pa.array((e_d - s_d).astype(np.int64)),
            "lost_units": pa.array(lost_units),
        },
        schema=EPISODE_SCHEMA,
    )

"""The ordering policy: monthly periodic review, order-up-to level, lost sales.

Timeline
--------
Month ``T`` is the as-of month, the last complete month. The batch runs after ``T`` closed and
purchasing orders right away. An order placed now can be sold from the first day of month ``T + L``
(``L = lead_time_months``, 3 by default: the company's three-month lead time, counted from the as-of
month to the month the goods arrive; this is the convention under which the three forecast months
are the lead time). Orders are placed every month, so the next one arrives in ``T + L + 1`` and this
one has to last until the end of ``T + L``. The protection period is therefore the ``L`` months
``T + 1 .. T + L``: the ``L - 1`` months before the order arrives plus the one review month it covers.

Terms (each one is a column of ``mart_purchase_suggestions``), with ``f_h`` the P50 forecast ``h``
months ahead::

    on_hand_qty               I      units on hand at the end of T
    open_order_qty            O      open purchase orders expected to arrive by T + L (overdue ones included)
    forecast_before_arrival   F_pre  = f_1 + ... + f_(L-1)
    projected_position        P      = I + O - F_pre       (negative: demand will be lost before arrival)
    forecast_arrival_month    f_L
    safety_stock              SS     from the backtest of cumulative demand (see .safety_stock)
    order_up_to               S      = f_1 + ... + f_L + SS
                                     (the target-service-level quantile of demand over T+1 .. T+L)
    net_requirement           N      = max(0, f_L + SS - max(P, 0))  =  max(0, S - max(I + O, F_pre))
    order_qty                 Q      = 0 when N = 0, else pack * max(ceil(N / pack), ceil(MOQ / pack))

Sales that find no stock are lost, not back-ordered, so a shortfall before the order arrives is not
made up by it: a negative projected position counts as 0. Rounding is always upwards (whole packs,
then the minimum order quantity rounded up to whole packs), so a suggestion never covers less than
the target. A product discontinued before the arrival month gets no order.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..months import add_months

#: Below this many units a requirement is rounding noise of the float sums, not a reason to order a pack.
EPSILON_UNITS = 1e-6

#: Values of ``order_status``.
ORDER = "order"
NO_ORDER = "no_order"
REVIEW = "review"  # no automatic suggestion: a person has to decide (the reason says why)
ORDER_STATUSES = (ORDER, NO_ORDER, REVIEW)


def projected_position(on_hand, open_orders, forecast_before_arrival) -> np.ndarray:
    """``P = I + O - F_pre``: what is expected to be left when the order arrives (may be negative)."""
    return np.asarray(on_hand, float) + np.asarray(open_orders, float) - np.asarray(forecast_before_arrival, float)


def order_up_to_level(cumulative_forecast, safety_stock) -> np.ndarray:
    """``S = f_1 + ... + f_L + SS``."""
    return np.asarray(cumulative_forecast, float) + np.asarray(safety_stock, float)


def net_requirement(forecast_arrival_month, safety_stock, position) -> np.ndarray:
    """``N = max(0, f_L + SS - max(P, 0))``; below :data:`EPSILON_UNITS` it is 0."""
    need = np.asarray(forecast_arrival_month, float) + np.asarray(safety_stock, float)
    need = need - np.maximum(np.asarray(position, float), 0.0)
    return np.where(need > EPSILON_UNITS, need, 0.0)


def round_to_packs(requirement, pack_size, min_order_qty) -> np.ndarray:
    """``Q = pack * max(ceil(N / pack), ceil(MOQ / pack))`` where ``N > 0``, else 0 (int64 units).

    ``pack_size`` must be a whole number >= 1 and ``min_order_qty`` >= 0 (checked by
    :func:`demand_forecast.purchasing.checks.rules_issues` before a suggestion is made).
    """
    n = np.asarray(requirement, float)
    pack = np.asarray(pack_size, np.int64)
    moq = np.asarray(min_order_qty, float)
    if np.any(pack < 1):
        raise ValueError("pack_size must be a whole number >= 1")
    if np.any(moq < 0):
        raise ValueError("min_order_qty must be >= 0")
    packs = np.maximum(np.ceil(n / pack - 1e-9), np.ceil(moq / pack - 1e-9))
    return np.where(n > EPSILON_UNITS, packs * pack, 0).astype(np.int64)


def order_quantity(order_up_to, forecast_before_arrival, on_hand, open_orders, pack_size, min_order_qty) -> np.ndarray:
    """The whole formula in one call (what the simulation uses): ``Q`` from ``S, F_pre, I, O``."""
    s = np.asarray(order_up_to, float)
    f_pre = np.asarray(forecast_before_arrival, float)
    position = projected_position(on_hand, open_orders, f_pre)
    return round_to_packs(net_requirement(s - f_pre, 0.0, position), pack_size, min_order_qty)


# --------------------------------------------------------------------------- suggestions with reasons

#: Columns :func:`suggest_orders` needs (one row per product).
SUGGESTION_INPUTS = (
    "product_id",
    "forecast_before_arrival",  # F_pre
    "forecast_arrival_month",  # f_L
    "safety_stock",
    "service_level",
    "on_hand_qty",  # null when unknown
    "open_order_qty",
    "pack_size",
    "min_order_qty",
    "discontinued_date",  # null when not discontinued
    "blocking_issue",  # null, or why no automatic suggestion can be made (see .checks)
)


def _units(value: float) -> str:
    """A quantity as purchasing reads it: whole units from 10 up, one decimal below."""
    if value is None or not np.isfinite(value):
        return "?"
    if abs(value) >= 10 or float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:.1f}"


def _month(value) -> str:
    return pd.Timestamp(value).strftime("%Y-%m")


def suggest_orders(inputs: pd.DataFrame, as_of_month, lead_time_months: int = 3) -> pd.DataFrame:
    """Every term, the order quantity, a status and a plain-words reason per product.

    ``inputs`` holds the columns of :data:`SUGGESTION_INPUTS` (extra columns are kept). Adds
    ``arrival_month``, ``order_up_to``, ``projected_position``, ``net_requirement``, ``order_qty``
    (null for a product under review), ``order_packs``, ``order_status`` (``order`` | ``no_order`` |
    ``review``) and ``reason``.
    """
    if lead_time_months < 1:
        raise ValueError(f"lead_time_months must be >= 1, got {lead_time_months}")
    missing = [c for c in SUGGESTION_INPUTS if c not in inputs.columns]
    if missing:
        raise ValueError(f"suggest_orders: inputs lack the columns {missing}")
    out = inputs.copy().reset_index(drop=True)
    arrival = add_months(pd.Timestamp(as_of_month).normalize().replace(day=1), lead_time_months)
    out["arrival_month"] = arrival
    f_pre = out["forecast_before_arrival"].astype(float).to_numpy()
    f_last = out["forecast_arrival_month"].astype(float).to_numpy()
    ss = out["safety_stock"].astype(float).to_numpy()
    on_hand = pd.to_numeric(out["on_hand_qty"], errors="coerce").astype(float).to_numpy()
    open_qty = pd.to_numeric(out["open_order_qty"], errors="coerce").fillna(0.0).astype(float).to_numpy()
    out["order_up_to"] = order_up_to_level(f_pre + f_last, ss)

    issue = out["blocking_issue"].astype("object").where(out["blocking_issue"].notna(), None)
    disc = pd.to_datetime(out["discontinued_date"])
    gone = (disc < arrival).fillna(False).to_numpy(bool)
    unknown_stock = np.isnan(on_hand)
    blocked = issue.notna().to_numpy() | (unknown_stock & ~gone)
    computable = ~blocked & ~gone

    position = projected_position(np.nan_to_num(on_hand), open_qty, f_pre)
    need = net_requirement(f_last, ss, position)
    pack = pd.to_numeric(out["pack_size"], errors="coerce").fillna(1).to_numpy()
    moq = pd.to_numeric(out["min_order_qty"], errors="coerce").fillna(0).to_numpy()
    safe_pack = np.where(computable, pack, 1).astype(np.int64)
    safe_moq = np.where(computable, moq, 0.0)
    qty = round_to_packs(np.where(computable, need, 0.0), safe_pack, safe_moq)

    out["projected_position"] = np.where(unknown_stock, np.nan, position)
    out["net_requirement"] = np.where(computable, need, np.where(gone, 0.0, np.nan))
    out["order_qty"] = pd.array(np.where(computable | gone, qty, 0), dtype="Int64")
    out.loc[blocked & ~gone, "order_qty"] = pd.NA
    out["order_packs"] = (out["order_qty"] // pd.array(safe_pack, dtype="Int64")).astype("Int64")
    status = np.where(qty > 0, ORDER, NO_ORDER).astype(object)
    status[gone] = NO_ORDER
    status[blocked & ~gone] = REVIEW
    out["order_status"] = status

    reasons = []
    for i in range(len(out)):
        row = out.iloc[i]
        if gone[i]:
            reasons.append(
                f"No order: discontinued on {pd.Timestamp(disc.iloc[i]).date().isoformat()}, "
                f"before an order placed now would arrive ({_month(arrival)})."
            )
            continue
        if blocked[i]:
            why = issue.iloc[i] or (
                "no accepted stock snapshot in the as-of month (none was sent, or each one was quarantined, "
                "e.g. a negative on-hand), so on hand is unknown; "
                "send stock_snapshots for the month, or subtract your stock by hand"
            )
            text = f"No automatic suggestion: {why}."
            level = out["order_up_to"].iloc[i]
            if np.isfinite(level):
                text += (
                    f" For reference, the order-up-to level (demand of "
                    f"{_month(add_months(arrival, 1 - lead_time_months))} to {_month(arrival)} at the target "
                    f"service level) is {_units(level)}."
                )
            reasons.append(text)
            continue
        reasons.append(
            _reason(
                qty=int(qty[i]),
                need=float(need[i]),
                pack=int(pack[i]),
                moq=float(moq[i]),
                on_hand=float(on_hand[i]),
                open_qty=float(open_qty[i]),
                f_pre=float(f_pre[i]),
                f_last=float(f_last[i]),
                ss=float(ss[i]),
                service_level=float(row["service_level"]),
                position=float(position[i]),
                arrival=arrival,
                lead_time_months=lead_time_months,
            )
        )
    out["reason"] = reasons
    return out


def _reason(
    *,
    qty: int,
    need: float,
    pack: int,
    moq: float,
    on_hand: float,
    open_qty: float,
    f_pre: float,
    f_last: float,
    ss: float,
    service_level: float,
    position: float,
    arrival,
    lead_time_months: int,
) -> str:
    month = _month(arrival)
    stock = f"on hand {_units(on_hand)} + on order {_units(open_qty)}"
    if lead_time_months > 1:
        stock += f" - forecast {_units(f_pre)} until then = {_units(position)} left when it arrives"
    if position < 0:
        stock += f" (about {_units(-position)} of demand will be lost before then)"
    target = f"forecast {_units(f_last)} + safety stock {_units(ss)} ({service_level:.0%} service level)"
    if qty == 0:
        return f"No order: {stock}; that covers what {month} needs, {target}."
    packs = qty // pack
    size = f" ({packs} pack{'s' if packs != 1 else ''} of {pack})" if pack > 1 else ""
    text = f"Order {qty}{size} to arrive in {month}: {stock}; {month} needs {target}, short by {_units(need)}"
    if moq > 0 and qty >= moq and math.ceil(need / pack - 1e-9) * pack < qty:
        text += f", raised to the minimum order of {_units(moq)}"
        if moq % pack:
            text += f" rounded up to whole packs of {pack}"
    elif pack > 1 and qty > need + EPSILON_UNITS:
        text += f", rounded up to whole packs of {pack}"
    return text + "."

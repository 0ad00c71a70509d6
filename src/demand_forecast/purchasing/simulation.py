"""Replay stored purchase plans against the demand that really came: what a policy would have held and lost.

For every policy (e.g. the selected forecast and the seed's WMA baseline) and product, month by month:

* start of month ``t``: the orders placed at the review ``t - L`` arrive: ``on_hand += arrivals``;
* during ``t``: ``sales = min(on_hand, demand)``, ``lost = demand - sales`` (lost sales, no back orders);
* end of ``t`` (the review of as-of month ``t``): the order of :func:`demand_forecast.purchasing.policy.order_quantity`
  with that month's plan (``order_up_to``, ``forecast_before_arrival``), the simulated on hand and the
  simulated orders still in transit; it arrives at the start of ``t + L``.

Start: at a product's first plan month ``c0`` the stock is exactly the actual demand of
``c0+1 .. c0+L-1`` and nothing is in transit, the same for every policy, so the figures measure the
policies and not the stock they inherited. Months ``c0+L`` onwards are evaluated (the first month an
order of the policy arrives), while the product has a row in the demand panel. A month without a plan
after the first (a gap in the history) reuses the last plan.

Figures per segment (:func:`summarise`), over the evaluated product-months::

    fill_rate            = sum sales / sum demand
    stockout_months      = product-months with lost sales > 0
    avg_inventory_units  = sum over product-months of (on hand after arrivals + on hand at month end) / 2,
                           divided by the number of months of the window (units held at any time)
    avg_inventory_value  = the same in value (unit cost, else list price)
    holding_cost_per_year = sum over products of avg inventory value x the product's yearly holding cost rate
    inventory_turns      = sales value per year / avg_inventory_value

:func:`inventory_simulation` runs both and adds, per segment, the difference of each policy to the
baseline policy (``*_vs_baseline``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..months import month_numbers
from .policy import EPSILON_UNITS, order_quantity

SIMULATION_COLUMNS = (
    "policy",
    "product_id",
    "month",
    "on_hand_start",
    "arrival_qty",
    "demand",
    "sales",
    "lost_sales",
    "on_hand_end",
    "order_qty",
)


def simulate(plans: pd.DataFrame, demand: pd.DataFrame, rules: pd.DataFrame, lead_time_months: int = 3) -> pd.DataFrame:
    """Evaluated product-months of every policy (:data:`SIMULATION_COLUMNS`).

    ``plans``: ``as_of_month, product_id, policy, forecast_before_arrival, order_up_to`` (stored plans
    of :func:`demand_forecast.purchasing.safety_stock.purchase_plans`); ``demand``: ``product_id,
    month, demand`` (the cleaned monthly demand, e.g. ``int_monthly_demand``); ``rules``: ``product_id,
    pack_size, min_order_qty`` (missing products: pack 1, no minimum).
    """
    L = int(lead_time_months)
    if L < 1:
        raise ValueError(f"lead_time_months must be >= 1, got {L}")
    parts = [
        _simulate_policy(group, demand, rules, L).assign(policy=policy)
        for policy, group in plans.groupby("policy", sort=True)
    ]
    if not parts:
        return pd.DataFrame({c: [] for c in SIMULATION_COLUMNS})
    return pd.concat(parts, ignore_index=True)[list(SIMULATION_COLUMNS)]


def _simulate_policy(plans: pd.DataFrame, demand: pd.DataFrame, rules: pd.DataFrame, L: int) -> pd.DataFrame:
    products = np.sort(plans["product_id"].astype(str).unique())
    n = len(products)
    plan_month = month_numbers(plans["as_of_month"])
    dem = demand.loc[demand["product_id"].astype(str).isin(products)]
    dem_month = month_numbers(dem["month"])
    first = int(plan_month.min())
    last = int(max(dem_month.max() if len(dem) else first, plan_month.max()))
    T = last - first + 1
    row_of = pd.Index(products)

    order_up_to = np.full((n, T), np.nan)
    f_pre = np.full((n, T), np.nan)
    pr = row_of.get_indexer(plans["product_id"].astype(str))
    order_up_to[pr, plan_month - first] = pd.to_numeric(plans["order_up_to"], errors="coerce").to_numpy(float)
    f_pre[pr, plan_month - first] = pd.to_numeric(plans["forecast_before_arrival"], errors="coerce").to_numpy(float)
    has_plan = np.zeros((n, T), dtype=bool)
    has_plan[pr, plan_month - first] = True
    first_review = has_plan.argmax(axis=1)
    order_up_to = _forward_fill(order_up_to)
    f_pre = _forward_fill(f_pre)

    y = np.zeros((n, T))
    active = np.zeros((n, T), dtype=bool)
    keep = dem_month >= first
    dr = row_of.get_indexer(dem["product_id"].astype(str))[keep]
    dc = dem_month[keep] - first
    y[dr, dc] = np.nan_to_num(pd.to_numeric(dem["demand"], errors="coerce").to_numpy(float)[keep]).clip(min=0.0)
    active[dr, dc] = True

    rules = rules.assign(product_id=rules["product_id"].astype(str)).drop_duplicates("product_id")
    rules = rules.set_index("product_id")
    pack = pd.Series(products).map(rules["pack_size"]).fillna(1).clip(lower=1).to_numpy(np.int64)
    moq = pd.Series(products).map(rules["min_order_qty"]).fillna(0).clip(lower=0).to_numpy(float)

    cols = np.arange(T)
    on_hand = np.zeros(n)
    arrivals = np.zeros((n, T + L + 1))
    start = np.zeros((n, T))
    end = np.zeros((n, T))
    sales = np.zeros((n, T))
    placed = np.zeros((n, T), dtype=np.int64)
    for t in range(T):
        live = t > first_review
        on_hand = np.where(live, on_hand + arrivals[:, t], on_hand)
        start[:, t] = on_hand
        sold = np.where(live, np.minimum(on_hand, y[:, t]), 0.0)
        on_hand = on_hand - sold
        sales[:, t] = sold
        end[:, t] = on_hand
        warm = t == first_review
        if warm.any():
            ahead = (cols[None, :] > t) & (cols[None, :] < t + L)
            on_hand = np.where(warm, (y * ahead).sum(axis=1), on_hand)
        reviewing = (t >= first_review) & np.isfinite(order_up_to[:, t])
        if reviewing.any():
            in_transit = arrivals[:, t + 1 : t + L + 1].sum(axis=1)
            q = order_quantity(
                np.nan_to_num(order_up_to[:, t]), np.nan_to_num(f_pre[:, t]), on_hand, in_transit, pack, moq
            )
            q = np.where(reviewing, q, 0)
            placed[:, t] = q
            arrivals[:, t + L] += q

    evaluated = active & (cols[None, :] >= (first_review + L)[:, None])
    r, c = np.nonzero(evaluated)
    month_starts = pd.DatetimeIndex(
        [pd.Timestamp(year=(first + k) // 12, month=(first + k) % 12 + 1, day=1) for k in range(T)]
    )
    return pd.DataFrame(
        {
            "product_id": products[r],
            "month": month_starts[c],
            "on_hand_start": start[r, c],
            "arrival_qty": arrivals[r, c],
            "demand": y[r, c],
            "sales": sales[r, c],
            "lost_sales": y[r, c] - sales[r, c],
            "on_hand_end": end[r, c],
            "order_qty": placed[r, c],
        }
    )


def _forward_fill(values: np.ndarray) -> np.ndarray:
    """Carry the last finite value of each row forwards (NaN before the first)."""
    idx = np.where(np.isfinite(values), np.arange(values.shape[1])[None, :], 0)
    np.maximum.accumulate(idx, axis=1, out=idx)
    out = values[np.arange(values.shape[0])[:, None], idx]
    seen = np.maximum.accumulate(np.isfinite(values), axis=1)
    return np.where(seen, out, np.nan)


#: Columns of :func:`summarise` with their types.
SUMMARY_SCHEMA = {
    "policy": "str",
    "product_group": "str",
    "demand_class": "str",
    "products": "int",
    "months": "int",
    "product_months": "int",
    "first_month": "date",
    "last_month": "date",
    "demand_units": "float",
    "sales_units": "float",
    "lost_sales_units": "float",
    "fill_rate": "float",
    "stockout_months": "int",
    "stockout_month_share": "float",
    "avg_inventory_units": "float",
    "avg_inventory_value": "float",
    "holding_cost_per_year": "float",
    "inventory_turns": "float",
}
SUMMARY_COLUMNS = tuple(SUMMARY_SCHEMA)


def summarise(simulated: pd.DataFrame, products: pd.DataFrame, rollups: bool = True) -> pd.DataFrame:
    """Fill rate, stock-out months, average inventory and turns per policy, product group and demand class.

    ``products``: ``product_id, product_group, demand_class, unit_value`` (the unit cost, else the list
    price) and optionally ``holding_cost_rate`` (yearly; 0 when absent). With ``rollups`` the segments
    ``all`` (every group, every class, or both) are added.
    """
    attrs = products.drop_duplicates("product_id").set_index("product_id")
    sim = simulated.copy()
    for column in ("product_group", "demand_class"):
        sim[column] = sim["product_id"].map(attrs[column]).fillna("unknown").astype(str)
    value = sim["product_id"].map(attrs["unit_value"]).astype(float).fillna(0.0)
    sim["inventory_units"] = (sim["on_hand_start"] + sim["on_hand_end"]) / 2.0
    sim["inventory_value"] = sim["inventory_units"] * value
    sim["sales_value"] = sim["sales"] * value
    rate = attrs["holding_cost_rate"] if "holding_cost_rate" in attrs else pd.Series(0.0, index=attrs.index)
    sim["holding_cost"] = sim["inventory_value"] * sim["product_id"].map(rate).astype(float).fillna(0.0)
    sim["stockout"] = sim["lost_sales"] > EPSILON_UNITS
    levels = [("product_group", "demand_class")]
    if rollups:
        levels += [("product_group",), ("demand_class",), ()]
    parts = []
    for keys in levels:
        frame = sim.copy()
        for column in ("product_group", "demand_class"):
            if column not in keys:
                frame[column] = "all"
        parts.append(_segment_figures(frame))
    out = pd.concat(parts, ignore_index=True)
    return out[list(SUMMARY_COLUMNS)].sort_values(["policy", "product_group", "demand_class"]).reset_index(drop=True)


def _segment_figures(sim: pd.DataFrame) -> pd.DataFrame:
    keys = ["policy", "product_group", "demand_class"]
    g = sim.groupby(keys, sort=True)
    out = g.agg(
        products=("product_id", "nunique"),
        months=("month", "nunique"),
        product_months=("month", "size"),
        first_month=("month", "min"),
        last_month=("month", "max"),
        demand_units=("demand", "sum"),
        sales_units=("sales", "sum"),
        lost_sales_units=("lost_sales", "sum"),
        stockout_months=("stockout", "sum"),
        inventory_units=("inventory_units", "sum"),
        inventory_value=("inventory_value", "sum"),
        holding_cost=("holding_cost", "sum"),
        sales_value=("sales_value", "sum"),
    ).reset_index()
    months = out["months"].clip(lower=1)
    out["fill_rate"] = out["sales_units"] / out["demand_units"].where(out["demand_units"] > 0)
    out["stockout_month_share"] = out["stockout_months"] / out["product_months"].clip(lower=1)
    out["avg_inventory_units"] = out["inventory_units"] / months
    out["avg_inventory_value"] = out["inventory_value"] / months
    out["holding_cost_per_year"] = out["holding_cost"] / months
    yearly_sales = out["sales_value"] / months * 12.0
    out["inventory_turns"] = yearly_sales / out["avg_inventory_value"].where(out["avg_inventory_value"] > 0)
    out["stockout_months"] = out["stockout_months"].astype(np.int64)
    return out


COMPARED = ("fill_rate", "stockout_months", "avg_inventory_units", "avg_inventory_value", "inventory_turns")
#: Columns of :func:`inventory_simulation` (``mart_inventory_simulation`` adds ``as_of_month``) with their types.
SIMULATION_SCHEMA = {
    **SUMMARY_SCHEMA,
    **{f"{c}_vs_baseline": "int" if c == "stockout_months" else "float" for c in COMPARED},
}


def inventory_simulation(
    plans: pd.DataFrame,
    demand: pd.DataFrame,
    rules: pd.DataFrame,
    products: pd.DataFrame,
    lead_time_months: int,
    as_of_month=None,
    baseline_policy: str = "baseline",
) -> pd.DataFrame:
    """:func:`simulate` + :func:`summarise` up to ``as_of_month``, with every policy next to the baseline.

    Adds ``fill_rate_vs_baseline`` and ``stockout_months_vs_baseline`` (differences) and
    ``avg_inventory_units_vs_baseline``, ``avg_inventory_value_vs_baseline`` (relative: -0.2 = 20 % less
    stock than the baseline policy holds in the same segment).
    """
    if as_of_month is not None:
        as_of = pd.Timestamp(as_of_month)
        plans = plans.loc[pd.to_datetime(plans["as_of_month"]) <= as_of]
        demand = demand.loc[pd.to_datetime(demand["month"]) <= as_of]
    simulated = simulate(plans, demand, rules, lead_time_months)
    if simulated.empty:
        return pd.DataFrame(columns=list(SIMULATION_SCHEMA))
    summary = summarise(simulated, products)
    keys = ["product_group", "demand_class"]
    base = summary.loc[summary["policy"] == baseline_policy, keys + list(COMPARED)]
    joined = summary.merge(base.rename(columns={c: f"{c}_baseline" for c in COMPARED}), on=keys, how="left")
    for column in ("fill_rate", "stockout_months", "inventory_turns"):
        summary[f"{column}_vs_baseline"] = joined[column] - joined[f"{column}_baseline"]
    for column in ("avg_inventory_units", "avg_inventory_value"):
        reference = joined[f"{column}_baseline"]
        summary[f"{column}_vs_baseline"] = joined[column] / reference.where(reference > 0) - 1.0
    return summary

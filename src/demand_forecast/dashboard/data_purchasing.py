"""The "Orders to place" section: the order suggestion of every product (``mart_purchase_suggestions``)
and what the ordering policy saves against the WMA baseline (``mart_inventory_simulation``).
docs/purchasing.md explains every term.

The table embeds the products to order and to review first (largest order value first), then the
others, up to ``ORDERS_MAX_ROWS``; ``exports/purchase_suggestions.csv`` always holds every product.
"""

from __future__ import annotations

from .formatting import as_date, compact, finite
from .warehouse import Warehouse

ORDERS_MAX_ROWS = 5_000

#: (column of mart_purchase_suggestions, header shown, kind: text | units | money) in table order
ORDER_COLUMNS = (
    ("product_id", "Product", "text"),
    ("product_name", "Name", "text"),
    ("category", "Category", "text"),
    ("order_status", "Status", "text"),
    ("order_qty", "Order (units)", "units"),
    ("order_packs", "Packs", "units"),
    ("order_value", "Order value", "money"),
    ("on_hand_qty", "On hand", "units"),
    ("open_order_qty", "On order", "units"),
    ("forecast_before_arrival", "Forecast until arrival", "units"),
    ("forecast_arrival_month", "Forecast arrival month", "units"),
    ("safety_stock", "Safety stock", "units"),
    ("order_up_to", "Order-up-to", "units"),
    ("projected_position", "Left at arrival", "units"),
    ("net_requirement", "Short by", "units"),
    ("pack_size", "Pack", "units"),
    ("min_order_qty", "Min. order", "units"),
    ("reason", "Reason", "text"),
    ("product_group", "Group", "text"),
)
STATUS_ORDER = {"order": 0, "review": 1, "no_order": 2}

#: (column of mart_inventory_simulation, header shown, kind) of the savings table
SIMULATION_COLUMNS = (
    ("fill_rate", "Fill rate", "pct"),
    ("stockout_months", "Stock-out months", "units"),
    ("avg_inventory_units", "Avg inventory (units)", "units"),
    ("avg_inventory_value", "Avg inventory (value)", "money"),
    ("inventory_turns", "Turns / year", "ratio"),
    ("avg_inventory_value_vs_baseline", "Inventory vs baseline", "signed_pct"),
)


def load_orders(w: Warehouse, data: dict, t: dict) -> None:
    """``data["orders"]``: the suggestion rows (``ORDER_COLUMNS``), their months and counts per status."""
    if not t["suggestions"]:
        return
    cols = w.columns(t["suggestions"])
    missing = [c for c, _, _ in ORDER_COLUMNS if c not in cols]
    if missing:
        data["errors"]["orders"] = f"marts.mart_purchase_suggestions has no column {', '.join(missing)}"
        return
    select = ", ".join(c for c, _, _ in ORDER_COLUMNS)
    status_rank = " ".join(f"when '{s}' then {r}" for s, r in STATUS_ORDER.items())
    rows = w.rows(
        f"""select {select} from {t["suggestions"]}
            order by case order_status {status_rank} else 3 end, order_value desc nulls last, product_id
            limit ?""",
        [ORDERS_MAX_ROWS],
    )
    head = w.rows(
        f"""select max(as_of_month) as as_of_month, max(arrival_month) as arrival_month,
                max(lead_time_months) as lead_time_months, count(*) as n_total,
                count(*) filter (where order_status = 'order') as n_order,
                count(*) filter (where order_status = 'review') as n_review,
                sum(order_value) as order_value
            from {t["suggestions"]}"""
    )[0]
    kinds = [kind for _, _, kind in ORDER_COLUMNS]
    data["orders"] = {
        "columns": [c for c, _, _ in ORDER_COLUMNS],
        "labels": [label for _, label, _ in ORDER_COLUMNS],
        "kinds": kinds,
        "rows": [
            [compact(r[c]) if kind != "text" else r[c] for (c, _, _), kind in zip(ORDER_COLUMNS, kinds, strict=True)]
            for r in rows
        ],
        "groups": sorted({r["product_group"] for r in rows if r["product_group"]}),
        "as_of": as_date(head["as_of_month"]),
        "arrival_month": as_date(head["arrival_month"]),
        "lead_time_months": head["lead_time_months"],
        "n_total": head["n_total"],
        "n_order": head["n_order"],
        "n_review": head["n_review"],
        "order_value": finite(head["order_value"]),
    }


def load_simulation(w: Warehouse, data: dict, t: dict) -> None:
    """``data["simulation"]``: both policies per demand class (all groups), and over all products."""
    if not t["simulation"]:
        return
    select = ", ".join(c for c, _, _ in SIMULATION_COLUMNS)
    rows = w.rows(
        f"""select policy, demand_class, products, months, first_month, last_month, {select}
            from {t["simulation"]}
            where product_group = 'all'
            order by demand_class = 'all', demand_class, policy desc"""
    )
    data["simulation"] = {
        "rows": rows,
        "columns": SIMULATION_COLUMNS,
        "first_month": as_date(min((r["first_month"] for r in rows if r["first_month"]), default=None)),
        "last_month": as_date(max((r["last_month"] for r in rows if r["last_month"]), default=None)),
    }

"""The "Orders to place" section of the page: the order table (drawn, sorted and exported to CSV in the
browser by ``assets/orders.js``) and the savings of the ordering policy (an HTML table made here)."""

from __future__ import annotations

import html
from importlib import resources
from typing import Any

from .formatting import finite, month_label, pct

ORDERS_JS = resources.files(__package__).joinpath("assets").joinpath("orders.js").read_text(encoding="utf-8")
esc = html.escape


def orders_payload(data: dict[str, Any]) -> dict[str, Any] | None:
    """What ``orders.js`` needs: the rows and their columns (dates as ISO text)."""
    orders = data.get("orders")
    if not orders:
        return None
    return {
        **{k: v for k, v in orders.items() if k not in ("as_of", "arrival_month")},
        "as_of": orders["as_of"].isoformat() if orders.get("as_of") else None,
        "arrival_month": orders["arrival_month"].isoformat() if orders.get("arrival_month") else None,
    }


def _cell(value: Any, kind: str) -> str:
    number = finite(value)
    if number is None:
        return "n/a"
    if kind == "pct":
        return f"{100 * number:.1f}%"
    if kind == "signed_pct":
        return pct(number, signed=True)
    if kind == "ratio":
        return f"{number:,.1f}"
    return f"{number:,.0f}"


def simulation_html(data: dict[str, Any]) -> str:
    sim = data.get("simulation")
    if not sim or not sim.get("rows"):
        lead = (data.get("orders") or {}).get("lead_time_months") or 3
        return (
            '<div class="no-data" id="orders-simulation">No replay yet: the simulation replays the purchase plans '
            f"stored month by month and needs plans of {lead + 1} as-of months (the lead time plus one). "
            "Run the batch over more months (demand-forecast run --replay-months N).</div>"
        )
    head = "".join(f'<th class="num">{esc(label)}</th>' for _, label, _ in sim["columns"])
    body = []
    for row in sim["rows"]:
        policy = "selected forecast" if row["policy"] == "selected" else "WMA baseline"
        strong = ' class="total"' if row["demand_class"] == "all" else ""
        cells = "".join(f'<td class="num">{_cell(row[c], kind)}</td>' for c, _, kind in sim["columns"])
        body.append(
            f"<tr{strong}><td>{esc(row['demand_class'])}</td><td>{policy}</td>"
            f'<td class="num">{int(row["products"] or 0):,}</td>{cells}</tr>'
        )
    period = f"{month_label(sim['first_month'])} to {month_label(sim['last_month'])}"
    return f"""
    <p class="note" id="orders-simulation-note">The stored purchase plans replayed against the demand that came,
    {esc(period)}: the same ordering policy driven by the selected forecast and by the seed's weighted moving
    average (lost sales; pack sizes and minimum orders respected; each product starts with the stock it needs
    until its first order arrives). Inventory is valued at unit cost, else list price.</p>
    <div class="table-wrap"><table class="list" id="orders-simulation">
      <thead><tr><th>Demand class</th><th>Policy</th><th class="num">Products</th>{head}</tr></thead>
      <tbody>{"".join(body)}</tbody></table></div>"""


def orders_section(data: dict[str, Any], warn_for) -> str:
    orders = data.get("orders")
    if not orders or not orders.get("rows"):
        body = (
            '<div class="no-data">No data yet: marts.mart_purchase_suggestions is missing or empty. It is built '
            "by the batch after the forecasts (demand-forecast run); without stock snapshots every product is "
            "under review.</div>"
        )
        lead_text = "What to order now, per product group, from the forecasts, the stock and the open orders."
    else:
        options = '<option value="all">All groups</option>' + "".join(
            f'<option value="{esc(g)}">{esc(g)}</option>' for g in orders["groups"]
        )
        value = finite(orders.get("order_value"))
        lead_text = (
            f"Orders placed now arrive in {esc(month_label(orders.get('arrival_month')))} "
            f"({orders.get('lead_time_months')} months after {esc(month_label(orders.get('as_of')))}, the last "
            "complete month). Each covers its arrival month at the product group's target service level; the "
            "reason of every row shows the arithmetic. Click a column header to sort. "
            f"{int(orders['n_order'] or 0):,} products to order"
            + (f" (value {value:,.0f})" if value is not None else "")
            + f", {int(orders['n_review'] or 0):,} to review by hand, of {int(orders['n_total'] or 0):,}."
        )
        body = f"""
    <div class="controls">
      <label for="orders-group">Product group</label>
      <select id="orders-group">{options}</select>
      <a id="orders-csv" class="button" href="#" download="orders.csv">Download CSV</a>
      <span class="note" id="orders-note"></span>
    </div>
    <div class="table-wrap"><table class="list orders" id="orders-table"></table></div>"""
    return f"""
  <section id="orders">
    <h2>Orders to place: <span id="orders-current">All groups</span></h2>
    <p class="lead">{lead_text}</p>
    {warn_for("orders", "simulation")}
    {body}
    <h3>What the ordering policy saves</h3>
    {simulation_html(data)}
  </section>"""

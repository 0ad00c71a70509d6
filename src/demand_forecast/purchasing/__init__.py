"""From forecasts to purchase orders (docs/purchasing.md).

* :mod:`.policy` -- the order formula: projected position, order-up-to level, net requirement, rounding to
  packs and minimum order quantity, and the plain-words reason of every suggestion.
* :mod:`.safety_stock` -- the safety stock from backtest residuals of *cumulative* demand over the protection
  period, and the per-product plan (order-up-to level) of a forecast at an as-of month.
* :mod:`.checks` -- what stops an automatic suggestion: a forecast that fails a sanity check, unknown stock,
  unreadable ordering rules or purchase orders.
* :mod:`.simulation` -- replays stored plans against actual demand: fill rate, stock-out months, inventory.

Every function is pure (frames and arrays in, frames and arrays out); the dbt Python models only read their
refs and call them.
"""

"""Per-product series for the "one product" section.

Embedded for the top ``top_n`` products by cleaned demand over the last 12 months plus every
product listed as "needs attention" (a click on its bar opens it): 36 months of raw and cleaned
demand with the flagged months, the selected and the baseline forecast, and each model's error.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from ..months import add_months
from .formatting import PRODUCT_MONTHS, as_date, compact, finite, rounded
from .warehouse import Warehouse, col


def load_products(w: Warehouse, data: dict, t: dict, attrs_sql: str | None, as_of: dt.date | None, top_n: int) -> None:
    ids = _embedded_ids(w, data, t, as_of, top_n)
    data["n_products_total"] = w.scalar(f"select count(*) from ({attrs_sql})") if attrs_sql else None
    if not ids:
        return
    products: dict[str, dict[str, Any]] = {pid: {"id": pid} for pid in ids}
    if attrs_sql:
        for row in w.rows(f"select * from ({attrs_sql}) where product_id in (select unnest(?::varchar[]))", [ids]):
            products[row["product_id"]].update(
                name=row["product_name"],
                group=row["product_group"],
                category=row["category"],
                demand_class=row["demand_class"],
                lifecycle=row["lifecycle"],
            )
    if t["wide"]:
        _add_wide(w, t, ids, products)
    data["product_months"] = []
    if t["panel"] and as_of:
        data["product_months"] = _add_history(w, t, ids, products, as_of)
    data["forecast_months"] = [add_months(as_of, h) for h in (1, 2, 3)] if as_of else []
    if t["forecasts"] and as_of:
        _add_forecasts(w, t, ids, products, as_of)
    _add_model_errors(w, data, t, ids, products, as_of)
    data["products"] = products
    data["product_order"] = ids


def _embedded_ids(w: Warehouse, data: dict, t: dict, as_of: dt.date | None, top_n: int) -> list[str]:
    """The top ``top_n`` by volume (panel, else the wide mart, else the forecast), then every
    product of a "needs attention" list."""
    ranked: list[str] = []
    if t["panel"] and as_of:
        ranked = [
            r["product_id"]
            for r in w.rows(
                f"""select product_id, sum(demand) as volume from {t["panel"]}
                where month > ? and month <= ? group by product_id
                order by volume desc nulls last, product_id limit ?""",
                [add_months(as_of, -12), as_of, int(top_n)],
            )
        ]
    elif t["wide"]:
        cols = w.columns(t["wide"])
        order = "demand_last_12m desc nulls last, " if "demand_last_12m" in cols else ""
        ranked = [
            r["product_id"]
            for r in w.rows(f"select product_id from {t['wide']} order by {order}product_id limit ?", [int(top_n)])
        ]
    elif t["forecasts"] and as_of:
        ranked = [
            r["product_id"]
            for r in w.rows(
                f"""select product_id, sum(forecast_p50) as volume from {t["forecasts"]}
                where as_of_month = ? and is_selected group by product_id
                order by volume desc nulls last, product_id limit ?""",
                [as_of, int(top_n)],
            )
        ]
    ids = list(dict.fromkeys(ranked))
    seen = set(ids)
    for rows in (data.get("attention") or {}).values():
        for row in rows:
            if row["product_id"] not in seen:
                ids.append(row["product_id"])
                seen.add(row["product_id"])
    return ids


def _add_wide(w: Warehouse, t: dict, ids: list[str], products: dict) -> None:
    cols = w.columns(t["wide"])
    for row in w.rows(
        f"""select product_id, {col(cols, "selected_model")}, {col(cols, "selection_reason")},
                {col(cols, "wape_last_3m")}, {col(cols, "bias_last_3m")}, {col(cols, "demand_last_12m")},
                {col(cols, "history_months")}
            from {t["wide"]} where product_id in (select unnest(?::varchar[]))""",
        [ids],
    ):
        products[row["product_id"]].update(
            model=row["selected_model"],
            reason=row["selection_reason"],
            wape3=rounded(row["wape_last_3m"], 4),
            bias3=rounded(row["bias_last_3m"], 4),
            volume12=rounded(row["demand_last_12m"]),
            history_months=row["history_months"],
        )


def _add_history(w: Warehouse, t: dict, ids: list[str], products: dict, as_of: dt.date) -> list[dt.date]:
    """Raw and cleaned demand of the last ``PRODUCT_MONTHS`` months, with the stock-out, outlier and
    imputed months as indexes into the month list (returned)."""
    months = [add_months(as_of, -k) for k in range(PRODUCT_MONTHS - 1, -1, -1)]
    index = {m: i for i, m in enumerate(months)}
    cols = w.columns(t["panel"])
    rows = w.rows(
        f"""select product_id, month, units_net, demand, {col(cols, "is_stockout_month", default="false")},
                {col(cols, "is_outlier_adjusted", default="false")}, {col(cols, "is_imputed", default="false")},
                {col(cols, "stockout_days")}, {col(cols, "units_outlier_capped")}
            from {t["panel"]}
            where month between ? and ? and product_id in (select unnest(?::varchar[]))""",
        [months[0], as_of, ids],
    )
    for row in rows:
        product = products[row["product_id"]]
        if "raw" not in product:
            product.update(
                raw=[None] * len(months),
                demand=[None] * len(months),
                stockout=[],
                outlier=[],
                imputed=[],
                stockout_days={},
                capped={},
            )
        i = index.get(as_date(row["month"]))
        if i is None:
            continue
        product["raw"][i] = compact(row["units_net"])
        product["demand"][i] = compact(row["demand"])
        if row["is_stockout_month"]:
            product["stockout"].append(i)
            if row["stockout_days"] is not None:
                product["stockout_days"][str(i)] = row["stockout_days"]
        if row["is_outlier_adjusted"]:
            product["outlier"].append(i)
            if finite(row["units_outlier_capped"]) is not None:
                product["capped"][str(i)] = rounded(row["units_outlier_capped"])
        if row["is_imputed"]:
            product["imputed"].append(i)
    for product in products.values():
        if "raw" in product:
            product["volume12"] = product.get("volume12") or rounded(sum(v or 0 for v in product["demand"][-12:]))
    return months


def _add_forecasts(w: Warehouse, t: dict, ids: list[str], products: dict, as_of: dt.date) -> None:
    cols = w.columns(t["forecasts"])
    model = "coalesce(selected_model, model_name)" if "selected_model" in cols else "model_name"
    for row in w.rows(
        f"""select product_id, model_name, {model} as shown_model, horizon, is_selected,
                forecast_p10, forecast_p50, forecast_p90, {col(cols, "selection_reason")}
            from {t["forecasts"]}
            where as_of_month = ? and (is_selected or model_name = 'baseline')
                and product_id in (select unnest(?::varchar[]))
            order by product_id, horizon""",
        [as_of, ids],
    ):
        product = products[row["product_id"]]
        h = int(row["horizon"]) - 1
        if not 0 <= h < 3:
            continue
        if row["is_selected"]:
            product.setdefault("forecast", [None, None, None])[h] = [
                compact(row["forecast_p10"]),
                compact(row["forecast_p50"]),
                compact(row["forecast_p90"]),
            ]
            product.setdefault("model", row["shown_model"])
            if not product.get("reason"):
                product["reason"] = row["selection_reason"]
        if row["model_name"] == "baseline":
            product.setdefault("baseline", [None, None, None])[h] = compact(row["forecast_p50"])


def _add_model_errors(w: Warehouse, data: dict, t: dict, ids: list[str], products: dict, as_of: dt.date | None) -> None:
    """Each model's error for the product: the latest run's backtest if stored, else the
    out-of-sample record of the last 12 months (every horizon)."""
    if t["backtest"]:
        cols = w.columns(t["backtest"])
        latest = ""
        if "as_of_month" in cols:
            latest = f"and as_of_month = (select max(as_of_month) from {t['backtest']})"
        rows = w.rows(
            f"""select product_id, model_name, sum(abs(forecast - actual)) / nullif(sum(abs(actual)), 0) as wape,
                    count(*) as n
                from {t["backtest"]}
                where actual is not null and product_id in (select unnest(?::varchar[])) {latest}
                group by product_id, model_name""",
            [ids],
        )
        data["model_error_source"] = "backtest"
    elif t["accuracy"] and as_of:
        rows = w.rows(
            f"""select product_id, model_name, sum(abs_error) / nullif(sum(abs(actual)), 0) as wape, count(*) as n
                from {t["accuracy"]}
                where forecast_month > ? and product_id in (select unnest(?::varchar[]))
                group by product_id, model_name""",
            [add_months(as_of, -12), ids],
        )
        data["model_error_source"] = "live"
    else:
        rows = []
    for row in rows:
        products[row["product_id"]].setdefault("errors", {})[row["model_name"]] = [rounded(row["wape"], 4), row["n"]]

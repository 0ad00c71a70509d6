"""The data health section: quarantined lines, flagged months, the last tests and the last batch."""

from __future__ import annotations

import datetime as dt
from typing import Any

from ..months import add_months
from .formatting import TREND_MONTHS, as_date, finite
from .warehouse import Warehouse, col


def load_quarantine(w: Warehouse, data: dict, t: dict) -> None:
    """Quarantined sales lines by reject reason, latest as-of month of mart_quarantine_summary."""
    if not t["quarantine"]:
        return
    cols = w.columns(t["quarantine"])
    reason = next((c for c in ("reject_reason", "reason", "bucket") if c in cols), None)
    count = next((c for c in ("line_count", "n_lines", "lines", "quarantined_lines", "count") if c in cols), None)
    if not (reason and count):
        data["errors"]["quarantine"] = f"unexpected columns in marts.mart_quarantine_summary: {sorted(cols)}"
        return
    latest = f"as_of_month = (select max(as_of_month) from {t['quarantine']})" if "as_of_month" in cols else "true"
    if "line_status" in cols:
        quarantined = "line_status = 'quarantined'"
    else:
        quarantined = f"\"{reason}\" is not null and \"{reason}\" not in ('accepted', 'not_yet_in_scope')"
    order = '"bucket_order", ' if "bucket_order" in cols else ""
    rows = w.rows(
        f"""select "{reason}" as reason, sum("{count}") as lines,
                {"sum(units)" if "units" in cols else "null"} as units
            from {t["quarantine"]} where {latest} and {quarantined}
            group by "{reason}"{", bucket_order" if order else ""}
            order by {order}reason"""
    )
    in_scope = None
    if "in_scope_line_count" in cols:
        in_scope = w.scalar(f"select max(in_scope_line_count) from {t['quarantine']} where {latest}")
    as_of = as_date(w.scalar(f"select max(as_of_month) from {t['quarantine']}")) if "as_of_month" in cols else None
    data["quarantine"] = {
        "rows": [(r["reason"], int(r["lines"] or 0), finite(r["units"])) for r in rows],
        "in_scope": in_scope,
        "as_of": as_of,
    }


def load_stockouts(w: Warehouse, data: dict, t: dict, as_of: dt.date | None) -> None:
    """Product-months flagged by the cleaning (stock-out, outlier capped, imputed) per month."""
    if not (t["panel"] and as_of):
        return
    cols = w.columns(t["panel"])

    def flag(name: str) -> str:
        return f"count(*) filter (where {name})" if name in cols else "null"

    data["stockouts"] = w.rows(
        f"""select month, count(*) as product_months,
                {flag("is_stockout_month")} as stockout, {flag("is_outlier_adjusted")} as outlier,
                {flag("is_imputed")} as imputed,
                {"sum(units_outlier_capped)" if "units_outlier_capped" in cols else "null"} as capped_units
            from {t["panel"]} where month between ? and ?
            group by month order by month""",
        [add_months(as_of, -(TREND_MONTHS - 1)), as_of],
    )


def load_tests(w: Warehouse, data: dict, t: dict) -> None:
    """Counts by status and the tests that did not pass, of the last dbt invocation that stored
    results in elementary.elementary_test_results."""
    if not t["tests"]:
        return
    table = t["tests"]
    cols = w.columns(table)
    if "status" not in cols:
        data["errors"]["tests"] = "elementary.elementary_test_results has no status column"
        return
    order = "detected_at" if "detected_at" in cols else ("created_at" if "created_at" in cols else None)
    if "invocation_id" in cols and order:
        scope = (
            f"invocation_id = (select invocation_id from {table} where invocation_id is not null "
            f"order by {order} desc nulls last limit 1)"
        )
    elif order:
        scope = f"{order} = (select max({order}) from {table})"
    else:
        scope = "true"
    names = [c for c in ("test_short_name", "test_name", "test_unique_id") if c in cols]
    name_expr = f"coalesce({', '.join(names)})" if names else "'?'"
    description = (
        "trim(regexp_replace(test_results_description, '\\s+', ' ', 'g'))"
        if "test_results_description" in cols
        else "null"
    )
    counts = w.rows(
        f"select lower(status) as status, count(*) as n from {table} where {scope} "
        f"group by lower(status) order by n desc"
    )
    failing = w.rows(
        f"""select {name_expr} as test, {col(cols, "table_name")}, {col(cols, "column_name")},
                lower(status) as status, {col(cols, "failures")}, {col(cols, "test_type")},
                {col(cols, "test_sub_type")}, {description} as description, {col(cols, "detected_at")}
            from {table}
            where {scope} and lower(status) not in ('pass', 'passed', 'success')
            order by case lower(status) when 'error' then 0 when 'fail' then 1 else 2 end, table_name, test
            limit 50"""
    )
    detected = w.scalar(f"select max({order}) from {table} where {scope}") if order else None
    data["tests"] = {"counts": counts, "failing": failing, "detected_at": detected}


def load_steps(w: Warehouse, data: dict, t: dict) -> None:
    """The steps of the last batch run recorded in ops.batch_step_metrics."""
    if not t["steps"]:
        return
    table = t["steps"]
    cols = w.columns(table)
    order = "started_at" if "started_at" in cols else ("loaded_at" if "loaded_at" in cols else "run_id")
    run_id = w.scalar(f"select run_id from {table} order by {order} desc nulls last limit 1")
    rows: list[dict[str, Any]] = w.rows(
        f"""select step_name, status, {col(cols, "duration_s")}, {col(cols, "peak_memory_mb")},
                {col(cols, "rows", "row_count")}, {col(cols, "rows_per_second")}, {col(cols, "error")}
            from {table} where run_id = ?
            order by {"step_index, " if "step_index" in cols else ""}{order}""",
        [run_id],
    )
    data["steps"] = {"run_id": run_id, "rows": rows}

"""End to end: order suggestions and the inventory simulation built by dbt on generated data.

A small dataset (40 products x 3 years) is built for four successive as-of months: the first three only
up to fct_purchase_plans (the history the simulation replays), the last with every purchasing model and
the tests of their parents. Then the suggestions are checked against the raw stock snapshots and purchase
orders, the order formula is recomputed from the mart's own columns, and the simulation has both policies.
A second build without the optional purchasing folders shows that they may be absent. Last, the
dashboard's "Orders to place" section over that warehouse, in the page and in headless Chromium (sorting,
a product group, the CSV download; the browser helpers are those of test_dashboard_browser.py).
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from demand_forecast.data.contract import ORDERING_RULES_SCHEMA, PURCHASE_ORDERS_SCHEMA

ROOT = Path(__file__).resolve().parents[2]
DBT = str(Path(sys.executable).with_name("dbt"))
MONTHS = ["2026-06", "2026-07", "2026-08", "2026-09"]
LEAD_TIME = 3  # the default of var purchasing_lead_time_months

pytestmark = [pytest.mark.dbt, pytest.mark.slow]


def _env(tmp: Path, raw: Path) -> dict[str, str]:
    (tmp / "exports").mkdir(parents=True, exist_ok=True)
    return {
        **os.environ,
        "DBT_PROFILES_DIR": str(ROOT / "profiles"),
        "DBT_PACKAGES_FOLDER": str(ROOT / "dbt_packages"),
        "DEMAND_DUCKDB_PATH": str(tmp / "demand.duckdb"),
        "DEMAND_RAW_DIR": str(raw),
        "DEMAND_EXPORT_DIR": str(tmp / "exports"),
        "OMP_NUM_THREADS": "1",
    }


def _dbt(tmp: Path, env: dict[str, str], *args: str) -> None:
    command = [DBT, *args, "--target-path", str(tmp / "target"), "--log-path", str(tmp / "dbt-logs")]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1500)
    with (tmp / "dbt-output.log").open("a") as log:
        log.write(result.stdout + result.stderr)
    failing = [line for line in result.stdout.splitlines() if "FAIL" in line or "ERROR" in line]
    assert result.returncode == 0, f"dbt {' '.join(args[:3])} failed:\n" + "\n".join(failing[-30:])


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("purchasing_e2e")
    data = tmp / "data"
    subprocess.run(
        [sys.executable, "-m", "demand_forecast.cli", "generate", "--out", str(data), "--products", "40"]
        + ["--years", "3", "--end-date", "2026-10-31", "--seed", "11", "--quiet"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    env = _env(tmp, data / "raw")
    quiet = ["--exclude", "tag:monitoring", "package:elementary"]
    _dbt(tmp, env, "seed", "--select", "purchasing_service_levels")
    for month in MONTHS[:-1]:
        _dbt(tmp, env, "run", "--select", "+fct_purchase_plans", *quiet, "--vars", f'{{as_of_month: "{month}"}}')
    _dbt(
        tmp,
        env,
        "build",
        "--select",
        "+mart_purchase_suggestions",
        "+mart_inventory_simulation",
        "assert_purchase_suggestions_cover_active_products",
        "--indirect-selection",
        "cautious",
        *quiet,
        "--vars",
        f'{{as_of_month: "{MONTHS[-1]}"}}',
    )
    return {"tmp": tmp, "data": data, "database": tmp / "demand.duckdb"}


def _frame(database: Path, sql: str) -> pd.DataFrame:
    with duckdb.connect(str(database), read_only=True) as connection:
        return connection.execute(sql).fetchdf()


def test_suggestions_are_consistent_with_stock_and_open_orders(built):
    raw = built["data"] / "raw"
    month_end = pd.Timestamp(MONTHS[-1]) + pd.offsets.MonthEnd(0)
    arrival_limit = pd.Timestamp(MONTHS[-1]) + pd.DateOffset(months=LEAD_TIME)
    suggestions = _frame(built["database"], "select * from marts.mart_purchase_suggestions").set_index("product_id")
    products = pq.read_table(raw / "products").to_pandas()
    active = products[
        products["discontinued_date"].isna() | (pd.to_datetime(products["discontinued_date"]) > month_end)
    ]
    assert set(active["product_id"]) <= set(suggestions.index)
    assert suggestions["reason"].str.len().min() > 20

    # on hand = the raw snapshot of the month's last day (every product of the generator has one)
    snaps = pq.read_table(raw / "stock_snapshots").to_pandas()
    last_day = snaps[pd.to_datetime(snaps["snapshot_date"]) == month_end].set_index("product_id")["on_hand_qty"]
    known = suggestions.index.intersection(last_day.index)
    assert len(known) >= 30
    assert (suggestions.loc[known, "on_hand_qty"] == last_day.loc[known]).all()

    # on order = raw orders placed by the month end, neither cancelled nor received by then, arriving by T+L
    po = pq.read_table(raw / "purchase_orders").to_pandas()
    po["order_date"] = pd.to_datetime(po["order_date"])
    po["received_date"] = pd.to_datetime(po["received_date"])
    po["expected_arrival_month"] = pd.to_datetime(po["expected_arrival_month"])
    open_then = po[
        (po["order_date"] <= month_end)
        & (po["status"] != "cancelled")
        & (po["received_date"].isna() | (po["received_date"] > month_end))
    ]
    assert len(open_then) >= 20
    within = open_then[open_then["expected_arrival_month"] <= arrival_limit]
    expected = within.groupby("product_id")["quantity"].sum().reindex(suggestions.index, fill_value=0)
    assert (suggestions["open_order_qty"] == expected).all()
    overdue = open_then[open_then["expected_arrival_month"] <= pd.Timestamp(MONTHS[-1])]
    assert (
        suggestions["overdue_order_qty"]
        == overdue.groupby("product_id")["quantity"].sum().reindex(suggestions.index, fill_value=0)
    ).all()

    # the order formula, recomputed from the mart's own columns
    ok = suggestions[suggestions["order_status"] != "review"]
    assert (ok["order_status"] == "order").sum() >= 5
    position = ok["on_hand_qty"] + ok["open_order_qty"] - ok["forecast_before_arrival"]
    need = (ok["forecast_arrival_month"] + ok["safety_stock"] - position.clip(lower=0)).clip(lower=0)
    packs = np.maximum(np.ceil(need / ok["pack_size"] - 1e-9), np.ceil(ok["min_order_qty"] / ok["pack_size"] - 1e-9))
    expected_qty = np.where(need > 1e-6, packs * ok["pack_size"], 0)
    live = ok["reason"].str.startswith(("Order", "No order: on hand"))
    assert (ok.loc[live, "order_qty"] == expected_qty[live.to_numpy()]).all()
    assert np.allclose(ok["projected_position"], position, equal_nan=True)  # unknown stock: discontinued ones
    assert np.allclose(ok["order_up_to"], ok["forecast_lead_time"] + ok["safety_stock"])
    assert (suggestions["arrival_month"] == arrival_limit).all()

    # the CSV export holds the same rows
    csv = pd.read_csv(built["tmp"] / "exports" / "purchase_suggestions.csv")
    assert len(csv) == len(suggestions) and set(csv["product_id"]) == set(suggestions.index)
    assert (built["tmp"] / "exports" / "mart_purchase_suggestions.parquet").exists()


def test_plans_history_and_simulation_have_both_policies(built):
    plans = _frame(
        built["database"], "select as_of_month, policy, count(*) as n from marts.fct_purchase_plans group by all"
    )
    assert sorted({m.strftime("%Y-%m") for m in plans["as_of_month"]}) == MONTHS
    assert set(plans["policy"]) == {"selected", "baseline"}
    simulation = _frame(built["database"], "select * from marts.mart_inventory_simulation")
    overall = simulation[(simulation["product_group"] == "all") & (simulation["demand_class"] == "all")]
    assert set(overall["policy"]) == {"selected", "baseline"}
    # four plan months and a lead time of three: the month after the first arrival is the first evaluated
    assert (overall["first_month"] == pd.Timestamp(MONTHS[-1])).all() and (overall["months"] == 1).all()
    assert overall["fill_rate"].between(0.5, 1).all() and (overall["avg_inventory_value"] > 0).all()
    baseline = overall.set_index("policy").loc["baseline"]
    assert baseline["avg_inventory_value_vs_baseline"] == 0


def test_the_purchasing_folders_may_be_absent(built, tmp_path):
    raw = tmp_path / "raw"
    for source in ("sales_lines", "products", "stock_snapshots"):
        shutil.copytree(built["data"] / "raw" / source, raw / source)
    env = _env(tmp_path, raw)
    _dbt(
        tmp_path,
        env,
        "build",
        "--select",
        "+int_purchase_orders_open",
        "+int_ordering_rules",
        "+int_stock_on_hand",
        "--exclude",
        "tag:monitoring",
        "package:elementary",
        "--indirect-selection",
        "cautious",
    )
    with duckdb.connect(str(tmp_path / "demand.duckdb"), read_only=True) as connection:
        for view, schema in (
            ("base_raw__purchase_orders", PURCHASE_ORDERS_SCHEMA),
            ("base_raw__ordering_rules", ORDERING_RULES_SCHEMA),
        ):
            columns = connection.execute(f"describe staging.{view}").fetchall()
            assert [c[0] for c in columns] == schema.names
            assert connection.execute(f"select count(*) from staging.{view}").fetchone()[0] == 0
        rules = connection.execute(
            "select count(*), min(pack_size), max(pack_size), min(rule_source), max(rule_source) "
            "from intermediate.int_ordering_rules"
        ).fetchone()
        assert rules == (40, 1, 1, "default", "default")
        assert connection.execute("select count(*) from intermediate.int_purchase_orders_open").fetchone()[0] == 0


# ------------------------------------------------------------------ purchasing sees it: the dashboard
@pytest.fixture(scope="module")
def page(built) -> Path:
    from demand_forecast import dashboard

    out = built["tmp"] / "reports" / "dashboard.html"
    stats = dashboard.build_dashboard(built["database"], out, top_n=10)
    assert stats["errors"] == {}
    return out


def _payload(page: Path) -> dict:
    text = page.read_text()
    start = text.index('<script type="application/json" id="dashboard-data">') + len(
        '<script type="application/json" id="dashboard-data">'
    )
    return json.loads(text[start : text.index("</script>", start)])


def test_the_dashboard_embeds_the_orders_and_the_savings(built, page):
    orders = _payload(page)["orders"]
    mart = _frame(built["database"], "select * from marts.mart_purchase_suggestions")
    assert orders["n_total"] == len(mart) == len(orders["rows"])
    rows = pd.DataFrame(orders["rows"], columns=orders["columns"])
    assert set(rows["product_id"]) == set(mart["product_id"])
    # products to order first, largest order value first
    ranks = rows["order_status"].map({"order": 0, "review": 1, "no_order": 2})
    assert ranks.is_monotonic_increasing
    ordered = rows[rows["order_status"] == "order"]["order_value"]
    assert ordered.is_monotonic_decreasing and len(ordered) == (mart["order_status"] == "order").sum()
    by_id = mart.set_index("product_id")
    assert (rows.set_index("product_id")["reason"] == by_id.loc[rows["product_id"], "reason"]).all()
    assert orders["groups"] == sorted(mart["product_group"].unique())
    text = page.read_text()
    assert 'id="orders-simulation"' in text and "selected forecast" in text and "WMA baseline" in text
    assert f"arrive in {pd.Timestamp(MONTHS[-1]) + pd.DateOffset(months=LEAD_TIME):%b %Y}" in text


@pytest.mark.browser
def test_orders_table_sorts_filters_and_downloads_in_a_browser(built, page, tmp_path):
    from test_dashboard_browser import Browser, _ensure_chromium, _open, _screenshot

    mart = _frame(built["database"], "select * from marts.mart_purchase_suggestions")
    browser = Browser(_ensure_chromium())
    try:
        session = _open(browser, page)
        try:
            assert session.evaluate("window.ordersReady === true")

            def table() -> list[list[str]]:
                return session.evaluate(
                    "Array.prototype.map.call(document.querySelectorAll('#orders-table tbody tr'), function (r) {"
                    " return Array.prototype.map.call(r.cells, function (c) { return c.textContent; }); })"
                )

            columns = session.evaluate(
                "JSON.parse(document.getElementById('dashboard-data').textContent).orders.columns"
            )
            rows = table()
            assert len(rows) == len(mart) and rows[0][columns.index("order_status")] == "order"
            # a click on "Order value" sorts the largest first, a second click the smallest first
            value = columns.index("order_value")
            session.evaluate(f"document.querySelector('#orders-table th[data-column=\"{value}\"]').click()")
            shown = [float(r[value].replace(",", "")) for r in table() if r[value]]
            assert shown == sorted(shown, reverse=True) and len(shown) >= 5
            session.evaluate(f"document.querySelector('#orders-table th[data-column=\"{value}\"]').click()")
            shown = [float(r[value].replace(",", "")) for r in table() if r[value]]
            assert shown == sorted(shown)
            # a product group keeps its rows only
            group = sorted(mart["product_group"].unique())[0]
            session.evaluate(
                f"(function () {{ var s = document.getElementById('orders-group'); s.value = {json.dumps(group)};"
                " s.dispatchEvent(new Event('change')); })()"
            )
            rows = table()
            expected = mart[mart["product_group"] == group]
            assert sorted(r[0] for r in rows) == sorted(expected["product_id"])
            assert session.evaluate("document.getElementById('orders-current').textContent") == group
            # the CSV link downloads exactly those rows with the mart's column names
            folder = tmp_path / "downloads"
            folder.mkdir()
            browser.allow_downloads(folder)
            session.evaluate("document.getElementById('orders-csv').click()")
            deadline = time.monotonic() + 20
            files: list[Path] = []
            while time.monotonic() < deadline and not files:
                files = [f for f in folder.iterdir() if not f.name.endswith(".crdownload")]
                time.sleep(0.1)
            assert files, "no CSV downloaded"
            time.sleep(0.2)
            csv_rows = list(csv.reader(io.StringIO(files[0].read_text(encoding="utf-8-sig"))))
            assert csv_rows[0] == columns
            assert sorted(r[0] for r in csv_rows[1:]) == sorted(expected["product_id"])
            assert files[0].name.startswith("orders_") and files[0].name.endswith(f"_as-of-{MONTHS[-1]}.csv")
            assert session.evaluate("document.querySelectorAll('#orders-simulation tbody tr').length") >= 2
            _screenshot(session, ROOT / "test-output" / "dashboard-orders.png", "#orders")
            assert session.js_errors() == []
        finally:
            session.close()
    finally:
        browser.close()

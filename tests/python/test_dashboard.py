"""The static dashboard (demand_forecast.dashboard) against marts built by the real dbt project.

The marts come from the session fixture ``marts_warehouse`` (conftest.py: the monthly batch on 40
generated products over 3 years, shared with test_e2e_dbt.py), so when a mart changes, these tests
see it. Every expectation is read from the marts with SQL, then compared with what the page shows.
Tests that change a warehouse work on a copy. The tests that need no warehouse (pure figure and
text functions, an empty or missing warehouse) are in test_dashboard_units.py.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from dashboard_page import as_date, frame, mon, parse, payload_of, pct, query, title, without_scripts

from demand_forecast import dashboard
from demand_forecast.dashboard.explain import explain_test
from demand_forecast.dashboard.formatting import ATTENTION_MIN_VOLUME, ATTENTION_PER_SEGMENT
from demand_forecast.months import add_months

REPO = Path(__file__).resolve().parents[2]
GENERATED_AT = dt.datetime(2026, 11, 2, 6, 30, tzinfo=dt.timezone.utc)
TOP_N = 10


def reads_marts(test):
    """Needs the warehouse the batch builds (minutes): left out of ``make test-fast``."""
    return pytest.mark.dbt(pytest.mark.slow(test))


# ------------------------------------------------------------------ helpers
def copy_of(warehouse: Path, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copyfile(warehouse, folder / "demand.duckdb"))


def as_of_of(warehouse: Path) -> dt.date:
    return as_date(query(warehouse, "select max(as_of_month) from marts.fct_forecasts")[0][0])


def window_of(warehouse: Path) -> tuple[dt.date, dt.date]:
    """The evaluated months behind the headline and "needs attention" (the performers mart's window,
    from its first evaluated month)."""
    start, end = query(
        warehouse, "select min(window_start_month), max(window_end_month) from marts.mart_best_worst_performers"
    )[0]
    first = query(
        warehouse,
        "select min(forecast_month) from marts.fct_forecast_accuracy "
        "where is_selected and horizon = 1 and forecast_month between ? and ?",
        [start, end],
    )[0][0]
    return as_date(first), as_date(end)


@pytest.fixture(scope="module")
def built(marts_warehouse, tmp_path_factory):
    out = tmp_path_factory.mktemp("reports") / "dashboard.html"
    (out.parent / "elementary_report.html").write_text("<html>edr</html>")
    stats = dashboard.build_dashboard(marts_warehouse, out, top_n=TOP_N, generated_at=GENERATED_AT)
    return stats, out.read_text(encoding="utf-8")


# ------------------------------------------------------------------ the page over the real marts
@reads_marts
def test_stats_and_sections(built, marts_warehouse):
    stats, page = built
    assert stats["as_of_month"] == as_of_of(marts_warehouse).isoformat()
    assert stats["errors"] == {}
    assert stats["empty_charts"] == []
    assert stats["products_total"] == query(marts_warehouse, "select count(*) from marts.dim_products")[0][0]
    assert stats["table_products"] == query(marts_warehouse, "select count(*) from marts.mart_forecast_wide")[0][0]
    assert stats["bytes"] == len(page.encode("utf-8"))
    ids = parse(page).ids
    for element_id in (
        "overview",
        "groups",
        "product",
        "health",
        "footer",
        "headline-accuracy",
        "segment-select",
        "product-search",
        "ov-forecast",
        "ov-accuracy",
        "ov-coverage",
        "ov-models",
        "ov-model-accuracy",
        "seg-forecast",
        "seg-accuracy",
        "seg-breakdown",
        "seg-attention",
        "seg-table",
        "seg-csv",
        "prod-history",
        "prod-models",
        "dh-quarantine",
        "dh-stockouts",
        "dh-tests",
        "dh-steps",
        "elementary-link",
    ):
        assert element_id in ids, element_id
    assert "No data yet" not in without_scripts(page)


@reads_marts
def test_selector_lists_every_group_and_category(built, marts_warehouse):
    _, page = built
    labels = [label for _, label in parse(page).options]
    pairs = query(marts_warehouse, "select distinct product_group, category from marts.dim_products")
    expected = {"All products"} | {g for g, _ in pairs} | {f"{g} / {c}" for g, c in pairs}
    assert labels[0] == "All products"
    assert set(labels) == expected and len(labels) == len(expected)
    assert set(payload_of(page)["figures"]["segments"]) == {value for value, _ in parse(page).options}


@reads_marts
def test_every_section_chart_changes_with_the_group(built, marts_warehouse):
    _, page = built
    payload = payload_of(page)
    segments = payload["figures"]["segments"]
    first, second = segments["g0"], segments["g1"]
    assert set(first) == {"seg-forecast", "seg-accuracy", "seg-breakdown", "seg-attention"}
    for chart in first:
        assert title(first[chart]) != title(second[chart]), chart
        assert first[chart]["data"] != second[chart]["data"], chart
    # a group's forecast is the sum of its categories, and the group's coherent row of fct_forecasts_by_group;
    # reconciled bottom-up, also the sum of the selected forecasts of fct_forecasts
    group = payload["segment_labels"]["g0"]
    group_total = segments["g0"]["seg-forecast"]["data"][-1]["y"][1]
    categories = [k for k in segments if k.startswith("g0c")]
    assert sum(segments[k]["seg-forecast"]["data"][-1]["y"][1] for k in categories) == pytest.approx(group_total, 1e-3)
    latest = "(select max(as_of_month) from marts.fct_forecasts)"
    coherent, method = query(
        marts_warehouse,
        "select forecast_p50, reconciliation_method from marts.fct_forecasts_by_group "
        f"where level = 'group' and product_group = ? and horizon = 1 and as_of_month = {latest}",
        [group],
    )[0]
    assert group_total == pytest.approx(coherent, abs=0.1)
    mart_total = query(
        marts_warehouse,
        "select sum(f.forecast_p50) from marts.fct_forecasts as f join marts.dim_products as d using (product_id) "
        f"where f.is_selected and f.horizon = 1 and d.product_group = ? and f.as_of_month = {latest}",
        [group],
    )[0][0]
    if method == "bottom_up":
        assert group_total == pytest.approx(mart_total, abs=0.1)


@reads_marts
def test_titles_state_the_finding(built, marts_warehouse):
    _, page = built
    static = payload_of(page)["figures"]["static"]
    next_month = add_months(as_of_of(marts_warehouse), 1)
    assert re.search(
        rf"next month \({mon(next_month)}\): [\d,]+ units forecast \(P10-P90 [\d,]+-[\d,]+\), \d+% (above|below) "
        rf"{mon(add_months(next_month, -12))}",
        title(static["ov-forecast"]),
    ), title(static["ov-forecast"])
    last_scored = as_date(
        query(marts_warehouse, "select max(forecast_month) from marts.mart_accuracy_by_segment where horizon = 1")[0][0]
    )
    assert f"{mon(last_scored)}: WAPE" in title(static["ov-accuracy"])
    assert "target 80%" in title(static["ov-coverage"])
    quarantined = query(
        marts_warehouse,
        "select sum(line_count) from marts.mart_quarantine_summary where line_status = 'quarantined' "
        "and as_of_month = (select max(as_of_month) from marts.mart_quarantine_summary)",
    )[0][0]
    assert f"{quarantined:,} sales lines quarantined" in title(static["dh-quarantine"])
    assert static["ov-forecast"]["layout"]["yaxis"]["title"]["text"] == "units / month"


@reads_marts
def test_headline_is_the_out_of_sample_accuracy_purchasing_got(built, marts_warehouse):
    _, page = built
    start, end = window_of(marts_warehouse)
    wape, bias = query(
        marts_warehouse,
        "select sum(abs_error) / sum(abs(actual)), sum(error) / sum(actual) from marts.fct_forecast_accuracy "
        "where is_selected and horizon = 1 and forecast_month between ? and ?",
        [start, end],
    )[0]
    selected = [
        m
        for (m,) in query(
            marts_warehouse,
            "select distinct model_name from marts.fct_forecast_accuracy "
            "where is_selected and horizon = 1 and forecast_month between ? and ? order by 1",
            [start, end],
        )
    ]
    headline = re.search(r'<div class="kpis" id="headline-accuracy">(.*?)</div></div></div>', page, re.S).group(1)
    first_card = re.search(r'<div class="value">([^<]+)</div><div class="label">([^<]+)</div>', headline)
    assert first_card.group(1) == pct(wape)
    label = first_card.group(2)
    assert "out of sample" in label and "1 month ahead" in label and ", ".join(selected) in label
    assert f'<div class="value">{bias:+.0%}</div>' in headline
    # the mart's months weighted by their demand give the fact table's WAPE and bias exactly
    loaded = dashboard.load_dashboard_data(marts_warehouse, top_n=1)["headline"]
    assert (loaded["wape"], loaded["bias"]) == (pytest.approx(wape, rel=1e-9), pytest.approx(bias, rel=1e-9))
    assert loaded["months"] == (start, end)
    model_title = title(payload_of(page)["figures"]["static"]["ov-model-accuracy"])
    assert model_title.startswith(f"Forecast handed to purchasing ({', '.join(selected)}): WAPE {pct(wape)}")
    assert "backtest" not in model_title.lower()


@reads_marts
def test_needs_attention_ranks_by_units_with_a_volume_floor(built, marts_warehouse):
    _, page = built
    payload = payload_of(page)
    start, end = window_of(marts_warehouse)
    accuracy = frame(
        marts_warehouse,
        "select product_id, product_group, sum(actual) as actual, sum(abs_error) as abs_error "
        "from marts.fct_forecast_accuracy where is_selected and horizon = 1 and forecast_month between ? and ? "
        "group by all having sum(actual) > 0",
        [start, end],
    )

    def expected(products: pd.DataFrame) -> list[str]:
        eligible = products[products["actual"] >= ATTENTION_MIN_VOLUME * products["actual"].mean()]
        ranked = eligible.sort_values(["abs_error", "product_id"], ascending=[False, True])
        return list(ranked["product_id"][:ATTENTION_PER_SEGMENT])

    def shown(key: str) -> list[str]:
        trace = payload["figures"]["segments"][key]["seg-attention"]["data"][0]
        return [row[0] for row in trace["customdata"]]

    assert shown("all") == expected(accuracy)
    # a product that barely sells is never flagged, though its WAPE is the largest
    smallest = accuracy.sort_values("actual").iloc[0]
    assert smallest["product_id"] not in shown("all")
    group_keys = {v: k for k, v in payload["segment_labels"].items() if re.fullmatch(r"g\d+", k)}
    for group, key in group_keys.items():
        assert shown(key) == expected(accuracy[accuracy["product_group"] == group]), group
    errors = payload["figures"]["segments"]["all"]["seg-attention"]["data"][0]["x"]
    assert errors == sorted(errors, reverse=True)


@reads_marts
def test_groups_are_compared_not_labelled_best_or_worst(built):
    _, page = built
    segments = payload_of(page)["figures"]["segments"]
    for key, figs in segments.items():
        fig = figs["seg-breakdown"]
        colors = fig["data"][0]["marker"]["color"]
        assert isinstance(colors, str), (key, colors)  # one colour for every bar
        assert not re.search(r"\b(best|worst)\b", title(fig), re.I), title(fig)
    overview = segments["all"]["seg-breakdown"]
    assert overview["layout"]["shapes"][0]["x0"] > 0  # the reference line of all products


@reads_marts
def test_forecast_table_holds_the_wide_mart(built, marts_warehouse):
    _, page = built
    table = payload_of(page)["table"]
    wide = frame(
        marts_warehouse,
        "select product_id, product_name, product_group, category, selected_model, month_1, month_2, month_3, "
        "month_1_p10, month_1_p50, month_1_p90, month_2_p10, month_2_p50, month_2_p90, "
        "month_3_p10, month_3_p50, month_3_p90 from marts.mart_forecast_wide order by month_1_p50 desc, product_id",
    )
    assert table["months"] == [as_date(wide[f"month_{h}"].max()).isoformat() for h in (1, 2, 3)]
    assert [row[0] for row in table["rows"]] == list(wide["product_id"])
    values = [c for c in wide.columns if c.endswith(("_p10", "_p50", "_p90"))]
    for row, (_, mart) in zip(table["rows"], wide.iterrows(), strict=True):
        assert row[1:5] == [mart["product_name"], mart["product_group"], mart["category"], mart["selected_model"]]
        assert row[5:] == pytest.approx([round(mart[c], 1) for c in values], abs=0.051)


@reads_marts
def test_products_embedded(built, marts_warehouse):
    stats, page = built
    payload = payload_of(page)
    products, order = payload["products"], payload["product_order"]
    as_of = as_of_of(marts_warehouse)
    assert stats["products_embedded"] == len(order) == len(products)
    # the top products by volume first, then every product that needs attention
    top = [
        p
        for (p,) in query(
            marts_warehouse,
            "select product_id from intermediate.int_monthly_demand where month > ? and month <= ? "
            "group by product_id order by sum(demand) desc nulls last, product_id limit ?",
            [add_months(as_of, -12), as_of, TOP_N],
        )
    ]
    assert order[:TOP_N] == top
    flagged = set()
    for seg in payload["figures"]["segments"].values():
        for trace in seg["seg-attention"]["data"]:
            flagged |= {row[0] for row in trace["customdata"]}
    assert flagged and flagged <= set(order)
    assert f'<option value="{order[0]}">' in page
    # 36 months of history, exactly the panel's cleaned demand
    first = products[order[0]]
    months = payload["product_months"]
    assert len(first["raw"]) == len(first["demand"]) == len(months) == 36 and months[-1] == as_of.isoformat()
    panel = dict(
        query(
            marts_warehouse,
            "select month, demand from intermediate.int_monthly_demand where product_id = ?",
            [order[0]],
        )
    )
    assert first["demand"] == [
        None if dt.date.fromisoformat(m) not in panel else pytest.approx(panel[dt.date.fromisoformat(m)], abs=0.05)
        for m in months
    ]
    forecast = query(
        marts_warehouse,
        "select forecast_p10, forecast_p50, forecast_p90 from marts.fct_forecasts "
        "where product_id = ? and as_of_month = ? and is_selected order by horizon",
        [order[0], as_of],
    )
    assert first["forecast"] == [pytest.approx(list(row), abs=0.051) for row in forecast]
    assert "baseline" in first["errors"] and first["model"] in first["errors"]
    assert payload["forecast_months"] == [add_months(as_of, h).isoformat() for h in (1, 2, 3)]


@reads_marts
def test_plotly_embedded_once_and_no_cdn(built):
    from plotly.offline import get_plotlyjs

    _, page = built
    assert page.count("* plotly.js v") == 1
    assert page.count(get_plotlyjs()) == 1
    assert not re.search(r"<script[^>]+src=", page)
    ours = page.replace(get_plotlyjs(), "")
    assert not re.search(r"https?://", ours)
    # the only mention is plotly.js's own default topojsonURL (used by geo maps only, never fetched here)
    assert page.count("cdn.plot.ly") == get_plotlyjs().count("cdn.plot.ly")


@reads_marts
def test_footer_and_health(built, marts_warehouse):
    _, page = built
    footer = re.search(r'<footer id="footer">(.*?)</footer>', page, re.S).group(1)
    run_id = query(marts_warehouse, "select max(run_id) from marts.mart_forecast_wide")[0][0]
    assert mon(as_of_of(marts_warehouse)) in footer and run_id in footer
    assert "2026-11-02 06:30 UTC" in footer
    assert 'href="elementary_report.html"' in page and "not generated yet" not in page
    # the tests of the last dbt invocation only, not of every build of the replay
    last = "(select invocation_id from elementary.elementary_test_results order by detected_at desc limit 1)"
    counts = dict(
        query(
            marts_warehouse,
            f"select lower(status), count(*) from elementary.elementary_test_results where invocation_id = {last} "
            "group by 1",
        )
    )
    every = query(marts_warehouse, "select count(*) from elementary.elementary_test_results")[0][0]
    total = sum(counts.values())
    assert every > total
    headline = re.search(r'<h3 id="tests-headline">([^<]+)</h3>', page).group(1)
    assert headline.startswith("Last dbt run (") and f"): {total:,} tests, " in headline
    not_passed = {s: n for s, n in counts.items() if s != "pass"}
    if not not_passed:
        assert headline.endswith("all passed")
    for status, n in not_passed.items():
        assert f"{n:,} {status}" in headline
    run, steps = query(
        marts_warehouse,
        "select run_id, count(*) from ops.batch_step_metrics group by run_id order by max(started_at) desc limit 1",
    )[0]
    assert f"Last batch run {run}: {steps} steps" in page


@reads_marts
def test_test_warnings_say_what_they_mean_and_what_to_do(marts_warehouse, tmp_path):
    warehouse = copy_of(marts_warehouse, tmp_path / "wh")
    last = "(select invocation_id from elementary.elementary_test_results order by detected_at desc limit 1)"
    with duckdb.connect(str(warehouse)) as connection:
        for short_name, status in (("volume_anomalies", "warn"), ("not_null", "fail")):
            connection.execute(
                f"update elementary.elementary_test_results set status = ?, failures = 4 where id = "
                f"(select id from elementary.elementary_test_results where invocation_id = {last} "
                f"and test_short_name = ? order by id limit 1)",
                [status, short_name],
            )
        rows = connection.execute(
            "select test_short_name, table_name, column_name, status, failures "
            f"from elementary.elementary_test_results where invocation_id = {last} and status <> 'pass'"
        ).fetchall()
    assert {r[0] for r in rows} >= {"volume_anomalies", "not_null"}
    out = tmp_path / "dashboard.html"
    dashboard.build_dashboard(warehouse, out)
    page = out.read_text()
    warnings = re.search(r'<ul class="warnings" id="failing-tests">(.*?)</ul>', page, re.S).group(1)
    items = re.findall(r'<li class="test-warning">(.*?)</li>', warnings, re.S)
    assert len(items) == len(rows)
    for short_name, table, column, status, failures in rows:
        meaning, action = explain_test(
            {"test": short_name, "table_name": table, "column_name": column, "status": status, "failures": failures}
        )
        item = next(i for i in items if f"<b>{short_name}</b>" in i and (table or "") in i)
        assert meaning in item.replace("&#x27;", "'") and f"What to do: {action}" in item.replace("&#x27;", "'")
    assert "The last row_count value is" in warnings  # Elementary's own finding is shown too


@reads_marts
def test_file_size_reasonable(built):
    from plotly.offline import get_plotlyjs

    stats, _ = built
    assert stats["bytes"] < len(get_plotlyjs()) + 600_000


@reads_marts
def test_warehouse_is_closed_after_build(marts_warehouse, tmp_path):
    warehouse = copy_of(marts_warehouse, tmp_path / "wh")
    dashboard.build_dashboard(warehouse, tmp_path / "dashboard.html")
    # another process can open the file for writing: the dashboard released it
    code = f"import duckdb; c = duckdb.connect({str(warehouse)!r}); c.execute('select 1'); c.close()"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


@reads_marts
def test_partial_warehouse_without_forecasts(marts_warehouse, tmp_path):
    warehouse = copy_of(marts_warehouse, tmp_path / "wh")
    with duckdb.connect(str(warehouse)) as connection:
        for table in (
            "fct_forecasts",
            "fct_forecast_accuracy",
            "mart_accuracy_by_segment",
            "mart_best_worst_performers",
            "mart_forecast_wide",
            "fct_model_registry",
        ):
            connection.execute(f"drop table marts.{table}")
        last_month = connection.execute("select max(month) from intermediate.int_monthly_demand").fetchone()[0]
        recent = connection.execute(
            "select count(distinct product_id) from intermediate.int_monthly_demand where month > ?",
            [add_months(last_month, -12)],
        ).fetchone()[0]
    out = tmp_path / "dashboard.html"
    stats = dashboard.build_dashboard(warehouse, out)
    page = out.read_text()
    assert stats["errors"] == {}
    assert stats["as_of_month"] == as_date(last_month).isoformat()  # from the monthly panel
    payload = payload_of(page)
    assert not payload["figures"]["static"]["ov-forecast"].get("empty")  # actuals are shown
    assert payload["figures"]["static"]["ov-accuracy"].get("empty")
    assert stats["products_embedded"] == recent
    assert "marts.fct_forecasts is missing or empty" in page
    assert "marts.mart_forecast_wide is missing or empty" in page


@reads_marts
@pytest.mark.parametrize("month_type", ["timestamp_ns", "date"])
def test_month_columns_of_either_type(marts_warehouse, tmp_path, month_type):
    # dbt Python models write pandas datetimes (TIMESTAMP, or TIMESTAMP_NS); SQL models write DATE
    warehouse = copy_of(marts_warehouse, tmp_path / "wh")
    columns = {
        "fct_forecasts": ["as_of_month", "forecast_month"],
        "fct_forecast_accuracy": ["as_of_month", "forecast_month"],
        "fct_model_registry": ["as_of_month"],
        "mart_accuracy_by_segment": ["forecast_month"],
        "mart_forecast_wide": ["as_of_month", "month_1", "month_2", "month_3"],
    }
    with duckdb.connect(str(warehouse)) as connection:
        for table, names in columns.items():
            for name in names:
                connection.execute(f"alter table marts.{table} alter {name} type {month_type}")
    out = tmp_path / "dashboard.html"
    stats = dashboard.build_dashboard(warehouse, out)
    assert stats["errors"] == {} and stats["empty_charts"] == []
    assert stats["as_of_month"] == as_of_of(marts_warehouse).isoformat()
    payload = payload_of(out.read_text())
    assert payload["products"][payload["product_order"][0]]["forecast"]
    assert payload["table"]["months"][0] == add_months(as_of_of(marts_warehouse), 1).isoformat()


@reads_marts
def test_cli(marts_warehouse, tmp_path):
    out = tmp_path / "cli" / "dashboard.html"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "demand_forecast.cli",
            "dashboard",
            "--warehouse",
            str(marts_warehouse),
            "--out",
            str(out),
            "--elementary-report",
            "edr/report.html",
            "--top-n",
            "3",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr
    assert "dashboard:" in result.stdout and f"as of {as_of_of(marts_warehouse).isoformat()}" in result.stdout
    page = out.read_text()
    assert 'href="edr/report.html"' in page and "not generated yet" in page

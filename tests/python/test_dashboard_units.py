"""The dashboard's figure and text functions, and a missing or empty warehouse: no dbt build needed.

These run in ``make test-fast``; the page over marts built by the real dbt project is
test_dashboard.py.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest
from dashboard_page import payload_of, title, without_scripts

from demand_forecast import dashboard
from demand_forecast.dashboard.charts import integer_step, month_axis
from demand_forecast.dashboard.explain import TEST_EXPLANATIONS, explain_test
from demand_forecast.dashboard.figures import breakdown_figure, model_mix_figure
from demand_forecast.dashboard.figures_health import stockout_figure
from demand_forecast.dashboard.render import data_tests_html
from demand_forecast.months import add_months


def test_missing_tables_give_no_data_notes(tmp_path):
    empty = tmp_path / "empty.duckdb"
    con = duckdb.connect(str(empty))
    con.execute("create schema marts")
    # an empty table counts as missing too
    con.execute(
        "create table marts.fct_forecasts (product_id varchar, as_of_month date, forecast_month date, "
        "horizon integer, model_name varchar, is_selected boolean, forecast_p10 double, "
        "forecast_p50 double, forecast_p90 double, selection_reason varchar, run_id varchar)"
    )
    con.close()
    out = tmp_path / "out" / "dashboard.html"
    stats = dashboard.build_dashboard(empty, out)
    page = out.read_text()
    assert stats["products_embedded"] == 0 and stats["as_of_month"] is None
    assert stats["errors"] == {}
    assert without_scripts(page).count("No data yet") >= 5
    for text in (
        "marts.fct_forecasts is missing or empty",
        "elementary.elementary_test_results is missing",
        "ops.batch_step_metrics is missing",
        "mart_quarantine_summary is missing",
        "mart_forecast_wide is missing or empty",
        "No accuracy yet",
        "not generated yet",
    ):
        assert text in page, text
    payload = payload_of(page)
    assert all(fig.get("empty") for fig in payload["figures"]["static"].values())
    assert list(payload["figures"]["segments"]) == ["all"]
    assert page.count("* plotly.js v") == 1


def test_missing_warehouse_file(tmp_path):
    out = tmp_path / "dashboard.html"
    stats = dashboard.build_dashboard(tmp_path / "nope.duckdb", out)
    assert stats["products_embedded"] == 0
    assert "does not exist. Run the monthly batch first" in out.read_text()


def test_command_fails_clearly_when_the_warehouse_is_locked(tmp_path, capsys):
    path = tmp_path / "busy.duckdb"
    out = tmp_path / "dashboard.html"
    args = ["--warehouse", str(path), "--out", str(out)]
    out.write_text("the previous page")
    with duckdb.connect(str(path)):  # a writer holds the file, as a running dbt build does
        code = dashboard.main(args)
    err = capsys.readouterr().err
    assert code == 1 and "could not read the warehouse" in err and "wait for it to finish" in err
    assert out.read_text() == "the previous page"  # nothing lost
    assert dashboard.main(["--warehouse", str(tmp_path / "nope.duckdb"), "--out", str(out)]) == 0
    assert "does not exist" in capsys.readouterr().err


def test_a_read_error_says_what_to_do(tmp_path):
    path = tmp_path / "odd.duckdb"
    with duckdb.connect(str(path)) as connection:
        connection.execute("create schema marts")
        connection.execute("create table marts.mart_quarantine_summary (something integer)")
        connection.execute("insert into marts.mart_quarantine_summary values (1)")
    out = tmp_path / "dashboard.html"
    stats = dashboard.build_dashboard(path, out)
    assert "unexpected columns" in stats["errors"]["quarantine"]
    page = out.read_text()
    assert "Could not read quarantine: unexpected columns" in page
    assert "Rebuild the warehouse" in page and "docs/dashboard.md" in page


def test_month_axis_names_each_month_once():
    two = month_axis([dt.date(2026, 9, 1), dt.date(2026, 10, 1)])
    assert two["dtick"] == "M1" and two["tickformat"] == "%b %Y"
    assert two["range"][0] < "2026-09-01" and two["range"][1] > "2026-10-01"
    two_years = month_axis([add_months(dt.date(2026, 10, 1), -k) for k in range(24)])
    assert two_years["dtick"] == "M3"


@pytest.mark.parametrize(("largest", "step"), [(0, 1), (3, 1), (5, 1), (7, 2), (12, 5), (40, 10), (130, 50)])
def test_count_axes_have_whole_number_ticks(largest, step):
    assert integer_step(largest) == step


def test_stock_out_axis_counts_in_whole_numbers():
    rows = [
        {
            "month": dt.date(2026, m, 1),
            "product_months": 40,
            "stockout": s,
            "outlier": 0,
            "imputed": s,
            "capped_units": 0,
        }
        for m, s in ((7, 3), (8, 1), (9, 0))
    ]
    fig = stockout_figure(rows)
    axis = fig["layout"]["yaxis"]
    assert axis["dtick"] == 1 and axis["tickformat"] == ",d" and axis["tick0"] == 0


def test_model_mix_counts_models_in_words():
    one = title(model_mix_figure({"ensemble": {"n_selected": 39}}))
    assert one == "One model for all 39 products: ensemble"
    three = title(model_mix_figure({"ets": {"n_selected": 5}, "sba": {"n_selected": 3}, "theta": {"n_selected": 1}}))
    assert "3 models in use" in three and "ets forecasts 56% of products (5 of 9)" in three
    assert "1 models" not in one + three


def test_breakdown_uses_one_colour_and_a_reference_line():
    item = {"key": "all", "level": "all", "label": "All products", "group": None, "category": None}
    groups = [
        {
            "name": name,
            "group": name,
            "n_products": 4,
            "total_actual": 100.0,
            "total_abs_error": e,
            "wape": e / 100,
            "bias": 0.1,
        }
        for name, e in (("A", 10.0), ("B", 40.0), ("C", 25.0), ("D", 5.0))
    ]
    totals = {"all": {"wape": 0.2}}
    fig = breakdown_figure(item, {"groups": groups, "categories": {}, "totals": totals}, None)
    assert fig["data"][0]["y"] == ["B", "C", "A", "D"]  # largest error in units first
    assert isinstance(fig["data"][0]["marker"]["color"], str)
    assert fig["layout"]["shapes"][0]["x0"] == 0.2
    assert title(fig).startswith("Largest error in units: B (40 units off, WAPE 40%); all products WAPE 20%")


def test_every_known_test_is_explained_in_words():
    for name in TEST_EXPLANATIONS:
        meaning, action = explain_test(
            {
                "test": name,
                "table_name": "fct_forecasts",
                "column_name": "forecast_p50",
                "status": "warn",
                "failures": 3,
            }
        )
        assert meaning.startswith("Warning: the run went on") and len(meaning) > 60, name
        assert action and "{" not in meaning + action, name
    meaning, action = explain_test({"test": "my_custom_rule", "table_name": "dim_products", "status": "fail"})
    assert "dim_products" in meaning and meaning.startswith("Failure:")
    assert "Elementary report" in action


def test_tests_section_explains_each_warning():
    tests = {
        "counts": [{"status": "pass", "n": 20}, {"status": "warn", "n": 1}, {"status": "fail", "n": 1}],
        "detected_at": dt.datetime(2026, 11, 1, 2, 5),
        "failing": [
            {
                "test": "volume_anomalies",
                "table_name": "fct_forecasts",
                "column_name": None,
                "status": "warn",
                "failures": 1,
                "description": "The last row_count value is 966.000. The average for this metric is 83.217.",
            },
            {
                "test": "not_null",
                "table_name": "fct_forecasts",
                "column_name": "forecast_p50",
                "status": "fail",
                "failures": 3,
                "description": None,
            },
        ],
    }
    text = data_tests_html(tests)
    assert "Last dbt run (2026-11-01): 22 tests, 1 warn, 1 fail" in text
    assert text.count("What to do:") == 2
    assert "The number of rows of fct_forecasts per month is outside the range" in text
    assert "fct_forecasts.forecast_p50 is empty in 3 rows" in text
    assert "Found: The last row_count value is 966.000" in text

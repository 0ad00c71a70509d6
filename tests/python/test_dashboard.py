"""The static dashboard (demand_forecast.dashboard) against a small synthetic warehouse.

``make_synthetic_warehouse`` writes every table the dashboard reads into a DuckDB file, with the
columns of the real marts (docs/contracts.md, models/marts/*.sql) and deterministic, hash-based
values; it scales (``n_products=30_000`` builds in seconds) so it also serves to measure the file
size of a large warehouse. tests/python/test_dashboard_browser.py imports it too.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import pytest

from demand_forecast import dashboard

REPO = Path(__file__).resolve().parents[2]

GROUPS = {
    "Cleaning": ["Detergents", "Paper goods", "Brushes", "Sprays", "Cloths"],
    "Garden": ["Seeds", "Tools", "Hoses", "Pots", "Fertiliser"],
    "Heating": ["Radiators", "Insulation", "Thermostats", "Fans", "Pipes"],
    "Toys": ["Puzzles", "Dolls", "Blocks", "Games", "Outdoor"],
    "Kitchen": ["Pans", "Knives", "Storage", "Cutlery", "Glassware"],
    "Lighting": ["Bulbs", "Lamps", "Cables", "Switches", "Batteries"],
    "Office": ["Paper", "Pens", "Folders", "Labels", "Ink"],
    "Pets": ["Food", "Toys for pets", "Bedding", "Leashes", "Care"],
}
MODELS = ["baseline", "seasonal_naive", "sba", "ets", "theta", "lightgbm", "ensemble"]
AS_OF = dt.date(2026, 10, 1)


def make_synthetic_warehouse(
    path: Path | str,
    *,
    n_products: int = 40,
    n_groups: int = 3,
    n_categories: int = 2,
    n_months: int = 30,
    n_as_of: int = 6,
    as_of: dt.date = AS_OF,
    with_ops: bool = True,
    with_elementary: bool = True,
) -> Path:
    """A DuckDB file with the marts, the monthly panel, the registry, batch metrics and Elementary
    test results of ``n_products`` products over ``n_months`` months up to ``as_of``."""
    path = Path(path)
    groups = list(GROUPS)[:n_groups]
    category_rows = [(gi, ci, g, GROUPS[g][ci]) for gi, g in enumerate(groups) for ci in range(n_categories)]
    con = duckdb.connect(str(path))
    try:
        for schema in ("marts", "intermediate", "ops", "elementary"):
            con.execute(f"create schema if not exists {schema}")
        con.execute("set threads to 2")
        # u(i, salt): a deterministic uniform number in [0, 1)
        con.execute("create or replace temp macro u(i, salt) as ((hash(i * 7919 + salt) % 100003) / 100003.0)")
        con.execute(
            "create or replace temp table cats (gi integer, ci integer, product_group varchar, category varchar)"
        )
        con.executemany("insert into cats values (?, ?, ?, ?)", category_rows)
        con.execute(
            f"create or replace temp table model_list as select unnest({MODELS!r}) as model_name, "
            f"generate_subscripts({MODELS!r}, 1) as model_index"
        )
        first_month = as_of - dt.timedelta(days=0)
        start = _add_months(first_month, -(n_months - 1))
        con.execute(
            f"""
            create or replace temp table base as
            select
                i,
                printf('P%06d', i) as product_id,
                cats.product_group,
                cats.category,
                case
                    when i % 10 = 9 then 'new'
                    when i % 10 = 8 then 'lumpy'
                    when i % 10 = 7 then 'intermittent'
                    when i % 10 = 6 then 'erratic'
                    else 'smooth'
                end as demand_class,
                case when i % 10 = 9 then 'new' when i % 23 = 5 then 'discontinued' else 'active' end as lifecycle,
                5 + 400 * pow(u(i, 1), 3) as level,
                case when i % 10 = 9 then date '{as_of}' - interval 4 month else date '{start}' end as first_month
            from range(1, {n_products} + 1) as r(i)
            join cats on cats.gi = i % {n_groups} and cats.ci = (i // {n_groups}) % {n_categories}
            """
        )
        # expected demand of product i in month m (seasonal), used for actuals and forecasts
        con.execute(
            "create or replace temp macro expected(level, m) as level * (1 + 0.25 * sin(2 * pi() * month(m) / 12.0))"
        )
        con.execute(
            f"""
            create or replace table intermediate.int_monthly_demand as
            with grid as (
                select base.*, cast(m as date) as month
                from base, generate_series(date '{start}', date '{as_of}', interval 1 month) as g(m)
                where cast(m as date) >= base.first_month
            ),
            values_ as (
                select *,
                    case
                        when lifecycle = 'discontinued' and month > date '{as_of}' - interval 5 month then 0
                        when demand_class in ('intermittent', 'lumpy') and u(i, epoch(month)::bigint) < 0.55 then 0
                        else round(expected(level, month) * (0.8 + 0.4 * u(i, epoch(month)::bigint + 1)), 1)
                    end as clean,
                    u(i, epoch(month)::bigint + 2) < 0.05 as stockout,
                    u(i, epoch(month)::bigint + 3) < 0.05 as outlier
                from grid
            )
            select
                product_id,
                month,
                product_group,
                category,
                cast(case when stockout then round(clean * 0.4) when outlier then round(clean * 1.9)
                          else round(clean) end + 1 as bigint) as units_sold,
                cast(1 as bigint) as units_returned,
                cast(case when stockout then round(clean * 0.4) when outlier then round(clean * 1.9)
                          else round(clean) end as bigint) as units_net,
                case when outlier then round(clean * 0.9, 1) else 0.0 end as units_outlier_capped,
                clean as demand,
                clean * 9.5 as revenue,
                9.5 as avg_unit_price,
                cast(case when stockout then 12 else 0 end as integer) as stockout_days,
                cast(day(last_day(month)) as integer) as days_in_month,
                stockout as is_stockout_month,
                outlier as is_outlier_adjusted,
                stockout as is_imputed,
                false as is_partial_month,
                false as exclude_from_training
            from values_
            """
        )
        con.execute(
            f"""
            create or replace table marts.dim_products as
            select
                base.product_id,
                base.category || ' ' || base.i as product_name,
                base.product_group,
                base.category,
                round(2 + 50 * u(base.i, 5), 2) as list_price,
                base.first_month as launch_date,
                case when base.lifecycle = 'discontinued' then date '{as_of}' - interval 5 month end
                    as discontinued_date,
                base.first_month,
                date '{as_of}' as last_month,
                cast(date_diff('month', base.first_month, date '{as_of}') + 1 as integer) as history_months,
                avg(case when panel.demand = 0 then 1.0 else 0.0 end) as zero_month_share,
                1.0 + 2 * u(base.i, 6) as adi,
                u(base.i, 7) as cv2,
                base.demand_class,
                base.lifecycle,
                avg(panel.demand) filter (where panel.month > date '{as_of}' - interval 12 month) as mean_demand_12m,
                max(panel.demand) as max_monthly_demand
            from base
            left join intermediate.int_monthly_demand as panel on panel.product_id = base.product_id
            group by all
            """
        )
        con.execute(
            f"""
            create or replace table marts.fct_forecasts as
            with as_ofs as (
                select cast(m as date) as as_of_month
                from generate_series(date '{as_of}' - interval {n_as_of - 1} month, date '{as_of}',
                                     interval 1 month) as g(m)
            ),
            selected as (
                select i, case
                    when demand_class in ('intermittent', 'lumpy') then 'sba'
                    when demand_class = 'new' then 'baseline'
                    else ['ets', 'theta', 'lightgbm', 'ensemble'][i % 4 + 1]
                end as selected_model
                from base
            ),
            grid as (
                select base.i, base.product_id, base.level, as_ofs.as_of_month, h.horizon,
                    cast(as_ofs.as_of_month + to_months(h.horizon) as date) as forecast_month,
                    model_list.model_name, model_list.model_index, selected.selected_model
                from base
                join selected on selected.i = base.i
                cross join as_ofs
                cross join (select unnest([1, 2, 3]) as horizon) as h
                cross join model_list
                where base.first_month <= as_ofs.as_of_month
            ),
            points as (
                select *,
                    greatest(0, expected(level, forecast_month)
                        * (1 + (0.15 + 0.04 * model_index) * (2 * u(i, epoch(forecast_month)::bigint * 13
                           + model_index * 7 + horizon) - 1))) as p50
                from grid
            )
            select
                product_id,
                as_of_month,
                forecast_month,
                cast(horizon as integer) as horizon,
                model_name,
                model_name = selected_model as is_selected,
                round(p50 * 0.72, 2) as forecast_p10,
                round(p50, 2) as forecast_p50,
                round(p50 * 1.3, 2) as forecast_p90,
                'segment ' || selected_model || ': lowest backtest MAE' as selection_reason,
                strftime(as_of_month, '%Y%m') || '01T020000Z-abc123' as run_id
            from points
            """
        )
        con.execute(
            """
            create or replace table marts.fct_forecast_accuracy as
            with scales as (
                select product_id, avg(abs(demand - lag_12)) as mase_scale
                from (select product_id, demand,
                        lag(demand, 12) over (partition by product_id order by month) as lag_12
                      from intermediate.int_monthly_demand)
                group by product_id
            )
            select
                f.product_id, f.as_of_month, f.forecast_month, f.horizon, f.model_name,
                d.product_group, d.category, d.demand_class, d.lifecycle, f.is_selected,
                f.forecast_p10, f.forecast_p50, f.forecast_p90,
                p.demand as actual,
                p.units_net as actual_units_net,
                f.forecast_p50 - p.demand as error,
                abs(f.forecast_p50 - p.demand) as abs_error,
                s.mase_scale,
                abs(f.forecast_p50 - p.demand) / nullif(s.mase_scale, 0) as scaled_abs_error,
                p.demand between f.forecast_p10 and f.forecast_p90 as is_within_p10_p90
            from marts.fct_forecasts as f
            join intermediate.int_monthly_demand as p
                on p.product_id = f.product_id and p.month = f.forecast_month
            left join marts.dim_products as d on d.product_id = f.product_id
            left join scales as s on s.product_id = f.product_id
            """
        )
        segments_union = " union all ".join(
            [
                "select forecast_month, horizon, 'all' as segment_type, 'all' as segment_value, * "
                "exclude (forecast_month, horizon) from accuracy"
            ]
            + [
                f"select forecast_month, horizon, '{s}' as segment_type, coalesce({s}, 'unknown') as segment_value, "
                f"* exclude (forecast_month, horizon) from accuracy"
                for s in ("product_group", "category", "demand_class", "lifecycle")
            ]
        )
        con.execute(
            f"""
            create or replace table marts.mart_accuracy_by_segment as
            with accuracy as (select * from marts.fct_forecast_accuracy where is_selected),
            by_segment as ({segments_union})
            select forecast_month, horizon, segment_type, segment_value,
                count(*) as n_forecasts,
                count(distinct product_id) as n_products,
                sum(actual) as total_actual,
                sum(forecast_p50) as total_forecast,
                sum(abs_error) / nullif(sum(abs(actual)), 0) as wape,
                sum(error) / nullif(sum(actual), 0) as bias,
                avg(scaled_abs_error) as mase,
                avg(case when is_within_p10_p90 then 1.0 else 0.0 end) as coverage_p10_p90
            from by_segment
            group by all
            """
        )
        con.execute(
            """
            create or replace table marts.mart_best_worst_performers as
            with accuracy as (select * from marts.fct_forecast_accuracy where is_selected and horizon = 1),
            bounds as (select max(forecast_month) as last_month,
                              max(forecast_month) - to_months(2) as first_month from accuracy),
            in_window as (select accuracy.* from accuracy cross join bounds
                          where forecast_month between bounds.first_month and bounds.last_month),
            by_entity as (
                select 'product' as entity_type, product_id as entity_id, any_value(product_group) as product_group,
                    sum(actual) as total_actual, sum(abs_error) as total_abs_error,
                    sum(abs_error) / nullif(sum(abs(actual)), 0) as wape, sum(error) / nullif(sum(actual), 0) as bias
                from in_window group by product_id having sum(actual) > 0
                union all
                select 'product_group', product_group, product_group, sum(actual), sum(abs_error),
                    sum(abs_error) / nullif(sum(abs(actual)), 0), sum(error) / nullif(sum(actual), 0)
                from in_window group by product_group having sum(actual) > 0
            ),
            ranked as (
                select *,
                    row_number() over (partition by entity_type order by wape asc, entity_id) as rank_best,
                    row_number() over (partition by entity_type order by wape desc, entity_id) as rank_worst,
                    least(10, greatest(1, count(*) over (partition by entity_type) // 2)) as list_length
                from by_entity
            )
            select entity_type, entity_id, product_group,
                case when rank_best <= list_length then 'best' else 'worst' end as performance,
                case when rank_best <= list_length then rank_best else rank_worst end as performance_rank,
                total_actual, total_abs_error, wape, bias,
                bounds.first_month as window_start_month, bounds.last_month as window_end_month
            from ranked cross join bounds
            where rank_best <= list_length or rank_worst <= list_length
            """
        )
        pivots = ",\n".join(
            f"max(forecast_month) filter (where horizon = {h}) as month_{h}, "
            f"max(forecast_p10) filter (where horizon = {h}) as month_{h}_p10, "
            f"max(forecast_p50) filter (where horizon = {h}) as month_{h}_p50, "
            f"max(forecast_p90) filter (where horizon = {h}) as month_{h}_p90"
            for h in (1, 2, 3)
        )
        con.execute(
            f"""
            create or replace table marts.mart_forecast_wide as
            with selected as (
                select * from marts.fct_forecasts
                where is_selected and as_of_month = (select max(as_of_month) from marts.fct_forecasts)
            ),
            pivoted as (
                select product_id, any_value(as_of_month) as as_of_month, any_value(model_name) as selected_model,
                    any_value(selection_reason) as selection_reason, any_value(run_id) as run_id,
                    {pivots}
                from selected group by product_id
            ),
            recent as (
                select product_id, sum(abs_error) / nullif(sum(abs(actual)), 0) as wape_last_3m,
                    sum(error) / nullif(sum(actual), 0) as bias_last_3m, count(*) as evaluated_months_last_3m
                from marts.fct_forecast_accuracy
                where is_selected and horizon = 1 and forecast_month > date '{as_of}' - interval 3 month
                group by product_id
            ),
            actuals as (
                select product_id,
                    sum(demand) filter (where month > date '{as_of}' - interval 12 month) as demand_last_12m,
                    sum(demand) filter (where month = date '{as_of}') as demand_last_month,
                    sum(units_net) filter (where month = date '{as_of}') as units_net_last_month
                from intermediate.int_monthly_demand group by product_id
            )
            select d.product_id, d.product_name, d.product_group, d.category, d.demand_class, d.lifecycle,
                d.history_months, pivoted.* exclude (product_id),
                recent.wape_last_3m, recent.bias_last_3m, coalesce(recent.evaluated_months_last_3m, 0)
                    as evaluated_months_last_3m,
                actuals.demand_last_month, actuals.units_net_last_month, actuals.demand_last_12m
            from pivoted
            join marts.dim_products as d on d.product_id = pivoted.product_id
            left join recent on recent.product_id = pivoted.product_id
            left join actuals on actuals.product_id = pivoted.product_id
            """
        )
        reasons = [
            "duplicate",
            "null_product",
            "unknown_product",
            "bad_date",
            "future_date",
            "bad_quantity",
            "absurd_quantity",
            "bad_price",
            "zero_quantity",
        ]
        counts = [200, 50, 50, 20, 0, 7, 5, 0, 0]
        in_scope = 280_000 + sum(counts)
        rows = [(as_of, "accepted", "accepted", None, 0, 280_000, 1_500_000.0)]
        rows += [
            (as_of, r, "quarantined", r, k + 1, c, float(c * 3))
            for k, (r, c) in enumerate(zip(reasons, counts, strict=True))
        ]
        rows += [(as_of, "not_yet_in_scope", "not_yet_in_scope", None, len(reasons) + 1, 37, None)]
        con.execute(
            """create or replace table marts.mart_quarantine_summary (
                as_of_month date, bucket varchar, line_status varchar, reject_reason varchar, bucket_order integer,
                line_count bigint, units double, share_of_in_scope_lines double, raw_line_count bigint,
                in_scope_line_count bigint)"""
        )
        con.executemany(
            "insert into marts.mart_quarantine_summary values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(*r, None if r[2] == "not_yet_in_scope" else r[5] / in_scope, in_scope + 37, in_scope) for r in rows],
        )
        con.execute(
            """
            create or replace table marts.fct_model_registry as
            select model_name, '1.0' as model_version, as_of_month, '{}' as params_json, '[]' as features_json,
                date '2024-01-01' as train_start, as_of_month as train_end, count(distinct product_id) as n_series,
                sum(abs_error) / nullif(sum(abs(actual)), 0) as wape, avg(scaled_abs_error) as mase,
                sum(error) / nullif(sum(actual), 0) as bias,
                avg(case when is_within_p10_p90 then 1.0 else 0.0 end) as coverage_80,
                null as model_blob, 1.5 as fit_seconds
            from marts.fct_forecast_accuracy
            group by model_name, as_of_month
            """
        )
        if with_ops:
            con.execute(
                """create or replace table ops.batch_step_metrics (run_id varchar, batch_name varchar,
                    step_index integer, step_name varchar, kind varchar, started_at timestamp, finished_at timestamp,
                    duration_s double, status varchar, exit_code integer, peak_memory_mb double, "rows" bigint,
                    rows_per_second double, error varchar, loaded_at timestamp)"""
            )
            steps = []
            for run, day in (("20260901T020000Z-old111", 1), ("20261101T020000Z-new222", 2)):
                for k, (name, seconds, n) in enumerate(
                    [("dbt deps", 3.0, None), ("dbt build 2026-10", 95.0, 1200), ("elementary report", 20.0, None)]
                ):
                    began = dt.datetime(2026, 10 + day - 1, 1, 2, 0) + dt.timedelta(seconds=200 * k)
                    steps.append(
                        (
                            run,
                            "monthly",
                            k,
                            name,
                            "command",
                            began,
                            began + dt.timedelta(seconds=seconds),
                            seconds,
                            "ok",
                            0,
                            350.0 + k,
                            n,
                            None if n is None else n / seconds,
                            None,
                            began,
                        )
                    )
            con.executemany(
                "insert into ops.batch_step_metrics values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", steps
            )
        if with_elementary:
            con.execute(
                """create or replace table elementary.elementary_test_results (id varchar, data_issue_id varchar,
                    test_execution_id varchar, test_unique_id varchar, model_unique_id varchar,
                    invocation_id varchar, detected_at timestamp, created_at timestamp, database_name varchar,
                    schema_name varchar, table_name varchar, column_name varchar, test_type varchar,
                    test_sub_type varchar, test_results_description varchar, owners varchar, tags varchar,
                    test_results_query varchar, other varchar, test_name varchar, test_params varchar,
                    severity varchar, status varchar, failures bigint, test_short_name varchar,
                    test_alias varchar, result_rows varchar, failed_row_count bigint)"""
            )
            tests = []
            old = dt.datetime(2026, 10, 1, 2, 5)
            new = dt.datetime(2026, 11, 1, 2, 5)
            for inv, when, statuses in (
                ("inv-old", old, ["fail"] * 5),
                ("inv-new", new, ["pass"] * 20 + ["fail", "warn"]),
            ):
                for k, status in enumerate(statuses):
                    name = {
                        "fail": "not_null_fct_forecasts_forecast_p50",
                        "warn": "accepted_values_dim_products_lifecycle",
                    }
                    test_name = name.get(status, f"unique_test_{k}") if inv == "inv-new" else f"old_test_{k}"
                    tests.append(
                        (
                            f"{inv}-{k}",
                            None,
                            f"{inv}-{k}",
                            f"test.demand_forecast.{test_name}",
                            None,
                            inv,
                            when,
                            when,
                            "demand",
                            "marts",
                            "fct_forecasts",
                            "forecast_p50",
                            "dbt_test",
                            "generic",
                            None,
                            None,
                            None,
                            None,
                            None,
                            test_name,
                            None,
                            "ERROR",
                            status,
                            3 if status != "pass" else 0,
                            test_name,
                            test_name,
                            None,
                            0,
                        )
                    )
            con.executemany(f"insert into elementary.elementary_test_results values ({', '.join(['?'] * 28)})", tests)
    finally:
        con.close()
    return path


def _add_months(day: dt.date, k: int) -> dt.date:
    years, month0 = divmod(day.month - 1 + k, 12)
    return dt.date(day.year + years, month0 + 1, 1)


# ------------------------------------------------------------------ helpers to read the page
class _SelectOptions(HTMLParser):
    """Option values and labels of <select id="segment-select">, and every element id."""

    def __init__(self) -> None:
        super().__init__()
        self.in_select = False
        self.in_option = False
        self.options: list[tuple[str, str]] = []
        self.ids: set[str] = set()
        self._value = ""

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "select" and attrs.get("id") == "segment-select":
            self.in_select = True
        elif tag == "option" and self.in_select:
            self.in_option = True
            self._value = attrs.get("value", "")
            self.options.append((self._value, ""))

    def handle_endtag(self, tag):
        if tag == "select":
            self.in_select = False
        elif tag == "option":
            self.in_option = False

    def handle_data(self, data):
        if self.in_option and self.options:
            value, label = self.options[-1]
            self.options[-1] = (value, label + data)


def without_scripts(page: str) -> str:
    return re.sub(r"<script.*?</script>", "", page, flags=re.S)


def payload_of(page: str) -> dict:
    match = re.search(r'<script type="application/json" id="dashboard-data">(.*?)</script>', page, re.S)
    assert match, "embedded dashboard data not found"
    return json.loads(match.group(1))


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> Path:
    return make_synthetic_warehouse(tmp_path_factory.mktemp("wh") / "demand.duckdb")


@pytest.fixture(scope="module")
def built(warehouse, tmp_path_factory):
    out = tmp_path_factory.mktemp("reports") / "dashboard.html"
    (out.parent / "elementary_report.html").write_text("<html>edr</html>")
    stats = dashboard.build_dashboard(
        warehouse, out, top_n=10, generated_at=dt.datetime(2026, 11, 2, 6, 30, tzinfo=dt.timezone.utc)
    )
    return stats, out.read_text(encoding="utf-8")


# ------------------------------------------------------------------ tests
def test_stats_and_sections(built):
    stats, page = built
    assert stats["as_of_month"] == "2026-10-01"
    assert stats["errors"] == {}
    assert stats["empty_charts"] == []
    assert stats["products_total"] == 40
    assert stats["bytes"] == len(page.encode("utf-8"))
    parser = _SelectOptions()
    parser.feed(page)
    for element_id in (
        "overview",
        "groups",
        "product",
        "health",
        "footer",
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
        "seg-performers",
        "prod-history",
        "prod-models",
        "dh-quarantine",
        "dh-stockouts",
        "dh-tests",
        "dh-steps",
        "elementary-link",
    ):
        assert element_id in parser.ids, element_id
    assert "No data yet" not in without_scripts(page)


def test_selector_lists_every_group_and_category(built):
    _, page = built
    parser = _SelectOptions()
    parser.feed(page)
    labels = [label for _, label in parser.options]
    assert labels[0] == "All products"
    for group in ("Cleaning", "Garden", "Heating"):
        assert group in labels
        assert f"{group} / {GROUPS[group][0]}" in labels
    assert "Kitchen" not in labels
    payload = payload_of(page)
    assert set(payload["figures"]["segments"]) == {value for value, _ in parser.options}


def test_every_section_chart_changes_with_the_group(built):
    _, page = built
    segments = payload_of(page)["figures"]["segments"]
    first, second = segments["g0"], segments["g1"]
    assert set(first) == {"seg-forecast", "seg-accuracy", "seg-breakdown", "seg-performers"}
    for chart in first:
        assert first[chart]["layout"]["title"]["text"] != second[chart]["layout"]["title"]["text"], chart
        assert first[chart]["data"] != second[chart]["data"], chart
    # the group's forecast is the sum of its categories
    group_total = segments["g0"]["seg-forecast"]["data"][-1]["y"][1]
    category_total = sum(segments[k]["seg-forecast"]["data"][-1]["y"][1] for k in ("g0c0", "g0c1"))
    assert group_total == pytest.approx(category_total, rel=1e-3)


def test_titles_state_the_finding(built):
    _, page = built
    static = payload_of(page)["figures"]["static"]
    title = static["ov-forecast"]["layout"]["title"]["text"].replace("<br>", " ")
    assert re.search(
        r"next month \(Nov 2026\): [\d,]+ units forecast \(P10-P90 [\d,]+-[\d,]+\), \d+% (above|below) "
        r"Nov 2025",
        title,
    ), title
    assert "WAPE" in static["ov-accuracy"]["layout"]["title"]["text"]
    assert "Oct 2026" in static["ov-accuracy"]["layout"]["title"]["text"]
    assert "target 80%" in static["ov-coverage"]["layout"]["title"]["text"]
    assert "332 sales lines quarantined" in static["dh-quarantine"]["layout"]["title"]["text"].replace("<br>", " ")
    assert static["ov-forecast"]["layout"]["yaxis"]["title"]["text"] == "units / month"


def test_figures_are_valid_plotly(warehouse):
    import plotly.graph_objects as go

    data = dashboard.load_dashboard_data(warehouse, top_n=5)
    figures = dashboard.build_figures(data)
    every = list(figures["static"].values()) + [f for seg in figures["segments"].values() for f in seg.values()]
    assert len(every) == 7 + 4 * (1 + 3 + 6)
    for fig in every:
        go.Figure({"data": fig["data"], "layout": fig["layout"]})  # raises on an invalid property


def test_products_embedded(built):
    stats, page = built
    payload = payload_of(page)
    products = payload["products"]
    order = payload["product_order"]
    assert stats["products_embedded"] == len(order) == len(products)
    # the top 10 by volume first, then every best/worst performer shown
    assert len(order) >= 10
    performers = set()
    for seg in payload["figures"]["segments"].values():
        for trace in seg["seg-performers"]["data"]:
            performers |= {row[0] for row in trace["customdata"]}
    assert performers and performers <= set(order)
    assert f'<option value="{order[0]}">' in page
    top = products[order[0]]
    # 36 months embedded; the panel of the fixture has 30, the 6 before it are empty
    assert len(top["raw"]) == len(top["demand"]) == len(payload["product_months"]) == 36
    assert top["demand"][:6] == [None] * 6 and None not in top["demand"][6:]
    assert payload["product_months"][-1] == "2026-10-01"
    assert top["forecast"] and len(top["forecast"]) == 3 and top["model"]
    assert "baseline" in top["errors"] and top["model"] in top["errors"]
    assert payload["forecast_months"] == ["2026-11-01", "2026-12-01", "2027-01-01"]


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


def test_footer_and_health(built):
    _, page = built
    footer = re.search(r'<footer id="footer">(.*?)</footer>', page, re.S).group(1)
    assert "Oct 2026" in footer
    assert "20261001T020000Z-abc123" in footer
    assert "2026-11-02 06:30 UTC" in footer
    assert 'href="elementary_report.html"' in page
    assert "not generated yet" not in page
    assert "Last dbt run (2026-11-01): 22 tests, 1 fail, 1 warn" in page
    assert "not_null_fct_forecasts_forecast_p50" in page
    assert "old_test_" not in page
    assert "Last batch run 20261101T020000Z-new222: 3 steps" in page


def test_file_size_reasonable(built):
    from plotly.offline import get_plotlyjs

    stats, _ = built
    assert stats["bytes"] < len(get_plotlyjs()) + 600_000


def test_warehouse_is_closed_after_build(built, warehouse):
    # another process can open the file for writing: the dashboard released it
    code = f"import duckdb; c = duckdb.connect({str(warehouse)!r}); c.execute('select 1'); c.close()"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


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
    assert "does not exist" in out.read_text()


def test_partial_warehouse_without_forecasts(tmp_path):
    path = make_synthetic_warehouse(
        tmp_path / "partial.duckdb", n_products=12, n_months=14, with_ops=False, with_elementary=False
    )
    con = duckdb.connect(str(path))
    for table in (
        "fct_forecasts",
        "fct_forecast_accuracy",
        "mart_accuracy_by_segment",
        "mart_best_worst_performers",
        "mart_forecast_wide",
        "fct_model_registry",
    ):
        con.execute(f"drop table marts.{table}")
    con.close()
    out = tmp_path / "dashboard.html"
    stats = dashboard.build_dashboard(path, out)
    page = out.read_text()
    assert stats["errors"] == {}
    assert stats["as_of_month"] == "2026-10-01"  # from the monthly panel
    payload = payload_of(page)
    assert not payload["figures"]["static"]["ov-forecast"].get("empty")  # actuals are shown
    assert payload["figures"]["static"]["ov-accuracy"].get("empty")
    assert stats["products_embedded"] == 12
    assert "marts.fct_forecasts is missing or empty" in page


def test_months_stored_as_timestamps(tmp_path):
    # dbt Python models write pandas datetimes: the month columns may be TIMESTAMP_NS instead of DATE
    path = make_synthetic_warehouse(
        tmp_path / "ts.duckdb", n_products=12, n_months=16, with_ops=False, with_elementary=False
    )
    con = duckdb.connect(str(path))
    for table in ("fct_forecasts", "fct_forecast_accuracy"):
        for column in ("as_of_month", "forecast_month"):
            con.execute(f"alter table marts.{table} alter {column} type timestamp_ns")
    con.execute("alter table marts.fct_model_registry alter as_of_month type timestamp_ns")
    con.close()
    out = tmp_path / "dashboard.html"
    stats = dashboard.build_dashboard(path, out)
    assert stats["errors"] == {} and stats["empty_charts"] == []
    assert stats["as_of_month"] == "2026-10-01"
    payload = payload_of(out.read_text())
    assert payload["products"][payload["product_order"][0]]["forecast"]


def test_cli(warehouse, tmp_path):
    out = tmp_path / "cli" / "dashboard.html"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "demand_forecast.cli",
            "dashboard",
            "--warehouse",
            str(warehouse),
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
    assert "dashboard:" in result.stdout and "as of 2026-10-01" in result.stdout
    page = out.read_text()
    assert 'href="edr/report.html"' in page and "not generated yet" in page

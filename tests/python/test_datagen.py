"""Tests of the synthetic data generator (small sizes, a few seconds in total)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from demand_forecast.data.contract import ORDERING_RULES_SCHEMA, PURCHASE_ORDERS_SCHEMA
from demand_forecast.synthetic import columns, datagen, world

END = "2026-10-31"
N_PRODUCTS = 150
YEARS = 2


def _read(folder: Path, source: str) -> pd.DataFrame:
    return pq.read_table(folder / "raw" / source).to_pandas()


def _sorted(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    return df.sort_values(keys, kind="stable").reset_index(drop=True)


@pytest.fixture(scope="module")
def gen(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("gen")
    datagen.generate(out, products=N_PRODUCTS, years=YEARS, end_date=END, seed=7, progress=False)
    return out


@pytest.fixture(scope="module")
def con(gen) -> duckdb.DuckDBPyConnection:
    c = duckdb.connect()
    c.execute(f"create view sales as select * from read_parquet('{gen}/raw/sales_lines/*.parquet')")
    c.execute(f"create view products as select * from read_parquet('{gen}/raw/products/*.parquet')")
    c.execute(f"create view snaps as select * from read_parquet('{gen}/raw/stock_snapshots/*.parquet')")
    c.execute(f"create view purchase_orders as select * from read_parquet('{gen}/raw/purchase_orders/*.parquet')")
    c.execute(f"create view ordering_rules as select * from read_parquet('{gen}/raw/ordering_rules/*.parquet')")
    for name in ("true_monthly_demand", "products_truth", "defect_lines", "stockout_episodes", "outlier_events"):
        c.execute(f"create view {name} as select * from read_parquet('{gen}/truth/{name}.parquet')")
    return c


@pytest.fixture(scope="module")
def manifest(gen) -> dict:
    return json.loads((gen / "truth" / "manifest.json").read_text())


def _one(con, sql: str):
    return con.execute(sql).fetchone()[0]


# ------------------------------------------------------------------ layout and schema


def test_layout_and_schema(gen, manifest):
    assert sorted(p.name for p in (gen / "raw" / "sales_lines").iterdir()) == ["part-00000.parquet"]
    assert (gen / "raw" / "products" / "products.parquet").is_file()
    assert (gen / "raw" / "stock_snapshots" / "part-00000.parquet").is_file()
    for name in ("true_monthly_demand", "products_truth", "defect_lines", "stockout_episodes", "outlier_events"):
        assert (gen / "truth" / f"{name}.parquet").is_file()
    sales = pq.read_schema(gen / "raw" / "sales_lines" / "part-00000.parquet")
    assert sales.names == ["line_id", "sale_date", "product_id", "quantity", "unit_price", "loaded_at"]
    assert [str(t) for t in sales.types] == ["string"] * 5 + ["timestamp[us]"]
    products = pq.read_schema(gen / "raw" / "products" / "products.parquet")
    assert products.names == [
        "product_id",
        "product_name",
        "product_group",
        "category",
        "launch_date",
        "discontinued_date",
        "list_price",
        "loaded_at",
    ]
    snaps = pq.read_schema(gen / "raw" / "stock_snapshots" / "part-00000.parquet")
    assert snaps.names == ["snapshot_date", "product_id", "on_hand_qty", "loaded_at"]
    assert str(snaps.field("on_hand_qty").type) == "int32"
    assert pq.read_schema(gen / "raw" / "purchase_orders" / "part-00000.parquet") == PURCHASE_ORDERS_SCHEMA
    assert pq.read_schema(gen / "raw" / "ordering_rules" / "ordering_rules.parquet") == ORDERING_RULES_SCHEMA
    truth = pq.read_schema(gen / "truth" / "true_monthly_demand.parquet")
    assert truth.names == ["product_id", "month", "true_demand"]
    assert [str(t) for t in truth.types] == ["string", "date32[day]", "double"]
    assert manifest["seed"] == 7
    assert manifest["parameters"]["start_date"] == "2024-11-01"
    assert manifest["parameters"]["end_date"] == END


def test_products_shape(con, manifest):
    assert _one(con, "select count(*) from products") == N_PRODUCTS
    assert _one(con, "select count(distinct product_id) from products") == N_PRODUCTS
    assert _one(con, "select min(product_id) from products") == "P000001"
    assert len(world.GROUPS) == 8 and all(3 <= len(g[1]) <= 4 for g in world.GROUPS)
    allowed = {(g[0], c) for g in world.GROUPS for c in g[1]}
    pairs = set(con.execute("select distinct product_group, category from products").fetchall())
    assert pairs <= allowed and len({g for g, _ in pairs}) == 8
    assert _one(con, "select min(list_price) from products") > 0
    types = manifest["products"]["demand_types"]
    assert set(types) == {"smooth", "erratic", "intermittent", "lumpy"} and sum(types.values()) == N_PRODUCTS
    shares = {k: v / N_PRODUCTS for k, v in types.items()}
    assert 0.3 < shares["smooth"] < 0.6 and 0.1 < shares["intermittent"] < 0.4
    truth_types = con.execute("select demand_type, count(*) from products_truth group by 1").fetchall()
    assert dict(truth_types) == types


# ------------------------------------------------------------------ determinism


def test_same_seed_identical_and_chunking_irrelevant(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    kw = dict(products=40, years=1, end_date=END, seed=3, progress=False)
    datagen.generate(a, **kw)
    datagen.generate(b, **kw)
    datagen.generate(c, chunk_size=7, workers=2, **kw)  # 6 parts, 2 processes
    assert len(list((c / "raw" / "sales_lines").glob("part-*.parquet"))) == 6
    # same seed and chunking: byte-identical files
    for rel in (
        "raw/sales_lines/part-00000.parquet",
        "raw/stock_snapshots/part-00000.parquet",
        "raw/products/products.parquet",
        "truth/true_monthly_demand.parquet",
        "truth/defect_lines.parquet",
        "truth/manifest.json",
    ):
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
    # other chunk size and workers: the same rows
    for source, keys in (
        ("sales_lines", ["line_id", "loaded_at"]),
        ("stock_snapshots", ["product_id", "snapshot_date"]),
    ):
        pd.testing.assert_frame_equal(_sorted(_read(a, source), keys), _sorted(_read(c, source), keys))
    for name, keys in (("true_monthly_demand", ["product_id", "month"]), ("defect_lines", ["line_id", "defect"])):
        pd.testing.assert_frame_equal(
            _sorted(pd.read_parquet(a / "truth" / f"{name}.parquet"), keys),
            _sorted(pd.read_parquet(c / "truth" / f"{name}.parquet"), keys),
        )
    assert json.loads((a / "truth/manifest.json").read_text()) == json.loads((c / "truth/manifest.json").read_text())


def test_different_seed_differs(tmp_path):
    kw = dict(products=20, years=1, end_date=END, progress=False)
    datagen.generate(tmp_path / "a", seed=1, **kw)
    datagen.generate(tmp_path / "b", seed=2, **kw)
    sa, sb = _read(tmp_path / "a", "sales_lines"), _read(tmp_path / "b", "sales_lines")
    assert len(sa) != len(sb) or not sa.equals(sb)
    ta = pd.read_parquet(tmp_path / "a" / "truth" / "true_monthly_demand.parquet")
    tb = pd.read_parquet(tmp_path / "b" / "truth" / "true_monthly_demand.parquet")
    assert len(ta) != len(tb) or not ta.equals(tb)


def test_rerun_removes_stale_parts(tmp_path):
    datagen.generate(tmp_path, products=30, years=1, end_date=END, chunk_size=10, progress=False)
    assert len(list((tmp_path / "raw" / "sales_lines").iterdir())) == 3
    datagen.generate(tmp_path, products=30, years=1, end_date=END, chunk_size=30, progress=False)
    assert [p.name for p in (tmp_path / "raw" / "sales_lines").iterdir()] == ["part-00000.parquet"]


def test_default_end_date_is_yesterday():
    assert world.default_end_date(dt.date(2026, 11, 29)) == dt.date(2026, 11, 28)
    assert world.default_end_date(dt.date(2024, 3, 1)) == dt.date(2024, 2, 29)
    assert world.default_end_date(dt.date(2025, 1, 1)) == dt.date(2024, 12, 31)


# ------------------------------------------------------------------ defects: exact counts


def test_every_defect_kind_present_in_exactly_the_recorded_amount(con, manifest):
    d = manifest["defects"]
    end = manifest["parameters"]["end_date"]
    assert all(v > 0 for v in d.values()), d  # the fixture is big enough to contain every kind
    observed = {
        "duplicate_lines": _one(
            con, "select count(*) - (select count(*) from (select distinct * from sales)) from sales"
        ),
        "null_product_id": _one(con, "select count(*) from sales where product_id is null"),
        "unknown_product_id": _one(
            con,
            "select count(*) from sales where product_id is not null "
            "and product_id not in (select product_id from products)",
        ),
        "unparseable_sale_date": _one(
            con, "select count(*) from sales where try_strptime(sale_date, '%Y-%m-%d') is null"
        ),
        "future_sale_date": _one(con, f"select count(*) from sales where try_cast(sale_date as date) > date '{end}'"),
        "non_numeric_quantity": _one(con, "select count(*) from sales where try_cast(quantity as bigint) is null"),
        "absurd_quantity": _one(
            con,
            "select count(*) from sales where try_cast(quantity as bigint) >= "
            f"{manifest['rules']['absurd_quantity_min']}",
        ),
        "returns": _one(con, "select count(*) from sales where try_cast(quantity as bigint) < 0"),
        "negative_unit_price": _one(con, "select count(*) from sales where try_cast(unit_price as decimal(12,2)) < 0"),
        "non_numeric_unit_price": _one(
            con, "select count(*) from sales where try_cast(unit_price as decimal(12,2)) is null"
        ),
        "late_arriving_lines": _one(
            con, "select count(*) from sales where loaded_at > try_cast(sale_date as date) + interval 35 day"
        ),
        "outlier_bulk_orders": _one(con, "select count(*) from outlier_events"),
    }
    assert observed == d


def test_defect_lines_list_every_affected_line(con, manifest):
    names = manifest["defect_names_in_defect_lines"]
    per_kind = dict(con.execute("select defect, count(*) from defect_lines group by 1").fetchall())
    assert {names.get(k, k): v for k, v in manifest["defects"].items()} == per_kind
    # every recorded line id exists in the sales lines; duplicates appear exactly twice
    assert _one(con, "select count(*) from defect_lines where line_id not in (select line_id from sales)") == 0
    assert (
        _one(
            con,
            """select count(*) from defect_lines d where defect = 'duplicate_line'
                         and (select count(*) from sales s where s.line_id = d.line_id) <> 2""",
        )
        == 0
    )
    assert _one(con, "select count(*) - count(distinct line_id) from sales") == manifest["defects"]["duplicate_lines"]
    # mutated lines carry exactly the recorded defect
    checks = {
        "null_product_id": "s.product_id is null",
        "unknown_product_id": "s.product_id like 'P9%'",
        "unparseable_sale_date": "try_strptime(s.sale_date, '%Y-%m-%d') is null",
        "non_numeric_quantity": "try_cast(s.quantity as bigint) is null",
        "absurd_quantity": "try_cast(s.quantity as bigint) >= 99999",
        "negative_unit_price": "try_cast(s.unit_price as double) < 0",
        "non_numeric_unit_price": "try_cast(s.unit_price as double) is null",
        "return": "try_cast(s.quantity as bigint) < 0",
    }
    for kind, cond in checks.items():
        bad = _one(
            con,
            f"select count(*) from defect_lines d join sales s using (line_id) "
            f"where d.defect = '{kind}' and not coalesce({cond}, false)",
        )
        assert bad == 0, kind


def test_returns_refer_to_an_earlier_sale_of_the_same_product(con):
    rows = con.execute("""
        select count(*), count(*) filter (where o.line_id is null),
               count(*) filter (where cast(r.sale_date as date) <= cast(o.sale_date as date)),
               count(*) filter (where -cast(r.quantity as bigint) > cast(o.quantity as bigint)),
               count(*) filter (where r.product_id <> o.product_id)
        from defect_lines d
        join sales r on r.line_id = d.line_id
        left join sales o on o.line_id = d.related_line_id
        where d.defect = 'return'""").fetchone()
    assert rows[0] > 0 and rows[1:] == (0, 0, 0, 0)


def test_only_absurd_lines_exceed_the_bulk_order_cap(con, manifest):
    big = _one(con, f"select count(*) from sales where try_cast(quantity as bigint) > {world.MAX_BULK_ORDER}")
    assert big == manifest["defects"]["absurd_quantity"]


def test_outliers_are_big(con):
    rows = con.execute("""select o.quantity, o.typical_daily_quantity, cast(s.quantity as bigint)
                          from outlier_events o join sales s using (line_id)""").fetchall()
    assert rows
    for qty, typical, written in rows:
        assert qty == written
        assert min(9.5 * typical, world.MAX_BULK_ORDER) <= qty <= min(30.5 * typical + 1, world.MAX_BULK_ORDER)


# ------------------------------------------------------------------ ground truth vs sales


def test_truth_equals_sales_where_no_defect_applies(con):
    diff = con.execute("""
        with dirty as (
            select distinct product_id, date_trunc('month', sale_date) as month from defect_lines
            union
            select e.product_id, date_trunc('month', d.day)
            from stockout_episodes e,
                 generate_series(cast(e.start_date as timestamp), cast(e.end_date as timestamp),
                                 interval 1 day) as d(day)
        ),
        sold as (
            select product_id, date_trunc('month', try_cast(sale_date as date)) as month,
                   sum(try_cast(quantity as bigint)) as units
            from sales group by all
        ),
        clean as (
            select t.product_id, t.month, t.true_demand, coalesce(s.units, 0) as units
            from true_monthly_demand t
            left join sold s on s.product_id = t.product_id and s.month = t.month
            where not exists (select 1 from dirty d where d.product_id = t.product_id and d.month = t.month)
        )
        select count(*), count(*) filter (where units <> true_demand), sum(true_demand) from clean
    """).fetchone()
    n_clean, n_diff, units = diff
    assert n_clean > 0.5 * _one(con, "select count(*) from true_monthly_demand")
    assert units > 0
    assert n_diff == 0  # tolerance 0: split lines add up exactly


def test_no_valid_sales_outside_the_truth_window(con):
    n = _one(
        con,
        """
        select count(*) from sales s
        join products_truth p using (product_id)
        where try_cast(s.sale_date as date) is not null
          and (cast(s.sale_date as date) < p.active_from or cast(s.sale_date as date) > p.active_to)
          and s.line_id not in (select line_id from defect_lines where defect = 'future_sale_date')""",
    )
    assert n == 0


def test_truth_covers_active_months(con):
    rows = con.execute("""
        select p.product_id, count(t.month), min(t.month), max(t.month),
               date_diff('month', date_trunc('month', p.active_from), date_trunc('month', p.active_to)) + 1,
               date_trunc('month', p.active_from), date_trunc('month', p.active_to)
        from products_truth p left join true_monthly_demand t using (product_id)
        group by all""").fetchall()
    assert len(rows) == N_PRODUCTS
    for _, n, lo, hi, expected, want_lo, want_hi in rows:
        assert n == expected and lo == want_lo.date() and hi == want_hi.date()
    assert _one(con, "select min(true_demand) from true_monthly_demand") >= 0


# ------------------------------------------------------------------ stock, cold start, discontinued


def test_stockout_days_sell_only_until_the_stock_runs_out(con, manifest):
    # Stock-outs come from the simulated company's ordering (synthetic/ordering.py): an end-of-day
    # on hand of 0. The day the stock runs out may still have sales (the stock it had), and so may a day
    # whose delivery sold out at once; other zero days have none. (Before the ordering world, episodes
    # were injected and had no sales at all, 5-40 days each.)
    zero_days = _one(con, "select count(*) from snaps where on_hand_qty = 0")
    assert zero_days == manifest["products"]["stockout_days"] > 0
    assert _one(con, "select sum(days) from stockout_episodes") == zero_days
    assert _one(con, "select count(*) from stockout_episodes") == manifest["products"]["stockout_episodes"]
    sales_on_zero_days = """select k.product_id, k.snapshot_date from snaps k join sales s
                            on s.product_id = k.product_id and try_cast(s.sale_date as date) = k.snapshot_date
                            where k.on_hand_qty = 0 and try_cast(s.quantity as bigint) > 0
                              and s.line_id not in (select line_id from outlier_events)"""
    assert _one(con, f"select count(*) from ({sales_on_zero_days})") > 0  # stock that ran out during the day
    assert (
        _one(
            con,
            f"""select count(*) from ({sales_on_zero_days}) z
                where not exists (select 1 from stockout_episodes e
                                  where e.product_id = z.product_id and e.start_date = z.snapshot_date)
                  and not exists (select 1 from purchase_orders o
                                  where o.product_id = z.product_id and o.received_date = z.snapshot_date)""",
        )
        == 0
    )
    # zero stock exactly on the recorded episode days
    assert (
        _one(
            con,
            """select count(*) from snaps k join stockout_episodes e
                        on e.product_id = k.product_id and k.snapshot_date between e.start_date and e.end_date
                        where k.on_hand_qty = 0""",
        )
        == zero_days
    )
    episodes = con.execute("select days, lost_units from stockout_episodes").fetchall()
    assert all(d >= 1 and lost >= 0 for d, lost in episodes)
    # demand continued during the stock-outs: it was lost, and the truth still counts it
    assert _one(con, "select sum(lost_units) from stockout_episodes") == manifest["stock"]["lost_units"] > 0
    assert (
        _one(
            con,
            """select sum(t.true_demand) from true_monthly_demand t
                        where exists (select 1 from stockout_episodes e where e.product_id = t.product_id
                                      and t.month between date_trunc('month', e.start_date)
                                      and date_trunc('month', e.end_date))""",
        )
        > 0
    )


def test_stock_balances_with_arrivals_and_sales(con):
    # on hand(day) = on hand(day before) + goods received that day - units sold that day, checked on
    # every active day after the first whose sales lines carry no defect (a mutated line hides its
    # quantity; returns are not restocked; bulk orders are shipped by the supplier)
    rows = con.execute("""
        with clean_days as (
            select product_id, try_cast(sale_date as date) as day, sum(try_cast(quantity as bigint)) as sold
            from (select distinct * from sales)
            where try_cast(quantity as bigint) > 0
              and line_id not in (select line_id from outlier_events)
            group by all
        ),
        dirty_days as (
            select distinct product_id, sale_date as day from defect_lines
            where defect not in ('late_arriving', 'duplicate_line', 'return', 'outlier_bulk_order')
        ),
        received as (
            select product_id, received_date as day, sum(quantity) as qty
            from purchase_orders where status = 'received' group by all
        ),
        days as (
            select k.product_id, k.snapshot_date as day, k.on_hand_qty,
                   lag(k.on_hand_qty) over (partition by k.product_id order by k.snapshot_date) as before
            from snaps k
        )
        select count(*), count(*) filter (
                   where d.before + coalesce(r.qty, 0) - coalesce(c.sold, 0) <> d.on_hand_qty)
        from days d
        left join received r on r.product_id = d.product_id and r.day = d.day
        left join clean_days c on c.product_id = d.product_id and c.day = d.day
        where d.before is not null
          and not exists (select 1 from dirty_days x where x.product_id = d.product_id and x.day = d.day)
    """).fetchone()
    checked, broken = rows
    assert checked > 0.9 * _one(con, "select count(*) from snaps") and broken == 0


def test_purchase_orders_follow_the_rules_and_the_manifest(con, manifest):
    assert _one(con, "select count(*) from purchase_orders") == manifest["rows"]["purchase_orders"] > 0
    assert _one(con, "select count(*) - count(distinct purchase_order_id) from purchase_orders") == 0
    stock = manifest["stock"]
    by_status = dict(con.execute("select status, count(*) from purchase_orders group by 1").fetchall())
    assert set(by_status) == {"open", "received", "cancelled"}
    assert by_status["open"] == stock["open_at_extraction"] and by_status["cancelled"] == stock["cancelled"]
    end = manifest["parameters"]["end_date"]
    # received orders have a receipt date up to the end of the data; open ones are still under way
    assert (
        _one(con, "select count(*) from purchase_orders where (status = 'received') <> (received_date is not null)")
        == 0
    )
    assert _one(con, f"select count(*) from purchase_orders where received_date > date '{end}'") == 0
    assert _one(con, f"select count(*) from purchase_orders where order_date > date '{end}'") == 0
    # monthly orders arrive two calendar months after they were placed (three-month lead time counted from
    # the month whose close triggered them), launch orders in the launch month; 8 % come late
    assert (
        _one(
            con,
            """select count(*) from purchase_orders
               where expected_arrival_month <> date_trunc('month', order_date) + interval 2 month
                 and expected_arrival_month <> date_trunc('month', order_date + interval 75 day)""",
        )
        == 0
    )
    late = _one(
        con,
        "select count(*) from purchase_orders where status = 'received' and received_date > expected_arrival_month",
    )
    assert late > 0
    # quantities are whole packs and at least the minimum order
    assert (
        _one(
            con,
            """select count(*) from purchase_orders o join ordering_rules r using (product_id)
               where o.quantity <= 0 or o.quantity % r.pack_size <> 0 or o.quantity < r.min_order_qty""",
        )
        == 0
    )
    # no order arrives after a product's discontinuation
    assert (
        _one(
            con,
            """select count(*) from purchase_orders o join products p using (product_id)
               where o.status <> 'cancelled' and o.expected_arrival_month > p.discontinued_date""",
        )
        == 0
    )


def test_ordering_rules_cover_every_product(con):
    assert _one(con, "select count(*) from ordering_rules") == N_PRODUCTS
    assert _one(con, "select count(distinct product_id) from ordering_rules") == N_PRODUCTS
    assert _one(con, "select min(pack_size) from ordering_rules") >= 1
    assert _one(con, "select min(min_order_qty) from ordering_rules") >= 0
    assert _one(con, "select count(*) from ordering_rules where unit_cost is null") >= 1  # the default applies
    assert _one(con, "select count(*) from ordering_rules where holding_cost_rate is null") >= 1
    assert (
        _one(
            con,
            "select count(*) from ordering_rules r join products p using (product_id) "
            "where r.unit_cost >= p.list_price",
        )
        == 0
    )


def test_snapshots_cover_the_active_window(con):
    rows = con.execute("""
        select count(*) filter (where n <> date_diff('day', active_from, active_to) + 1
                                 or first <> active_from or last <> active_to)
        from (select p.product_id, p.active_from, p.active_to, count(*) n,
                     min(k.snapshot_date) first, max(k.snapshot_date) last
              from products_truth p join snaps k using (product_id) group by all)""").fetchone()
    assert rows[0] == 0
    assert _one(con, "select count(distinct product_id) from snaps") == N_PRODUCTS
    assert _one(con, "select min(on_hand_qty) from snaps") == 0
    assert _one(con, "select count(*) from snaps where on_hand_qty < 0") == 0


def test_cold_start_and_discontinued(con, manifest):
    start = manifest["parameters"]["start_date"]
    cold = _one(con, f"select count(*) from products where launch_date > date '{start}'")
    assert cold == manifest["products"]["cold_start"] > 0
    assert _one(con, "select count(*) from products_truth where is_cold_start and active_from <> launch_date") == 0
    # no valid sale before launch
    assert (
        _one(
            con,
            """select count(*) from sales s join products p using (product_id)
                        where try_cast(s.sale_date as date) < p.launch_date""",
        )
        == 0
    )
    disc = _one(con, "select count(*) from products where discontinued_date is not null")
    assert disc == manifest["products"]["discontinued"]
    assert (
        _one(
            con,
            """select count(*) from sales s join products p using (product_id)
                        where p.discontinued_date is not null
                          and try_cast(s.sale_date as date) > p.discontinued_date
                          and s.line_id not in (select line_id from defect_lines where defect = 'future_sale_date')""",
        )
        == 0
    )
    assert (
        _one(
            con,
            """select count(*) from snaps k join products p using (product_id)
                        where k.snapshot_date > p.discontinued_date""",
        )
        == 0
    )
    recent = manifest["products"]["cold_start_last_3_months"]
    end = manifest["parameters"]["end_date"]
    assert _one(con, f"select count(*) from products where launch_date > date '{end}' - interval 91 day") == recent


def test_cold_start_and_discontinued_present_at_default_size(tmp_path):
    m = datagen.generate(tmp_path, products=200, years=4, end_date=END, seed=42, progress=False)
    p = m["products"]
    assert 10 <= p["cold_start"] <= 35 and p["cold_start_last_3_months"] >= 1
    assert 3 <= p["discontinued"] <= 20
    # stock-outs emerge from the simulated company's ordering (seasonal ramps, erratic months, lumps, late
    # suppliers), so most products run out now and then (the injected episodes hit 15-50 of 200)
    assert 120 <= p["with_stockouts"] <= 200
    assert 0.90 <= m["stock"]["fill_rate"] <= 0.98 and 0.02 <= m["stock"]["stockout_day_share"] <= 0.10
    assert m["defects"]["null_product_id"] >= 100  # a few hundred per default run
    assert 0.004 < m["defects"]["duplicate_lines"] / m["rows"]["sales_lines"] < 0.007
    assert 0.015 < m["defects"]["returns"] / m["rows"]["sales_lines"] < 0.025


# ------------------------------------------------------------------ csv


def test_csv_format_matches_parquet(tmp_path):
    kw = dict(products=25, years=1, end_date=END, seed=5, progress=False)
    datagen.generate(tmp_path / "p", **kw)
    datagen.generate(tmp_path / "c", fmt="csv", **kw)
    assert sorted(p.name for p in (tmp_path / "c" / "raw" / "sales_lines").iterdir()) == ["part-00000.csv"]
    assert (tmp_path / "c" / "raw" / "products" / "products.csv").is_file()
    header = (tmp_path / "c" / "raw" / "sales_lines" / "part-00000.csv").read_text().splitlines()[0]
    assert header.replace('"', "") == "line_id,sale_date,product_id,quantity,unit_price,loaded_at"
    c = duckdb.connect()
    from_csv = c.execute(f"""select line_id, sale_date, product_id, quantity, unit_price,
                                    strptime(loaded_at, '%Y-%m-%dT%H:%M:%S') as loaded_at
                             from read_csv('{tmp_path}/c/raw/sales_lines/*.csv', all_varchar=true)
                             order by all""").fetchall()
    from_pq = c.execute(f"""select line_id, nullif(sale_date, ''), product_id, nullif(quantity, ''),
                                   nullif(unit_price, ''), loaded_at
                            from read_parquet('{tmp_path}/p/raw/sales_lines/*.parquet') order by all""").fetchall()
    assert from_csv == from_pq
    snaps_csv = c.execute(
        f"select count(*), sum(on_hand_qty) from read_csv('{tmp_path}/c/raw/stock_snapshots/*.csv')"
    ).fetchone()
    snaps_pq = c.execute(
        f"select count(*), sum(on_hand_qty) from read_parquet('{tmp_path}/p/raw/stock_snapshots/*.parquet')"
    ).fetchone()
    assert snaps_csv == snaps_pq


# ------------------------------------------------------------------ helpers and CLI


def test_text_helpers():
    assert columns.int_text(np.array([0, 7, -3, 12345])).to_pylist() == ["0", "7", "-3", "12345"]
    assert columns.int_text(np.array([5, 1999, -250, 100]), scale=2).to_pylist() == ["0.05", "19.99", "-2.50", "1.00"]
    assert columns.date_text(np.array([0, 19723])).to_pylist() == ["1970-01-01", "2024-01-01"]
    us = np.array([19723 * columns.US_PER_DAY + (3 * 3600 + 4 * 60 + 5) * 1_000_000])
    assert columns.timestamp_text(us).to_pylist() == ["2024-01-01T03:04:05"]
    assert columns.line_ids(np.array([12]), np.array([345])).to_pylist() == ["L000012000345"]


def test_cli(tmp_path, capsys):
    rc = datagen.main(["--out", str(tmp_path), "--products", "5", "--years", "1", "--end-date", END, "--seed", "1"])
    assert rc == 0
    err = capsys.readouterr().err
    assert "products 5/5" in err and "elapsed" in err
    assert json.loads((tmp_path / "truth" / "manifest.json").read_text())["parameters"]["products"] == 5

"""scripts/bench/bench_prepare.py without dbt: its options, the floor query, the row comparison of two
warehouses and the reading of an EXPLAIN ANALYZE profile (tiny DuckDB files, no project run)."""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts" / "bench"))
import bench_prepare  # noqa: E402


@pytest.fixture
def raw(tmp_path: Path) -> Path:
    """A raw folder whose sales lines are text, as the contract sends them (one malformed quantity)."""
    folder = tmp_path / "raw" / "sales_lines"
    folder.mkdir(parents=True)
    duckdb.sql(
        "copy (select * from (values "
        "('L1', '2026-01-03', 'P1', '2', '1.5'), ('L2', '2026-01-20', 'P1', '3', '1.5'), "
        "('L3', '2026-02-01', 'P1', 'x', '1.5'), ('L4', '2026-01-05', 'P2', '-1', '2.0')"
        ") as t (line_id, sale_date, product_id, quantity, unit_price)) "
        f"to '{folder / 'part-0.parquet'}' (format parquet)"
    )
    return tmp_path / "raw"


def test_options_and_what_a_wrong_one_says(raw: Path, tmp_path: Path, capsys) -> None:
    args = bench_prepare.parse_args(["--raw", str(raw)])
    assert (args.threads, args.memory, args.repeat, args.format) == (2, "4GB", 3, "parquet")
    assert args.explain_models == ["int_sales_lines_validated", "int_daily_sales_cleaned"]
    assert args.work == Path("/tmp/bench") / f"prepare-{raw.resolve().parent.name}"
    for bad, hint in [
        (["--raw", str(tmp_path / "nowhere")], "give --raw the folder the generator wrote"),
        (["--raw", str(raw), "--repeat", "0"], "--threads and --repeat must be 1 or more"),
        (["--raw", str(raw), "--explain-only"], "--explain-only needs --explain FILE"),
        (["--raw", str(raw), "--compare", str(tmp_path / "none.duckdb")], "no such warehouse file"),
    ]:
        with pytest.raises(SystemExit):
            bench_prepare.parse_args(bad)
        assert hint in capsys.readouterr().err, bad


def test_the_floor_groups_the_raw_lines_to_product_months(raw: Path) -> None:
    rows = duckdb.sql(bench_prepare.floor_sql(raw, "parquet") + " order by product_id, month").fetchall()
    # a quantity that is not an integer counts as a line and adds nothing
    assert rows == [("P1", "2026-01", 2, 5), ("P1", "2026-02", 1, None), ("P2", "2026-01", 1, -1)]
    measured, groups, lines = bench_prepare.run_floor(raw, "parquet", threads=1, memory="1GB", repeat=2)
    assert (groups, lines) == (3, 4)
    assert measured.wall_s >= 0 and measured.label == "floor (fastest of 2)"


def test_the_csv_reader_is_the_sources_reader_with_quotes_doubled() -> None:
    reader = bench_prepare.raw_reader(Path("/data/o'brien"), "sales_lines", "csv")
    assert reader == (
        "read_csv('/data/o''brien/sales_lines/*.csv', header = true, all_varchar = true, union_by_name = true)"
    )


def _warehouse(path: Path, rows: str, extra_table: bool = False) -> Path:
    with duckdb.connect(str(path)) as connection:
        connection.execute("create schema intermediate")
        connection.execute(f"create table intermediate.t as select * from (values {rows}) as v (k, amount)")
        connection.execute("create view intermediate.v as select 1 as x")
        if extra_table:
            connection.execute("create table intermediate.extra as select 1 as x")
    return path


def test_comparison_finds_changed_missing_and_extra_rows_but_not_last_bit_noise(tmp_path: Path) -> None:
    old = _warehouse(tmp_path / "old.duckdb", "(1, 0.1 + 0.2), (2, 5.0), (2, 5.0)")
    same = _warehouse(tmp_path / "same.duckdb", "(2, 5.0), (1, 0.3), (2, 5.0)", extra_table=True)
    assert bench_prepare.compare_warehouses(same, old) == [
        ["intermediate.extra", None, None, None, "only in new"],
        ["intermediate.t", 3, 0, 0, "identical"],
    ]
    # one copy of a duplicated row lost, one value changed
    changed = _warehouse(tmp_path / "changed.duckdb", "(1, 0.31), (2, 5.0)")
    assert bench_prepare.compare_warehouses(changed, old) == [["intermediate.t", 2, 1, 2, "DIFFERENT"]]


def test_heaviest_operators_of_a_profile_by_their_own_time() -> None:
    profile = {
        "operator": [
            {
                "name": "PROJECTION",
                "timing": 0.5,
                "intermediate_rows": 10,
                "extra_info": {"Projections": ["a", "b"], "Estimated Cardinality": "9"},
                "children": [
                    {"name": "HASH_GROUP_BY", "timing": 2.0, "intermediate_rows": 3, "extra_info": {"Groups": "#0"}},
                    {"name": "READ_PARQUET", "timing": 0.1, "intermediate_rows": 10},
                ],
            }
        ]
    }
    assert bench_prepare.heaviest_operators(profile, 2) == [
        [2.0, "HASH_GROUP_BY", 3, "Groups: #0"],
        [0.5, "PROJECTION", 10, "Projections: a, b"],
    ]
    assert bench_prepare.explain_statement("select 1;\n") == "explain (analyze, format json) select 1"


def test_ratio_and_node_rows() -> None:
    import pandas as pd

    assert bench_prepare.ratio(30.0, 1.5) == 20.0
    assert bench_prepare.ratio(1.0, 0.0) == float("inf")
    nodes = pd.DataFrame(
        {
            "name": ["a", "b", "t"],
            "resource_type": ["model", "model", "test"],
            "status": ["success"] * 3,
            "seconds": [1.0, 4.0, 9.0],
        }
    )
    assert bench_prepare.node_rows(nodes, 2.0) == [["b", "success", 4.0, 2.0], ["a", "success", 1.0, 0.5]]

"""The step table's rows: seeds from adapter_response, table models counted in the warehouse."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import duckdb
import pytest

from demand_forecast.ops.dbt_rows import built_rows, parquet_rows, relation_parts


def _results(path: Path, results: list[dict]) -> Path:
    path.write_text(json.dumps({"metadata": {}, "args": {"which": "build"}, "results": results}), encoding="utf-8")
    return path


def test_rows_from_the_adapter_and_from_the_tables(tmp_path):
    warehouse = tmp_path / "demand.duckdb"
    with duckdb.connect(str(warehouse)) as connection:
        connection.execute("create schema marts")
        connection.execute("create table marts.fct as select range as id from range(120)")
        connection.execute('create table main."odd ""name""" as select 1 as x union all select 2')
        connection.execute("create view marts.v as select * from marts.fct")
    results = _results(
        tmp_path / "run_results.json",
        [
            {"unique_id": "seed.p.reasons", "status": "success", "adapter_response": {"rows_affected": 9}},
            {"unique_id": "model.p.fct", "status": "success", "adapter_response": {"_message": "OK"},
             "relation_name": '"demand"."marts"."fct"'},
            {"unique_id": "model.p.odd", "status": "success", "adapter_response": {"_message": "OK"},
             "relation_name": '"demand"."main"."odd ""name"""'},
            # a view is not counted (it would re-read its sources), nor a test, nor a failed or skipped model
            {"unique_id": "model.p.v", "status": "success", "relation_name": '"demand"."marts"."v"'},
            {"unique_id": "test.p.not_null_fct_id.abc", "status": "pass", "failures": 0},
            {"unique_id": "model.p.broken", "status": "error", "relation_name": '"demand"."marts"."fct"'},
            {"unique_id": "model.p.later", "status": "skipped", "relation_name": '"demand"."marts"."fct"'},
            {"unique_id": "model.p.gone", "status": "success", "relation_name": '"demand"."marts"."gone"'},
        ],
    )  # fmt: skip
    assert built_rows(results, warehouse) == 9 + 120 + 2


def test_nothing_to_count_and_stale_results(tmp_path):
    warehouse = tmp_path / "none.duckdb"
    assert built_rows(tmp_path / "missing.json", warehouse) is None
    results = _results(tmp_path / "run_results.json", [{"unique_id": "test.p.t.abc", "status": "pass"}])
    assert built_rows(results, warehouse) is None
    results = _results(
        tmp_path / "run_results.json",
        [{"unique_id": "seed.p.s", "status": "success", "adapter_response": {"rows_affected": 4}}],
    )
    assert built_rows(results, warehouse) == 4
    old = time.time() - 3600
    os.utime(results, (old, old))
    assert built_rows(results, warehouse, newer_than=time.time() - 60) is None  # an earlier command's file


def test_relation_names():
    assert relation_parts('"demand"."marts"."fct_forecasts"') == ("marts", "fct_forecasts")
    assert relation_parts("demand.marts.fct") == ("marts", "fct")
    assert relation_parts("") is None


def test_parquet_rows(tmp_path):
    with duckdb.connect() as connection:
        for name, n in (("a", 7), ("b", 5)):
            connection.execute(f"copy (select * from range({n})) to '{tmp_path / name}.parquet' (format parquet)")
    assert parquet_rows(tmp_path) == 12


@pytest.mark.slow
@pytest.mark.dbt
def test_the_batch_step_table_has_rows_and_rows_per_second(replay):
    """Every dbt build step and the export of the shared replay have rows and rows/s, not '-'."""
    metrics = [
        json.loads(line)
        for line in (Path(replay["tmp"]) / "logs" / "run_metrics.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    counted = {m["step_name"]: m for m in metrics if m["step_name"].startswith(("dbt build", "export marts"))}
    assert len(counted) >= 4, sorted(counted)
    for name, m in counted.items():
        assert m["rows"] and m["rows"] > 0, name
        assert m["rows_per_second"] and m["rows_per_second"] > 0, name
    with duckdb.connect(str(replay["pristine_database"]), read_only=True) as connection:
        tables = connection.execute(
            "select table_name from information_schema.tables "
            "where table_schema = 'marts' and table_type = 'BASE TABLE'"
        ).fetchall()
        exported = sum(connection.execute(f'select count(*) from marts."{t}"').fetchone()[0] for (t,) in tables)
    assert counted["export marts"]["rows"] == exported
    # the closing summary's step table shows them: "export marts  ok ... <rows> <rows/s>"
    rows = [line for line in str(replay["output"]).splitlines() if " export marts " in f" {line} " and " ok " in line]
    assert rows and f"{exported:,}" in rows[-1], rows

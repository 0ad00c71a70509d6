"""fct_forecasts_by_group as the batch leaves it (the replay of several as-of months) and its coherence
tests, which must stop a broken table."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from conftest import ROOT

DBT = str(Path(sys.executable).with_name("dbt"))
pytestmark = [pytest.mark.dbt, pytest.mark.slow]


def _rows(database: Path, sql: str):
    with duckdb.connect(str(database), read_only=True) as connection:
        return connection.execute(sql).fetchdf()


def test_every_replayed_month_has_its_own_coherent_rows(replay: dict[str, object]) -> None:
    database = Path(replay["pristine_database"])
    table = _rows(database, "select * from marts.fct_forecasts_by_group order by all")
    assert sorted(table["as_of_month"].unique()) == [pd.Timestamp(m) for m in replay["months"]]
    runs = table.groupby("as_of_month")["run_id"].unique()
    assert runs.map(len).eq(1).all() and runs.map(lambda r: r[0]).nunique() == len(runs)
    # each month keeps the run that built it (a later month's build never rewrote it): the run of the
    # month's product forecasts
    product_runs = _rows(database, "select distinct as_of_month, run_id from marts.fct_forecasts").set_index(
        "as_of_month"
    )["run_id"]
    for month, run in runs.items():
        assert product_runs[month] == run[0]
    assert set(table["level"]) == {"total", "group", "category", "product"}
    assert set(table["horizon"]) == {1, 2, 3}
    products = table[table["level"] == "product"]
    group_sums = products.groupby(["as_of_month", "product_group", "horizon"])["forecast_p50"].sum()
    groups = table[table["level"] == "group"].set_index(["as_of_month", "product_group", "horizon"])["forecast_p50"]
    np.testing.assert_allclose(groups.sort_index().to_numpy(), group_sums.sort_index().to_numpy(), rtol=1e-9)


def test_the_coherence_tests_stop_a_broken_table(replay: dict[str, object]) -> None:
    tmp = Path(replay["tmp"]) / "broken-hierarchy"
    shutil.copytree(Path(replay["tmp"]) / "warehouse", tmp / "warehouse")
    database = tmp / "warehouse" / "demand.duckdb"
    with duckdb.connect(str(database)) as connection:
        connection.execute(
            "update marts.fct_forecasts_by_group set forecast_p50 = forecast_p50 + 100, "
            "forecast_p90 = forecast_p90 + 100 where level = 'group' and horizon = 1"
        )
        connection.execute(
            "update marts.fct_forecasts_by_group set reconciliation_method = 'bottom_up', "
            "forecast_p50 = forecast_p50 + 5, forecast_p90 = forecast_p90 + 5 "
            "where level = 'product' and horizon = 2"
        )
    env = {**replay["env"], "DEMAND_DUCKDB_PATH": str(database)}
    rules = ["hierarchy_is_coherent", "hierarchy_matches_product_forecasts"]
    command = [DBT, "test", "--select", *[f"test_name:{r}" for r in rules], "--target-path", str(tmp / "target")]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)
    assert result.returncode != 0
    run = json.loads((tmp / "target" / "run_results.json").read_text())["results"]
    status = {
        r["unique_id"].split(".")[2].split("_fct_forecasts")[0]: r["status"]
        for r in run
        if r["unique_id"].startswith("test.")  # not the on-run-start/-end hooks
    }
    assert status == {rule: "fail" for rule in rules}

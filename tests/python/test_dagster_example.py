"""The Dagster example (orchestration/dagster/definitions.py): one monthly partition materialised in-process."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from conftest import ROOT, batch_environment

pytest.importorskip(
    "dagster_dbt", reason="the optional Dagster extra is not installed: pip install -e .[dagster] (see Makefile)"
)

DEFINITIONS = ROOT / "orchestration" / "dagster" / "definitions.py"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, DEFINITIONS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def dagster_env(tmp_path, monkeypatch):
    data = tmp_path / "data"
    subprocess.run(
        [sys.executable, "-m", "demand_forecast.cli", "generate", "--out", str(data), "--products", "12"]
        + ["--years", "3", "--seed", "11", "--quiet"],
        check=True,
        capture_output=True,
    )
    env = batch_environment(tmp_path, data)
    for name in ("DEMAND_DUCKDB_PATH", "DEMAND_RAW_DIR", "DEMAND_EXPORT_DIR", "DBT_TARGET_PATH", "DBT_LOG_PATH"):
        monkeypatch.setenv(name, env[name])
    monkeypatch.setenv("DEMAND_DAGSTER_FIRST_MONTH", "2026-01-01")
    (tmp_path / "warehouse").mkdir()
    (tmp_path / "exports").mkdir()
    return tmp_path


def test_definitions_have_monthly_partitions_and_a_schedule(dagster_env):
    module = _load("dagster_definitions_check")
    keys = module.as_of_months.get_partition_keys()
    assert keys[0] == "2026-01-01" and all(key.endswith("-01") for key in keys)
    assert module.as_of_month("2026-09-01") == "2026-09"
    schedule = module.defs.resolve_schedule_def("monthly_forecast_schedule")
    assert schedule.cron_schedule == "0 6 2 * *"
    asset_names = {key.path[-1] for key in module.demand_forecast_dbt.keys}
    assert {"fct_forecasts", "int_monthly_demand", "mart_forecast_wide"} <= asset_names


@pytest.mark.slow
@pytest.mark.dbt
def test_one_partition_materialises_that_as_of_month(dagster_env):
    from dagster import materialize

    module = _load("dagster_definitions_run")
    partition = module.as_of_months.get_partition_keys()[-2]  # a complete month of the generated data
    result = materialize([module.demand_forecast_dbt], partition_key=partition, resources={"dbt": module.dbt_resource})
    assert result.success
    materialised = {event.asset_key.path[-1] for event in result.get_asset_materialization_events()}
    assert {"fct_forecasts", "fct_forecast_accuracy", "mart_forecast_wide"} <= materialised
    with duckdb.connect(str(Path(dagster_env) / "warehouse" / "demand.duckdb"), read_only=True) as connection:
        months = connection.execute(
            "select distinct strftime(as_of_month, '%Y-%m') from marts.fct_forecasts"
        ).fetchall()
        products = connection.execute("select count(distinct product_id) from marts.fct_forecasts").fetchone()[0]
    assert months == [(partition[:7],)]
    assert products > 0

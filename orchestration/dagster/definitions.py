"""The monthly forecast as Dagster assets (dagster-dbt), one partition per as-of month.

An example of running the project from an orchestrator (docs/operations.md, "Schedule"). Install
the optional extra first: ``pip install -e .[dagster] -c requirements/constraints.txt``. Then::

    dagster dev -f orchestration/dagster/definitions.py          # the UI, lineage of every dbt node
    dagster asset materialize -f orchestration/dagster/definitions.py --select '*' --partition 2026-09-01

* Every dbt node of the project (sources, models, seeds, snapshots and their tests) is a Dagster
  asset, read from dbt's manifest (``dbt parse`` writes it when missing).
* One partition is one as-of month: materialising partition ``2026-09-01`` runs
  ``dbt build --vars '{"as_of_month": "2026-09"}'``, what the batch runs for that month.
* The schedule materialises each month's partition once the month is over (on the 2nd at 06:00,
  after the daily sales export of the 1st), as the cron line of docs/operations.md does.

This builds straight into the warehouse ``DEMAND_DUCKDB_PATH`` names, like a plain ``dbt build``;
the write-audit-publish of ``demand-forecast run`` (build on a copy, publish when every test
passed) is not part of it: point Dagster at a warehouse readers do not use, or let the Dagster job
call ``demand-forecast run --as-of <month>`` instead if readers need the batch's guarantees.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

from dagster import (
    AssetExecutionContext,
    Definitions,
    MonthlyPartitionsDefinition,
    build_schedule_from_partitioned_job,
    define_asset_job,
)
from dagster_dbt import DbtCliResource, dbt_assets

PROJECT_DIR = Path(os.environ.get("DEMAND_PROJECT_DIR", Path(__file__).resolve().parents[2]))
PROFILES_DIR = Path(os.environ.get("DBT_PROFILES_DIR", PROJECT_DIR / "profiles"))
TARGET_DIR = Path(os.environ.get("DBT_TARGET_PATH", PROJECT_DIR / "target"))
DBT = str(Path(sys.executable).with_name("dbt"))
#: the first as-of month Dagster offers (earlier months: replay them with the batch)
FIRST_AS_OF_MONTH = os.environ.get("DEMAND_DAGSTER_FIRST_MONTH", "2024-01-01")


def manifest_path() -> Path:
    """dbt's manifest of the project, written by ``dbt parse`` when it is not there yet."""
    manifest = TARGET_DIR / "manifest.json"
    if not manifest.exists():
        subprocess.run(
            [DBT, "parse", "--quiet", "--project-dir", str(PROJECT_DIR), "--profiles-dir", str(PROFILES_DIR)],
            check=True,
            cwd=PROJECT_DIR,
            env={**os.environ, "DBT_TARGET_PATH": str(TARGET_DIR)},
        )
    return manifest


as_of_months = MonthlyPartitionsDefinition(start_date=FIRST_AS_OF_MONTH)


def as_of_month(partition_key: str) -> str:
    """``2026-09-01`` (a partition) -> ``2026-09`` (the project's var ``as_of_month``)."""
    return partition_key[:7]


@dbt_assets(manifest=manifest_path(), partitions_def=as_of_months)
def demand_forecast_dbt(context: AssetExecutionContext, dbt: DbtCliResource):
    """``dbt build`` of the whole project for the partition's as-of month."""
    variables = json.dumps({"as_of_month": as_of_month(context.partition_key)})
    yield from dbt.cli(["build", "--vars", variables], context=context).stream()


monthly_job = define_asset_job("monthly_forecast", selection=[demand_forecast_dbt], partitions_def=as_of_months)

dbt_resource = DbtCliResource(project_dir=str(PROJECT_DIR), profiles_dir=str(PROFILES_DIR), dbt_executable=DBT)

defs = Definitions(
    assets=[demand_forecast_dbt],
    jobs=[monthly_job],
    schedules=[build_schedule_from_partitioned_job(monthly_job, day_of_month=2, hour_of_day=6)],
    resources={"dbt": dbt_resource},
)

"""Shared pytest configuration of tests/python: markers and the one warehouse built with dbt.

``replay`` runs the monthly batch (``demand-forecast generate`` then ``demand-forecast run``, what
``make run`` does) on small generated data once per session; test_e2e_dbt.py and the dashboard
tests both read it. Tests that change a warehouse work on a copy.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

ROOT = Path(__file__).resolve().parents[2]
#: the small dataset of the shared replay: 40 products over 3 years, three as-of months replayed
REPLAY_PRODUCTS, REPLAY_YEARS, REPLAY_SEED, REPLAY_MONTHS = 40, 3, 7, 3


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "browser: opens the dashboard in headless Chromium (scripts/ensure_chromium.sh installs it when missing)",
    )
    config.addinivalue_line(
        "markers",
        "dbt: runs dbt against a DuckDB file built from generated data (slow: minutes, not seconds)",
    )
    config.addinivalue_line(
        "markers",
        "slow: builds a warehouse or starts a browser; left out of `make test-fast`",
    )


def batch_environment(tmp: Path, data: Path) -> dict[str, str]:
    """The environment of a batch or dbt command whose every output stays under ``tmp``."""
    return {
        **os.environ,
        "DBT_PROFILES_DIR": str(ROOT / "profiles"),
        "DBT_PACKAGES_FOLDER": str(ROOT / "dbt_packages"),
        "DEMAND_DUCKDB_PATH": str(tmp / "warehouse" / "demand.duckdb"),
        "DEMAND_RAW_DIR": str(data / "raw"),
        "DEMAND_EXPORT_DIR": str(tmp / "exports"),
        "DEMAND_REPORTS_DIR": str(tmp / "reports"),
        "DEMAND_LOG_DIR": str(tmp / "logs"),
        "DBT_TARGET_PATH": str(tmp / "target"),
        "DBT_LOG_PATH": str(tmp / "dbt-logs"),
        "OMP_NUM_THREADS": "1",
    }


@pytest.fixture(scope="session")
def replay(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """The batch replayed over ``REPLAY_MONTHS`` as-of months on generated data (a few minutes).

    Keys: ``tmp`` (its folder), ``data`` (the raw files), ``env``, ``database`` (the warehouse, which
    some e2e tests rebuild in place), ``pristine_database`` (a copy taken right after the batch that no
    test changes: the dashboard tests read it), ``months``, ``forecasts`` and ``output`` (the batch's).
    """
    tmp = tmp_path_factory.mktemp("e2e")
    data = tmp / "data"
    generate = ["generate", "--out", str(data), "--products", str(REPLAY_PRODUCTS), "--years", str(REPLAY_YEARS)]
    command = [sys.executable, "-m", "demand_forecast.cli", *generate, "--seed", str(REPLAY_SEED), "--quiet"]
    subprocess.run(command, check=True, capture_output=True, text=True)
    env = batch_environment(tmp, data)
    batch = subprocess.run(
        [sys.executable, "-m", "demand_forecast.cli", "run", "--replay-months", str(REPLAY_MONTHS)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=2400,
    )
    (tmp / "batch-output.log").write_text(batch.stdout + batch.stderr)
    assert batch.returncode == 0, f"batch failed:\n{batch.stdout[-4000:]}\n{batch.stderr[-2000:]}"
    database = tmp / "warehouse" / "demand.duckdb"
    pristine = tmp / "pristine" / "demand.duckdb"
    pristine.parent.mkdir()
    shutil.copyfile(database, pristine)
    if database.with_name(database.name + ".wal").exists():
        shutil.copyfile(database.with_name(database.name + ".wal"), pristine.with_name(pristine.name + ".wal"))
    with duckdb.connect(str(database), read_only=True) as connection:
        months = [
            m
            for (m,) in connection.execute("select distinct as_of_month from marts.fct_forecasts order by 1").fetchall()
        ]
        forecasts = connection.execute("select * from marts.fct_forecasts order by all").fetchdf()
    return {
        "tmp": tmp,
        "data": data,
        "env": env,
        "database": database,
        "pristine_database": pristine,
        "months": months,
        "forecasts": forecasts,
        "output": batch.stdout,
    }


@pytest.fixture(scope="session")
def marts_warehouse(replay: dict[str, object]) -> Path:
    """The warehouse exactly as the batch left it (read it; copy it before changing anything)."""
    return Path(replay["pristine_database"])


@pytest.fixture(scope="session")
def built_warehouse(replay: dict[str, object], tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """A private copy of the replayed warehouse, with its own environment, for tests that run dbt,
    MetricFlow or a BI client against a built warehouse (the BI, marts-hygiene, semantic-layer and
    docs-site tests). Keys: ``folder``, ``env``, ``database``, ``output`` (the batch's)."""
    folder = tmp_path_factory.mktemp("built-warehouse")
    database = folder / "warehouse" / "demand.duckdb"
    database.parent.mkdir()
    pristine = Path(replay["pristine_database"])
    shutil.copyfile(pristine, database)
    if pristine.with_name(pristine.name + ".wal").exists():
        shutil.copyfile(pristine.with_name(pristine.name + ".wal"), database.with_name(database.name + ".wal"))
    env = batch_environment(folder, Path(replay["data"]))
    return {"folder": folder, "env": env, "database": database, "output": replay["output"]}

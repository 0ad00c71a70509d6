"""Shared pytest configuration of tests/python (append only; keep it minimal)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest


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


# ------------------------------------------------------------------ a built warehouse, shared
# One small warehouse built by the real batch (two as-of months, so the incremental Python marts
# also run incrementally), shared by the BI, marts-hygiene, semantic-layer and docs-site tests.

_ROOT = Path(__file__).resolve().parents[2]


def dbt_environment(folder: Path, raw: Path) -> dict[str, str]:
    """The environment the batch and dbt need to build into ``folder`` from raw files in ``raw``."""
    return {
        **os.environ,
        "DBT_PROFILES_DIR": str(_ROOT / "profiles"),
        "DBT_PACKAGES_FOLDER": str(_ROOT / "dbt_packages"),
        "DEMAND_DUCKDB_PATH": str(folder / "warehouse" / "demand.duckdb"),
        "DEMAND_RAW_DIR": str(raw),
        "DEMAND_EXPORT_DIR": str(folder / "exports"),
        "DEMAND_REPORTS_DIR": str(folder / "reports"),
        "DEMAND_LOG_DIR": str(folder / "logs"),
        "DBT_TARGET_PATH": str(folder / "target"),
        "DBT_LOG_PATH": str(folder / "dbt-logs"),
        "OMP_NUM_THREADS": "1",
    }


@pytest.fixture(scope="session")
def built_warehouse(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """`demand-forecast run --replay-months 2` on 30 generated products: folder, env and DuckDB path."""
    folder = tmp_path_factory.mktemp("built-warehouse")
    data = folder / "data"
    generate = [sys.executable, "-m", "demand_forecast.cli", "generate", "--out", str(data)]
    subprocess.run(
        [*generate, "--products", "30", "--years", "3", "--seed", "11", "--quiet"],
        check=True,
        capture_output=True,
        text=True,
    )
    env = dbt_environment(folder, data / "raw")
    batch = subprocess.run(
        [sys.executable, "-m", "demand_forecast.cli", "run", "--replay-months", "2", "--skip-reports"],
        cwd=_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=2400,
    )
    (folder / "batch-output.log").write_text(batch.stdout + batch.stderr)
    assert batch.returncode == 0, f"batch failed:\n{batch.stdout[-4000:]}\n{batch.stderr[-2000:]}"
    return {"folder": folder, "env": env, "database": folder / "warehouse" / "demand.duckdb", "output": batch.stdout}

"""The project run into a benchmark folder: data generator, dbt, the project's vars and config.

* :func:`project_env` is the environment the Makefile gives a run (single-threaded numeric
  libraries, no telemetry) with the warehouse, raw data, exports, logs and reports of the run
  redirected to a benchmark folder, so a benchmark never touches the user's warehouse.
* :func:`generate_dataset`, :func:`run_dbt` run the generator and dbt into such a folder
  (:class:`DbtPaths`); :func:`add_dataset_args` and :func:`default_work` are the command-line
  options of a benchmark on generated data.
* :func:`project_vars`, :func:`project_forecast_config` read the project's settings as the dbt models
  see them; :func:`read_frames` queries a finished warehouse.

What the package already owns is imported from it (dbt's run results from
``demand_forecast.ops.dbt_results``, the forecast settings through ``demand_forecast.dbt_bridge``).
``common`` re-exports every name for the scripts' ``import common as bench``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from measure import RunStats, run_measured, tail

REPO_DIR = Path(__file__).resolve().parents[2]
SRC_DIR = REPO_DIR / "src"
BIN_DIR = Path(sys.executable).parent


def ensure_package_importable() -> None:
    """Make ``import demand_forecast`` work without an editable install."""
    if str(SRC_DIR) not in sys.path:
        sys.path.insert(0, str(SRC_DIR))


ensure_package_importable()
from demand_forecast.ops.dbt_results import load_run_results  # noqa: E402


def _pythonpath() -> str:
    """``PYTHONPATH`` of a child process: the package's ``src`` first, then this process's own."""
    return os.pathsep.join(filter(None, [str(SRC_DIR), os.environ.get("PYTHONPATH")]))


# --------------------------------------------------------------------------- generated data


def add_dataset_args(ap: argparse.ArgumentParser, products: int, years: int) -> None:
    """``--products``, ``--years``, ``--seed`` and ``--end-date`` of a benchmark on generated data."""
    ap.add_argument("--products", type=int, default=products)
    ap.add_argument("--years", type=int, default=years)
    ap.add_argument("--seed", type=int, default=42, help="generator seed")
    ap.add_argument("--end-date", default="2026-10-31", help="last day of generated sales")


def default_work(args: argparse.Namespace, kind: str) -> Path:
    """``args.work``, or ``/tmp/bench/<kind>-<products>x<years>-s<seed>`` when not given."""
    if args.work is not None:
        return args.work
    return Path(f"/tmp/bench/{kind}-{args.products}x{args.years}-s{args.seed}")


def generate_dataset(
    out: Path, products: int, years: int, seed: int, end_date: str, workers: int = 0, log: Path | None = None
) -> RunStats:
    """Run ``python -m demand_forecast.synthetic.datagen`` into ``out`` (``out/raw``, ``out/truth``)."""
    env = {**os.environ, "PYTHONPATH": _pythonpath()}
    command = [
        sys.executable,
        "-m",
        "demand_forecast.cli",
        "generate",
        "--out",
        str(out),
        "--products",
        str(products),
        "--years",
        str(years),
        "--seed",
        str(seed),
        "--end-date",
        end_date,
        "--workers",
        str(workers),
        "--quiet",
    ]
    stats = run_measured(command, env=env, cwd=REPO_DIR, output=log)
    if not stats.ok:
        raise SystemExit(f"data generation failed (exit {stats.returncode}); see {log}\n{tail(log) if log else ''}")
    return stats


# --------------------------------------------------------------------------- dbt


class _UnderWork:
    """A fixed file or folder name below a :class:`DbtPaths`' ``work`` folder, read as a path."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, paths: DbtPaths, owner: type | None = None) -> Path:
        return paths.work / self.name


@dataclass(frozen=True)
class DbtPaths:
    """Where one benchmark's dbt writes: all under ``work``."""

    work: Path

    database = _UnderWork("warehouse.duckdb")
    target = _UnderWork("target")
    logs = _UnderWork("dbt-logs")
    exports = _UnderWork("exports")
    output = _UnderWork("dbt-output.log")  # dbt's console output of every run, appended

    def prepare(self, fresh_database: bool = True) -> None:
        """Create the folders (dbt's export post-hook needs the export folder to exist)."""
        for folder in (self.work, self.exports, self.logs):
            folder.mkdir(parents=True, exist_ok=True)
        if fresh_database:
            for suffix in ("", ".wal"):
                Path(f"{self.database}{suffix}").unlink(missing_ok=True)


# As the Makefile: parallelism comes from the worker processes, numeric libraries stay single-threaded.
SINGLE_THREADED = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def single_threaded_env() -> dict[str, str]:
    """This process's environment with the numeric libraries single-threaded."""
    return {**os.environ, **SINGLE_THREADED}


def project_env(
    *,
    database: Path,
    raw_dir: Path,
    exports: Path,
    logs: Path | None = None,
    reports: Path | None = None,
    project_dir: Path = REPO_DIR,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Environment of a dbt build or a batch run whose every output goes to the given folders.

    ``DEMAND_ALERT_*`` variables are dropped: a benchmark never sends the batch's alerts.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEMAND_ALERT_")}
    env.update(SINGLE_THREADED)
    env.update(
        {
            "DEMAND_PROJECT_DIR": str(project_dir),
            "DBT_PROFILES_DIR": str(project_dir / "profiles"),
            "DBT_PACKAGES_FOLDER": str(REPO_DIR / "dbt_packages"),
            "DEMAND_DUCKDB_PATH": str(database),
            "DEMAND_RAW_DIR": str(raw_dir),
            "DEMAND_EXPORT_DIR": str(exports),
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "DO_NOT_TRACK": "1",
            "PYTHONPATH": _pythonpath(),
        }
    )
    if logs is not None:
        env["DEMAND_LOG_DIR"] = str(logs)
    if reports is not None:
        env["DEMAND_REPORTS_DIR"] = str(reports)
    env.update(extra or {})
    return env


def dbt_env(paths: DbtPaths, raw_dir: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """:func:`project_env` for a dbt run writing under ``paths``."""
    return project_env(database=paths.database, raw_dir=raw_dir, exports=paths.exports, extra=extra)


def dbt_command(paths: DbtPaths, *args: str, variables: Mapping[str, object] | None = None) -> list[str]:
    """``dbt <args>`` for the project, with target and log paths under the benchmark's folder."""
    command = [
        str(BIN_DIR / "dbt"),
        *args,
        "--project-dir",
        str(REPO_DIR),
        "--target-path",
        str(paths.target),
        "--log-path",
        str(paths.logs),
    ]
    if variables:
        command += ["--vars", json.dumps(dict(variables))]
    return command


def run_dbt(
    paths: DbtPaths,
    raw_dir: Path,
    *args: str,
    variables: Mapping[str, object] | None = None,
    check: bool = True,
    extra_env: Mapping[str, str] | None = None,
) -> RunStats:
    """Run dbt (output appended to ``paths.output``); on failure name the failing nodes."""
    with paths.output.open("a") as fh:
        fh.write(f"\n===== dbt {' '.join(args)} vars={json.dumps(dict(variables or {}))}\n")
    stats = run_measured(
        dbt_command(paths, *args, variables=variables),
        env=dbt_env(paths, raw_dir, extra_env),
        cwd=REPO_DIR,
        output=paths.output,
    )
    if check and not stats.ok:
        results = load_run_results(paths.target / "run_results.json")
        raise SystemExit(
            f"dbt {' '.join(args)} failed (exit {stats.returncode}); see {paths.output}\n"
            + (results.failure_message(max_nodes=20) if results else "")
            + "\n"
            + tail(paths.output, 20)
        )
    return stats


MONITORING_EXCLUDE = ("--exclude", "tag:monitoring", "package:elementary")


def selection_args(models: Sequence[str], with_tests: bool) -> list[str]:
    """dbt arguments that build ``models`` and everything upstream of them.

    ``dbt run`` by default (a failing data test cannot skip the models a benchmark needs);
    ``with_tests``: ``dbt build`` with the tests whose every parent is selected (cautious indirect
    selection: a test that also reads an unbuilt model would fail), Elementary monitoring left out
    (its source tests need the Elementary tables of a full build).
    """
    select = ["--select", *(f"+{m}" for m in models)]
    if not with_tests:
        return ["run", *select]
    return ["build", *select, *MONITORING_EXCLUDE, "--indirect-selection", "cautious"]


# --------------------------------------------------------------------------- the project's settings and results


def project_vars() -> dict[str, object]:
    """The ``vars`` of dbt_project.yml (their defaults, as a batch without --vars sees them)."""
    import yaml

    return dict(yaml.safe_load((REPO_DIR / "dbt_project.yml").read_text()).get("vars") or {})


def project_forecast_config(n_jobs: int | None = None):
    """The :class:`ForecastConfig` the dbt Python models build from the project's vars.

    Every var named like a ForecastConfig field, as the models' ``forecast_settings`` carry them
    (:func:`demand_forecast.dbt_bridge.forecast_config_from_vars`); ``n_jobs`` overrides the var.
    """
    ensure_package_importable()
    from demand_forecast.dbt_bridge import forecast_config_from_vars

    variables = project_vars()
    if n_jobs is not None:
        variables["n_jobs"] = n_jobs
    return forecast_config_from_vars(variables)


def read_frames(database: Path, queries: Mapping[str, str]) -> dict[str, pd.DataFrame]:
    """Run named queries on a (closed) DuckDB warehouse, read-only."""
    import duckdb

    with duckdb.connect(str(database), read_only=True) as connection:
        return {name: connection.execute(sql).fetchdf() for name, sql in queries.items()}

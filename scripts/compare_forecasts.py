"""Compare the forecasting outputs of two revisions: proof that a refactoring changed no result.

    .venv/bin/python scripts/compare_forecasts.py --base <git rev>            # base vs the working tree
    .venv/bin/python scripts/compare_forecasts.py --base <rev> --head <rev>   # two commits
    .venv/bin/python scripts/compare_forecasts.py --base <rev> --skip-dbt     # package part only (minutes less)

Each revision is exported with ``git archive`` into a temporary folder (the working tree is used as
it is when ``--head`` is not given) and run with its own ``src/`` first on ``PYTHONPATH``, with this
checkout's virtual environment and dbt packages.  Both revisions see exactly the same inputs:

1. **Package**: :func:`demand_forecast.forecasting.pipeline.run_forecasting` on one generated panel
   (written once, read by both), under several configurations that between them take every refit
   plan, ensemble pool, the median ensemble and parallel workers.  Compared: backtest, metrics,
   selection, forecasts and registry (without ``fit_seconds``).
2. **dbt**: the embedded default data (``demand-forecast generate``, the Makefile's sizes) built with
   ``dbt build`` for the last ``--replay-months`` as-of months, so the accuracy marts have rows.
   Compared: every table of the forecasting and mart schemas, without the columns that record when
   or by which run a row was written.

Numbers are equal when they differ by at most ``--tolerance`` (absolute, default 1e-9); everything
else must be equal exactly.  Prints one line per frame and the first differences; exit code 1 when
anything differs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO_DIR = Path(__file__).resolve().parents[1]
PYTHON = Path(sys.executable)
BIN_DIR = PYTHON.parent

#: run_forecasting configurations compared (keyword arguments of ForecastConfig)
CONFIGS: dict[str, dict[str, object]] = {
    "default_2_jobs": {"n_jobs": 2},
    "refit_final_and_gbm_each": {"stat_refit": "final", "gbm_refit": "each", "chunk_size": 40},
    "refit_each_gbm_once_segment_median": {
        "stat_refit": "each",
        "gbm_refit": "once",
        "ensemble_pool": "segment",
        "ensemble_method": "median",
    },
    "product_pool_subset": {
        "ensemble_pool": "product",
        "ensemble_as_candidate": False,
        "models": ["baseline", "seasonal_naive", "tsb", "theta", "cold_start"],
        "interval_min_pool": 10,
    },
}
FRAMES = ("backtest", "metrics", "selection", "forecasts", "registry")

#: columns that record when or by which run a row was written, not what was forecast
VOLATILE_COLUMNS = {"fit_seconds", "run_id", "dbt_invocation_id", "registered_at"}

#: what runs inside each revision: read the panel, run every configuration, write the frames
RUNNER = """
import json, sys
import pandas as pd
from demand_forecast.forecasting.config import ForecastConfig
from demand_forecast.forecasting.pipeline import run_forecasting

inputs, out, configs = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
panel = pd.read_parquet(f"{inputs}/panel.parquet")
profiles = pd.read_parquet(f"{inputs}/profiles.parquet")
as_of = panel["month"].max()
for name, kwargs in configs.items():
    result = run_forecasting(panel, profiles, as_of, ForecastConfig(**kwargs))
    for frame in ("backtest", "metrics", "selection", "forecasts", "registry"):
        getattr(result, frame).to_parquet(f"{out}/{name}__{frame}.parquet")
"""


# --------------------------------------------------------------------------- inputs


def generated_panel(n_products: int = 240, n_months: int = 50, seed: int = 11) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A monthly panel with every case the models route differently, and its profiles."""
    rng = np.random.default_rng(seed)
    months = pd.date_range(end="2025-10-01", periods=n_months, freq="MS")
    kinds = np.array(["smooth", "smooth", "erratic", "intermittent", "lumpy", "new", "short", "smooth"])
    rows, profiles = [], []
    for i in range(n_products):
        kind = kinds[i % len(kinds)]
        level = float(np.exp(rng.normal(3.0, 1.0)))
        shape = 1 + rng.uniform(0, 0.5) * np.sin(2 * np.pi * (months.month.to_numpy() + i % 5) / 12)
        mean = level * shape * np.exp(rng.normal(0, 0.01) * np.arange(n_months))
        if kind == "erratic":
            demand = rng.poisson(mean * rng.gamma(0.8, 1.25, n_months))
        elif kind in ("intermittent", "lumpy"):
            sizes = rng.poisson(mean * (3.0 if kind == "lumpy" else 0.2)) + 1
            demand = (rng.random(n_months) < rng.uniform(0.15, 0.5)) * sizes
        else:
            demand = rng.poisson(mean)
        if i == 7:
            demand = np.full(n_months, 12)  # constant
        first = {"new": n_months - 1 - i % 5, "short": n_months - 8 - i % 9}.get(kind, 0 if i % 4 else i % 20)
        for t in range(first, n_months):
            rows.append(
                {
                    "product_id": f"P{i:04d}",
                    "month": months[t],
                    "product_group": f"G{i % 6}",
                    "category": f"C{i % 11}",
                    "demand": float(demand[t]) * (0.5 if t == first and first > 0 and i % 2 else 1.0),
                    "avg_unit_price": 4.0 + i % 13 + rng.uniform(-0.2, 0.2),
                    "is_partial_month": bool(t == first and first > 0 and i % 2),
                    "exclude_from_training": bool(rng.random() < 0.015),
                }
            )
        gone = months[-1] + pd.DateOffset(months=1, days=9) if i % 37 == 5 else pd.NaT
        profiles.append(
            {
                "product_id": f"P{i:04d}",
                "product_group": f"G{i % 6}",
                "demand_class": "new" if kind in ("new",) else ("smooth" if kind == "short" else kind),
                "discontinued_date": gone,
            }
        )
    return pd.DataFrame(rows), pd.DataFrame(profiles)


# --------------------------------------------------------------------------- revisions


def export_revision(rev: str | None, where: Path) -> Path:
    """Source tree of ``rev`` (the working tree when None)."""
    if rev is None:
        return REPO_DIR
    where.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", rev], cwd=REPO_DIR, capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(where)], input=archive.stdout, check=True)
    return where


def revision_env(tree: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(tree / "src"),
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DO_NOT_TRACK": "1",
    }
    env.update(extra or {})
    return env


def run_step(label: str, command: list[str], cwd: Path, env: dict[str, str], log: Path) -> None:
    started = time.perf_counter()
    with log.open("a") as out:
        out.write(f"\n===== {label}: {' '.join(command)}\n")
        out.flush()
        code = subprocess.call(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
    print(f"  {label}: {time.perf_counter() - started:.0f} s", flush=True)
    if code != 0:
        raise SystemExit(f"{label} failed (exit {code}); see {log}")


def package_outputs(tree: Path, inputs: Path, out: Path, log: Path) -> None:
    out.mkdir(parents=True)
    command = [str(PYTHON), "-c", RUNNER, str(inputs), str(out), json.dumps(CONFIGS)]
    run_step(f"run_forecasting x {len(CONFIGS)} ({tree.name})", command, tree, revision_env(tree), log)


def _dbt_setup(tree: Path, raw_dir: Path, work: Path) -> tuple[Path, dict[str, str], list[str]]:
    """(warehouse file, environment, path options) of a dbt run of ``tree`` writing under ``work``."""
    work.mkdir(parents=True)
    (work / "exports").mkdir()
    database = work / "demand.duckdb"
    if not (tree / "dbt_packages").exists():  # an exported revision uses this checkout's packages
        (tree / "dbt_packages").symlink_to(REPO_DIR / "dbt_packages")
    env = revision_env(
        tree,
        {
            "DBT_PROFILES_DIR": str(tree / "profiles"),
            "DEMAND_DUCKDB_PATH": str(database),
            "DEMAND_RAW_DIR": str(raw_dir),
            "DEMAND_EXPORT_DIR": str(work / "exports"),
        },
    )
    return database, env, ["--target-path", str(work / "target"), "--log-path", str(work / "logs")]


def last_complete_month(tree: Path, raw_dir: Path, work: Path, log: Path) -> dt.date:
    """The last complete month of the data, as ``int_batch_parameters`` of ``tree`` derives it (the batch's rule)."""
    import duckdb

    database, env, paths = _dbt_setup(tree, raw_dir, work)
    command = [str(BIN_DIR / "dbt"), "run", "--select", "+int_batch_parameters", *paths]
    run_step(f"dbt run int_batch_parameters ({tree.name})", command, tree, env, log)
    with duckdb.connect(str(database), read_only=True) as connection:
        (month,) = connection.execute("select last_complete_month from intermediate.int_batch_parameters").fetchone()
    return month


def dbt_outputs(tree: Path, raw_dir: Path, months: list[str], work: Path, log: Path) -> Path:
    """Build the project of ``tree`` for ``months`` into its own DuckDB file; returns the file."""
    database, env, paths = _dbt_setup(tree, raw_dir, work)
    dbt = str(BIN_DIR / "dbt")
    run_step(f"dbt run elementary ({tree.name})", [dbt, "run", "--select", "elementary", *paths], tree, env, log)
    for month in months:
        command = [dbt, "build", "--exclude", "tag:monitoring", "--vars", json.dumps({"as_of_month": month}), *paths]
        run_step(f"dbt build {month} ({tree.name})", command, tree, env, log)
    return database


def warehouse_tables(database: Path) -> dict[str, pd.DataFrame]:
    """Every table of the forecasting and mart schemas, by ``schema.table``."""
    import duckdb

    with duckdb.connect(str(database), read_only=True) as connection:
        names = connection.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_type = 'BASE TABLE' and (table_schema like '%marts' "
            "or (table_schema like '%intermediate' and table_name like 'int_forecast%'))"
        ).fetchall()
        return {f"{s}.{t}": connection.execute(f'select * from "{s}"."{t}"').fetchdf() for s, t in sorted(names)}


# --------------------------------------------------------------------------- comparison


#: columns that identify a row, sorted on first so that rows line up even when other text differs
KEY_COLUMNS = ("as_of_month", "product_id", "model_name", "cutoff_month", "forecast_month", "horizon")


def _canonical(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.drop(columns=[c for c in frame.columns if c in VOLATILE_COLUMNS])
    keys = [c for c in KEY_COLUMNS if c in frame.columns]
    keys += [c for c in frame.columns if c not in keys and not pd.api.types.is_float_dtype(frame[c])]
    order = frame[keys].astype(str) if keys else frame.astype(str)
    return frame.loc[order.sort_values(list(order.columns), kind="stable").index].reset_index(drop=True)


def compare_frames(base: pd.DataFrame, head: pd.DataFrame, tolerance: float) -> list[str]:
    """Differences between two frames (empty when equal within ``tolerance``).

    The same columns in another order are compared column by column (a table's order is
    checked by the dbt part, where it matters; :func:`report` notes it).
    """
    if set(base.columns) != set(head.columns):
        return [f"columns differ: {list(base.columns)} vs {list(head.columns)}"]
    head = head[list(base.columns)]
    if len(base) != len(head):
        return [f"row counts differ: {len(base)} vs {len(head)}"]
    a, b = _canonical(base), _canonical(head)
    problems = []
    for column in a.columns:
        x, y = a[column], b[column]
        if pd.api.types.is_float_dtype(x) and pd.api.types.is_float_dtype(y):
            xv, yv = x.to_numpy(np.float64), y.to_numpy(np.float64)
            same_nan = np.isnan(xv) == np.isnan(yv)
            gap = np.abs(np.where(np.isnan(xv) | np.isnan(yv), 0.0, xv - yv))
            if not same_nan.all() or gap.max(initial=0.0) > tolerance:
                problems.append(
                    f"{column}: max |difference| {gap.max(initial=0.0):.3g}, "
                    f"{int((~same_nan).sum())} null mismatches, first row {int(np.argmax(gap > tolerance))}"
                )
        else:
            unequal = ~((x == y) | (x.isna() & y.isna()))
            if unequal.any():
                row = int(np.argmax(unequal.to_numpy()))
                problems.append(f"{column}: {int(unequal.sum())} rows differ, e.g. {x.iloc[row]!r} vs {y.iloc[row]!r}")
    return problems


def report(name: str, base: pd.DataFrame | None, head: pd.DataFrame | None, tolerance: float) -> bool:
    if base is None or head is None:
        print(f"DIFF  {name}: only in {'head' if base is None else 'base'}")
        return False
    problems = compare_frames(base, head, tolerance)
    print(f"{'same' if not problems else 'DIFF'}  {name} ({len(base)} rows)")
    if list(base.columns) != list(head.columns) and set(base.columns) == set(head.columns):
        print(f"        note: columns in another order: {list(head.columns)}")
    for line in problems:
        print(f"        {line[:400]}")
    return not problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", required=True, help="git revision to compare against")
    parser.add_argument("--head", default=None, help="git revision to compare (default: the working tree)")
    parser.add_argument("--tolerance", type=float, default=1e-9)
    parser.add_argument("--skip-dbt", action="store_true", help="compare the package outputs only")
    parser.add_argument("--replay-months", type=int, default=2, help="as-of months built by dbt (default 2)")
    parser.add_argument("--products", type=int, default=200, help="embedded default data size (Makefile)")
    parser.add_argument("--years", type=int, default=4)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--work-dir", type=Path, default=None, help="keep everything here (default: a temp dir)")
    args = parser.parse_args(argv)

    work = args.work_dir or Path(tempfile.mkdtemp(prefix="compare-forecasts-"))
    work.mkdir(parents=True, exist_ok=True)
    log = work / "compare.log"
    print(f"work folder {work} (log: {log})", flush=True)
    trees = {
        "base": export_revision(args.base, work / "tree-base"),
        "head": export_revision(args.head, work / "tree-head"),
    }

    inputs = work / "inputs"
    inputs.mkdir()
    panel, profiles = generated_panel()
    panel.to_parquet(inputs / "panel.parquet")
    profiles.to_parquet(inputs / "profiles.parquet")
    for side, tree in trees.items():
        package_outputs(tree, inputs, work / f"package-{side}", log)
    same = True
    print("\nrun_forecasting on a generated panel")
    for config in CONFIGS:
        for frame in FRAMES:
            base, head = (pd.read_parquet(work / f"package-{s}" / f"{config}__{frame}.parquet") for s in trees)
            same &= report(f"{config}: {frame}", base, head, args.tolerance)

    if not args.skip_dbt:
        data = work / "data"
        generate = [str(BIN_DIR / "demand-forecast"), "generate", "--out", str(data)]
        generate += ["--products", str(args.products), "--years", str(args.years), "--seed", str(args.seed)]
        run_step("generate the default data", generate, REPO_DIR, revision_env(REPO_DIR), log)
        sys.path.insert(0, str(REPO_DIR / "src"))
        from demand_forecast.months import add_months

        last = last_complete_month(trees["head"], data / "raw", work / "plan", log)
        months = [add_months(last, -k).strftime("%Y-%m") for k in range(args.replay_months - 1, -1, -1)]
        tables = {}
        for side, tree in trees.items():
            tables[side] = warehouse_tables(dbt_outputs(tree, data / "raw", months, work / f"dbt-{side}", log))
        print(f"\ndbt build of the embedded default data, as-of months {', '.join(months)}")
        for name in sorted(set(tables["base"]) | set(tables["head"])):
            same &= report(name, tables["base"].get(name), tables["head"].get(name), args.tolerance)

    print("\nno difference" if same else "\nDIFFERENCES FOUND (see above)")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""Scale benchmark of the forecasting stage: products x executors, throughput per core, peak memory.

For each ``--products`` value and each ``--executors`` value, runs
:func:`demand_forecast.forecasting.pipeline.run_forecasting` once on ``bench_forecast.make_panel``'s
synthetic panel with the project's forecast settings (``dbt_project.yml`` vars) and
``forecast_executor`` set: ``local`` with ``n_jobs = --cores`` worker processes, ``spark`` with
``spark_master = "local[<cores>]"`` (a Spark session started and stopped inside the case). LightGBM
gets ``--cores`` threads in both (``n_jobs`` is its default).

Each case runs as a child process of its own (``run_measured``), so no Spark session or process
pool leaks from one case to the next, and the whole process tree is measured: the driver, the
local worker pool or Spark's JVM and Python workers (their CPU polled from ``/proc``, as the JVM
does not always wait for its Python workers). ``--max-minutes`` stops a case (its whole process
group, through ``timeout``) and reports it as timed out.

    .venv/bin/python scripts/bench/bench_scale.py --products 300 --executors local,spark
    .venv/bin/python scripts/bench/bench_scale.py                      # 30,000 and 100,000 products

``--python`` names the interpreter of the cases (default: this one; ``spark`` needs the ``[spark]``
extra in it, ``make spark``); the checkout's ``src`` comes first on its PYTHONPATH.
One row per case, then a markdown table; the columns are explained in ``docs/scale.md``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common as bench

EXECUTORS = ("local", "spark")
TIMED_OUT = 124  # exit status of coreutils ``timeout`` when the limit was reached
HEADERS = [
    "products",
    "executor",
    "status",
    "wall s",
    "case wall s",
    "CPU-s",
    "cores busy",
    "load avg",
    "series/s",
    "series/s per core",
    "series per core-hour",
    "driver peak MB",
    "largest process MB",
    "tree peak MB",
]


def _positive_ints(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give product counts as integers separated by commas") from None
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"{text!r}: give one or more positive product counts, e.g. 30000,100000")
    return values


def _executors(text: str) -> list[str]:
    values = [part.strip() for part in text.split(",") if part.strip()]
    unknown = sorted(set(values) - set(EXECUTORS))
    if not values or unknown:
        raise argparse.ArgumentTypeError(
            f"{text!r}: unknown executor(s) {unknown}; choose from {','.join(EXECUTORS)} separated by commas"
        )
    return values


def _positive(kind: type):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"{text!r} must be greater than 0")
        return value

    return parse


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--products", type=_positive_ints, default=[30000, 100000], help="comma-separated counts")
    ap.add_argument("--executors", type=_executors, default=list(EXECUTORS), help="local,spark or one of them")
    ap.add_argument("--cores", type=_positive(int), default=2, help="n_jobs of local, N of local[N] for spark")
    ap.add_argument("--months", type=_positive(int), default=60)
    ap.add_argument("--data-seed", type=int, default=7)
    ap.add_argument("--max-minutes", type=_positive(float), default=None, help="stop a case after this long")
    ap.add_argument("--python", type=Path, default=Path(sys.executable), help="interpreter of the cases")
    ap.add_argument("--work", type=Path, default=Path("/tmp/bench/scale"), help="case logs and results")
    # internal: run one case in this process and write its figures to --result
    ap.add_argument("--case", choices=EXECUTORS, help=argparse.SUPPRESS)
    ap.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.case and (len(args.products) != 1 or args.result is None):
        ap.error("--case needs a single --products value and --result")
    return args


def case_config(base, executor: str, cores: int):
    """``base`` (a ForecastConfig) with the executor of the case and ``cores`` as its parallelism."""
    spark_master = f"local[{cores}]" if executor == "spark" else ""
    return dataclasses.replace(
        base, forecast_executor=executor, spark_master=spark_master, spark_remote="", n_jobs=cores
    )


@dataclass
class Throughput:
    """Series per second overall, per core and per core-hour (cores = the cores the case was given)."""

    per_s: float
    per_s_per_core: float
    per_core_hour: float
    cores_busy: float  # CPU-seconds per wall second


def throughput(series: int, wall_s: float, cpu_s: float, cores: int) -> Throughput:
    if wall_s <= 0 or cores < 1:
        raise ValueError("wall seconds must be positive and cores at least 1")
    per_s = series / wall_s
    return Throughput(per_s, per_s / cores, per_s / cores * 3600, cpu_s / wall_s)


def status_text(returncode: int, max_minutes: float | None) -> str:
    if returncode == 0:
        return "ok"
    if returncode == TIMED_OUT and max_minutes is not None:
        return f"timed out ({max_minutes:g} min)"
    return f"failed (exit {returncode})"


def table_row(products: int, executor: str, cores: int, stats: bench.RunStats, result: dict | None, status: str):
    """One row of :data:`HEADERS` from the parent's measurement of the case and the case's own figures.

    ``wall s`` is the forecasting stage (``run_forecasting``), ``case wall s`` the whole child process;
    ``CPU-s`` is the process tree's CPU (``RunStats.tree_cpu_s``) less what the child spent before the
    stage (imports, panel).
    Memory: the driver (the Python process of ``run_forecasting``), the largest single process of the
    tree (for spark usually the JVM) and the polled sum over the tree.
    The stage figures exist only for a case that finished.
    """
    samples = stats.load_samples
    load = sum(samples) / len(samples) if samples else None
    memory = [stats.max_process_mb, stats.peak_tree_mb]
    if result is None:
        return [products, executor, status, None, stats.wall_s, None, None, load, None, None, None, None, *memory]
    cpu_s = stats.tree_cpu_s - result["setup_cpu_s"]
    t = throughput(result["series"], result["stage_s"], cpu_s, cores)
    return [
        products,
        executor,
        status,
        result["stage_s"],
        stats.wall_s,
        cpu_s,
        t.cores_busy,
        load,
        t.per_s,
        t.per_s_per_core,
        t.per_core_hour,
        result["driver_peak_mb"],
        *memory,
    ]


def _cpu_here() -> float:
    """CPU seconds of this process and of the children it has waited for."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _wait_for_the_jvm() -> None:
    """End the JVM PySpark started here and wait for it, so that its CPU (and that of the Python workers
    it reaped) counts in this process's children and so in the tree measurement of the parent.

    The JVM outlives ``SparkSession.stop()`` (PySpark keeps it for a next session) and leaves when
    its stdin closes; unwaited, its CPU-seconds would be lost to the measurement.
    """
    from pyspark import SparkContext

    gateway = SparkContext._gateway
    proc = getattr(gateway, "proc", None)
    if proc is None:
        return
    gateway.shutdown()
    proc.stdin.close()
    proc.wait(timeout=300)


def run_case(args: argparse.Namespace) -> int:
    """The child side: one ``run_forecasting`` and its figures as JSON in ``args.result``."""
    import bench_forecast

    from demand_forecast.forecasting.pipeline import run_forecasting

    n_products = args.products[0]
    panel, profiles, as_of = bench_forecast.make_panel(n_products, args.months, seed=args.data_seed)
    config = case_config(bench.project_forecast_config(), args.case, args.cores)
    setup_cpu = _cpu_here()  # imports and the synthetic panel: not the forecasting stage
    t0 = time.perf_counter()
    result = run_forecasting(panel, profiles, as_of, config)
    seconds = time.perf_counter() - t0
    driver_cpu = _cpu_here()
    me = resource.getrusage(resource.RUSAGE_SELF)
    if args.case == "spark":
        _wait_for_the_jvm()
    figures = {
        "series": int(profiles["product_id"].nunique()),
        "rows": len(panel),
        "forecast_rows": len(result.forecasts),
        "stage_s": seconds,
        "setup_cpu_s": setup_cpu,
        "driver_cpu_s": driver_cpu - setup_cpu,
        "driver_peak_mb": me.ru_maxrss / 1024,  # kilobytes on Linux
        "stages": {k: float(v) for k, v in result.timings.items()},
    }
    args.result.write_text(json.dumps(figures, indent=1))
    return 0


def case_command(args: argparse.Namespace, products: int, executor: str, result: Path) -> list[str]:
    command = [
        str(args.python),
        str(Path(__file__).resolve()),
        "--case",
        executor,
        "--products",
        str(products),
        "--cores",
        str(args.cores),
        "--months",
        str(args.months),
        "--data-seed",
        str(args.data_seed),
        "--result",
        str(result),
    ]
    if args.max_minutes is not None:
        # timeout runs the case in a process group of its own and signals the whole group
        command = ["timeout", "--kill-after=30", f"{args.max_minutes * 60:.0f}", *command]
    return command


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.case:
        return run_case(args)
    args.work.mkdir(parents=True, exist_ok=True)
    env = bench.single_threaded_env()
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(bench.SRC_DIR), env.get("PYTHONPATH", "")]))
    print(f"cores={args.cores} months={args.months} python={args.python}; load now {bench.load_text()}", flush=True)
    rows = []
    for products in args.products:
        for executor in args.executors:
            stem = args.work / f"{products}-{executor}-{args.cores}"
            result_path, log = stem.with_suffix(".json"), stem.with_suffix(".log")
            result_path.unlink(missing_ok=True)
            log.unlink(missing_ok=True)
            stats = bench.run_measured(case_command(args, products, executor, result_path), env=env, output=log)
            status = status_text(stats.returncode, args.max_minutes)
            result = json.loads(result_path.read_text()) if stats.ok and result_path.exists() else None
            rows.append(table_row(products, executor, args.cores, stats, result, status))
            print(bench.stats_line(f"{products} products, {executor}: {status}", stats), flush=True)
            print(
                f"  process tree CPU-s {stats.tree_cpu_s:.1f} (waited for {stats.cpu_s:.1f}, "
                f"polled {stats.polled_cpu_s:.1f})",
                flush=True,
            )
            if result is None:
                print(f"  log {log}:\n{bench.tail(log, 15)}", flush=True)
            else:
                print(
                    f"  forecasting stage {result['stage_s']:.1f} s; driver {result['driver_peak_mb']:,.0f} MB peak, "
                    f"{result['driver_cpu_s']:.1f} CPU-s in the stage (with the local workers it reaped)",
                    flush=True,
                )
    bench.section(f"Forecasting stage at scale ({args.cores} cores)")
    print(bench.markdown_table(HEADERS, rows, digits=1))
    return 0 if all(row[2] == "ok" for row in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())

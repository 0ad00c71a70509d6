"""Memory and time of one global LightGBM fit as a function of its training rows.

For each ``--rows`` value, a child process (``run_measured``) builds ``bench_forecast.make_panel``'s
synthetic panel with enough products to give about that many training rows at the final origin
(the rows per product come from a small pilot panel), then builds the real training frame
(:meth:`LightGBMForecaster.training_set`) and fits one booster with the project's forecast settings
(``dbt_project.yml`` vars) and ``--threads`` LightGBM threads.  The child resets its peak resident
memory (``/proc/self/clear_refs``) once the panel is built and the pandas frames are freed, so
the figures are those of the fit alone:

* ``features MB``: peak growth while the training frame is built (per-origin blocks, then stacked);
* ``fit MB``: peak growth over the whole fit (frame + LightGBM's binned dataset + trees);
* ``bytes/row``: ``fit MB`` per training row, the figure ``docs/scale.md`` extrapolates with;
* wall and CPU seconds of the features and of the LightGBM fit.

It ends with the rows (and products at ``--months`` months) that fit in ``--budget-gib`` of memory
at the largest case's bytes per row, assuming the cost per row stays constant (it is dominated by
arrays proportional to the rows).

``--accuracy-products N`` instead runs the forecasting pipeline (LightGBM alone) on a synthetic panel
of ``N`` products once per ``--partitions`` value ``k``, with ``gbm_max_training_rows`` set to
``ceil(rows / k)`` of the final fit's training rows (1 = the one global model), and prints the
LightGBM backtest's WAPE and mean MASE per horizon (``bench_forecast.accuracy_table``) and the
partitions of the final fit: what splitting costs in accuracy.

    .venv/bin/python scripts/bench/bench_gbm_memory.py                       # 100k,300k,1M,3M rows
    .venv/bin/python scripts/bench/bench_gbm_memory.py --rows 50k,200k --budget-gib 16
    .venv/bin/python scripts/bench/bench_gbm_memory.py --accuracy-products 3000 --partitions 1,2,4,8
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import json
import math
import os
import resource
import sys
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common as bench
from bench_scale import _positive

HEADERS = [
    "target rows",
    "products",
    "training rows",
    "features s",
    "fit s",
    "fit CPU-s",
    "features MB",
    "fit MB",
    "bytes/row",
    "process peak MB",
]
SUFFIXES = {"k": 10**3, "m": 10**6}
GIB = 1024**3


def _row_count(text: str) -> int:
    text = text.strip().lower()
    scale = SUFFIXES.get(text[-1:], 1)
    number = text[:-1] if scale > 1 else text
    try:
        value = float(number) * scale
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give row counts such as 100000, 300k or 1.5M") from None
    if value < 1 or value != int(value):
        raise argparse.ArgumentTypeError(f"{text!r}: a row count must be a positive whole number")
    return int(value)


def _row_counts(text: str) -> list[int]:
    values = [_row_count(part) for part in text.split(",") if part.strip()]
    if not values:
        raise argparse.ArgumentTypeError("give one or more row counts separated by commas, e.g. 100k,300k,1M")
    return values


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=_row_counts, default=[100_000, 300_000, 1_000_000, 3_000_000])
    ap.add_argument("--months", type=_positive(int), default=60, help="months of the synthetic panel")
    ap.add_argument("--threads", type=_positive(int), default=1, help="LightGBM num_threads")
    ap.add_argument("--budget-gib", type=_positive(float), default=24.0, help="memory of the driver to extrapolate to")
    ap.add_argument("--pilot-products", type=_positive(int), default=2000)
    ap.add_argument("--data-seed", type=int, default=7)
    ap.add_argument("--work", type=Path, default=Path("/tmp/bench/gbm_memory"), help="case logs and results")
    ap.add_argument("--accuracy-products", type=_positive(int), help="measure accuracy by partitions instead")
    ap.add_argument("--partitions", type=_row_counts, default=[1, 2, 4, 8], help="with --accuracy-products")
    # internal: one case in this process, figures to --result
    ap.add_argument("--case-products", type=_positive(int), help=argparse.SUPPRESS)
    ap.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.case_products and args.result is None:
        ap.error("--case-products needs --result")
    return args


def products_for(rows: int, rows_per_product: float) -> int:
    """Products whose training rows add up to about ``rows``."""
    if rows_per_product <= 0:
        raise ValueError("the pilot panel gave no training rows")
    return max(1, math.ceil(rows / rows_per_product))


def bytes_per_row(grown_mb: float, rows: int) -> float:
    return grown_mb * 1024**2 / rows if rows else float("nan")


def rows_within(budget_gib: float, per_row: float, baseline_mb: float = 0.0) -> int:
    """Training rows that fit in ``budget_gib`` when ``baseline_mb`` is taken already."""
    free = budget_gib * GIB - baseline_mb * 1024**2
    return max(0, int(free // per_row)) if per_row > 0 else 0


def _model(months: int, threads: int):
    from demand_forecast.forecasting.models.global_model import LightGBMForecaster

    config = bench.project_forecast_config(n_jobs=1).replace(gbm_num_threads=threads)
    return LightGBMForecaster.from_config(config)


def _arrays(products: int, months: int, seed: int):
    import bench_forecast

    from demand_forecast.forecasting.features import build_panel_arrays

    panel, profiles, as_of = bench_forecast.make_panel(products, months, seed=seed)
    return build_panel_arrays(panel, as_of, profiles)


def pilot_rows_per_product(args: argparse.Namespace) -> float:
    arrays = _arrays(args.pilot_products, args.months, args.data_seed)
    model = _model(args.months, args.threads)
    return float(model.training_rows_per_series(arrays, arrays.n_months - 1).mean())


def _rss_mb(field: str) -> float:
    """``VmRSS`` or ``VmHWM`` (peak since the last reset) of this process in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def _reset_peak() -> None:
    gc.collect()
    with contextlib.suppress(OSError):  # give freed pandas memory back, so it is not reused unseen
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS (Linux >= 4.0)


def _cpu() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    return me.ru_utime + me.ru_stime


def run_case(args: argparse.Namespace) -> int:
    """Child side: build the training frame and fit once; figures as JSON in ``args.result``."""
    from demand_forecast.forecasting.models.global_model import import_lightgbm

    arrays = _arrays(args.case_products, args.months, args.data_seed)
    model = _model(args.months, args.threads)
    origin = arrays.n_months - 1
    import_lightgbm()  # the library's own memory is not the fit's
    _reset_peak()
    base_mb = _rss_mb("VmRSS")
    t0, c0 = time.perf_counter(), _cpu()
    X, target, weight = model.training_set(arrays, origin)
    t1, c1 = time.perf_counter(), _cpu()
    features_peak = _rss_mb("VmHWM")
    booster = model._fit_booster(X, target, weight)
    t2, c2 = time.perf_counter(), _cpu()
    figures = {
        "products": arrays.n_series,
        "training_rows": len(target),
        "fitted": booster is not None,
        "baseline_mb": base_mb,
        "features_s": t1 - t0,
        "features_cpu_s": c1 - c0,
        "fit_s": t2 - t1,
        "fit_cpu_s": c2 - c1,
        "features_mb": features_peak - base_mb,
        "fit_mb": _rss_mb("VmHWM") - base_mb,
    }
    args.result.write_text(json.dumps(figures, indent=1))
    return 0


def case_command(args: argparse.Namespace, products: int, result: Path) -> list[str]:
    return [
        sys.executable,
        str(Path(__file__).resolve()),
        "--case-products",
        str(products),
        "--months",
        str(args.months),
        "--threads",
        str(args.threads),
        "--data-seed",
        str(args.data_seed),
        "--result",
        str(result),
    ]


def table_row(target: int, result: dict, stats: bench.RunStats) -> list:
    return [
        target,
        result["products"],
        result["training_rows"],
        result["features_s"],
        result["fit_s"],
        result["fit_cpu_s"],
        result["features_mb"],
        result["fit_mb"],
        bytes_per_row(result["fit_mb"], result["training_rows"]),
        stats.max_process_mb,
    ]


def limit_for(total_rows: int, partitions: int) -> int:
    """``gbm_max_training_rows`` that splits ``total_rows`` into about ``partitions`` partitions."""
    return max(1, math.ceil(total_rows / partitions))


def accuracy_by_partitions(args: argparse.Namespace) -> int:
    """LightGBM's backtest accuracy with one global model and with partitions (see the module docstring)."""
    import bench_forecast

    from demand_forecast.forecasting.pipeline import run_forecasting

    panel, profiles, as_of = bench_forecast.make_panel(args.accuracy_products, args.months, seed=args.data_seed)
    arrays = _arrays(args.accuracy_products, args.months, args.data_seed)
    total = int(_model(args.months, args.threads).training_rows_per_series(arrays, arrays.n_months - 1).sum())
    base = bench.project_forecast_config(n_jobs=1).replace(gbm_num_threads=args.threads, models=("lightgbm",))
    rows = []
    for k in args.partitions:
        config = base.replace(gbm_max_training_rows=limit_for(total, k))
        with bench.Measured(f"{k} partition(s)") as measured:
            result = run_forecasting(panel, profiles, as_of, config)
        print(measured.line(), flush=True)
        table = bench_forecast.accuracy_table(result).loc["lightgbm"]
        params = json.loads(result.registry.set_index("model_name").loc["lightgbm", "params_json"])
        rows.append(
            [k, config.gbm_max_training_rows, len(params["partitions"]) or 1]
            + [table[("WAPE", h)] for h in range(1, base.horizon + 1)]
            + [table[("MASE(mean)", h)] for h in range(1, base.horizon + 1)]
            + [measured.wall_s, measured.cpu_s]
        )
    horizons = range(1, base.horizon + 1)
    headers = ["asked", "gbm_max_training_rows", "partitions (final fit)"]
    headers += [f"WAPE h{h}" for h in horizons] + [f"MASE h{h}" for h in horizons] + ["wall s", "CPU-s"]
    bench.section(
        f"LightGBM backtest by partitions ({args.accuracy_products:,} products, {total:,} rows at the final fit)"
    )
    print(bench.markdown_table(headers, rows, digits=3))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.case_products:
        return run_case(args)
    if args.accuracy_products:
        return accuracy_by_partitions(args)
    args.work.mkdir(parents=True, exist_ok=True)
    env = bench.single_threaded_env()
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(bench.SRC_DIR), env.get("PYTHONPATH", "")]))
    per_product = pilot_rows_per_product(args)
    print(
        f"months={args.months} threads={args.threads}; {per_product:.1f} training rows per product at the final "
        f"origin (pilot of {args.pilot_products} products); load now {bench.load_text()}",
        flush=True,
    )
    rows, results = [], []
    for target in args.rows:
        products = products_for(target, per_product)
        result_path, log = args.work / f"{target}.json", args.work / f"{target}.log"
        result_path.unlink(missing_ok=True)
        log.unlink(missing_ok=True)
        stats = bench.run_measured(case_command(args, products, result_path), env=env, output=log)
        print(bench.stats_line(f"{target:,} rows ({products:,} products)", stats), flush=True)
        if not stats.ok or not result_path.exists():
            print(f"  failed; log {log}:\n{bench.tail(log, 15)}", flush=True)
            continue
        result = json.loads(result_path.read_text())
        results.append(result)
        rows.append(table_row(target, result, stats))
    bench.section(f"One LightGBM fit ({args.threads} thread(s), {args.months} months)")
    print(bench.markdown_table(HEADERS, rows, digits=1))
    if results:
        largest = max(results, key=lambda r: r["training_rows"])
        per_row = bytes_per_row(largest["fit_mb"], largest["training_rows"])
        fit = rows_within(args.budget_gib, per_row, largest["baseline_mb"])
        seconds_per_row = largest["fit_cpu_s"] / largest["training_rows"]
        print(
            f"\nAt {per_row:,.0f} bytes per training row (the largest case), {args.budget_gib:g} GiB hold about "
            f"{fit:,} training rows = {fit / per_product:,.0f} products at {args.months} months "
            f"({per_product:.1f} rows each); the fit would take about {fit * seconds_per_row / 3600:,.1f} CPU-hours "
            "if its CPU time stays proportional to the rows."
        )
    return 0 if len(results) == len(args.rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())

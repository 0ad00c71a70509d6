"""What better forecasts save in stock: the ordering policy replayed with the selected forecast and the WMA baseline.

    .venv/bin/python scripts/simulate_inventory.py                       # 200 products x 4 years, seed 42
    .venv/bin/python scripts/simulate_inventory.py --seed 7 --review-months 24 --panel-mode truncate

What it does
------------
1. Generates the dataset (``demand_forecast.synthetic.datagen``, fixed ``--end-date`` 2026-10-31 so the run is
   reproducible) into ``<work>/data``; ``<work>`` defaults to ``/tmp/bench/inventory-...``.
2. Builds the monthly panel with dbt for the last complete month T (the actual demand, and the ordering rules
   in force) and, for every review month A = T-L-N+1 .. T-L (N = ``--review-months``, L = the lead time), the
   panel as the batch saw it then (``--panel-mode replay``: one dbt run per month, as ``bench_accuracy.py``
   does; ``truncate`` cuts the T panel instead, faster but cleaned with later data).
3. At every A it runs the forecasting pipeline (``run_forecasting``, the project's config) and makes the purchase
   plan of both policies exactly as ``fct_purchase_plans`` does (``purchase_plans``: safety stock from the
   backtest residuals of cumulative demand known at A), for the target service level and for a sweep of
   service levels.
4. Replays the plans against the demand that came (``demand_forecast.purchasing.simulation``: lost sales, the
   products' pack sizes and minimum orders, each product starting with the stock it needs until its first
   order arrives) and prints per demand class: fill rate, stock-out months, average inventory in units and
   value, inventory turns; the selected forecast against the baseline at the target service level; and, from
   the sweep, the average inventory each policy needs to reach the target fill rate (interpolated).

The acceptance test of issue 14: per demand class, the selected forecast reaches the target fill rate with at
least 15 % less average inventory than the baseline, or the same inventory with fewer stock-out months.
Forecasts are cached per review month in ``<work>/runs`` (``--reuse`` reads them back).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent / "bench"))
import bench_accuracy
import common as bench
import nested

bench.ensure_package_importable()
from demand_forecast.months import add_months  # noqa: E402
from demand_forecast.purchasing.safety_stock import purchase_plans  # noqa: E402
from demand_forecast.purchasing.settings import PurchasingSettings  # noqa: E402
from demand_forecast.purchasing.simulation import simulate, summarise  # noqa: E402

TARGET_REDUCTION = 0.15
# wide enough that every class's fill-rate curve brackets the target (slow movers reach 95 % fill early)
SWEEP = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.925, 0.95, 0.97, 0.98, 0.99)
RULES_SQL = "select * from intermediate.int_ordering_rules"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    bench.add_dataset_args(ap, products=200, years=4)
    ap.add_argument("--review-months", type=int, default=18, help="months in which orders are placed (N)")
    ap.add_argument("--service-level", type=float, default=0.95, help="target service level and fill rate")
    ap.add_argument("--panel-mode", choices=["replay", "truncate"], default="replay")
    ap.add_argument("--n-jobs", type=int, default=2, help="forecast worker processes")
    ap.add_argument("--work", type=Path, default=None, help="work folder (default /tmp/bench/inventory-<size>)")
    ap.add_argument("--reuse", action="store_true", help="read panels and forecasts of an earlier run of <work>")
    args = ap.parse_args(argv)
    args.work = bench.default_work(args, "inventory")
    return args


# --------------------------------------------------------------------------- forecasts and plans


def forecasts_at(snap: nested.Snapshot, config, cache: Path, reuse: bool) -> tuple[pd.DataFrame, pd.DataFrame, float]:
    """(backtest, final forecasts, seconds) of ``run_forecasting`` at ``snap.as_of``, cached as parquet."""
    from demand_forecast.forecasting.pipeline import run_forecasting

    name = snap.as_of.strftime("%Y-%m")
    files = {key: cache / f"{name}.{key}.parquet" for key in ("backtest", "forecasts")}
    if reuse and all(f.exists() for f in files.values()):
        return pd.read_parquet(files["backtest"]), pd.read_parquet(files["forecasts"]), 0.0
    t0 = time.perf_counter()
    result = run_forecasting(snap.panel, snap.profiles, snap.as_of, config)
    seconds = time.perf_counter() - t0
    cache.mkdir(parents=True, exist_ok=True)
    result.backtest.to_parquet(files["backtest"], index=False)
    result.forecasts.to_parquet(files["forecasts"], index=False)
    return result.backtest, result.forecasts, seconds


def plans_for(
    snaps: list[nested.Snapshot],
    runs: list[tuple[pd.DataFrame, pd.DataFrame]],
    settings: PurchasingSettings,
    level: float,
) -> pd.DataFrame:
    """Both policies' plans at every review month, every group at service level ``level``."""
    parts = [
        purchase_plans(
            backtest,
            forecasts,
            snap.panel,
            snap.profiles,
            snap.as_of,
            {},
            level,
            settings.policies,
            settings.lead_time_months,
            settings.min_residual_pool,
        )
        for snap, (backtest, forecasts) in zip(snaps, runs, strict=True)
    ]
    return pd.concat(parts, ignore_index=True)


# --------------------------------------------------------------------------- figures


def by_class(summary: pd.DataFrame) -> pd.DataFrame:
    """The rows per demand class over all groups (and all / all)."""
    return summary.loc[summary["product_group"] == "all"].set_index(["policy", "demand_class"])


def inventory_at_fill_rate(curve: pd.DataFrame, target: float) -> float:
    """Average inventory value at ``target`` fill rate, interpolated on the sweep.

    NaN when the sweep does not bracket the target (every level above it, or none reaching it).
    """
    points = curve.sort_values("fill_rate")
    fill = points["fill_rate"].to_numpy(float)
    value = points["avg_inventory_value"].to_numpy(float)
    if len(fill) == 0 or not fill.min() <= target <= fill.max():
        return float("nan")
    return float(np.interp(target, fill, value))


def print_policy_table(figures: pd.DataFrame, classes: list[str]) -> None:
    rows = []
    for cls in classes:
        for policy in ("selected", "baseline"):
            if (policy, cls) not in figures.index:
                continue
            f = figures.loc[(policy, cls)]
            rows.append(
                [
                    cls,
                    policy,
                    int(f["products"]),
                    int(f["product_months"]),
                    100 * f["fill_rate"],
                    int(f["stockout_months"]),
                    f["avg_inventory_units"],
                    f["avg_inventory_value"],
                    f["inventory_turns"],
                ]
            )
    print(
        bench.markdown_table(
            [
                "demand class",
                "policy",
                "products",
                "product-months",
                "fill rate %",
                "stock-out months",
                "avg inventory units",
                "avg inventory value",
                "turns / year",
            ],
            rows,
            digits=1,
        )
    )


def print_lead_time_accuracy(snaps, runs, latest: nested.Snapshot, settings: PurchasingSettings) -> None:
    """WAPE and bias of each policy's cumulative forecast over T+1 .. T+L, per demand class (at T)."""
    L = settings.lead_time_months
    parts = []
    for snap, (_, forecasts) in zip(snaps, runs, strict=True):
        fc = forecasts.loc[forecasts["model_name"].isin(settings.policies.values()) & (forecasts["horizon"] <= L)]
        parts.append(fc.assign(as_of_month=snap.as_of))
    fc = pd.concat(parts, ignore_index=True)
    actual = latest.panel[["product_id", "month", "demand"]].assign(month=lambda d: pd.to_datetime(d["month"]))
    both = fc.assign(month=pd.to_datetime(fc["forecast_month"])).merge(actual, on=["product_id", "month"])
    cum = both.groupby(["product_id", "model_name", "as_of_month"]).agg(
        forecast=("forecast_p50", "sum"), demand=("demand", "sum"), months=("horizon", "count")
    )
    cum = cum.loc[cum["months"] == L].reset_index()
    cum = cum.merge(latest.profiles[["product_id", "demand_class"]], on="product_id")
    rows = []
    for cls, g in [*cum.groupby("demand_class"), ("all", cum)]:
        cells: list[object] = [cls]
        for model in settings.policies.values():
            m = g.loc[g["model_name"] == model]
            cells += [
                (m["forecast"] - m["demand"]).abs().sum() / m["demand"].sum(),
                (m["forecast"] - m["demand"]).sum() / m["demand"].sum(),
            ]
        rows.append([*cells, len(g) // max(1, len(settings.policies))])
    names = list(settings.policies.values())
    print(
        bench.markdown_table(
            ["demand class", f"WAPE {names[0]}", f"bias {names[0]}", f"WAPE {names[1]}", f"bias {names[1]}", "points"],
            rows,
        )
    )


# --------------------------------------------------------------------------- the run's steps


def prepare_data(args: argparse.Namespace, paths: bench.DbtPaths, L: int) -> Path:
    """Print the run's header; unless ``--reuse``, a fresh dbt folder and the generated dataset. The raw data folder."""
    data = args.work / "data"
    if not args.reuse:
        paths.prepare()
        paths.output.unlink(missing_ok=True)
    print(
        f"# Inventory simulation: {args.products} products x {args.years} years, seed {args.seed}, end date "
        f"{args.end_date}, {args.review_months} review months, panel mode {args.panel_mode}, lead time {L} months"
    )
    print(f"load average at start: {bench.load_text()}")
    if not args.reuse:
        gen = bench.generate_dataset(
            data, args.products, args.years, args.seed, args.end_date, log=args.work / "datagen.log"
        )
        print(f"generated in {gen.wall_s:.1f} s")
    return data / "raw"


def build_panels(
    args: argparse.Namespace, paths: bench.DbtPaths, raw: Path, L: int
) -> tuple[nested.Snapshot, list[nested.Snapshot], pd.DataFrame]:
    """(the panel at T, the panel at every review month, the ordering rules at T), cached in ``<work>/panels``."""
    t0 = time.perf_counter()
    load: list[float] = []
    panels = args.work / "panels"
    latest = bench_accuracy.build_snapshot(paths, raw, None, False, load, panels, args.reuse)
    rules_file = panels / "latest.rules.parquet"
    if not args.reuse:
        bench.run_dbt(paths, raw, "run", "--select", "+int_ordering_rules")
        bench.read_frames(paths.database, {"rules": RULES_SQL})["rules"].to_parquet(rules_file, index=False)
    rules = pd.read_parquet(rules_file)
    T = latest.as_of
    reviews = [add_months(T, -(L + k)) for k in range(args.review_months)][::-1]
    snaps = [
        bench_accuracy.build_snapshot(paths, raw, a, False, load, panels, args.reuse)
        if args.panel_mode == "replay"
        else nested.truncated_snapshot(latest, a)
        for a in reviews
    ]
    print(
        f"panels: {1 + len(reviews) if args.panel_mode == 'replay' else 1} dbt runs in {time.perf_counter() - t0:.1f} s"
    )
    print(
        f"T = {T:%Y-%m}; orders placed after {reviews[0]:%Y-%m} .. {reviews[-1]:%Y-%m}; evaluated months "
        f"{add_months(reviews[0], L):%Y-%m} .. {T:%Y-%m}"
    )
    return latest, snaps, rules


def forecast_reviews(
    snaps: list[nested.Snapshot], config, cache: Path, reuse: bool
) -> list[tuple[pd.DataFrame, pd.DataFrame]]:
    """(backtest, final forecasts) at every review month (:func:`forecasts_at`)."""
    t0 = time.perf_counter()
    runs, seconds = [], 0.0
    for snap in snaps:
        backtest, forecasts, s = forecasts_at(snap, config, cache, reuse)
        runs.append((backtest, forecasts))
        seconds += s
    print(f"forecasts: {len(runs)} runs, run_forecasting {seconds:.1f} s (wall {time.perf_counter() - t0:.1f} s)")
    return runs


def simulate_sweep(
    latest: nested.Snapshot,
    rules: pd.DataFrame,
    snaps: list[nested.Snapshot],
    runs: list[tuple[pd.DataFrame, pd.DataFrame]],
    settings: PurchasingSettings,
    sweep: list[float],
) -> dict[float, pd.DataFrame]:
    """Service level -> the summary per policy, group and demand class of both policies' plans replayed."""
    demand = latest.panel[["product_id", "month", "demand"]]
    products = latest.profiles[["product_id", "product_group", "demand_class"]].merge(
        rules[["product_id", "unit_cost", "holding_cost_rate"]], on="product_id", how="left"
    )
    products = products.rename(columns={"unit_cost": "unit_value"})
    rule_terms = rules[["product_id", "pack_size", "min_order_qty"]]
    summaries = {}
    for level in sweep:
        sim = simulate(plans_for(snaps, runs, settings, level), demand, rule_terms, settings.lead_time_months)
        summaries[level] = summarise(sim, products)
    return summaries


# --------------------------------------------------------------------------- the acceptance comparison


def compare_class(
    cls: str, at_target: pd.DataFrame, summaries: dict[float, pd.DataFrame], sweep: list[float], target: float
) -> tuple[list[object], bool]:
    """(table row, acceptance met) of the selected forecast against the baseline for one demand class."""
    sel, base = at_target.loc[("selected", cls)], at_target.loc[("baseline", cls)]
    curve = {
        p: pd.DataFrame([by_class(summaries[lv]).loc[(p, cls), ["fill_rate", "avg_inventory_value"]] for lv in sweep])
        for p in ("selected", "baseline")
    }
    need_sel = inventory_at_fill_rate(curve["selected"], target)
    need_base = inventory_at_fill_rate(curve["baseline"], target)
    less_at_fill = 1 - need_sel / need_base if need_base > 0 else float("nan")
    less_at_level = 1 - sel["avg_inventory_value"] / base["avg_inventory_value"]
    by_fill = bool(less_at_fill >= TARGET_REDUCTION)
    by_level = bool(sel["fill_rate"] >= target and less_at_level >= TARGET_REDUCTION)
    by_stockouts = bool(
        sel["avg_inventory_value"] <= base["avg_inventory_value"] and sel["stockout_months"] < base["stockout_months"]
    )
    row = [
        cls,
        need_base,
        need_sel,
        100 * less_at_fill,
        100 * sel["fill_rate"],
        100 * base["fill_rate"],
        100 * less_at_level,
        int(sel["stockout_months"]) - int(base["stockout_months"]),
        by_fill if less_at_fill == less_at_fill else "n/a (not bracketed)",
        by_level,
        by_stockouts,
    ]
    return row, by_fill or by_level or by_stockouts


def print_comparison(
    at_target: pd.DataFrame, summaries: dict[float, pd.DataFrame], sweep: list[float], classes: list[str], target: float
) -> dict[str, bool]:
    """The acceptance table, selected forecast against the baseline per demand class; class -> acceptance met."""
    rows, verdicts = [], {}
    for cls in classes:
        if ("selected", cls) not in at_target.index or ("baseline", cls) not in at_target.index:
            continue
        row, verdicts[cls] = compare_class(cls, at_target, summaries, sweep, target)
        rows.append(row)
    print(
        bench.markdown_table(
            [
                "demand class",
                f"inventory value for {target:.0%} fill: baseline",
                "selected",
                "selected less %",
                f"at {target:.0%} service level: fill % selected",
                "fill % baseline",
                "inventory value selected less %",
                "stock-out months selected - baseline",
                "(a) >= 15 % less at equal fill",
                "(b) fill reached, >= 15 % less at equal service level",
                "(c) no more stock, fewer stock-outs",
            ],
            rows,
            digits=1,
        )
    )
    print(
        f"\nacceptance per demand class: the selected forecast reaches {target:.0%} fill rate with >= 15 % less "
        "average inventory than the baseline, (a) comparing the inventory each policy needs for that fill rate "
        "(interpolated on the service-level sweep) or (b) at the same target service level, or (c) holds no "
        "more stock with fewer stock-out months"
    )
    return verdicts


def print_sweep(summaries: dict[float, pd.DataFrame], sweep: list[float]) -> None:
    """Fill rate, average inventory value and stock-out months of both policies at every swept service level."""
    rows = []
    for level in sweep:
        f = by_class(summaries[level])
        rows.append(
            [
                f"{100 * level:.1f} %",
                100 * f.loc[("selected", "all"), "fill_rate"],
                f.loc[("selected", "all"), "avg_inventory_value"],
                int(f.loc[("selected", "all"), "stockout_months"]),
                100 * f.loc[("baseline", "all"), "fill_rate"],
                f.loc[("baseline", "all"), "avg_inventory_value"],
                int(f.loc[("baseline", "all"), "stockout_months"]),
            ]
        )
    print(
        bench.markdown_table(
            [
                "service level",
                "fill % selected",
                "inventory selected",
                "stock-outs selected",
                "fill % baseline",
                "inventory baseline",
                "stock-outs baseline",
            ],
            rows,
            digits=1,
        )
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = PurchasingSettings(default_service_level=args.service_level)
    L = settings.lead_time_months
    config = bench.project_forecast_config(args.n_jobs)
    paths = bench.DbtPaths(args.work / "dbt")
    raw = prepare_data(args, paths, L)
    latest, snaps, rules = build_panels(args, paths, raw, L)
    runs = forecast_reviews(snaps, config, args.work / "runs", args.reuse)

    sweep = sorted({*SWEEP, args.service_level})
    summaries = simulate_sweep(latest, rules, snaps, runs, settings, sweep)
    at_target = by_class(summaries[args.service_level])
    classes = sorted(c for c in at_target.index.get_level_values("demand_class").unique() if c != "all") + ["all"]

    bench.section(f"Both policies at the target service level {args.service_level:.1%} (per demand class, all groups)")
    print_policy_table(at_target, classes)
    bench.section("Selected forecast against the WMA baseline")
    verdicts = print_comparison(at_target, summaries, sweep, classes, args.service_level)
    bench.section("Forecast error over the protection period (sum of the L monthly P50s against the sum of demand)")
    print_lead_time_accuracy(snaps, runs, latest, settings)
    bench.section("Service-level sweep (all products): fill rate % and average inventory value")
    print_sweep(summaries, sweep)

    out = args.work / "inventory_simulation.csv"
    pd.concat([s.assign(service_level=lv) for lv, s in summaries.items()]).to_csv(out, index=False)
    print(f"\nall segments and service levels: {out}")
    print(f"acceptance met in {sum(verdicts.values())} of {len(verdicts)} demand classes (incl. all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

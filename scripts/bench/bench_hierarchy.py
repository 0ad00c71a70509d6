"""Coherent group forecasts, out of sample: the reconciled group view against forecasting the group totals
directly, and the product forecasts before and after reconciliation.

    .venv/bin/python scripts/bench/bench_hierarchy.py                                  # embedded data + m1, chicago
    .venv/bin/python scripts/bench/bench_hierarchy.py --datasets m1 --skip-embedded
    .venv-bench/bin/python scripts/bench/real_data.py --out /tmp/bench/real/data --datasets m1,chicago  # real data

What it does
------------
* **Embedded data** (the project's default data: 200 products x 4 years, seed 42, as ``make data``):
  generated and dbt-built up to ``int_monthly_demand`` / ``int_series_profiles`` as ``bench_accuracy.py``
  does, then cut at ``--as-of-months`` as-of months ``T - 3``, ``T - 4``, ... (the last complete month T
  gives the actuals of the 3 months after each as-of month). Hierarchy: total > 8 groups > 28 categories.
* **Real data with groups** (``--datasets``, default ``m1,chicago``: M1's 7 series types, Chicago's
  downtown / neighbourhood stations): the training part written by ``real_data.py`` (``train_monthly.csv``)
  is the panel, the 3 months after it (``actuals.csv``) are scored, as in ``bench_real.py`` (its folder,
  ``--real-dir``; create it with the command above in ``.venv-bench``).

For each dataset and as-of month, the package's ``run_forecasting`` (products) and
``hierarchy.forecast_hierarchy`` (the project's models on the group totals, every reconciliation
method, the one the backtest chooses) run in this process with the project's forecasting config. Scored
on the months after the as-of month with ``scoring.py`` (MASE scaled by each series' in-sample
seasonal-naive MAE over the data before the as-of month, computed on the group totals for a group):

* group level: ``direct`` (the project's models on the group totals, not coherent), ``summed`` (the
  selected product forecasts summed: what the dashboard showed; = ``bottom_up``), each method, and
  ``chosen`` (the method the backtest chose per run);
* product level: ``selected`` (the products' own forecasts, before) and each method / ``chosen`` (after).

Acceptance (issue 12, item 3): ``chosen`` group MASE <= ``direct``; ``chosen`` product MASE <=
``selected``. The run prints both checks with the figures.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common as bench
import nested
import scoring

bench.ensure_package_importable()
from bench_accuracy import apply_overrides, build_snapshot  # noqa: E402

from demand_forecast.forecasting import hierarchy as hier  # noqa: E402
from demand_forecast.forecasting.pipeline import run_forecasting  # noqa: E402
from demand_forecast.months import add_months  # noqa: E402

EMBEDDED = {"products": 200, "years": 4, "seed": 42, "end_date": "2026-10-31"}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", default="m1,chicago", help="real datasets (folders of --real-dir); '' for none")
    ap.add_argument("--real-dir", type=Path, default=Path("/tmp/bench/real/data"))
    ap.add_argument("--skip-embedded", action="store_true", help="real data only")
    ap.add_argument("--as-of-months", type=int, default=3, help="as-of months of the embedded data")
    ap.add_argument("--work", type=Path, default=Path("/tmp/bench/hierarchy"))
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--reuse-panels", action="store_true", help="embedded panels from a previous run's cache")
    ap.add_argument("--set", action="append", default=[], help="FIELD=VALUE of ForecastConfig (repeatable)")
    return ap.parse_args(argv)


def long_rows(result: hier.HierarchyResult, as_of: pd.Timestamp, ids: np.ndarray, level_rows: np.ndarray) -> list:
    """Rows ``method, series_id, month, horizon, forecast`` of every method's final P50 at ``level_rows``."""
    frames = []
    for method, full in result.final.items():
        values = full[level_rows]
        for k in range(values.shape[1]):
            frames.append(
                pd.DataFrame(
                    {
                        "method": method,
                        "series_id": ids,
                        "month": add_months(as_of, k + 1),
                        "horizon": k + 1,
                        "forecast": values[:, k],
                    }
                )
            )
    return frames


def run_one(panel, profiles, as_of, config, train: pd.DataFrame, actuals: pd.DataFrame, groups=None) -> dict:
    """One as-of month: forecasts of every level and method, scored on the months after ``as_of``.

    ``train``: ``series_id, month, y`` up to ``as_of`` (the MASE scales); ``actuals``: ``series_id,
    month, actual`` after it; ``groups``: series_id -> group of products launched after ``as_of`` (their
    demand is part of their group's actual). Returns the scored frames per level and the run facts.
    """
    with bench.Measured("products: run_forecasting") as products_time:
        products = run_forecasting(panel, profiles, as_of, config)
    with bench.Measured("groups: forecast_hierarchy (project's models on the totals + reconciliation)") as hier_time:
        result = hier.forecast_hierarchy(panel, profiles, as_of, config, products)
    H = result.hierarchy
    group_of = pd.Series(H.node_group[H.parent["group"]], index=H.product_ids)
    if groups is not None:
        group_of = pd.concat([group_of, groups[~groups.index.isin(group_of.index)]])
    group_rows = H.rows("group")
    group_ids = H.node_group[group_rows]
    out = {}
    for level, rows, ids in (("group", group_rows, group_ids), ("product", H.rows("product"), H.product_ids)):
        fc = pd.concat(long_rows(result, as_of, ids, rows), ignore_index=True)
        chosen = fc[fc["method"] == result.method].assign(method="chosen")
        fc = pd.concat([fc, chosen], ignore_index=True)
        fc["method"] = fc["method"].replace({"base": "direct" if level == "group" else "selected"})
        if level == "group":
            fc = pd.concat([fc, fc[fc["method"] == "bottom_up"].assign(method="summed")], ignore_index=True)
            level_train = scoring.group_sums(train, group_of, ["y"])
            level_actuals = scoring.group_sums(actuals, group_of, ["actual"])
        else:
            level_train, level_actuals = train, actuals
        fc["p10"] = np.nan
        fc["p90"] = np.nan
        out[level] = scoring.attach(fc, level_actuals, scoring.mase_scales(level_train))
    backtest = result.scores.pivot(index="method", columns="level", values="mase")
    return {
        "scored": out,
        "method": result.method,
        "backtest": backtest,
        "timing": [products_time.line(), hier_time.line()],
        "groups": len(group_rows),
    }


def embedded_runs(args, config) -> list[dict]:
    data = args.work / "embedded" / "data"
    paths = bench.DbtPaths(args.work / "embedded" / "dbt")
    if not args.reuse_panels:
        paths.prepare()
        bench.generate_dataset(
            data,
            EMBEDDED["products"],
            EMBEDDED["years"],
            EMBEDDED["seed"],
            EMBEDDED["end_date"],
            log=args.work / "embedded" / "datagen.log",
        )
    load: list[float] = []
    cache = args.work / "embedded" / "panels"
    latest = build_snapshot(paths, data / "raw", None, False, load, cache, args.reuse_panels)
    panel = latest.panel.assign(month=pd.to_datetime(latest.panel["month"]))
    horizon = config.horizon
    runs = []
    for k in range(args.as_of_months):
        as_of = add_months(latest.as_of, -(horizon + k))
        snap = nested.truncated_snapshot(latest, as_of)
        values = panel.rename(columns={"product_id": "series_id", "demand": "y"})[["series_id", "month", "y"]]
        values = values.assign(y=values["y"].fillna(0.0))
        train = values[values["month"] <= as_of]
        after = values[(values["month"] > as_of) & (values["month"] <= add_months(as_of, horizon))]
        actuals = after.rename(columns={"y": "actual"})
        print(f"embedded data, as-of {as_of:%Y-%m} ...", flush=True)
        groups = panel.groupby("product_id")["product_group"].last().fillna("unknown")
        runs.append({"as_of": as_of, **run_one(snap.panel, snap.profiles, as_of, config, train, actuals, groups)})
    return runs


def real_run(name: str, args, config) -> dict:
    folder = args.real_dir / name
    if not (folder / "train_monthly.csv").exists():
        raise SystemExit(
            f"{folder}/train_monthly.csv is missing: write it with "
            f".venv-bench/bin/python scripts/bench/real_data.py --out {args.real_dir} --datasets {name}"
        )
    meta = json.loads((folder / "meta.json").read_text())
    train = pd.read_csv(folder / "train_monthly.csv", parse_dates=["month"])
    actuals = pd.read_csv(folder / "actuals.csv", parse_dates=["month"])
    as_of = train["month"].max()
    panel = train.rename(columns={"series_id": "product_id", "y": "demand"})
    panel["category"] = panel["product_group"]
    print(f"{name}: {meta['series']} series, {meta['groups']} groups, as-of {as_of:%Y-%m} ...", flush=True)
    return {"as_of": as_of, **run_one(panel, None, as_of, config, train[["series_id", "month", "y"]], actuals)}


def summary(runs: list[dict], level: str) -> pd.DataFrame:
    scored = pd.concat([r["scored"][level] for r in runs], ignore_index=True)
    methods = list(dict.fromkeys(scored["method"]))
    rows = []
    for method in methods:
        points = scored[scored["method"] == method]
        rows.append({"method": method, **scoring.score(points)})
    return pd.DataFrame(rows).set_index("method")


def report(name: str, runs: list[dict]) -> list:
    months = ", ".join(f"{r['as_of']:%Y-%m}" for r in runs)
    bench.section(f"{name}: {len(runs)} as-of month(s) {months}")
    for r in runs:
        for line in r["timing"]:
            print(f"  {r['as_of']:%Y-%m} {line}")
        print(f"  {r['as_of']:%Y-%m} chosen by the backtest: {r['method']}; backtest MASE per level:")
        print("    " + r["backtest"].round(3).to_string().replace("\n", "\n    "))
    groups, products = summary(runs, "group"), summary(runs, "product")
    headers = ["method", "MASE", "WAPE", "bias", "points"]
    horizons = runs[0]["scored"]["group"]["horizon"].max()
    print(f"\ngroup level ({runs[0]['groups']} groups), on the {horizons} months after:")
    print(bench.markdown_table(headers, [[m, r.mase, r.wape, r.bias, int(r.points)] for m, r in groups.iterrows()]))
    print("\nproduct level:")
    print(bench.markdown_table(headers, [[m, r.mase, r.wape, r.bias, int(r.points)] for m, r in products.iterrows()]))
    group_ok = groups.loc["chosen", "mase"] <= groups.loc["direct", "mase"] + 1e-12
    product_ok = products.loc["chosen", "mase"] <= products.loc["selected", "mase"] + 1e-12
    methods = ", ".join(sorted({r["method"] for r in runs}))
    print(
        f"\nacceptance: chosen group MASE {groups.loc['chosen', 'mase']:.3f} vs direct "
        f"{groups.loc['direct', 'mase']:.3f}: {'met' if group_ok else 'NOT met'}; chosen product MASE "
        f"{products.loc['chosen', 'mase']:.3f} vs selected {products.loc['selected', 'mase']:.3f}: "
        f"{'met' if product_ok else 'NOT met'} (chosen: {methods})"
    )
    return [
        name,
        methods,
        groups.loc["direct", "mase"],
        groups.loc["summed", "mase"],
        groups.loc["chosen", "mase"],
        min(groups.loc[m, "mase"] for m in hier.METHODS),
        products.loc["selected", "mase"],
        products.loc["chosen", "mase"],
    ]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    config = apply_overrides(bench.project_forecast_config(args.n_jobs), args.set)
    print(f"# Hierarchy benchmark; load average at start: {bench.load_text()}")
    lines = []
    if not args.skip_embedded:
        lines.append(report("embedded (200 x 4, seed 42)", embedded_runs(args, config)))
    for name in [d for d in args.datasets.split(",") if d]:
        lines.append(report(name, [real_run(name, args, config)]))
    bench.section("summary (MASE, out of sample)")
    headers = [
        "dataset",
        "method chosen",
        "groups direct",
        "groups summed",
        "groups chosen",
        "groups best method",
        "products before",
        "products after",
    ]
    print(bench.markdown_table(headers, lines))
    print(f"load average at end: {bench.load_text()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

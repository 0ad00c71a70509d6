"""Benchmark of the forecasting package on a synthetic panel.

Makes its own simple synthetic panel (independent of ``demand_forecast.synthetic.datagen``)
of N products, runs :func:`demand_forecast.forecasting.pipeline.run_forecasting` once and
prints per-stage seconds, wall and CPU seconds, the load average while it ran, rows/s, peak
memory, series per second and a per-model, per-horizon WAPE / MASE table of the backtest.

    .venv/bin/python scripts/bench/bench_forecast.py --products 2000 --n-jobs 2

The synthetic panel: 8 product groups (own seasonal profile each) with 5
categories, a mix of smooth (45 %), erratic (15 %), intermittent (20 %), lumpy
(12 %) and new (8 %, 1-5 months old) products; a quarter of the established
products start later than the first month; about 1 % of months are flagged
``exclude_from_training``; prices vary a little around a list price.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common as bench

from demand_forecast.forecasting.config import ForecastConfig
from demand_forecast.forecasting.pipeline import run_forecasting


def make_panel(n_products: int, n_months: int = 60, as_of: str = "2025-12-01", seed: int = 7):
    """Synthetic ``(panel, profiles)`` in the shapes of ``docs/contracts.md`` (subset of columns)."""
    rng = np.random.default_rng(seed)
    months = pd.date_range(end=pd.Timestamp(as_of), periods=n_months, freq="MS")
    moy = months.month.to_numpy() - 1
    n_groups, n_cats = 8, 5
    group = rng.integers(0, n_groups, n_products)
    cat = group * n_cats + rng.integers(0, n_cats, n_products)
    amp_g = rng.uniform(0.1, 0.5, n_groups)
    phase_g = rng.uniform(0, 2 * np.pi, n_groups)
    season = 1 + amp_g[group, None] * np.sin(2 * np.pi * moy[None, :] / 12 + phase_g[group, None])
    season *= rng.uniform(0.7, 1.3, n_products)[:, None] ** 0.5

    kind = rng.choice(
        ["smooth", "erratic", "intermittent", "lumpy", "new"], n_products, p=[0.45, 0.15, 0.20, 0.12, 0.08]
    )
    level = np.exp(rng.normal(3.2, 1.0, n_products))
    trend = rng.normal(0, 0.01, n_products)
    t = np.arange(n_months)
    mean = level[:, None] * season * np.exp(trend[:, None] * (t[None, :] - n_months))
    demand = np.zeros((n_products, n_months))

    sm = kind == "smooth"
    demand[sm] = rng.poisson(mean[sm])
    er = kind == "erratic"
    demand[er] = rng.poisson(mean[er] * rng.gamma(1.2, 1 / 1.2, (er.sum(), n_months)))
    it = kind == "intermittent"
    occ = rng.random((it.sum(), n_months)) < rng.uniform(0.2, 0.6, it.sum())[:, None]
    demand[it] = occ * (1 + rng.poisson(np.minimum(mean[it] / 10, 5)))
    lu = kind == "lumpy"
    occ = rng.random((lu.sum(), n_months)) < rng.uniform(0.15, 0.5, lu.sum())[:, None]
    demand[lu] = occ * rng.poisson(mean[lu] * rng.gamma(0.6, 1 / 0.3, (lu.sum(), n_months)) / 2)
    nw = kind == "new"
    demand[nw] = rng.poisson(mean[nw])

    start = np.zeros(n_products, dtype=np.int64)
    late = (~nw) & (rng.random(n_products) < 0.25)
    start[late] = rng.integers(1, n_months - 12, late.sum())
    start[nw] = n_months - rng.integers(1, 6, nw.sum())

    pid = np.array([f"P{i:06d}" for i in range(n_products)], dtype=object)
    rows = np.repeat(np.arange(n_products), n_months)
    cols = np.tile(np.arange(n_months), n_products)
    keep = cols >= start[rows]
    rows, cols = rows[keep], cols[keep]
    price0 = np.exp(rng.normal(2.5, 0.6, n_products))
    partial = (cols == start[rows]) & (start[rows] > 0) & (rng.random(len(rows)) < 0.5)
    dem = demand[rows, cols] * np.where(partial, 0.5, 1.0)
    panel = pd.DataFrame(
        {
            "product_id": pid[rows],
            "month": months[cols],
            "product_group": np.array([f"G{g}" for g in range(n_groups)], dtype=object)[group[rows]],
            "category": np.array([f"C{c:02d}" for c in range(n_groups * n_cats)], dtype=object)[cat[rows]],
            "demand": dem.astype(np.float64),
            "avg_unit_price": price0[rows] * rng.uniform(0.95, 1.05, len(rows)),
            "is_partial_month": partial,
            "exclude_from_training": rng.random(len(rows)) < 0.01,
        }
    )
    profiles = pd.DataFrame(
        {
            "product_id": pid,
            "product_group": np.array([f"G{g}" for g in range(n_groups)], dtype=object)[group],
            "demand_class": kind,
            "discontinued_date": pd.NaT,
        }
    )
    return panel, profiles, months[-1]


def accuracy_table(result) -> pd.DataFrame:
    """Pooled WAPE per model and horizon from the backtest, mean MASE from the metrics."""
    bt = result.backtest.dropna(subset=["actual"])
    e = (bt["forecast"] - bt["actual"]).abs()
    g = pd.DataFrame({"model_name": bt["model_name"], "horizon": bt["horizon"], "ae": e, "ay": bt["actual"].abs()})
    agg = g.groupby(["model_name", "horizon"]).sum()
    wape = (agg["ae"] / agg["ay"]).unstack("horizon")
    met = result.metrics
    mase = met[met["horizon"] > 0].groupby(["model_name", "horizon"])["mase"].mean().unstack("horizon")
    cov = (
        met[met["horizon"] == 0]
        .groupby("model_name")
        .apply(lambda d: np.average(d["coverage_80"].fillna(0), weights=d["n"]) if d["n"].sum() else np.nan)
    )
    out = pd.concat({"WAPE": wape, "MASE(mean)": mase}, axis=1)
    out[("coverage_80", "all")] = cov
    return out.sort_values(("WAPE", 1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, default=2000)
    parser.add_argument("--months", type=int, default=60)
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--origins", type=int, default=6)
    parser.add_argument("--horizon", type=int, default=3)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--data-seed", type=int, default=7)
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    panel, profiles, as_of = make_panel(args.products, args.months, seed=args.data_seed)
    t_gen = time.perf_counter() - t0
    config = ForecastConfig(horizon=args.horizon, n_origins=args.origins, n_jobs=args.n_jobs, seed=args.seed)
    with bench.Measured("run_forecasting", rows=len(panel)) as measured:
        result = run_forecasting(panel, profiles, as_of, config)

    print(
        f"products={args.products} months={args.months} rows={len(panel)} n_jobs={args.n_jobs} "
        f"origins={args.origins} horizon={args.horizon}"
    )
    print(f"synthetic data: {t_gen:.1f}s")
    print("stage seconds:")
    for k, v in result.timings.items():
        print(f"  {k:<22s}{v:8.2f}")
    print(measured.line())
    print(f"series/s: {args.products / measured.wall_s:.1f}")
    print(
        f"output rows: backtest={len(result.backtest)} metrics={len(result.metrics)} "
        f"forecasts={len(result.forecasts)} selection={len(result.selection)}"
    )
    print("champions:", result.selection["champion_model"].value_counts().to_dict())
    reg = result.registry.set_index("model_name")[["n_series", "wape", "mase", "bias", "coverage_80", "fit_seconds"]]
    print("registry:")
    print(reg.round(3).to_string())
    print("backtest accuracy (WAPE pooled, MASE mean over products):")
    with pd.option_context("display.width", 200):
        print(accuracy_table(result).round(3).to_string())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Peer forecasts of the real-data benchmark: Nixtla statsforecast on exactly the project's training data.

Runs in the benchmark's own environment (``.venv-bench``; statsforecast is not a project dependency):

    .venv-bench/bin/python scripts/bench/peers.py --data /tmp/bench/real/data --datasets m1,tourism

For each dataset folder written by ``real_data.py`` it reads ``train_monthly.csv`` (the imported values
summed per month) and forecasts the 3 months after the as-of month with

* ``AutoETS`` and ``AutoTheta`` (season length 12) and their mean (``ets_theta_mean``; its P10/P90 are
  the means of the two bounds), the peers the project is compared with;
* ``SeasonalNaive`` (lag 12) and ``Naive`` as anchors,

each with an 80 % interval (its bounds are the P10 and P90). This is done for every series, and for
the group totals (the sum of the series of each ``product_group`` per month: a peer forecasting the
groups directly, for the group view). It writes ``peers.csv`` (``level, method, series_id, month,
horizon, forecast, p10, p90``; ``series_id`` is the group at level ``group``) and ``peers.json`` (wall
and CPU seconds, load average, peak memory, series per second).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

import pandas as pd

SEASON = 12
HORIZON = 3
LEVEL = 80


def statsforecast_models():
    from statsforecast.models import AutoETS, AutoTheta, Naive, SeasonalNaive

    return [
        AutoETS(season_length=SEASON, alias="autoets"),
        AutoTheta(season_length=SEASON, alias="autotheta"),
        SeasonalNaive(season_length=SEASON, alias="seasonal_naive"),
        Naive(alias="naive"),
    ]


def forecast_level(monthly: pd.DataFrame, level: str) -> pd.DataFrame:
    """statsforecast forecasts of every ``series_id`` of ``monthly`` (series_id, month, y), long."""
    from statsforecast import StatsForecast
    from statsforecast.models import SeasonalNaive

    frame = monthly.rename(columns={"series_id": "unique_id", "month": "ds"})[["unique_id", "ds", "y"]]
    sf = StatsForecast(
        models=statsforecast_models(),
        freq="MS",
        n_jobs=1,
        # a fit that fails (e.g. a series too short for a seasonal model) falls back to the anchor
        fallback_model=SeasonalNaive(season_length=SEASON),
    )
    wide = sf.forecast(df=frame, h=HORIZON, level=[LEVEL])
    wide["horizon"] = wide.groupby("unique_id").cumcount() + 1
    methods = ["autoets", "autotheta", "seasonal_naive", "naive"]
    parts = []
    for method in methods:
        parts.append(
            pd.DataFrame(
                {
                    "method": method,
                    "series_id": wide["unique_id"],
                    "month": wide["ds"],
                    "horizon": wide["horizon"],
                    "forecast": wide[method],
                    "p10": wide[f"{method}-lo-{LEVEL}"],
                    "p90": wide[f"{method}-hi-{LEVEL}"],
                }
            )
        )
    mean = parts[0].copy()
    for column in ("forecast", "p10", "p90"):
        mean[column] = (parts[0][column].to_numpy() + parts[1][column].to_numpy()) / 2
    mean["method"] = "ets_theta_mean"
    out = pd.concat([*parts, mean], ignore_index=True)
    out.insert(0, "level", level)
    return out


def group_totals(monthly: pd.DataFrame) -> pd.DataFrame:
    """Sum of the series of each product group per month (a series adds 0 before it starts)."""
    totals = monthly.groupby(["product_group", "month"], as_index=False)["y"].sum()
    return totals.rename(columns={"product_group": "series_id"})


def run_dataset(folder: Path) -> dict:
    monthly = pd.read_csv(folder / "train_monthly.csv", parse_dates=["month"])
    started, cpu0 = time.perf_counter(), time.process_time()
    load0 = os.getloadavg()[0]
    series = forecast_level(monthly, "series")
    groups = forecast_level(group_totals(monthly), "group")
    pd.concat([series, groups], ignore_index=True).to_csv(folder / "peers.csv", index=False, date_format="%Y-%m-%d")
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu0
    n_series = monthly["series_id"].nunique()
    figures = {
        "series": int(n_series),
        "groups": int(monthly["product_group"].nunique()),
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "series_per_s": round(n_series / wall, 1) if wall > 0 else None,
        "load_1min_start_end": [round(load0, 2), round(os.getloadavg()[0], 2)],
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    (folder / "peers.json").write_text(json.dumps(figures, indent=2) + "\n")
    return figures


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, required=True, help="folder written by real_data.py")
    ap.add_argument("--datasets", required=True, help="comma-separated dataset folders under --data")
    args = ap.parse_args(argv)
    for name in [n for n in args.datasets.split(",") if n]:
        folder = args.data / name
        if not (folder / "train_monthly.csv").is_file():
            raise SystemExit(f"{folder / 'train_monthly.csv'} is missing: run real_data.py first")
        figures = run_dataset(folder)
        print(
            f"[peers] {name}: {figures['series']} series + {figures['groups']} groups in {figures['wall_s']} s "
            f"(cpu {figures['cpu_s']} s)",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

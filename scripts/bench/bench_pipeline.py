"""Speed and memory of the whole pipeline (dbt build) at scale.

    .venv/bin/python scripts/bench/bench_pipeline.py                          # 30,000 products x 5 years
    .venv/bin/python scripts/bench/bench_pipeline.py --products 5000 --years 5
    .venv/bin/python scripts/bench/bench_pipeline.py --reuse-data --without-elementary   # second run, no Elementary

What it measures
----------------
1. ``python -m demand_forecast.synthetic.datagen`` (N products x Y years, fixed end date) into
   ``<work>/data`` -- ``generated in X s`` (skipped with ``--reuse-data`` when the data is there).
2. ``dbt build`` with the project's normal selection (everything the monthly batch builds: SQL
   models, Python forecasting models, marts, dbt tests, Elementary models and tests; the
   Elementary HTML report is a separate step and not included) on a fresh DuckDB file in ``<work>``
   -- ``dbt build in Y s``. ``--without-elementary`` adds a second build on a fresh file with
   ``--exclude tag:monitoring package:elementary``.
3. For each build: wall seconds, CPU seconds, peak memory of the dbt process tree (the sum of the
   resident memory of dbt and its forecasting worker processes, polled every 0.5 s from /proc) and
   of the largest single process (``os.wait4`` rusage), the load average while it ran, sales lines
   per second, and seconds per stage from ``target/run_results.json``: preparation (staging and
   intermediate SQL), forecasting (Python models), marts (SQL marts), tests (dbt data and unit tests
   of the project), elementary (the Elementary package and its tests), other (hooks). ``node s`` is
   the sum of the nodes' own times (two dbt threads run side by side, so it can exceed the wall
   time); ``wall s (shared)`` splits every moment of the build equally among the nodes running then
   (the column adds up to dbt's busy time); ``span s`` runs from the stage's first node start to its
   last node end; ``peak MB while running`` is the largest polled tree memory while a node of the
   stage ran. The slowest nodes, and the nodes running at the memory peak, are listed.
   ``--duckdb-memory 4GB`` sets DuckDB's memory_limit for the build (profile default 8GB).

Target of the issue: the whole dbt build under 15 minutes and under 8 GB on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common as bench

TARGET_SECONDS = 15 * 60
TARGET_MEMORY_MB = 8 * 1024


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    bench.add_dataset_args(ap, products=30_000, years=5)
    ap.add_argument("--workers", type=int, default=0, help="generator processes (0 = auto)")
    ap.add_argument("--work", type=Path, default=None, help="work folder (default /tmp/bench/pipeline-<size>)")
    ap.add_argument("--reuse-data", action="store_true", help="keep the generated data of an earlier run")
    ap.add_argument(
        "--without-elementary",
        action="store_true",
        help="also time a build without Elementary (--exclude tag:monitoring package:elementary)",
    )
    ap.add_argument("--top", type=int, default=12, help="slowest nodes to list")
    ap.add_argument(
        "--duckdb-memory",
        default=None,
        help="DuckDB memory_limit for the build (env DEMAND_DUCKDB_MEMORY; profile default 8GB)",
    )
    args = ap.parse_args(argv)
    args.work = bench.default_work(args, "pipeline")
    return args


def ensure_data(args: argparse.Namespace, data: Path) -> dict:
    """Generate the dataset (or reuse it) and return its manifest."""
    manifest_path = data / "truth" / "manifest.json"
    if args.reuse_data and manifest_path.exists():
        print(f"generated: reusing {data}")
    else:
        stats = bench.generate_dataset(
            data,
            args.products,
            args.years,
            args.seed,
            args.end_date,
            workers=args.workers,
            log=args.work / "datagen.log",
        )
        print(
            f"generated in {stats.wall_s:.1f} s (cpu {stats.cpu_s:.0f} s, peak tree memory "
            f"{stats.peak_tree_mb:,.0f} MB; {stats.load_summary()})"
        )
    manifest = json.loads(manifest_path.read_text())
    params = manifest.get("parameters", {})
    found = (params.get("products"), params.get("years"), manifest.get("seed"), params.get("end_date"))
    wanted = (args.products, args.years, args.seed, args.end_date)
    if found != wanted:
        raise SystemExit(f"{data} holds products/years/seed/end date {found}, not {wanted}: drop --reuse-data")
    return manifest


BAD_STATUSES = ["error", "fail", "runtime error", "skipped"]


def stage_table(nodes: pd.DataFrame, stats: bench.RunStats) -> str:
    wall_share = bench.attributed_wall(nodes)
    peak = bench.stage_peak_memory(nodes, stats.memory_samples)
    rows = []
    for stage in bench.STAGES:
        part = nodes[nodes["stage"] == stage]
        if part.empty:
            continue
        span = (part["completed"].max() - part["started"].min()).total_seconds()
        rows.append(
            [
                stage,
                len(part),
                part["seconds"].sum(),
                wall_share.get(stage, 0.0),
                span,
                peak.get(stage, float("nan")),
                int(part["status"].isin(BAD_STATUSES).sum()),
            ]
        )
    rows.append(
        [
            "all nodes",
            len(nodes),
            nodes["seconds"].sum(),
            wall_share.sum(),
            nodes.attrs["elapsed_s"],
            stats.peak_tree_mb,
            int(nodes["status"].isin(BAD_STATUSES).sum()),
        ]
    )
    return bench.markdown_table(
        ["stage", "nodes", "node s", "wall s (shared)", "span s", "peak MB while running", "error/fail/skip"],
        rows,
        digits=1,
    )


def slowest_table(nodes: pd.DataFrame, top: int) -> str:
    rows = [
        [n.name if len(n.name) <= 60 else n.name[:57] + "...", n.resource_type, n.stage, n.status, n.seconds]
        for n in nodes.sort_values("seconds", ascending=False).head(top).itertuples()
    ]
    return bench.markdown_table(["node", "type", "stage", "status", "seconds"], rows, digits=1)


def build(args: argparse.Namespace, label: str, raw: Path, sales_lines: int, extra: list[str]) -> bool:
    """One dbt build on a fresh warehouse; prints its figures. True when dbt succeeded."""
    paths = bench.DbtPaths(args.work / label)
    paths.prepare(fresh_database=True)
    paths.output.unlink(missing_ok=True)
    (paths.target / "run_results.json").unlink(missing_ok=True)
    print(f"\nload average before {label}: {bench.load_text()}")
    env = {"DEMAND_DUCKDB_MEMORY": args.duckdb_memory} if args.duckdb_memory else None
    stats = bench.run_dbt(paths, raw, "build", *extra, check=False, extra_env=env)
    memory = f" (DuckDB memory_limit {args.duckdb_memory})" if args.duckdb_memory else ""
    bench.section(f"{label}: dbt build {' '.join(extra)}".rstrip() + memory)
    print(
        f"dbt build in {stats.wall_s:.1f} s  (exit code {stats.returncode}; cpu {stats.cpu_s:.0f} s "
        f"= {stats.cpu_s / stats.wall_s:.2f} cores busy on average)"
    )
    print(
        f"peak memory of the dbt process tree: {stats.peak_tree_mb:,.0f} MB "
        f"({stats.peak_tree_processes} processes at the peak); largest single process {stats.max_process_mb:,.0f} MB"
    )
    print(f"while it ran: {stats.load_summary()}")
    print(f"sales lines: {sales_lines:,} -> {sales_lines / stats.wall_s:,.0f} lines/s over the whole build")
    db_mb = paths.database.stat().st_size / 1024**2 if paths.database.exists() else float("nan")
    print(f"warehouse file: {db_mb:,.0f} MB ({paths.database})")
    if not (paths.target / "run_results.json").exists():
        print(f"no run_results.json: dbt stopped before running nodes; see {paths.output}\n{bench.tail(paths.output)}")
        return False
    nodes = bench.node_timings(paths.target)
    prep = nodes[nodes["stage"] == "preparation"]
    if not prep.empty:
        prep_span = (prep["completed"].max() - prep["started"].min()).total_seconds()
        prep_nodes = prep["seconds"].sum()
        print(
            f"preparation (staging + intermediate SQL): {sales_lines / prep_nodes:,.0f} sales lines/s over its "
            f"node seconds ({prep_nodes:.1f} s), {sales_lines / prep_span:,.0f} over its span ({prep_span:.1f} s)"
        )
    print(
        f"dbt's own elapsed time: {nodes.attrs['elapsed_s']:.1f} s "
        "(the rest of the wall time is start-up and parsing)\n"
    )
    print(stage_table(nodes, stats))
    if stats.memory_samples:
        when, mb = max(stats.memory_samples, key=lambda s: s[1])
        print(
            f"\nat the polled memory peak ({mb:,.0f} MB) dbt was running: "
            f"{', '.join(bench.running_at(nodes, when)) or 'no node (start-up, parsing or hooks)'}"
        )
    print(f"\nslowest {args.top} nodes:\n")
    print(slowest_table(nodes, args.top))
    failed = nodes[nodes["status"].isin(["error", "fail", "runtime error"])]
    if not failed.empty:
        print("\nfailed nodes: " + ", ".join(f"{n.name} ({n.status})" for n in failed.itertuples()))
        print(bench.tail(paths.output, 25))
    verdict_time = "yes" if stats.wall_s < TARGET_SECONDS else "NO"
    verdict_mem = "yes" if stats.peak_tree_mb < TARGET_MEMORY_MB else "NO"
    print(
        f"\ntarget: under 15 min -> {verdict_time} ({stats.wall_s / 60:.1f} min); "
        f"under 8 GB -> {verdict_mem} ({stats.peak_tree_mb / 1024:.2f} GB)"
    )
    return stats.ok


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    data = args.work / "data"
    print(
        f"# Pipeline benchmark: {args.products:,} products x {args.years} years, seed {args.seed}, "
        f"end date {args.end_date}"
    )
    print(f"load average at start: {bench.load_text()}")
    manifest = ensure_data(args, data)
    rows = manifest.get("rows", {})
    sales_lines = int(rows.get("sales_lines", 0))
    print(
        f"raw rows: {sales_lines:,} sales lines, {int(rows.get('stock_snapshots', 0)):,} stock snapshots, "
        f"{int(rows.get('products', 0)):,} products"
    )
    ok = build(args, "full", data / "raw", sales_lines, [])
    if args.without_elementary:
        ok = build(args, "no-elementary", data / "raw", sales_lines, list(bench.MONITORING_EXCLUDE)) and ok
    print(f"\nload average at the end: {bench.load_text()}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

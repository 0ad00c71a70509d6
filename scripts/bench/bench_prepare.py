"""The SQL preparation stage against DuckDB's own floor, on the same raw files, in one run.

    .venv/bin/python scripts/bench/bench_prepare.py --raw /work/bench-30k/raw
    .venv/bin/python scripts/bench/bench_prepare.py --raw /work/bench-3k/raw --explain docs-explain.txt

What it measures
----------------
1. The floor: DuckDB's plain aggregation of the raw sales files to product-months, in this process
   (``read_parquet`` / ``read_csv`` of ``<raw>/sales_lines``, ``group by product, month`` with a count
   and a sum of the quantity), with the thread count and memory limit of the project's profile.
2. The stage: ``dbt run`` of the staging and intermediate SQL models (``--select`` below; no Python
   models, no tests, no Elementary) on the same files into a fresh DuckDB file under ``--work``,
   through the project's profile (``DEMAND_DUCKDB_PATH``, ``DEMAND_RAW_DIR``), measured as a child
   process: wall, CPU seconds of the process tree, load average, peak memory. Per-node seconds come
   from ``target/run_results.json``.
3. The ratio stage / floor, for the node seconds and for the wall time of dbt's own run (dbt's
   start-up and parsing left out: ``elapsed``), and a markdown table per node.

``--compare OTHER.duckdb`` then checks that every table of the staging and intermediate schemas
holds the same rows as in OTHER (a warehouse of an earlier run on the same files, e.g. before
a change; views are left out: they read the raw files again): ``EXCEPT ALL`` both ways, so a
row missing, added or changed in any column counts (DOUBLE columns rounded to 6 decimals).
``--repeat N`` times the floor N times and keeps the fastest (the machine is shared).

``--explain FILE`` runs ``EXPLAIN ANALYZE`` of the heaviest models' compiled SQL (from
``target/compiled``) on the finished warehouse and writes their heaviest operators (own seconds,
summed over DuckDB's threads) to FILE, the whole JSON profiles to FILE.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common as bench

# The preparation stage: every model of staging and intermediate (all SQL; the Python models live in
# python_models/), as dbt_timings' "preparation" stage counts them.
PREPARATION_SELECT = ("--select", "path:models/staging", "path:models/intermediate")
HEAVY_MODELS = ("int_sales_lines_validated", "int_daily_sales_cleaned")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--raw", type=Path, required=True, help="raw data folder (holds sales_lines/, stock_snapshots/, ...)"
    )
    ap.add_argument("--format", choices=("parquet", "csv"), default="parquet", help="raw file format")
    ap.add_argument("--work", type=Path, default=None, help="work folder (default /tmp/bench/prepare-<raw folder>)")
    ap.add_argument("--threads", type=int, default=2, help="DuckDB threads of floor and stage (profile default 2)")
    ap.add_argument("--memory", default="4GB", help="DuckDB memory_limit of floor and stage (profile default 4GB)")
    ap.add_argument("--repeat", type=int, default=3, help="floor runs; the fastest counts (default 3)")
    ap.add_argument("--compare", type=Path, default=None, help="warehouse of an earlier run to compare rows with")
    ap.add_argument("--explain", type=Path, default=None, help="write EXPLAIN ANALYZE of the heavy models here")
    ap.add_argument(
        "--explain-only",
        action="store_true",
        help="no floor, no dbt run: --explain on the warehouse an earlier run left in --work",
    )
    ap.add_argument(
        "--explain-models",
        default=",".join(HEAVY_MODELS),
        help="comma-separated models for --explain (default: %(default)s)",
    )
    args = ap.parse_args(argv)
    if args.threads < 1 or args.repeat < 1:
        ap.error("--threads and --repeat must be 1 or more")
    if args.explain_only and args.explain is None:
        ap.error("--explain-only needs --explain FILE")
    if args.compare is not None and not args.compare.is_file():
        ap.error(f"--compare {args.compare}: no such warehouse file")
    sales = args.raw / "sales_lines"
    if not sales.is_dir():
        ap.error(f"{sales} does not exist: give --raw the folder the generator wrote (its raw/ subfolder)")
    if args.work is None:
        args.work = Path("/tmp/bench") / f"prepare-{args.raw.resolve().parent.name or 'raw'}"
    args.explain_models = [m.strip() for m in args.explain_models.split(",") if m.strip()]
    return args


def raw_reader(raw: Path, name: str, fmt: str) -> str:
    """The table function reading one raw table, as the project's source definition reads it."""
    folder = str(raw / name).replace("'", "''")
    if fmt == "csv":
        return f"read_csv('{folder}/*.csv', header = true, all_varchar = true, union_by_name = true)"
    return f"read_parquet('{folder}/*.parquet', union_by_name = true)"


def floor_sql(raw: Path, fmt: str) -> str:
    """The floor: the raw sales lines grouped to product-months, a count and a sum of the quantity."""
    return (
        "select product_id, left(cast(sale_date as varchar), 7) as month, count(*) as lines, "
        "sum(try_cast(quantity as bigint)) as units "
        f"from {raw_reader(raw, 'sales_lines', fmt)} group by all"
    )


def run_floor(raw: Path, fmt: str, threads: int, memory: str, repeat: int) -> tuple[bench.Measured, int, int]:
    """Time the floor in this process ``repeat`` times; returns the fastest run, product-months and lines."""
    import duckdb

    connection = duckdb.connect(":memory:", config={"threads": threads, "memory_limit": memory})
    runs = []
    try:
        connection.execute(f"select count(*) from {raw_reader(raw, 'sales_lines', fmt)}").fetchone()  # warm the cache
        for _ in range(repeat):
            with bench.Measured(f"floor (fastest of {repeat})") as measured:
                groups, lines = connection.execute(
                    f"select count(*), sum(lines) from ({floor_sql(raw, fmt)})"
                ).fetchone()
            runs.append(measured)
    finally:
        connection.close()
    return min(runs, key=lambda m: m.wall_s), int(groups), int(lines)


COMPARED_SCHEMAS = ("staging", "intermediate")


DOUBLE_DECIMALS = 6


def compare_sql(relation: str, columns: Sequence[tuple[str, str]]) -> str:
    """Rows of ``relation`` only in the new warehouse, only in the old one (attached as ``old``), and its rows.

    DOUBLE columns are compared rounded to :data:`DOUBLE_DECIMALS` decimals: a sum of doubles in a
    parallel aggregate adds in no fixed order, so its last bits differ from one run to the next.
    """
    select = ", ".join(
        f'round("{name}", {DOUBLE_DECIMALS})' if kind in ("DOUBLE", "FLOAT") else f'"{name}"' for name, kind in columns
    )
    new, old = f"select {select} from {relation}", f"select {select} from old.{relation}"
    return (
        f"select (select count(*) from ({new} except all {old})), (select count(*) from ({old} except all {new})), "
        f"(select count(*) from {relation})"
    )


def compare_warehouses(new: Path, old: Path) -> list[list[object]]:
    """Per relation of :data:`COMPARED_SCHEMAS`: rows, rows only in new, rows only in old (None: missing there)."""
    import duckdb

    connection = duckdb.connect(str(new), read_only=True)
    try:
        connection.execute("set enable_progress_bar = false")
        connection.execute(f"attach '{str(old).replace(chr(39), chr(39) * 2)}' as old (read_only)")
        schemas = ", ".join(f"'{s}'" for s in COMPARED_SCHEMAS)
        listing = (
            "select schema_name, table_name from duckdb_tables() "
            "where database_name = '{db}' and schema_name in ({schemas})"
        )
        current = connection.execute("select current_database()").fetchone()[0]
        here = set(connection.execute(listing.format(db=current, schemas=schemas)).fetchall())
        there = set(connection.execute(listing.format(db="old", schemas=schemas)).fetchall())
        rows = []
        for schema, table in sorted(here | there):
            relation = f"{schema}.{table}"
            if (schema, table) not in here or (schema, table) not in there:
                rows.append([relation, None, None, None, "only in " + ("new" if (schema, table) in here else "old")])
                continue
            try:
                columns = connection.execute(
                    "select column_name, data_type from duckdb_columns() where database_name = ? "
                    "and schema_name = ? and table_name = ? order by column_index",
                    [current, schema, table],
                ).fetchall()
                only_new, only_old, count = connection.execute(compare_sql(relation, columns)).fetchone()
            except duckdb.Error as exc:  # different columns: not comparable row by row
                rows.append([relation, None, None, None, f"not comparable: {str(exc).splitlines()[0][:80]}"])
                continue
            rows.append(
                [relation, count, only_new, only_old, "identical" if only_new == only_old == 0 else "DIFFERENT"]
            )
    finally:
        connection.close()
    return rows


def ratio(stage_s: float, floor_s: float) -> float:
    """How many times the floor the stage took (inf when the floor took no measurable time)."""
    return stage_s / floor_s if floor_s > 0 else float("inf")


def node_rows(nodes: pd.DataFrame, floor_s: float) -> list[list[object]]:
    """Rows of the per-node table, slowest first, with each node's multiple of the floor."""
    models = nodes[nodes["resource_type"] == "model"].sort_values("seconds", ascending=False)
    return [[n.name, n.status, n.seconds, ratio(n.seconds, floor_s)] for n in models.itertuples()]


def explain_statement(compiled_sql: str) -> str:
    """``EXPLAIN ANALYZE`` (JSON) of a model's compiled select (its trailing semicolon dropped)."""
    return "explain (analyze, format json) " + compiled_sql.strip().rstrip(";")


def heaviest_operators(profile: dict, top: int) -> list[list[object]]:
    """The ``top`` operators of a JSON profile by their own time: seconds, name, rows out, details."""
    found = []

    def walk(node: dict) -> None:
        details = {k: v for k, v in (node.get("extra_info") or {}).items() if k != "Estimated Cardinality"}
        text = "; ".join(f"{k}: {v if isinstance(v, str) else ', '.join(map(str, v))}" for k, v in details.items())
        found.append(
            [float(node.get("timing") or 0.0), node.get("name"), int(node.get("intermediate_rows") or 0), text]
        )
        for child in node.get("children") or []:
            walk(child)

    for node in profile.get("operator") or []:
        walk(node)
    found.sort(key=lambda row: -row[0])
    return [[seconds, name, rows, text[:140]] for seconds, name, rows, text in found[:top]]


def compiled_sql(target: Path, model: str) -> str:
    """The compiled SQL of ``model`` from ``target/compiled``."""
    found = sorted((target / "compiled").rglob(f"{model}.sql"))
    if not found:
        raise SystemExit(f"no compiled SQL for {model} under {target / 'compiled'}: did the dbt run select it?")
    return found[0].read_text()


def write_explain(paths: bench.DbtPaths, models: Sequence[str], threads: int, memory: str, out: Path) -> None:
    """EXPLAIN ANALYZE of each model's compiled SQL on the finished warehouse: the heaviest operators
    as markdown tables into ``out``, the whole JSON profiles beside it (``out`` + ``.json``)."""
    import duckdb

    connection = duckdb.connect(str(paths.database), config={"threads": threads, "memory_limit": memory})
    connection.execute("set enable_progress_bar = false")
    parts, profiles = [], {}
    try:
        for model in models:
            plan = connection.execute(explain_statement(compiled_sql(paths.target, model))).fetchall()
            profile = json.loads(plan[0][-1])
            profiles[model] = profile
            query, system = profile.get("query", {}), profile.get("system", {})
            parts.append(
                f"### {model}\n\nunder EXPLAIN ANALYZE: {query.get('total_time', 0):.1f} s, "
                f"{query.get('cpu_time', 0):.1f} operator CPU-s, peak buffer memory "
                f"{system.get('peak_buffer_memory', 0) / 1024**2:,.0f} MB, spilled "
                f"{system.get('total_bytes_spilled', 0) / 1024**2:,.0f} MB\n\n"
                + bench.markdown_table(
                    ["operator s", "operator", "rows out", "details"], heaviest_operators(profile, 10), digits=2
                )
                + "\n"
            )
    finally:
        connection.close()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(parts))
    Path(f"{out}.json").write_text(json.dumps(profiles, indent=1))
    print(f"\nEXPLAIN ANALYZE of {', '.join(models)}: heaviest operators in {out}, whole profiles in {out}.json")
    print("\n" + "\n".join(parts))


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.explain_only:
        paths = bench.DbtPaths(args.work)
        if not paths.database.is_file():
            raise SystemExit(f"--explain-only: no warehouse at {paths.database}; run once without --explain-only first")
        write_explain(paths, args.explain_models, args.threads, args.memory, args.explain)
        return 0
    bench.section(f"SQL preparation stage vs DuckDB's floor: {args.raw} ({args.format})")
    print(f"load average at start: {bench.load_text()}")

    floor, groups, lines = run_floor(args.raw, args.format, args.threads, args.memory, args.repeat)
    print(f"floor: {lines:,} sales lines -> {groups:,} product-months")
    print(floor.line())

    paths = bench.DbtPaths(args.work)
    paths.prepare(fresh_database=True)
    paths.output.unlink(missing_ok=True)
    (paths.target / "run_results.json").unlink(missing_ok=True)
    env = {
        "DEMAND_RAW_FORMAT": args.format,
        "DEMAND_DUCKDB_THREADS": str(args.threads),
        "DEMAND_DUCKDB_MEMORY": args.memory,
    }
    stats = bench.run_dbt(paths, args.raw, "run", *PREPARATION_SELECT, extra_env=env)
    print(bench.stats_line("stage (dbt run, process tree)", stats, rows=lines))
    print(f"stage CPU-s of the tree: {stats.tree_cpu_s:.1f}")

    nodes = bench.node_timings(paths.target)
    node_s = float(nodes.loc[nodes["resource_type"] == "model", "seconds"].sum())
    elapsed = float(nodes.attrs["elapsed_s"])
    print(f"stage node-seconds: {node_s:.1f}; dbt's own elapsed time: {elapsed:.1f} s (start-up and parsing left out)")
    print(
        f"ratio stage / floor: {ratio(node_s, floor.wall_s):.1f}x in node-seconds, "
        f"{ratio(elapsed, floor.wall_s):.1f}x in dbt's elapsed wall time (floor {floor.wall_s:.2f} s)\n"
    )
    print(bench.markdown_table(["node", "status", "seconds", "x floor"], node_rows(nodes, floor.wall_s), digits=2))

    if args.compare is not None:
        rows = compare_warehouses(paths.database, args.compare)
        print(f"\nrows compared with {args.compare} (EXCEPT ALL both ways):\n")
        print(bench.markdown_table(["relation", "rows", "only in new", "only in old", "verdict"], rows))
        if any(r[-1] != "identical" for r in rows):
            print("\nDIFFERENT: some relation differs from the compared warehouse (see above)")
    if args.explain is not None:
        write_explain(paths, args.explain_models, args.threads, args.memory, args.explain)
    print(f"\nload average at the end: {bench.load_text()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

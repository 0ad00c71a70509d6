"""Benchmark the synthetic data generator at full size (not part of the test suite).

    python scripts/bench/bench_generate.py                       # 30,000 products x 5 years into a temp folder
    python scripts/bench/bench_generate.py --out /tmp/big --keep --workers 2

Prints rows written (sales lines, stock snapshots, total), wall seconds, CPU seconds of all
processes, the load average while it ran (the machine is shared), rows per second, peak resident
memory (ru_maxrss of this process and of the largest worker process) and size on disk.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common as bench

from demand_forecast.synthetic.datagen import generate


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=None, help="output folder (default: a temporary folder)")
    ap.add_argument("--keep", action="store_true", help="keep the output (always kept with --out)")
    ap.add_argument("--products", type=int, default=30_000)
    ap.add_argument("--years", type=int, default=5)
    ap.add_argument("--end-date", default="2026-10-31")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--format", dest="fmt", choices=["parquet", "csv"], default="parquet")
    ap.add_argument("--chunk-size", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=0, help="0 = auto (one per core, at most 4)")
    args = ap.parse_args(argv)

    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="bench_generate_"))
    try:
        with bench.Measured("generate") as measured:
            manifest = generate(
                out,
                args.products,
                args.years,
                args.end_date,
                args.seed,
                args.fmt,
                args.chunk_size,
                args.workers,
                progress=True,
            )
        rows = manifest["rows"]
        total = rows["sales_lines"] + rows["stock_snapshots"] + rows["products"]
        measured.rows = total
        size_mb = bench.dir_size(out) / 1024**2
        print(f"products x years        : {args.products:,} x {args.years} ({args.fmt})")
        print(f"sales lines written     : {rows['sales_lines']:,}")
        print(f"stock snapshots written : {rows['stock_snapshots']:,}")
        print(f"rows written (all raw)  : {total:,}")
        print(measured.line())
        print(f"output size on disk     : {size_mb:,.0f} MB")
    finally:
        if args.out is None and not args.keep:
            shutil.rmtree(out, ignore_errors=True)
        elif args.out is None:
            print(f"output kept in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

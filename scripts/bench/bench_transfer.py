"""What the Spark executor moves per series: bytes in (the panel rows) and out (fitted states).

A capacity estimate needs the shuffle size of ``groupBy(product_id).applyInPandas``. This script
runs the forecasting stage once with the local executor wrapped in a recorder: every call of
``map_series`` is encoded exactly as the Spark executor encodes it (``encode_input`` for the rows
that go to the workers, ``encode_output`` for what comes back) and the bytes are counted, as Arrow
buffers (the format Spark uses between the JVM and its Python workers). Nothing here needs pyspark.

    .venv/bin/python scripts/bench/bench_transfer.py --products 1000

Prints, per per-series function and in total: calls, series, rows in, bytes in and out, and bytes
per series; then the totals per series of one forecasting run, the figure the capacity model of
docs/scale.md scales from.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common as bench


@dataclass
class Transfer:
    """Counts of one per-series function over a run."""

    calls: int = 0
    series: int = 0
    rows_in: int = 0
    bytes_in: int = 0
    rows_out: int = 0
    bytes_out: int = 0


def arrow_bytes(frame: pd.DataFrame) -> int:
    """Size of ``frame``'s Arrow buffers (what crosses between the JVM and a Python worker)."""
    import pyarrow as pa

    return int(pa.Table.from_pandas(frame, preserve_index=False).nbytes)


def output_bytes(result: pd.DataFrame, key: str, outputs) -> tuple[int, int]:
    """Rows and Arrow bytes of ``result`` encoded group by group as the Spark executor encodes it."""
    from demand_forecast.forecasting.spark_executor import encode_output

    if result.empty:
        return 0, 0
    parts = [encode_output(group, value, outputs) for value, group in result.groupby(key, sort=False)]
    encoded = pd.concat(parts, ignore_index=True)
    return len(encoded), arrow_bytes(encoded)


class RecordingExecutor:
    """A local executor that counts what a Spark executor would move for each call."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.counts: dict[str, Transfer] = {}

    def __enter__(self) -> RecordingExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.inner.close()

    def map_series(self, func, frame: pd.DataFrame, key: str, **kwargs) -> pd.DataFrame:
        from demand_forecast.forecasting.spark_executor import OUTPUTS_ATTRIBUTE, PICKLED_FRAME, encode_input

        result = self.inner.map_series(func, frame, key, **kwargs)
        counts = self.counts.setdefault(func.__name__, Transfer())
        encoded, _, _ = encode_input(frame)
        counts.calls += 1
        counts.series += int(frame[key].nunique())
        counts.rows_in += len(frame)
        counts.bytes_in += arrow_bytes(encoded)
        outputs = tuple(map(tuple, getattr(func, OUTPUTS_ATTRIBUTE, PICKLED_FRAME)))
        rows_out, bytes_out = output_bytes(result, key, outputs)
        counts.rows_out += rows_out
        counts.bytes_out += bytes_out
        return result


def per_series_rows(counts: dict[str, Transfer], products: int) -> list[list[object]]:
    """Table rows: each function, then the total, with bytes per series of the panel."""
    total = Transfer()
    for c in counts.values():
        for field in ("calls", "series", "rows_in", "bytes_in", "rows_out", "bytes_out"):
            setattr(total, field, getattr(total, field) + getattr(c, field))
    return [
        [name, c.calls, c.series, c.rows_in, c.bytes_in, c.bytes_out, (c.bytes_in + c.bytes_out) / products]
        for name, c in [*counts.items(), ("total", total)]
    ]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--products", type=int, default=1000)
    ap.add_argument("--months", type=int, default=60)
    ap.add_argument("--data-seed", type=int, default=7)
    ap.add_argument("--n-jobs", type=int, default=2, help="worker processes of the local executor inside")
    args = ap.parse_args(argv)
    if args.products < 1 or args.months < 13 or args.n_jobs < 1:
        ap.error("--products and --n-jobs must be positive and --months at least 13")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    bench.ensure_package_importable()
    from bench_forecast import make_panel

    from demand_forecast.forecasting.executor import LocalExecutor
    from demand_forecast.forecasting.pipeline import run_forecasting

    config = bench.project_forecast_config(n_jobs=args.n_jobs)
    panel, profiles, as_of = make_panel(args.products, args.months, seed=args.data_seed)
    print(f"# bytes a Spark executor would move: {args.products:,} products x {args.months} months", flush=True)
    started = time.perf_counter()
    with RecordingExecutor(LocalExecutor(n_jobs=args.n_jobs)) as recorder:
        run_forecasting(panel, profiles, as_of, config, executor=recorder)
    print(f"forecasting run with the recorder: {time.perf_counter() - started:.1f} s", flush=True)
    headers = ["function", "calls", "series", "rows in", "bytes in", "bytes out", "bytes per panel series"]
    print(bench.markdown_table(headers, per_series_rows(recorder.counts, args.products), digits=0))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

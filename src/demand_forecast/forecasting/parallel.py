"""Run a per-series function over many products, optionally in worker processes.

:func:`map_series` is the local stand-in for a distributed "group map" such as
Spark's ``groupBy(key).applyInPandas(func)``: ``func`` receives the rows of one
product (a pandas frame) and returns a pandas frame.  Products are split into
chunks of ``chunk_size`` keys; each chunk is one task.

* ``n_jobs = 1`` runs the chunks in the calling process (BLAS/OpenMP limited
  to one thread meanwhile, via threadpoolctl).
* ``n_jobs > 1`` uses ``concurrent.futures.ProcessPoolExecutor`` with the
  ``spawn`` start method (safe inside threaded hosts such as dbt).  Workers
  get ``OMP_NUM_THREADS = OPENBLAS_NUM_THREADS = MKL_NUM_THREADS = 1`` (set in
  the environment they are spawned with, so native thread pools never
  oversubscribe the cores).
* If the pool breaks (for instance the host's main script has no
  ``if __name__ == "__main__"`` guard, which ``spawn`` needs) the work falls
  back to the calling process with a ``RuntimeWarning``.
* Results are concatenated in key order whatever ``n_jobs`` is, so the output
  is identical for any number of workers.

``func`` must be a module-level function (it is pickled by reference).
Importing this module has no side effects.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import numpy as np
import pandas as pd

THREAD_ENV_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)


def _limit_threads() -> None:
    """Worker initializer: keep native libraries single-threaded."""
    for var in THREAD_ENV_VARS:
        os.environ[var] = "1"


@contextlib.contextmanager
def single_thread_env() -> Iterator[None]:
    """Temporarily set the thread variables to 1 so spawned children inherit them."""
    saved = {var: os.environ.get(var) for var in THREAD_ENV_VARS}
    try:
        for var in THREAD_ENV_VARS:
            os.environ[var] = "1"
        yield
    finally:
        for var, value in saved.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value


@contextlib.contextmanager
def limit_native_threads() -> Iterator[None]:
    """Limit BLAS/OpenMP pools of the current process to one thread (in-process runs).

    Many tiny statsmodels fits are much slower with multi-threaded BLAS (the
    threads spin on a busy machine), so the in-process path runs them single
    threaded, like the workers.  No-op when ``threadpoolctl`` is unavailable.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        yield
        return
    with threadpool_limits(limits=1):
        yield


def _run_chunk(
    func: Callable[..., pd.DataFrame], chunk: pd.DataFrame, key: str, kwargs: dict[str, Any]
) -> pd.DataFrame:
    parts = [func(group, **kwargs) for _, group in chunk.groupby(key, sort=True)]
    parts = [p for p in parts if p is not None and len(p)]
    if not parts:
        return pd.DataFrame()
    return pd.concat(parts, ignore_index=True)


def split_chunks(frame: pd.DataFrame, key: str, chunk_size: int) -> list[pd.DataFrame]:
    """Split ``frame`` (any order) into key-sorted chunks of at most ``chunk_size`` keys."""
    if frame.empty:
        return []
    ordered = frame.sort_values(key, kind="stable").reset_index(drop=True)
    keys = ordered[key].to_numpy()
    change = np.flatnonzero(keys[1:] != keys[:-1]) + 1
    starts = np.concatenate([[0], change])
    bounds = list(starts[::chunk_size]) + [len(ordered)]
    return [ordered.iloc[bounds[i] : bounds[i + 1]] for i in range(len(bounds) - 1)]


def map_series(
    func: Callable[..., pd.DataFrame],
    frame: pd.DataFrame,
    key: str = "product_id",
    n_jobs: int = 1,
    chunk_size: int = 250,
    **kwargs: Any,
) -> pd.DataFrame:
    """Apply ``func(group_frame, **kwargs)`` to every key group and concatenate.

    Returns the concatenation in key order (deterministic for any ``n_jobs``).
    """
    chunks = split_chunks(frame, key, max(1, int(chunk_size)))
    if not chunks:
        return pd.DataFrame()
    if n_jobs <= 1 or len(chunks) == 1:
        with limit_native_threads():
            results = [_run_chunk(func, c, key, kwargs) for c in chunks]
    else:
        ctx = multiprocessing.get_context("spawn")
        workers = min(int(n_jobs), len(chunks))
        try:
            with (
                single_thread_env(),
                ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_limit_threads) as pool,
            ):
                futures = [pool.submit(_run_chunk, func, c, key, kwargs) for c in chunks]
                results = [f.result() for f in futures]
        except BrokenProcessPool as exc:
            # e.g. a host script without an ``if __name__ == "__main__"`` guard
            warnings.warn(
                f"process pool failed ({exc}); running the {len(chunks)} chunks in-process",
                RuntimeWarning,
                stacklevel=2,
            )
            with limit_native_threads():
                results = [_run_chunk(func, c, key, kwargs) for c in chunks]
    results = [r for r in results if len(r)]
    if not results:
        return pd.DataFrame()
    return pd.concat(results, ignore_index=True)

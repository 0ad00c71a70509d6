"""Where the per-series work runs: a group map over products, locally in worker processes.

Models estimated series by series (ETS, Theta) hand their work to an *executor*: a function of one
product's rows (a pandas frame in, a pandas frame out) applied to every product -- the shape of
Spark's ``groupBy(key).applyInPandas(func)``.  :class:`Executor` is that interface;
:class:`LocalExecutor` runs it here:

* products are split into chunks of ``chunk_size`` keys; each chunk is one task;
* ``n_jobs = 1`` runs the chunks in the calling process (BLAS/OpenMP limited to one thread
  meanwhile, via threadpoolctl);
* ``n_jobs > 1`` uses a ``concurrent.futures.ProcessPoolExecutor`` with the ``spawn`` start method
  (safe inside threaded hosts such as dbt), opened at the first parallel map and kept until
  :meth:`LocalExecutor.close` (or the end of a ``with`` block), so the models of one run share
  its workers.  Workers get ``OMP_NUM_THREADS = OPENBLAS_NUM_THREADS = MKL_NUM_THREADS = 1``
  (set in the environment they are spawned with, so native thread pools never oversubscribe the
  cores);
* if the pool breaks (for instance the host's main script has no ``if __name__ == "__main__"``
  guard, which ``spawn`` needs) the work falls back to the calling process with a
  ``RuntimeWarning``;
* results are concatenated in key order whatever ``n_jobs`` is, so the output is identical for
  any number of workers.

``func`` must be a module-level function (it is pickled by reference).
:func:`demand_forecast.forecasting.pipeline.executor_for` picks the executor a config asks for
(``forecast_executor``: this module's :class:`LocalExecutor`, or
:class:`~demand_forecast.forecasting.spark_executor.SparkExecutor`).  Importing this module has no
side effects.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Protocol

import numpy as np
import pandas as pd

from . import progress

THREAD_ENV_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)

SeriesFunction = Callable[..., pd.DataFrame]


class Executor(Protocol):
    """Applies a per-series function to every key group of a frame (a distributed group map)."""

    def map_series(
        self, func: SeriesFunction, frame: pd.DataFrame, key: str = "product_id", **kwargs: Any
    ) -> pd.DataFrame:
        """``func(group_frame, **kwargs)`` for every key group, concatenated in key order."""
        ...


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


def _run_chunk(func: SeriesFunction, chunk: pd.DataFrame, key: str, kwargs: dict[str, Any]) -> pd.DataFrame:
    parts = [func(group, **kwargs) for _, group in chunk.groupby(key, sort=True)]
    parts = [p for p in parts if p is not None and len(p)]
    if not parts:
        return pd.DataFrame()
    return pd.concat(parts, ignore_index=True)


def _counted(result: pd.DataFrame, chunk: pd.DataFrame, key: str) -> pd.DataFrame:
    progress.advance(chunk[key].nunique())
    return result


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


class LocalExecutor:
    """Runs per-series functions in this process or in a pool of ``n_jobs`` worker processes."""

    def __init__(self, n_jobs: int = 1, chunk_size: int = 250) -> None:
        self.n_jobs = int(n_jobs)
        self.chunk_size = max(1, int(chunk_size))
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Shut the worker pool down (it is opened again by the next parallel map)."""
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def _worker_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            ctx = multiprocessing.get_context("spawn")
            with single_thread_env():
                self._pool = ProcessPoolExecutor(max_workers=self.n_jobs, mp_context=ctx, initializer=_limit_threads)
        return self._pool

    def map_series(
        self, func: SeriesFunction, frame: pd.DataFrame, key: str = "product_id", **kwargs: Any
    ) -> pd.DataFrame:
        """Apply ``func(group_frame, **kwargs)`` to every key group and concatenate, in key order."""
        chunks = split_chunks(frame, key, self.chunk_size)
        if not chunks:
            return pd.DataFrame()
        progress.series(frame[key].nunique())
        if self.n_jobs <= 1 or len(chunks) == 1:
            results = self._in_process(func, chunks, key, kwargs)
        else:
            try:
                with single_thread_env():  # workers the pool spawns now inherit single-threaded settings
                    pool = self._worker_pool()
                    futures = [pool.submit(_run_chunk, func, c, key, kwargs) for c in chunks]
                results = [_counted(f.result(), c, key) for f, c in zip(futures, chunks, strict=True)]
            except BrokenProcessPool as exc:
                # e.g. a host script without an ``if __name__ == "__main__"`` guard
                warnings.warn(
                    f"process pool failed ({exc}); running the {len(chunks)} chunks in-process",
                    RuntimeWarning,
                    stacklevel=2,
                )
                self._pool = None
                results = self._in_process(func, chunks, key, kwargs)
        results = [r for r in results if len(r)]
        if not results:
            return pd.DataFrame()
        return pd.concat(results, ignore_index=True)

    @staticmethod
    def _in_process(func: SeriesFunction, chunks: list[pd.DataFrame], key: str, kwargs: dict[str, Any]):
        with limit_native_threads():
            return [_counted(_run_chunk(func, c, key, kwargs), c, key) for c in chunks]


def map_series(
    func: SeriesFunction,
    frame: pd.DataFrame,
    key: str = "product_id",
    n_jobs: int = 1,
    chunk_size: int = 250,
    **kwargs: Any,
) -> pd.DataFrame:
    """One group map with a short-lived :class:`LocalExecutor` (see the module docstring)."""
    with LocalExecutor(n_jobs, chunk_size) as executor:
        return executor.map_series(func, frame, key, **kwargs)

"""Progress lines of the forecasting step, for the batch's log.

:mod:`demand_forecast.forecasting.progress` tells its listeners every stage start and every chunk of
series done. :class:`ProgressLines` turns those events into a few lines: one when a stage starts,
then one each time another ``every_fraction`` of the stage's series is done or ``every_s`` seconds
have passed, and one when the last series is done; never one per series. Each line reads::

    forecast progress | models: ets fit 1/3 | series 1,250/5,000 (25%) | elapsed 1m40s

The dbt Python models run inside the dbt process, whose output the batch streams into
``logs/batch-<run id>.log``; the lines are printed there (and show in a plain ``dbt build`` too).
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Callable, Iterator

from demand_forecast.forecasting import progress as forecasting_progress

PREFIX = "forecast progress"


def fmt_elapsed(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


class ProgressLines:
    """A listener of forecasting progress that writes a line every ``every_fraction`` or ``every_s``.

    :meth:`heartbeat` (called by :func:`progress_lines` from a timer thread) repeats the current
    state when nothing was written for ``every_s`` seconds, so a long stage without events (one
    global model's training, one large chunk) is not silent either.
    """

    def __init__(
        self,
        write: Callable[[str], None] | None = None,
        *,
        every_fraction: float = 0.1,
        every_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 < every_fraction <= 1:
            raise ValueError(f"every_fraction must be in (0, 1], got {every_fraction}")
        if every_s <= 0:
            raise ValueError(f"every_s must be positive, got {every_s}")
        self.write = write or _print_flushed
        self.every_fraction = every_fraction
        self.every_s = every_s
        self.clock = clock
        self.started = clock()
        self.lines_written = 0
        self._lock = threading.Lock()
        self._stage = "start"
        self._done = 0
        self._total = 0
        self._next_done = 0.0
        self._last_at = self.started

    def __call__(self, stage: str, done: int, total: int) -> None:
        with self._lock:
            now = self.clock()
            if done == 0:  # a stage, or a map over series within it, starts
                self._stage, self._done, self._total = stage, 0, total
                self._next_done = total * self.every_fraction
                if total == 0:
                    self._line(now)
                return
            if total <= 0:
                return
            self._done = min(done, total)
            if self._done >= self._next_done or self._done == total or now - self._last_at >= self.every_s:
                while self._next_done <= self._done:
                    self._next_done += total * self.every_fraction
                self._line(now)

    def heartbeat(self) -> None:
        """Write the current state again if nothing was written for ``every_s`` seconds."""
        with self._lock:
            now = self.clock()
            if now - self._last_at >= self.every_s:
                self._line(now)

    def finish(self) -> None:
        with self._lock:
            self.write(f"{PREFIX} | done | elapsed {fmt_elapsed(self.clock() - self.started)}")
            self.lines_written += 1

    def _line(self, now: float) -> None:
        parts = [PREFIX, self._stage]
        if self._total:
            parts.append(f"series {self._done:,}/{self._total:,} ({self._done / self._total:.0%})")
        parts.append(f"elapsed {fmt_elapsed(now - self.started)}")
        self.write(" | ".join(parts))
        self.lines_written += 1
        self._last_at = now


def _print_flushed(line: str) -> None:
    print(line, file=sys.stdout, flush=True)


@contextlib.contextmanager
def progress_lines(write: Callable[[str], None] | None = None, **options: float) -> Iterator[ProgressLines]:
    """Write the forecasting progress of this block as lines (stdout by default)."""
    lines = ProgressLines(write, **options)
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(lines.every_s / 4):
            lines.heartbeat()

    timer = threading.Thread(target=beat, daemon=True, name="forecast-progress")
    timer.start()
    try:
        with forecasting_progress.listening(lines):
            yield lines
    finally:
        stop.set()
        timer.join()
    lines.finish()

"""Process measurement of the benchmarks: wall and CPU seconds, peak memory, load average.

* :func:`run_measured` runs a command and measures wall seconds, CPU seconds of the command and every
  descendant it waited for (and, polled, of every process of its tree: ``RunStats.tree_cpu_s``), the
  peak resident memory of its whole process tree (polled from ``/proc``), the largest single process
  (``os.wait4`` rusage) and the load average while it ran (:class:`RunStats`, one line of it by
  :func:`stats_line`).
* :class:`Measured` does the same for code run in this process (its worker processes included).
* :class:`LoadSampler` samples the load average in the background; :func:`load_text` is its value now.
* :func:`dir_size` (bytes below a folder) and :func:`tail` (last lines of a log, for error messages).

Standard library only; ``common`` re-exports every name for the scripts' ``import common as bench``.
"""

from __future__ import annotations

import os
import resource
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def load_text() -> str:
    """Current load average as ``1-min / 5-min / 15-min on N cores``."""
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f} (1/5/15 min) on {os.cpu_count()} cores"


def _children_map() -> dict[int, list[int]]:
    """Parent pid -> child pids of every process visible in /proc."""
    kids: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        # the command name (field 2) may hold spaces or brackets: split after its closing bracket
        fields = stat[stat.rfind(b")") + 2 :].split()
        kids.setdefault(int(fields[1]), []).append(int(entry.name))
    return kids


def _rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm", "rb") as fh:
            return int(fh.read().split()[1]) * PAGE_SIZE
    except (OSError, IndexError, ValueError):
        return 0


def _tree_pids(root: int) -> list[int]:
    """``root`` and all its descendants alive now."""
    kids = _children_map()
    pids, todo = [], [root]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        todo.extend(kids.get(pid, ()))
    return pids


def tree_rss_bytes(root: int) -> tuple[int, int]:
    """(sum of the resident memory of ``root`` and all its descendants, number of processes)."""
    pids = _tree_pids(root)
    return sum(_rss_bytes(pid) for pid in pids), len(pids)


def _own_cpu(pid: int) -> tuple[tuple[int, int], float] | None:
    """((pid, start time), user + system CPU seconds of the process itself, its children not included)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return None
    fields = stat[stat.rfind(b")") + 2 :].split()  # field 3 (state) is fields[0]
    return (pid, int(fields[19])), (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


class LoadSampler:
    """Samples the 1-minute load average every ``every`` seconds while the ``with`` block runs."""

    def __init__(self, every: float = 5.0) -> None:
        self.every = every
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while True:
            self.samples.append(os.getloadavg()[0])
            if self._stop.wait(self.every):
                break

    def __enter__(self) -> LoadSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append(os.getloadavg()[0])

    def summary(self) -> str:
        return load_summary(self.samples)


def load_summary(samples: Sequence[float]) -> str:
    """``min / mean / max`` of 1-minute load-average samples."""
    if not samples:
        return "n/a"
    return (
        f"1-min load average min {min(samples):.2f} / mean {sum(samples) / len(samples):.2f} / "
        f"max {max(samples):.2f} ({len(samples)} samples, {os.cpu_count()} cores)"
    )


@dataclass
class RunStats:
    """What :func:`run_measured` measured for one command."""

    command: list[str]
    returncode: int
    wall_s: float
    cpu_s: float  # user + system of the process and its waited-for descendants
    peak_tree_mb: float  # largest polled sum of RSS over the process tree
    peak_tree_processes: int  # processes in the tree at that moment
    max_process_mb: float  # ru_maxrss from os.wait4: the largest single process of the tree
    load_samples: list[float] = field(default_factory=list)  # 1-min load average while it ran
    memory_samples: list[tuple[float, float]] = field(default_factory=list)  # (unix time, tree MB)
    # CPU seconds of every process of the tree as last polled, summed: counts descendants nobody waited
    # for (a JVM's Python workers), misses a process's last poll interval and processes between polls
    polled_cpu_s: float = 0.0

    @property
    def tree_cpu_s(self) -> float:
        """The larger of the two lower bounds of the tree's CPU seconds (waited-for and polled)."""
        return max(self.cpu_s, self.polled_cpu_s)

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def load_summary(self) -> str:
        return load_summary(self.load_samples)


def run_measured(
    command: Sequence[str],
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    output: Path | None = None,
    poll_seconds: float = 0.5,
) -> RunStats:
    """Run ``command`` to completion and measure it (see :class:`RunStats`).

    stdout and stderr go to ``output`` (a file) when given, else to this process's own streams.
    The process tree is polled every ``poll_seconds`` for memory (and the load average is sampled
    every 5 s); ``os.wait4`` gives CPU time and the largest single process.
    """
    command = [str(c) for c in command]
    peak = {"bytes": 0, "procs": 0}
    stop = threading.Event()
    sink = open(output, "ab") if output else None  # noqa: SIM115 - closed after the process ends
    start = time.perf_counter()
    proc = subprocess.Popen(
        command, env=dict(env) if env else None, cwd=cwd, stdout=sink, stderr=subprocess.STDOUT if sink else None
    )

    samples: list[tuple[float, float]] = []

    cpu_seen: dict[tuple[int, int], float] = {}

    def poll() -> None:
        while not stop.is_set():
            pids = _tree_pids(proc.pid)
            total, count = sum(_rss_bytes(pid) for pid in pids), len(pids)
            for pid in pids:
                own = _own_cpu(pid)
                if own is not None:
                    cpu_seen[own[0]] = own[1]
            samples.append((time.time(), total / 1024**2))
            if total > peak["bytes"]:
                peak["bytes"], peak["procs"] = total, count
            stop.wait(poll_seconds)

    poller = threading.Thread(target=poll, daemon=True)
    with LoadSampler() as load:
        poller.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            stop.set()
            poller.join()
            if sink:
                sink.close()
    proc.returncode = os.waitstatus_to_exitcode(status)  # already reaped: keep Popen from waiting again
    wall = time.perf_counter() - start
    return RunStats(
        command=command,
        returncode=proc.returncode,
        wall_s=wall,
        cpu_s=usage.ru_utime + usage.ru_stime,
        peak_tree_mb=peak["bytes"] / 1024**2,
        peak_tree_processes=peak["procs"],
        max_process_mb=usage.ru_maxrss / 1024,  # kilobytes on Linux
        load_samples=load.samples,
        memory_samples=samples,
        polled_cpu_s=sum(cpu_seen.values()),
    )


def dir_size(path: Path) -> int:
    """Bytes of every file below ``path``."""
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def tail(path: Path, lines: int = 30) -> str:
    """Last lines of a text file (for error reports)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


class Measured:
    """Wall and CPU seconds, load average and peak memory of the code run inside the ``with`` block.

    CPU seconds are those of this process plus its finished child processes (worker pools that
    were shut down); peak memory is this process's and the largest finished child's ``ru_maxrss``.
    ``rows`` (set by the caller) gives rows per second in :meth:`line`.
    """

    def __init__(self, label: str, rows: int | None = None) -> None:
        self.label = label
        self.rows = rows
        self._load = LoadSampler()

    @staticmethod
    def _cpu() -> float:
        me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime

    def __enter__(self) -> Measured:
        self._cpu0 = self._cpu()
        self._t0 = time.perf_counter()
        self._load.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._load.__exit__(*exc)
        self.wall_s = time.perf_counter() - self._t0
        self.cpu_s = self._cpu() - self._cpu0
        self.self_peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        self.child_peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024

    def line(self) -> str:
        """``label: 12.3 s wall, 20.1 CPU-s (1.63 cores busy), 4,000 rows/s, peak ...; load ...``."""
        rate = f", {self.rows / self.wall_s:,.0f} rows/s" if self.rows and self.wall_s > 0 else ""
        return (
            f"{self.label}: {self.wall_s:.1f} s wall, {self.cpu_s:.1f} CPU-s "
            f"({self.cpu_s / self.wall_s:.2f} cores busy){rate}; peak memory {self.self_peak_mb:,.0f} MB "
            f"(this process), {self.child_peak_mb:,.0f} MB (largest worker); {self._load.summary()}"
        )


def stats_line(label: str, stats: RunStats, rows: int | None = None) -> str:
    """One line with every figure of a :func:`run_measured` command."""
    rate = f", {rows / stats.wall_s:,.0f} rows/s" if rows and stats.wall_s > 0 else ""
    return (
        f"{label}: {stats.wall_s:.1f} s wall, {stats.cpu_s:.1f} CPU-s{rate}; peak memory "
        f"{stats.peak_tree_mb:,.0f} MB (process tree), {stats.max_process_mb:,.0f} MB (largest process); "
        f"{stats.load_summary()}"
    )

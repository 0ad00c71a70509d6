"""Helpers shared by the benchmark scripts of ``scripts/bench/``; not a benchmark itself.

What the package already owns is imported from it (dbt's run results from
``demand_forecast.ops.dbt_results``, the forecast settings through ``demand_forecast.dbt_bridge``,
the batch and the importer through the ``demand-forecast`` command); what is here measures:

* :func:`run_measured` runs a command and measures wall seconds, CPU seconds of the command and every
  descendant it waited for, the peak resident memory of its whole process tree (polled from
  ``/proc``), the largest single process (``os.wait4`` rusage) and the load average while it ran;
  :class:`Measured` does the same for code run in this process (its worker processes included).
* :func:`project_env` is the environment the Makefile gives a run (single-threaded numeric
  libraries, no telemetry) with the warehouse, raw data, exports, logs and reports of the run
  redirected to a benchmark folder, so a benchmark never touches the user's warehouse.
* :func:`generate_dataset`, :func:`run_dbt` run the generator and dbt into such a folder;
  :func:`node_timings` adds the stage and the start/end times of each dbt node to the package's
  reading of ``run_results.json`` (:func:`attributed_wall`, :func:`stage_peak_memory`).
* :func:`markdown_table` prints plain-text tables that paste into markdown.
"""

from __future__ import annotations

import json
import numbers
import os
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

REPO_DIR = Path(__file__).resolve().parents[2]
SRC_DIR = REPO_DIR / "src"
BIN_DIR = Path(sys.executable).parent
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def ensure_package_importable() -> None:
    """Make ``import demand_forecast`` work without an editable install."""
    if str(SRC_DIR) not in sys.path:
        sys.path.insert(0, str(SRC_DIR))


ensure_package_importable()
from demand_forecast.ops.dbt_results import load_run_results  # noqa: E402

# --------------------------------------------------------------------------- load and processes


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


def tree_rss_bytes(root: int) -> tuple[int, int]:
    """(sum of the resident memory of ``root`` and all its descendants, number of processes)."""
    kids = _children_map()
    total, count, todo = 0, 0, [root]
    while todo:
        pid = todo.pop()
        total += _rss_bytes(pid)
        count += 1
        todo.extend(kids.get(pid, ()))
    return total, count


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

    def poll() -> None:
        while not stop.is_set():
            total, count = tree_rss_bytes(proc.pid)
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


# --------------------------------------------------------------------------- generator and dbt


def generate_dataset(
    out: Path, products: int, years: int, seed: int, end_date: str, workers: int = 0, log: Path | None = None
) -> RunStats:
    """Run ``python -m demand_forecast.synthetic.datagen`` into ``out`` (``out/raw``, ``out/truth``)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(SRC_DIR), os.environ.get("PYTHONPATH")]))}
    command = [
        sys.executable,
        "-m",
        "demand_forecast.cli",
        "generate",
        "--out",
        str(out),
        "--products",
        str(products),
        "--years",
        str(years),
        "--seed",
        str(seed),
        "--end-date",
        end_date,
        "--workers",
        str(workers),
        "--quiet",
    ]
    stats = run_measured(command, env=env, cwd=REPO_DIR, output=log)
    if not stats.ok:
        raise SystemExit(f"data generation failed (exit {stats.returncode}); see {log}\n{tail(log) if log else ''}")
    return stats


@dataclass(frozen=True)
class DbtPaths:
    """Where one benchmark's dbt writes: all under ``work``."""

    work: Path

    @property
    def database(self) -> Path:
        return self.work / "warehouse.duckdb"

    @property
    def target(self) -> Path:
        return self.work / "target"

    @property
    def logs(self) -> Path:
        return self.work / "dbt-logs"

    @property
    def exports(self) -> Path:
        return self.work / "exports"

    @property
    def output(self) -> Path:
        return self.work / "dbt-output.log"

    def prepare(self, fresh_database: bool = True) -> None:
        """Create the folders (dbt's export post-hook needs the export folder to exist)."""
        for folder in (self.work, self.exports, self.logs):
            folder.mkdir(parents=True, exist_ok=True)
        if fresh_database:
            for suffix in ("", ".wal"):
                Path(f"{self.database}{suffix}").unlink(missing_ok=True)


# As the Makefile: parallelism comes from the worker processes, numeric libraries stay single-threaded.
SINGLE_THREADED = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def single_threaded_env() -> dict[str, str]:
    """This process's environment with the numeric libraries single-threaded."""
    return {**os.environ, **SINGLE_THREADED}


def project_env(
    *,
    database: Path,
    raw_dir: Path,
    exports: Path,
    logs: Path | None = None,
    reports: Path | None = None,
    project_dir: Path = REPO_DIR,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Environment of a dbt build or a batch run whose every output goes to the given folders.

    ``DEMAND_ALERT_*`` variables are dropped: a benchmark never sends the batch's alerts.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEMAND_ALERT_")}
    env.update(SINGLE_THREADED)
    env.update(
        {
            "DEMAND_PROJECT_DIR": str(project_dir),
            "DBT_PROFILES_DIR": str(project_dir / "profiles"),
            "DBT_PACKAGES_FOLDER": str(REPO_DIR / "dbt_packages"),
            "DEMAND_DUCKDB_PATH": str(database),
            "DEMAND_RAW_DIR": str(raw_dir),
            "DEMAND_EXPORT_DIR": str(exports),
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "DO_NOT_TRACK": "1",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(SRC_DIR), os.environ.get("PYTHONPATH")])),
        }
    )
    if logs is not None:
        env["DEMAND_LOG_DIR"] = str(logs)
    if reports is not None:
        env["DEMAND_REPORTS_DIR"] = str(reports)
    env.update(extra or {})
    return env


def dbt_env(paths: DbtPaths, raw_dir: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """:func:`project_env` for a dbt run writing under ``paths``."""
    return project_env(database=paths.database, raw_dir=raw_dir, exports=paths.exports, extra=extra)


def dbt_command(paths: DbtPaths, *args: str, variables: Mapping[str, object] | None = None) -> list[str]:
    """``dbt <args>`` for the project, with target and log paths under the benchmark's folder."""
    command = [
        str(BIN_DIR / "dbt"),
        *args,
        "--project-dir",
        str(REPO_DIR),
        "--target-path",
        str(paths.target),
        "--log-path",
        str(paths.logs),
    ]
    if variables:
        command += ["--vars", json.dumps(dict(variables))]
    return command


def run_dbt(
    paths: DbtPaths,
    raw_dir: Path,
    *args: str,
    variables: Mapping[str, object] | None = None,
    check: bool = True,
    extra_env: Mapping[str, str] | None = None,
) -> RunStats:
    """Run dbt (output appended to ``paths.output``); on failure name the failing nodes."""
    with paths.output.open("a") as fh:
        fh.write(f"\n===== dbt {' '.join(args)} vars={json.dumps(dict(variables or {}))}\n")
    stats = run_measured(
        dbt_command(paths, *args, variables=variables),
        env=dbt_env(paths, raw_dir, extra_env),
        cwd=REPO_DIR,
        output=paths.output,
    )
    if check and not stats.ok:
        results = load_run_results(paths.target / "run_results.json")
        raise SystemExit(
            f"dbt {' '.join(args)} failed (exit {stats.returncode}); see {paths.output}\n"
            + (results.failure_message(max_nodes=20) if results else "")
            + "\n"
            + tail(paths.output, 20)
        )
    return stats


MONITORING_EXCLUDE = ("--exclude", "tag:monitoring", "package:elementary")


def selection_args(models: Sequence[str], with_tests: bool) -> list[str]:
    """dbt arguments that build ``models`` and everything upstream of them.

    ``dbt run`` by default (a failing data test cannot skip the models a benchmark needs);
    ``with_tests``: ``dbt build`` with the tests whose every parent is selected (cautious indirect
    selection: a test that also reads an unbuilt model would fail), Elementary monitoring left out
    (its source tests need the Elementary tables of a full build).
    """
    select = ["--select", *(f"+{m}" for m in models)]
    if not with_tests:
        return ["run", *select]
    return ["build", *select, *MONITORING_EXCLUDE, "--indirect-selection", "cautious"]


def project_vars() -> dict[str, object]:
    """The ``vars`` of dbt_project.yml (their defaults, as a batch without --vars sees them)."""
    import yaml

    return dict(yaml.safe_load((REPO_DIR / "dbt_project.yml").read_text()).get("vars") or {})


def project_forecast_config(n_jobs: int | None = None):
    """The :class:`ForecastConfig` the dbt Python models build from the project's vars.

    Every var named like a ForecastConfig field, as the models' ``forecast_settings`` carry them
    (:func:`demand_forecast.dbt_bridge.forecast_config_from_vars`); ``n_jobs`` overrides the var.
    """
    ensure_package_importable()
    from demand_forecast.dbt_bridge import forecast_config_from_vars

    variables = project_vars()
    if n_jobs is not None:
        variables["n_jobs"] = n_jobs
    return forecast_config_from_vars(variables)


def read_frames(database: Path, queries: Mapping[str, str]) -> dict[str, pd.DataFrame]:
    """Run named queries on a (closed) DuckDB warehouse, read-only."""
    import duckdb

    with duckdb.connect(str(database), read_only=True) as connection:
        return {name: connection.execute(sql).fetchdf() for name, sql in queries.items()}


# --------------------------------------------------------------------------- dbt artefacts

STAGES = ("preparation", "forecasting", "marts", "tests", "elementary", "other")


def _stage(resource_type: str, node: Mapping[str, object]) -> str:
    """Stage of a dbt node: which part of the pipeline its time belongs to."""
    package = node.get("package_name")
    path = str(node.get("original_file_path") or "")
    namespace = (node.get("test_metadata") or {}).get("namespace")
    if package == "elementary" or namespace == "elementary":
        return "elementary"
    if resource_type == "model":
        if node.get("language") == "python":
            return "forecasting"
        if path.startswith("models/marts/"):
            return "marts"
        if path.startswith(("models/staging/", "models/intermediate/")):
            return "preparation"
        return "other"
    if resource_type in ("test", "unit_test"):
        return "tests"
    return "other"


def node_timings(target: Path) -> pd.DataFrame:
    """One row per node of the last dbt invocation written to ``target``.

    Columns: unique_id, name, resource_type, stage (see :data:`STAGES`), status, seconds
    (``execution_time``), started, completed (UTC timestamps of the node's compile+execute).
    """
    results = json.loads((target / "run_results.json").read_text())
    manifest_path = target / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    lookup: dict[str, Mapping[str, object]] = {}
    for section in ("nodes", "unit_tests", "sources"):
        lookup.update(manifest.get(section, {}))
    rows = []
    for result in results["results"]:
        uid = result["unique_id"]
        resource_type = uid.split(".", 1)[0]
        node = lookup.get(uid, {"package_name": uid.split(".")[1] if "." in uid else None})
        times = [t for t in result.get("timing", []) if t.get("started_at") and t.get("completed_at")]
        rows.append(
            {
                "unique_id": uid,
                "name": str(node.get("name") or uid.split(".")[-1]),
                "resource_type": resource_type,
                "stage": _stage(resource_type, node),
                "status": str(result.get("status")),
                "seconds": float(result.get("execution_time") or 0.0),
                "started": pd.to_datetime(min(t["started_at"] for t in times)) if times else pd.NaT,
                "completed": pd.to_datetime(max(t["completed_at"] for t in times)) if times else pd.NaT,
            }
        )
    frame = pd.DataFrame(rows)
    frame.attrs["elapsed_s"] = float(results.get("elapsed_time") or 0.0)
    return frame


def attributed_wall(nodes: pd.DataFrame) -> pd.Series:
    """Wall seconds per stage: every moment of the run is shared equally among the nodes running then.

    The values add up to the time during which at least one node ran, so unlike the sum of node
    times they do not double count the two dbt threads.
    """
    timed = nodes.dropna(subset=["started", "completed"])
    if timed.empty:
        return pd.Series(dtype=float)
    starts = timed["started"].map(pd.Timestamp.timestamp).to_numpy()
    ends = timed["completed"].map(pd.Timestamp.timestamp).to_numpy()
    stages = timed["stage"].to_numpy()
    edges = sorted(set(starts) | set(ends))
    share: dict[str, float] = {}
    for lo, hi in zip(edges[:-1], edges[1:], strict=False):
        running = (starts <= lo) & (ends >= hi)
        if running.any():
            for stage in stages[running]:
                share[stage] = share.get(stage, 0.0) + (hi - lo) / running.sum()
    return pd.Series(share)


def running_at(nodes: pd.DataFrame, when: float) -> list[str]:
    """Names of the nodes running at unix time ``when``."""
    timed = nodes.dropna(subset=["started", "completed"])
    starts = timed["started"].map(pd.Timestamp.timestamp)
    ends = timed["completed"].map(pd.Timestamp.timestamp)
    return timed.loc[(starts <= when) & (ends >= when), "name"].tolist()


def stage_peak_memory(nodes: pd.DataFrame, samples: Sequence[tuple[float, float]]) -> pd.Series:
    """Largest polled process-tree memory (MB) while a node of each stage was running."""
    timed = nodes.dropna(subset=["started", "completed"])
    if timed.empty or not samples:
        return pd.Series(dtype=float)
    t = pd.Series([s[0] for s in samples])
    mb = pd.Series([s[1] for s in samples])
    out = {}
    for stage, part in timed.groupby("stage"):
        mask = pd.Series(False, index=t.index)
        for start, end in zip(part["started"], part["completed"], strict=False):
            mask |= (t >= start.timestamp()) & (t <= end.timestamp())
        if mask.any():
            out[stage] = float(mb[mask].max())
    return pd.Series(out)


# --------------------------------------------------------------------------- printing


def fmt(value: object, digits: int = 3) -> str:
    """A table cell: numbers rounded, NaN/None as '-'."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}"
    try:
        number = float(value)  # numpy scalars too
    except (TypeError, ValueError):
        return str(value)
    if number != number:
        return "-"
    if float(number).is_integer() and abs(number) >= 1000:
        return f"{int(number):,}"
    return f"{number:,.{digits}f}"


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[object]], digits: int = 3) -> str:
    """Rows as a markdown table (first column left-aligned, the others right-aligned)."""
    body = [[fmt(cell, digits) for cell in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in body]) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        parts = [c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=False))]
        return "| " + " | ".join(parts) + " |"

    rule = "|" + "|".join(":" + "-" * (w + 1) if i == 0 else "-" * (w + 1) + ":" for i, w in enumerate(widths)) + "|"
    return "\n".join([line(headers), rule, *(line(r) for r in body)])


def section(title: str) -> None:
    print(f"\n## {title}\n")

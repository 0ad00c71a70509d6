"""Helpers shared by the benchmark scripts (``scripts/bench_*.py``); not a benchmark itself.

* :func:`run_measured` runs a command and measures wall seconds, CPU seconds, the peak resident
  memory of its whole process tree (polled from ``/proc``), the largest single process
  (``os.wait4`` rusage) and the load average while it ran.
* :func:`generate_dataset`, :func:`dbt_env`, :func:`dbt_command` run the generator and dbt the
  way the project does, with every output (warehouse, target, logs, exports) under a work folder
  chosen by the caller -- never the repository's ``warehouse/`` or ``target/``.
* :func:`read_frames` reads tables of that warehouse, :func:`node_timings` reads
  ``run_results.json`` + ``manifest.json`` into one row per dbt node with its stage
  (:func:`attributed_wall`, :func:`stage_peak_memory` and :func:`running_at` use it).
* Nested evaluation (bench_accuracy, bench_tourism): :func:`forecasts_made_at` runs
  ``run_forecasting`` at an as-of month, :func:`attach_actuals` adds the later actuals,
  :func:`metric_table`, :func:`paired` and :func:`head_to_head` score them.
* :func:`markdown_table` prints plain-text tables that paste into markdown.
"""

from __future__ import annotations

import json
import numbers
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

REPO_DIR = Path(__file__).resolve().parents[1]
SRC_DIR = REPO_DIR / "src"
BIN_DIR = Path(sys.executable).parent
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def ensure_package_importable() -> None:
    """Make ``import demand_forecast`` work without an editable install."""
    if str(SRC_DIR) not in sys.path:
        sys.path.insert(0, str(SRC_DIR))


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


def tail(path: Path, lines: int = 30) -> str:
    """Last lines of a text file (for error reports)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


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


def dbt_env(paths: DbtPaths, raw_dir: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment of a dbt run: the project's profile, our warehouse, raw folder and exports."""
    env = dict(os.environ)
    env.update(
        {
            "DBT_PROFILES_DIR": str(REPO_DIR / "profiles"),
            "DBT_PACKAGES_FOLDER": str(REPO_DIR / "dbt_packages"),
            "DEMAND_DUCKDB_PATH": str(paths.database),
            "DEMAND_RAW_DIR": str(raw_dir),
            "DEMAND_EXPORT_DIR": str(paths.exports),
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "DO_NOT_TRACK": "1",
            # as the Makefile: parallelism comes from the worker processes, numeric libraries single-threaded
            "OMP_NUM_THREADS": "1",
            "OPENBLAS_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(SRC_DIR), os.environ.get("PYTHONPATH")])),
        }
    )
    env.update(extra or {})
    return env


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
        failing = (
            [
                f"{n.resource_type} {n.name}: {n.status}"
                for n in node_timings(paths.target).itertuples()
                if n.status in ("error", "fail", "runtime error")
            ]
            if (paths.target / "run_results.json").exists()
            else []
        )
        raise SystemExit(
            f"dbt {' '.join(args)} failed (exit {stats.returncode}); see {paths.output}\n"
            + "\n".join(failing[:20])
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


# --------------------------------------------------------------------------- nested (out-of-sample) evaluation


@dataclass
class Snapshot:
    """What the pipeline saw at one as-of month: ``int_monthly_demand`` and ``int_series_profiles``."""

    as_of: pd.Timestamp
    panel: pd.DataFrame
    profiles: pd.DataFrame


def truncated_snapshot(latest: Snapshot, as_of: pd.Timestamp) -> Snapshot:
    """The latest panel cut at ``as_of`` (profiles kept: they only feed classes and discontinuation).

    Cheaper than a dbt build per as-of month, but the cleaning of months <= as_of may then have used
    lines loaded later.
    """
    panel = latest.panel[pd.to_datetime(latest.panel["month"]) <= as_of]
    return Snapshot(as_of, panel.reset_index(drop=True), latest.profiles)


@dataclass
class AsOfRun:
    """One forecasting run at an as-of month."""

    forecasts: pd.DataFrame  # long: product, forecast_month, horizon, model, forecast, p10, p90, mase_scale
    selection: pd.DataFrame  # result.selection (+ as_of_month)
    loo_coverage: pd.DataFrame  # per (champion|ensemble, horizon): backtest points inside the LOO band (hit) and n
    seconds: float


def forecasts_made_at(snap: Snapshot, config) -> AsOfRun:
    """``run_forecasting`` at ``snap.as_of``: every model's forecasts for the next months (long).

    Champion and ensemble are chosen inside the run from backtest origins <= as_of only. Each
    row gets the product's MASE scale (in-sample seasonal-naive MAE up to as_of).
    """
    ensure_package_importable()
    import numpy as np

    from demand_forecast.forecasting.features import build_panel_arrays
    from demand_forecast.forecasting.metrics import mase_scale_at
    from demand_forecast.forecasting.pipeline import run_forecasting

    t0 = time.perf_counter()
    result = run_forecasting(snap.panel, snap.profiles, snap.as_of, config)
    seconds = time.perf_counter() - t0
    fc = result.forecasts.rename(columns={"forecast_p50": "forecast", "forecast_p10": "p10", "forecast_p90": "p90"})
    fc = fc[["product_id", "as_of_month", "forecast_month", "horizon", "model_name", "forecast", "p10", "p90"]].copy()
    arrays = build_panel_arrays(snap.panel, snap.as_of, snap.profiles)
    scale = pd.Series(mase_scale_at(arrays, arrays.n_months - 1, config.season_length), index=arrays.product_ids)
    fc["mase_scale"] = fc["product_id"].map(scale).to_numpy(np.float64)
    met = result.metrics
    loo = met[met["model_name"].isin(["champion", "ensemble"]) & (met["horizon"] > 0) & met["coverage_80"].notna()]
    loo_cov = loo.assign(hit=loo["coverage_80"] * loo["n"]).groupby(["model_name", "horizon"])[["hit", "n"]].sum()
    return AsOfRun(fc, result.selection.assign(as_of_month=snap.as_of), loo_cov, seconds)


def attach_actuals(fc: pd.DataFrame, latest: Snapshot, truth: pd.DataFrame | None = None) -> pd.DataFrame:
    """Add ``actual`` (the demand of the latest panel) and, given a truth, ``actual_true``.

    A month after a product's last panel (or truth) month is a month without demand: 0. A product
    unknown to the latest panel (or the truth) gets no actual and is not scored.
    """
    out = fc.copy()
    out["forecast_month"] = pd.to_datetime(out["forecast_month"])
    sources = [("actual", latest.panel, "demand")]
    if truth is not None:
        sources.append(("actual_true", truth, "true_demand"))
    for column, frame, value in sources:
        ref = frame[["product_id", "month", value]].copy()
        ref["month"] = pd.to_datetime(ref["month"])
        last = ref.groupby("product_id")["month"].max()
        out = out.merge(
            ref.rename(columns={"month": "forecast_month", value: column}),
            on=["product_id", "forecast_month"],
            how="left",
        )
        ended = out[column].isna() & (out["forecast_month"] > out["product_id"].map(last))
        out.loc[ended, column] = 0.0
    return out


def metric_table(scored: pd.DataFrame, actual: str = "actual") -> pd.DataFrame:
    """``demand_forecast.forecasting.metrics.summarise`` per model and horizon (horizon 0 = all horizons pooled)."""
    ensure_package_importable()
    from demand_forecast.forecasting.metrics import summarise

    frame = scored.drop(columns=["actual"]).rename(columns={actual: "actual"}) if actual != "actual" else scored
    frame = frame[frame["actual"].notna()]
    per_h = summarise(frame, ["model_name", "horizon"], lower="p10", upper="p90")
    pooled = summarise(frame, ["model_name"], lower="p10", upper="p90").assign(horizon=0)
    return pd.concat([per_h, pooled[per_h.columns]], ignore_index=True).set_index(["model_name", "horizon"])


def paired(scored: pd.DataFrame, model: str, other: str, actual: str = "actual") -> pd.DataFrame:
    """Points where both ``model`` (``forecast``) and ``other`` (``forecast_other``) forecast and ``y`` is known."""
    keys = ["as_of_month", "product_id", "horizon"]
    a = scored.loc[scored["model_name"] == model, keys + ["forecast", actual]]
    b = scored.loc[scored["model_name"] == other, keys + ["forecast"]]
    both = a.merge(b, on=keys, suffixes=("", "_other")).dropna(subset=["forecast", "forecast_other", actual])
    return both.rename(columns={actual: "y"})


def wape_of(errors: pd.Series, y: pd.Series) -> float:
    denom = y.abs().sum()
    return float(errors.abs().sum() / denom) if denom > 0 else float("nan")


def paired_wapes(pairs: pd.DataFrame) -> tuple[float, float]:
    """(WAPE of ``forecast``, WAPE of ``forecast_other``) on the same points."""
    return wape_of(pairs["forecast"] - pairs["y"], pairs["y"]), wape_of(
        pairs["forecast_other"] - pairs["y"], pairs["y"]
    )


def head_to_head_headers(chosen: str) -> list[str]:
    return ["model", "points", "products", "WAPE model", f"WAPE {chosen}", f"{chosen} lower by %", f"{chosen} lower"]


def head_to_head(scored: pd.DataFrame, chosen: str, models: Iterable[str], actual: str = "actual") -> list[list]:
    """``chosen`` against each of ``models`` on the points both forecast (see :func:`head_to_head_headers`)."""
    rows = []
    for m in models:
        pairs = paired(scored, chosen, m, actual)
        if pairs.empty:
            continue
        w_chosen, w_model = paired_wapes(pairs)
        # where the chosen forecast *is* that model on every shared point (e.g. cold start for new
        # products), the comparison says so instead of yes/no
        same = bool(np.allclose(pairs["forecast"].to_numpy(float), pairs["forecast_other"].to_numpy(float)))
        rows.append(
            [
                m,
                len(pairs),
                pairs["product_id"].nunique(),
                w_model,
                w_chosen,
                100 * (1 - w_chosen / w_model) if w_model else float("nan"),
                "same forecast" if same else w_chosen < w_model,
            ]
        )
    return rows


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

"""Batch run wrapper: one log file per run, per-step metrics, loud failures.

.. code-block:: python

    from demand_forecast.ops.notify import Notifier
    from demand_forecast.ops.runlog import BatchRun, BatchFailed, write_metrics_to_duckdb

    with BatchRun(name="monthly", log_dir="logs", notifier=Notifier.from_env(),
                  planned_steps=["dbt build 2026-10", "dashboard", "edr report"]) as run:
        run.step("dbt build 2026-10", ["dbt", "build", "--vars", '{as_of_month: "2026-10"}'],
                 dbt_project_dir=".")
        write_metrics_to_duckdb("warehouse/demand.duckdb", run.metrics)
        run.step("dashboard", build_dashboard)     # a callable; an int return value = rows
        run.step("edr report", ["edr", "report"])
        run.summary_line("products forecast", 600)
    run.print_summary()

* Each run has a ``run_id`` (``20261129T024737Z-1a2b3c``) and a log file
  ``<log_dir>/batch-<run_id>.log``. A subprocess step's output is streamed line by line to
  the console *and* the log; a callable's ``print``/``sys.stderr`` output is teed as well.
* Every step logs a start line and an end line with status, exit code, duration, peak memory
  and (when known) rows and rows/s. Metrics are appended to ``<log_dir>/run_metrics.jsonl``
  as each step ends and are available as :attr:`BatchRun.metrics`.
* A failing step (non-zero exit code, exception, timeout, command not found) logs
  ``FAILED step <name>: exit code N`` plus a hint, marks the remaining planned steps as
  skipped, sends ONE notification (run id, step, error, last lines of the log) and raises
  :class:`BatchFailed`. A CLI should turn :class:`BatchFailed` into exit code 1. Steps called
  after a failure (if the caller caught :class:`BatchFailed` inside the ``with`` block) are
  logged as skipped and not run, and leaving the block raises :class:`BatchFailed` again.
* An exception raised by the code inside the ``with`` block outside any step is handled the
  same way (logged with traceback, notified, re-raised as :class:`BatchFailed`).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO

from .dbt_results import DbtRunSummary, load_run_results, run_results_path
from .notify import DeliveryResult, Message, Notifier

try:  # not available on Windows
    import resource
except ImportError:  # pragma: no cover
    resource = None  # type: ignore[assignment]

__all__ = [
    "BatchRun",
    "BatchFailed",
    "StepResult",
    "METRIC_FIELDS",
    "write_metrics_to_duckdb",
    "new_run_id",
]

METRIC_FIELDS = (
    "run_id",
    "batch_name",
    "step_index",
    "step_name",
    "kind",
    "started_at",
    "finished_at",
    "duration_s",
    "status",
    "exit_code",
    "peak_memory_mb",
    "rows",
    "rows_per_second",
    "error",
)

_TERMINATE_GRACE_S = 10.0
_MB_FMT = "{:,.1f}"


class BatchFailed(RuntimeError):
    """The batch run failed; the CLI should exit with code 1."""

    exit_code = 1

    def __init__(
        self,
        message: str,
        *,
        run_id: str,
        batch_name: str,
        step_name: str | None,
        error: str,
        step_exit_code: int | None = None,
        log_path: Path | None = None,
    ):
        super().__init__(message)
        self.run_id = run_id
        self.batch_name = batch_name
        self.step_name = step_name
        self.error = error
        self.step_exit_code = step_exit_code
        self.log_path = log_path


@dataclass
class StepResult:
    """What :meth:`BatchRun.step` returns for a successful (or skipped) step."""

    name: str
    status: str  # ok | failed | skipped
    exit_code: int | None
    duration_s: float | None
    value: Any = None  # the callable's return value (python steps)
    rows: int | None = None
    metrics: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def new_run_id(now: datetime | None = None) -> str:
    """``20261129T024737Z-1a2b3c``: UTC start time plus 6 random hex characters."""
    now = now or datetime.now(timezone.utc)
    return f"{now.astimezone(timezone.utc):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _iso(ts: datetime | None) -> str | None:
    return ts.isoformat(timespec="milliseconds") if ts else None


def _maxrss_to_mb(maxrss: float) -> float:
    # ru_maxrss is KiB on Linux/BSD and bytes on macOS.
    if sys.platform == "darwin":
        return maxrss / (1024 * 1024)
    return maxrss / 1024


def _vm_hwm_mb(pid: int | str = "self") -> float | None:
    """Peak resident memory (VmHWM) of a process, in MB; None where /proc cannot tell."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _max_or_none(current: float | None, new: float | None) -> float | None:
    if new is None:
        return current
    return new if current is None else max(current, new)


def _reset_peak_rss() -> bool:
    """Reset this process's peak RSS (Linux >= 4.0: write 5 to /proc/self/clear_refs)."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _self_peak_mb() -> float | None:
    if resource is None:
        return None
    return _maxrss_to_mb(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def _fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 10:
        return f"{seconds:.2f}s"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, sec = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}m{sec:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{sec:02d}s"


def _fmt_num(value: float | int | None, fmt: str = "{:,.0f}") -> str:
    return "-" if value is None else fmt.format(value)


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def _is_dbt_command(argv: Sequence[str]) -> bool:
    if not argv:
        return False
    exe = os.path.basename(argv[0]).lower()
    if exe in ("dbt", "dbt.exe"):
        return True
    # python -m dbt.cli.main ...
    return "-m" in argv[:3] and any(a.startswith("dbt") for a in argv[1:4])


def _arg_value(argv: Sequence[str], option: str) -> str | None:
    for i, arg in enumerate(argv):
        if arg == option and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(option + "="):
            return arg.split("=", 1)[1]
    return None


class _Tee(io.TextIOBase):
    """Replaces sys.stdout/sys.stderr during a callable step: echo + copy to the batch log."""

    def __init__(self, original: TextIO, sink: Callable[[str], None]):
        self._original = original
        self._sink = sink
        self._partial = ""

    def write(self, text: str) -> int:  # type: ignore[override]
        with contextlib.suppress(OSError, ValueError):
            self._original.write(text)
        data = self._partial + text
        *lines, self._partial = data.split("\n")
        for line in lines:
            self._sink(line)
        return len(text)

    def flush(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._original.flush()

    def close_partial(self) -> None:
        if self._partial:
            self._sink(self._partial)
            self._partial = ""

    def isatty(self) -> bool:
        try:
            return self._original.isatty()
        except (OSError, ValueError, AttributeError):
            return False

    def fileno(self) -> int:
        return self._original.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._original, "encoding", "utf-8")

    def writable(self) -> bool:
        return True


class _StepFailure(Exception):
    """Internal: carries the failure details of one step."""

    def __init__(self, error: str, exit_code: int | None, hints: list[str]):
        super().__init__(error)
        self.error = error
        self.exit_code = exit_code
        self.hints = hints


class BatchRun:
    """Context manager wrapping one batch run. See the module docstring.

    :param name: batch name, e.g. ``"monthly"`` (used in messages and metrics).
    :param log_dir: directory for ``batch-<run_id>.log`` and ``run_metrics.jsonl``.
    :param notifier: where failures are reported; ``None`` = nowhere (only logged).
    :param planned_steps: names of the steps the run intends to execute, so that after a
        failure the ones that never ran are logged (and recorded) as skipped.
    :param metrics_path: defaults to ``<log_dir>/run_metrics.jsonl``.
    :param console: stream for live output; defaults to ``sys.stdout`` at ``__enter__``.
    :param tail_lines: how many log lines a failure notification carries.
    :param print_summary_on_exit: print :meth:`print_summary` when the block is left
        (successfully or not).
    :param dbt_project_dir: default project directory of dbt steps (steps whose command is
        ``dbt``), where ``target/run_results.json`` is read after a failure. A step's own
        ``dbt_project_dir`` or a ``--project-dir`` in its command take precedence.
    :param metrics_db: a DuckDB file; when the block is left (also after a failure) all step
        metrics are written to ``ops.batch_step_metrics`` there, best effort (a locked or
        broken database is logged as a warning, never raised).
    """

    def __init__(
        self,
        name: str = "batch",
        log_dir: str | os.PathLike[str] = "logs",
        notifier: Notifier | None = None,
        *,
        planned_steps: Iterable[str] = (),
        metrics_path: str | os.PathLike[str] | None = None,
        console: TextIO | None = None,
        tail_lines: int = 40,
        run_id: str | None = None,
        print_summary_on_exit: bool = False,
        dbt_project_dir: str | os.PathLike[str] | None = None,
        metrics_db: str | os.PathLike[str] | None = None,
    ):
        self.name = name
        self.started_at = _utcnow()
        self.run_id = run_id or new_run_id(self.started_at)
        self.log_dir = Path(log_dir)
        self.log_path = self.log_dir / f"batch-{self.run_id}.log"
        self.metrics_path = Path(metrics_path) if metrics_path else self.log_dir / "run_metrics.jsonl"
        self.notifier = notifier
        self.planned_steps = list(planned_steps)
        self.tail_lines = tail_lines
        self.print_summary_on_exit = print_summary_on_exit
        self.dbt_project_dir = Path(dbt_project_dir) if dbt_project_dir is not None else None
        self.metrics_db = Path(metrics_db) if metrics_db is not None else None
        self.status = "pending"  # pending | running | ok | failed
        self.finished_at: datetime | None = None
        self.failure: BatchFailed | None = None
        self.notifications: list[DeliveryResult] = []
        self._console_arg = console
        self._console: TextIO | None = None
        self._log: TextIO | None = None
        self._lock = threading.RLock()
        self._tail: deque[str] = deque(maxlen=max(tail_lines, 1))
        self._metrics: list[dict] = []
        self._summary: list[tuple[str, str]] = []
        self._step_names: set[str] = set()
        self._notified = False
        self._t0 = time.monotonic()
        self._duration_s: float | None = None

    # ------------------------------------------------------------------ context manager
    def __enter__(self) -> BatchRun:
        if self.status != "pending":
            raise RuntimeError("a BatchRun can only be entered once")
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._console = self._console_arg or sys.stdout
        self._log = open(self.log_path, "a", encoding="utf-8", errors="replace", buffering=1)
        self.status = "running"
        self._t0 = time.monotonic()
        channels = self.notifier.describe() if self.notifier else "none"
        self._event(
            f"BATCH {self.name} run {self.run_id} started on {socket.gethostname()} "
            f"(pid {os.getpid()}); log {self.log_path}; notifications: {channels}"
        )
        if self.planned_steps:
            self._event("planned steps: " + ", ".join(self.planned_steps))
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        try:
            if exc is not None and isinstance(exc, BatchFailed) and exc.run_id == self.run_id:
                pass  # raised by our own step(): already logged and notified
            elif exc is not None and not isinstance(exc, Exception) and self.failure is not None:
                return False  # Ctrl-C inside a step: step() already logged and notified
            elif exc is not None:
                if isinstance(exc, Exception):
                    error = f"{type(exc).__name__}: {exc}"
                    where = self._last_step_name()
                    where_txt = f"after step {where}" if where else "before the first step"
                    self._event(f"FAILED outside a step ({where_txt}): {error}")
                    self._log_lines(traceback.format_exception(exc_type, exc, tb))
                else:  # KeyboardInterrupt, SystemExit: keep the exception, still be loud
                    error = f"interrupted ({exc_type.__name__})"
                    self._event(f"FAILED: run {error}")
                self._fail(step_name=None, error=error, exit_code=None, hints=[])
                if isinstance(exc, Exception):
                    raise self.failure from exc  # type: ignore[misc]
                return False
            elif self.failure is not None:
                # A step failed but the caller swallowed BatchFailed: still fail the run.
                raise self.failure
            else:
                self.status = "ok"
                never_run = [s for s in self.planned_steps if s not in self._step_names]
                if never_run:
                    self._event("WARNING planned steps that were never run: " + ", ".join(never_run))
                self._finish_line()
                if self.notifier and self.notifier.notify_on_success:
                    self._notify(
                        Message(
                            subject=f"OK: batch {self.name} run {self.run_id}",
                            text=self.render_summary(),
                            log_tail=(),
                            success=True,
                        )
                    )
            return False
        finally:
            if self.status == "failed" and self.finished_at is None:
                self._finish_line()
            if self.metrics_db is not None and self._metrics:
                try:
                    n = write_metrics_to_duckdb(self.metrics_db, self._metrics)
                    self._event(
                        f"{n} step metrics written to {self.metrics_db} (ops.batch_step_metrics)", console=False
                    )
                except Exception as exc:
                    self._event(
                        f"WARNING could not write step metrics to {self.metrics_db}: {type(exc).__name__}: {exc}"
                    )
            if self.print_summary_on_exit:
                self.print_summary()
            self._close_log()

    # ------------------------------------------------------------------ public API
    @property
    def metrics(self) -> list[dict]:
        """One dict per step (ok, failed or skipped), in execution order (copies)."""
        return [dict(m) for m in self._metrics]

    @property
    def failed(self) -> bool:
        return self.failure is not None

    @property
    def summary_lines(self) -> list[tuple[str, str]]:
        return list(self._summary)

    def summary_line(self, label: str, value: Any) -> None:
        """Add a line to the end-of-run summary, e.g. ``("products forecast", 600)``."""
        text = "-" if value is None else str(value)
        self._summary.append((str(label), text))
        if self._log is not None:
            self._event(f"summary: {label} = {text}", console=False)

    def add_dbt_summary(
        self,
        project_dir: str | os.PathLike[str] = ".",
        *,
        target_path: str | os.PathLike[str] | None = None,
        prefix: str = "",
    ) -> DbtRunSummary | None:
        """Add the counts of the last dbt invocation (``target/run_results.json``) to the summary."""
        results = load_run_results(project_dir, target_path=target_path)
        if results is None:
            self.summary_line(f"{prefix}dbt results", f"no run_results.json under {project_dir}")
            return None
        for label, value in results.summary_lines():
            self.summary_line(prefix + label, value)
        return results

    def write_metrics_to_duckdb(self, db_path: str | os.PathLike[str]) -> int:
        """Shortcut for :func:`write_metrics_to_duckdb` with this run's metrics so far."""
        return write_metrics_to_duckdb(db_path, self._metrics)

    def step(
        self,
        name: str,
        cmd: Sequence[str | os.PathLike[str]] | str | Callable[[], Any],
        *,
        env: Mapping[str, str] | None = None,
        extra_env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        rows: int | Callable[[], int | None] | None = None,
        timeout_s: float | None = None,
        dbt_project_dir: str | os.PathLike[str] | None = None,
        hint: str | None = None,
    ) -> StepResult:
        """Run one step and record it.

        :param cmd: an argv list (run without a shell; a string is split with
            :func:`shlex.split`) or a zero-argument callable.
        :param env: the complete environment of a subprocess (as in :mod:`subprocess`);
            ``extra_env`` is merged over ``env`` / ``os.environ`` instead.
        :param cwd: working directory (subprocesses; callables run with a temporary chdir).
        :param rows: rows the step processed, for rows/s: a number, or a callable evaluated
            after the step succeeded. A callable step may instead return an ``int`` or a
            mapping with a ``"rows"`` key.
        :param timeout_s: kill a subprocess still running after this many seconds.
        :param dbt_project_dir: for dbt steps, where ``target/run_results.json`` is read after
            a failure to name the failing nodes. Inferred (``--project-dir`` or ``cwd``) when
            ``cmd[0]`` is ``dbt``.
        :param hint: extra text logged and notified when this step fails.
        :raises BatchFailed: when the step fails.
        """
        if self._log is None or self.status not in ("running", "failed"):
            raise RuntimeError("BatchRun.step() must be called inside the `with BatchRun(...)` block")
        if name in self._step_names:
            raise ValueError(f"duplicate step name {name!r} in run {self.run_id}")
        self._step_names.add(name)
        index = len(self._metrics) + 1

        if self.failure is not None:
            self._record_skipped(name, index, reason=f"run already failed at step {self.failure.step_name}")
            return StepResult(name, "skipped", None, None, metrics=self._metrics[-1])

        is_callable = callable(cmd)
        if is_callable and (env is not None or extra_env is not None):
            raise ValueError("env/extra_env only apply to subprocess steps")
        argv: list[str] = []
        if not is_callable:
            argv = shlex.split(cmd) if isinstance(cmd, str) else [os.fspath(a) for a in cmd]  # type: ignore[union-attr]
            if not argv:
                raise ValueError(f"step {name!r}: empty command")

        started_at = _utcnow()
        t0 = time.monotonic()
        wall0 = time.time()
        if is_callable:
            desc = getattr(cmd, "__qualname__", None) or repr(cmd)
            self._event(f"START step {index} {name}: python {desc}")
        else:
            where = f" (cwd {cwd})" if cwd else ""
            self._event(f"START step {index} {name}: {shlex.join(argv)}{where}")

        value: Any = None
        peak_mb: float | None = None
        exit_code: int | None
        failure: _StepFailure | None = None
        interrupted: BaseException | None = None
        try:
            if is_callable:
                value, peak_mb = self._run_callable(cmd, cwd)  # type: ignore[arg-type]
                exit_code = 0
            else:
                exit_code, peak_mb, timed_out = self._run_subprocess(argv, env, extra_env, cwd, timeout_s)
                if timed_out:
                    raise _StepFailure(
                        f"timed out after {timeout_s:g} s (killed)",
                        exit_code,
                        ["raise timeout_s or look for a hang in the output above"],
                    )
                if exit_code != 0:
                    raise _StepFailure(*self._describe_exit(argv, exit_code, cwd, dbt_project_dir, wall0))
        except _StepFailure as exc:
            failure = exc
            exit_code = exc.exit_code
        except FileNotFoundError as exc:
            if is_callable:
                failure = self._exception_failure(exc)
            else:
                failure = _StepFailure(
                    f"command not found: {argv[0]}",
                    127,
                    [
                        f"{argv[0]!r} is not on PATH ({exc.strerror}); is the virtualenv activated "
                        "and the tool installed?"
                    ],
                )
            exit_code = failure.exit_code
        except PermissionError as exc:
            if is_callable:
                failure = self._exception_failure(exc)
            else:
                failure = _StepFailure(f"cannot execute {argv[0]}: {exc.strerror}", 126, [])
            exit_code = failure.exit_code
        except Exception as exc:
            failure = self._exception_failure(exc)
            exit_code = failure.exit_code
        except BaseException as exc:  # KeyboardInterrupt / SystemExit inside the step
            interrupted = exc
            exit_code = None
            failure = _StepFailure(f"interrupted ({type(exc).__name__})", None, [])

        finished_at = _utcnow()
        duration = time.monotonic() - t0

        row_count: int | None = None
        if failure is None:
            try:
                row_count = self._resolve_rows(rows, value)
            except Exception as exc:
                self._event(f"WARNING step {name}: could not count rows: {type(exc).__name__}: {exc}")

        metrics = self._make_metrics(
            index=index,
            name=name,
            kind="python" if is_callable else "shell",
            started_at=started_at,
            finished_at=finished_at,
            duration=duration,
            status="ok" if failure is None else "failed",
            exit_code=exit_code,
            peak_mb=peak_mb,
            rows=row_count,
            error=failure.error if failure else None,
        )
        self._record(metrics)
        self._event(self._end_line(metrics))

        if failure is None:
            return StepResult(name, "ok", exit_code, duration, value=value, rows=row_count, metrics=dict(metrics))

        hints = list(failure.hints)
        if hint:
            hints.append(hint)
        self._fail(step_name=name, error=failure.error, exit_code=exit_code, hints=hints, step_index=index)
        if interrupted is not None:
            raise interrupted
        assert self.failure is not None
        raise self.failure

    # ------------------------------------------------------------------ summary
    def render_summary(self) -> str:
        """The one-screen summary as text (see :meth:`print_summary`)."""
        width = 88
        status = {"ok": "OK", "failed": "FAILED", "running": "OK so far (run in progress)", "pending": "NOT STARTED"}[
            self.status
        ]
        total = self._duration_s if self._duration_s is not None else time.monotonic() - self._t0
        out = [
            "=" * width,
            f"Batch {self.name}  run {self.run_id}  {status}  total {_fmt_duration(total)}",
            f"log: {self.log_path}",
            "-" * width,
            f"{'#':>2}  {'step':<34} {'status':<8} {'duration':>9} {'peak MB':>8} {'rows':>11} {'rows/s':>9}",
        ]
        for m in self._metrics:
            step_name = m["step_name"] if len(m["step_name"]) <= 34 else m["step_name"][:31] + "..."
            out.append(
                f"{m['step_index']:>2}  {step_name:<34} {m['status']:<8} "
                f"{_fmt_duration(m['duration_s']):>9} {_fmt_num(m['peak_memory_mb'], _MB_FMT):>8} "
                f"{_fmt_num(m['rows']):>11} {_fmt_num(m['rows_per_second']):>9}"
            )
        if not self._metrics:
            out.append("    (no steps ran)")
        if self.failure is not None:
            out.append("-" * width)
            where = f"step {self.failure.step_name}" if self.failure.step_name else "outside a step"
            out.append(f"FAILED at {where}: {self.failure.error}")
        if self._summary:
            out.append("-" * width)
            label_width = min(max(len(label) for label, _ in self._summary), 40)
            for label, value in self._summary:
                out.append(f"{label:<{label_width}}  {value}")
        out.append("=" * width)
        return "\n".join(out)

    def print_summary(self, file: TextIO | None = None) -> str:
        """Print the summary (steps with status/duration/memory/rows, then summary lines) to
        ``file`` (default: the run's console) and append it to the log file. Returns the text."""
        text = self.render_summary()
        stream = file or self._console or sys.stdout
        self._safe_console_write(stream, text + "\n")
        with self._lock:
            if self._log is not None:
                self._log_raw(text.splitlines())
            else:
                try:
                    with open(self.log_path, "a", encoding="utf-8", errors="replace") as fh:
                        fh.write(text + "\n")
                except OSError:
                    pass
        return text

    # ------------------------------------------------------------------ step execution
    def _run_subprocess(
        self,
        argv: list[str],
        env: Mapping[str, str] | None,
        extra_env: Mapping[str, str] | None,
        cwd: str | os.PathLike[str] | None,
        timeout_s: float | None,
    ) -> tuple[int, float | None, bool]:
        full_env = dict(os.environ if env is None else env)
        if extra_env:
            full_env.update(extra_env)
        # Child python processes (dbt, edr) must not block-buffer their output: we stream it.
        full_env.setdefault("PYTHONUNBUFFERED", "1")
        proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=full_env, cwd=cwd
        )
        reader = threading.Thread(target=self._pump, args=(proc.stdout,), daemon=True, name=f"batch-output-{proc.pid}")
        reader.start()
        deadline = time.monotonic() + timeout_s if timeout_s else None
        timed_out = False
        peak_mb: float | None = None
        try:
            if hasattr(os, "wait4"):
                delay = 0.005
                polled_mb: float | None = None
                while True:
                    # The child's own high-water mark, polled: wait4's ru_maxrss of a forked child
                    # starts from the parent's size (Linux carries it across fork and exec).
                    polled_mb = _max_or_none(polled_mb, _vm_hwm_mb(proc.pid))
                    pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                    if pid:
                        proc.returncode = os.waitstatus_to_exitcode(status)
                        peak_mb = polled_mb if polled_mb is not None else _maxrss_to_mb(usage.ru_maxrss)
                        break
                    if deadline is not None and time.monotonic() > deadline and not timed_out:
                        timed_out = True
                        self._event(f"timeout after {timeout_s:g} s: terminating pid {proc.pid}")
                        self._terminate(proc)
                    time.sleep(delay)
                    delay = min(delay * 2, 0.1)
            else:  # pragma: no cover - Windows
                try:
                    proc.wait(timeout=timeout_s)
                except subprocess.TimeoutExpired:
                    timed_out = True
                    self._terminate(proc)
                    proc.wait()
        except BaseException:
            # Ctrl-C or similar while waiting: do not leave the child running.
            if proc.returncode is None:
                self._terminate(proc)
                with contextlib.suppress(subprocess.TimeoutExpired, ChildProcessError):
                    proc.wait(timeout=_TERMINATE_GRACE_S)
            raise
        finally:
            reader.join(timeout=5)
            if reader.is_alive():
                self._event(
                    "WARNING output pipe still open after the process exited "
                    "(a background child keeps it); not waiting for it"
                )
            elif proc.stdout is not None:
                proc.stdout.close()
        assert proc.returncode is not None
        return proc.returncode, peak_mb, timed_out

    def _terminate(self, proc: subprocess.Popen) -> None:
        try:
            proc.terminate()
        except OSError:
            return

        def _kill_later() -> None:
            time.sleep(_TERMINATE_GRACE_S)
            if proc.returncode is None:
                with contextlib.suppress(OSError):
                    proc.kill()

        threading.Thread(target=_kill_later, daemon=True).start()

    def _pump(self, stream) -> None:
        try:
            for raw in iter(stream.readline, b""):
                line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
                self._output_line(line, console=True)
        except (OSError, ValueError):
            pass

    def _run_callable(self, func: Callable[[], Any], cwd: str | os.PathLike[str] | None) -> tuple[Any, float | None]:
        precise = _reset_peak_rss() and _vm_hwm_mb() is not None
        old_cwd = os.getcwd() if cwd else None
        out_tee = _Tee(sys.stdout, lambda line: self._output_line(line, console=False))
        err_tee = _Tee(sys.stderr, lambda line: self._output_line(line, console=False))
        saved = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = out_tee, err_tee  # type: ignore[assignment]
        try:
            if cwd:
                os.chdir(cwd)
            value = func()
        finally:
            sys.stdout, sys.stderr = saved
            out_tee.close_partial()
            err_tee.close_partial()
            if old_cwd:
                os.chdir(old_cwd)
        # With the reset: the process' peak RSS during the step. Without: the process' peak
        # RSS since it started (an upper bound).
        peak = _vm_hwm_mb() if precise else _self_peak_mb()
        return value, peak

    @staticmethod
    def _resolve_rows(rows: Any, value: Any) -> int | None:
        if callable(rows):
            rows = rows()
        if rows is None:
            if isinstance(value, bool):
                return None
            if isinstance(value, int):
                rows = value
            elif isinstance(value, Mapping) and "rows" in value:
                rows = value["rows"]
        return None if rows is None else int(rows)

    def _exception_failure(self, exc: BaseException) -> _StepFailure:
        self._log_lines(traceback.format_exception(type(exc), exc, exc.__traceback__), console=True)
        return _StepFailure(f"{type(exc).__name__}: {exc}", 1, ["the traceback is in the log above the FAILED line"])

    def _describe_exit(
        self, argv: list[str], exit_code: int, cwd, dbt_project_dir, wall0: float
    ) -> tuple[str, int, list[str]]:
        error = f"exit code {exit_code}"
        hints: list[str] = []
        if exit_code < 0:
            sig = _signal_name(-exit_code)
            error = f"exit code {exit_code} (killed by {sig})"
            if -exit_code == getattr(signal, "SIGKILL", 9):
                hints.append(
                    "SIGKILL usually means the out-of-memory killer; check memory limits "
                    "(DEMAND_DUCKDB_MEMORY, threads)"
                )
        is_dbt = dbt_project_dir is not None or _is_dbt_command(argv)
        if is_dbt:
            # Precedence: the step's dbt_project_dir, --project-dir in the command, the run's
            # dbt_project_dir, the step's cwd, the current directory.
            project = dbt_project_dir or _arg_value(argv, "--project-dir") or self.dbt_project_dir or cwd or "."
            project_path = Path(project)
            if cwd and not project_path.is_absolute() and dbt_project_dir is None:
                project_path = Path(cwd) / project_path
            target = _arg_value(argv, "--target-path")
            # Allow 2 s of clock/mtime granularity slack; older files are from a previous run.
            results = load_run_results(project_path, target_path=target, newer_than=wall0 - 2)
            if results is not None and results.failures:
                error = f"{error}: {results.failure_message(max_nodes=5)}"
                for node in results.failures:
                    hints.append(node.describe())
                hints.append(f"dbt results: {run_results_path(project_path, target)}")
            elif exit_code == 2:
                hints.append(
                    "dbt could not run (bad arguments, profile/project error or "
                    "compilation error); the dbt error is in the output above"
                )
            elif exit_code == 1:
                hints.append("dbt reported errors; see the output above")
        if not hints:
            hints.append("see the last lines of the step output above")
        return error, exit_code, hints

    # ------------------------------------------------------------------ failure handling
    def _fail(
        self,
        *,
        step_name: str | None,
        error: str,
        exit_code: int | None,
        hints: list[str],
        step_index: int | None = None,
    ) -> None:
        self.status = "failed"
        if step_name is not None:
            self._event(f"FAILED step {step_name}: {error}")
            for h in hints:
                self._event(f"  hint: {h}")
        self._event(f"  full log: {self.log_path.resolve()}")
        # Remaining planned steps will not run.
        for planned in self.planned_steps:
            if planned not in self._step_names:
                self._step_names.add(planned)
                self._record_skipped(
                    planned, len(self._metrics) + 1, reason=f"run failed at step {step_name or '(outside a step)'}"
                )
        where = f"step {step_name}" if step_name else "outside a step"
        self.failure = BatchFailed(
            f"batch {self.name} run {self.run_id} failed at {where}: {error} (log: {self.log_path})",
            run_id=self.run_id,
            batch_name=self.name,
            step_name=step_name,
            error=error,
            step_exit_code=exit_code,
            log_path=self.log_path,
        )
        lines = [
            f"Batch {self.name} FAILED",
            f"run id: {self.run_id}",
            f"host:   {socket.gethostname()}",
            f"step:   {step_name or '(outside a step)'}" + (f" (step {step_index})" if step_index else ""),
            f"error:  {error}",
        ]
        lines += [f"hint:   {h}" for h in hints]
        lines.append(f"log:    {self.log_path.resolve()}")
        lines.append(
            "steps:  "
            + "; ".join(
                f"{m['step_name']} {m['status']}"
                + (f" ({_fmt_duration(m['duration_s'])})" if m["duration_s"] is not None else "")
                for m in self._metrics
            )
        )
        self._notify(
            Message(
                subject=f"FAILED: batch {self.name} at step {step_name or '(outside a step)'} (run {self.run_id})",
                text="\n".join(lines),
                log_tail=list(self._tail),
            )
        )

    def _notify(self, message: Message) -> None:
        if self._notified:
            return
        self._notified = True
        if self.notifier is None or not self.notifier.enabled:
            self._event(
                "no notification channel configured (DEMAND_ALERT_*); nobody was notified", console=not message.success
            )
            return
        try:
            results = self.notifier.send(message)
        except Exception as exc:
            results = [DeliveryResult("notifier", False, f"{type(exc).__name__}: {exc}")]
        self.notifications.extend(results)
        for r in results:
            if r.ok:
                self._event(f"notification sent via {r.channel} ({r.duration_s:.1f}s)")
            else:
                self._event(f"WARNING notification via {r.channel} FAILED: {r.error}")

    # ------------------------------------------------------------------ metrics
    def _make_metrics(
        self,
        *,
        index: int,
        name: str,
        kind: str | None,
        started_at: datetime,
        finished_at: datetime,
        duration: float | None,
        status: str,
        exit_code: int | None,
        peak_mb: float | None,
        rows: int | None,
        error: str | None,
    ) -> dict:
        rps = rows / duration if rows is not None and duration and duration > 0 else None
        return {
            "run_id": self.run_id,
            "batch_name": self.name,
            "step_index": index,
            "step_name": name,
            "kind": kind,
            "started_at": _iso(started_at),
            "finished_at": _iso(finished_at),
            "duration_s": round(duration, 3) if duration is not None else None,
            "status": status,
            "exit_code": exit_code,
            "peak_memory_mb": round(peak_mb, 1) if peak_mb is not None else None,
            "rows": rows,
            "rows_per_second": round(rps, 1) if rps is not None else None,
            "error": error,
        }

    def _record_skipped(self, name: str, index: int, reason: str) -> None:
        now = _utcnow()
        metrics = self._make_metrics(
            index=index,
            name=name,
            kind=None,
            started_at=now,
            finished_at=now,
            duration=None,
            status="skipped",
            exit_code=None,
            peak_mb=None,
            rows=None,
            error=None,
        )
        self._record(metrics)
        self._event(f"SKIPPED step {index} {name}: {reason}")

    def _record(self, metrics: dict) -> None:
        self._metrics.append(metrics)
        try:
            self.metrics_path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.metrics_path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(metrics, ensure_ascii=False) + "\n")
        except OSError as exc:
            self._event(f"WARNING could not append to {self.metrics_path}: {exc}")

    @staticmethod
    def _end_line(m: dict) -> str:
        parts = [
            f"END step {m['step_index']} {m['step_name']}: {m['status']}",
            f"exit_code={m['exit_code']}",
            f"duration={m['duration_s']:.2f}s",
        ]
        if m["peak_memory_mb"] is not None:
            parts.append(f"peak_memory={m['peak_memory_mb']:.1f}MB")
        if m["rows"] is not None:
            parts.append(f"rows={m['rows']}")
        if m["rows_per_second"] is not None:
            parts.append(f"rows_per_second={m['rows_per_second']:.1f}")
        return " ".join(parts)

    def _last_step_name(self) -> str | None:
        for m in reversed(self._metrics):
            if m["status"] != "skipped":
                return m["step_name"]
        return None

    def _finish_line(self) -> None:
        self.finished_at = _utcnow()
        self._duration_s = time.monotonic() - self._t0
        counts: dict[str, int] = {}
        for m in self._metrics:
            counts[m["status"]] = counts.get(m["status"], 0) + 1
        steps = ", ".join(f"{n} {s}" for s, n in counts.items()) or "no steps"
        self._event(f"BATCH {self.name} run {self.run_id} {self.status.upper()} in {self._duration_s:.1f}s ({steps})")

    # ------------------------------------------------------------------ writing
    def _event(self, text: str, console: bool = True) -> None:
        stamp = _utcnow().strftime("%Y-%m-%d %H:%M:%SZ")
        self._output_line(f"{stamp} [{self.name}] {text}", console=console)

    def _log_lines(self, chunks: Iterable[str], console: bool = True) -> None:
        for chunk in chunks:
            for line in chunk.rstrip("\n").split("\n"):
                self._output_line(line, console=console)

    def _output_line(self, line: str, console: bool) -> None:
        with self._lock:
            self._tail.append(line)
            if self._log is not None:
                with contextlib.suppress(OSError, ValueError):
                    self._log.write(line + "\n")
            if console and self._console is not None:
                self._safe_console_write(self._console, line + "\n")

    def _log_raw(self, lines: Iterable[str]) -> None:
        if self._log is None:
            return
        try:
            for line in lines:
                self._log.write(line + "\n")
        except (OSError, ValueError):
            pass

    @staticmethod
    def _safe_console_write(stream: TextIO, text: str) -> None:
        try:
            stream.write(text)
            stream.flush()
        except UnicodeEncodeError:
            enc = getattr(stream, "encoding", None) or "ascii"
            try:
                stream.write(text.encode(enc, errors="replace").decode(enc))
                stream.flush()
            except (OSError, ValueError):
                pass
        except (OSError, ValueError):
            pass  # a closed/broken console must never fail the batch

    def _close_log(self) -> None:
        with self._lock:
            if self._log is not None:
                with contextlib.suppress(OSError):
                    self._log.close()
                self._log = None


# ---------------------------------------------------------------------- DuckDB
_DDL = """
create schema if not exists ops;
create table if not exists ops.batch_step_metrics (
    run_id          varchar   not null,
    batch_name      varchar,
    step_index      integer,
    step_name       varchar   not null,
    kind            varchar,
    started_at      timestamp,  -- UTC
    finished_at     timestamp,  -- UTC
    duration_s      double,
    status          varchar   not null,  -- ok | failed | skipped
    exit_code       integer,
    peak_memory_mb  double,
    "rows"          bigint,
    rows_per_second double,
    error           varchar,
    loaded_at       timestamp default current_timestamp
);
"""


def _to_utc_naive(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if isinstance(value, datetime) and value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value


def write_metrics_to_duckdb(db_path: str | os.PathLike[str], metrics: Iterable[Mapping[str, Any]]) -> int:
    """Insert step metrics into ``ops.batch_step_metrics`` (schema and table created if
    missing). Idempotent per (run_id, step_name): existing rows for those keys are deleted
    first, in the same transaction. Opens and closes its own connection (DuckDB allows one
    writer at a time), so call it between steps, not while dbt runs. Returns rows written.
    """
    import duckdb  # local import: notifications and logging work without duckdb

    rows = []
    for m in metrics:
        rows.append(
            (
                m["run_id"],
                m.get("batch_name"),
                m.get("step_index"),
                m["step_name"],
                m.get("kind"),
                _to_utc_naive(m.get("started_at")),
                _to_utc_naive(m.get("finished_at")),
                m.get("duration_s"),
                m["status"],
                m.get("exit_code"),
                m.get("peak_memory_mb"),
                m.get("rows"),
                m.get("rows_per_second"),
                m.get("error"),
            )
        )
    keys = sorted({(r[0], r[3]) for r in rows})
    con = duckdb.connect(os.fspath(db_path))
    try:
        con.execute(_DDL)
        if not rows:
            return 0
        con.execute("begin transaction")
        try:
            con.executemany("delete from ops.batch_step_metrics where run_id = ? and step_name = ?", keys)
            con.executemany(
                "insert into ops.batch_step_metrics (run_id, batch_name, step_index, step_name, kind, "
                'started_at, finished_at, duration_s, status, exit_code, peak_memory_mb, "rows", '
                "rows_per_second, error) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
        return len(rows)
    finally:
        con.close()

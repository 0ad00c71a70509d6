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
  :class:`BatchStop` is the exception for a condition the caller checked and can explain
  (a bad argument, a broken input file, a held lock): its message is logged and notified
  without a traceback, inside a step or outside one.

The parts live beside this module, one job each: :mod:`.output` (log file and console),
:mod:`.steps` (running a subprocess or a callable, explaining a failed exit), :mod:`.step_outcome`
(a step's command checked and run, every way it fails turned into one failure; :class:`BatchStop`),
:mod:`.metrics` (step records, the summary, the DuckDB table) and :mod:`.alerts` (the one notification).
"""

from __future__ import annotations

import os
import shlex
import socket
import sys
import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO

from .alerts import Alerter, failure_message
from .dbt_results import DbtRunSummary, load_run_results
from .metrics import METRIC_FIELDS, MetricsLog, end_line, render_summary, step_record, write_metrics_to_duckdb
from .notify import DeliveryResult, Message, Notifier
from .output import RunOutput, safe_console_write
from .step_outcome import BatchStop, Command, command_argv, describe_callable, execute_step, resolve_rows

__all__ = [
    "BatchRun",
    "BatchFailed",
    "BatchStop",
    "StepResult",
    "METRIC_FIELDS",
    "write_metrics_to_duckdb",
    "new_run_id",
]


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
    :param failure_hint: a line added to every failure's hints (e.g. what readers still see).
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
        failure_hint: str | None = None,
    ):
        self.name = name
        self.failure_hint = failure_hint
        self.started_at = _utcnow()
        self.run_id = run_id or new_run_id(self.started_at)
        self.log_dir = Path(log_dir)
        self.log_path = self.log_dir / f"batch-{self.run_id}.log"
        self.metrics_path = Path(metrics_path) if metrics_path else self.log_dir / "run_metrics.jsonl"
        self.planned_steps = list(planned_steps)
        self.print_summary_on_exit = print_summary_on_exit
        self.dbt_project_dir = Path(dbt_project_dir) if dbt_project_dir is not None else None
        self.metrics_db = Path(metrics_db) if metrics_db is not None else None
        self.status = "pending"  # pending | running | ok | failed
        self.finished_at: datetime | None = None
        self.failure: BatchFailed | None = None
        self._console_arg = console
        self._output = RunOutput(name, self.log_path, tail_lines)
        self._alerter = Alerter(notifier, self._output)
        self._metrics = MetricsLog(self.metrics_path, warn=self._output.event)
        self._summary: list[tuple[str, str]] = []
        self._step_names: set[str] = set()
        self._t0 = time.monotonic()
        self._duration_s: float | None = None

    # ------------------------------------------------------------------ context manager
    def __enter__(self) -> BatchRun:
        if self.status != "pending":
            raise RuntimeError("a BatchRun can only be entered once")
        self._output.open(self._console_arg or sys.stdout)
        self.status = "running"
        self._t0 = time.monotonic()
        self._output.event(
            f"BATCH {self.name} run {self.run_id} started on {socket.gethostname()} "
            f"(pid {os.getpid()}); log {self.log_path}; notifications: {self._alerter.describe()}"
        )
        if self.planned_steps:
            self._output.event("planned steps: " + ", ".join(self.planned_steps))
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        try:
            if exc is not None and isinstance(exc, BatchFailed) and exc.run_id == self.run_id:
                pass  # raised by our own step(): already logged and notified
            elif exc is not None and not isinstance(exc, Exception) and self.failure is not None:
                return False  # Ctrl-C inside a step: step() already logged and notified
            elif exc is not None:
                return self._fail_outside_a_step(exc_type, exc, tb)
            elif self.failure is not None:
                # A step failed but the caller swallowed BatchFailed: still fail the run.
                raise self.failure
            else:
                self._succeed()
            return False
        finally:
            if self.status == "failed" and self.finished_at is None:
                self._finish_line()
            self._write_metrics_db()
            if self.print_summary_on_exit:
                self.print_summary()
            self._output.close()

    def _fail_outside_a_step(self, exc_type, exc, tb) -> bool:
        if isinstance(exc, BatchStop):
            error = str(exc)
            self._output.event(f"FAILED {self._where_outside()}: {error}")
        elif isinstance(exc, Exception):
            error = f"{type(exc).__name__}: {exc}"
            self._output.event(f"FAILED outside a step ({self._where_outside()}): {error}")
            self._output.lines(traceback.format_exception(exc_type, exc, tb))
        else:  # KeyboardInterrupt, SystemExit: keep the exception, still be loud
            error = f"interrupted ({exc_type.__name__})"
            self._output.event(f"FAILED: run {error}")
        self._fail(step_name=None, error=error, exit_code=None, hints=[])
        if isinstance(exc, Exception):
            raise self.failure from exc  # type: ignore[misc]
        return False

    def _where_outside(self) -> str:
        where = self._metrics.last_run_step()
        return f"after step {where}" if where else "before the first step"

    def _succeed(self) -> None:
        self.status = "ok"
        never_run = [s for s in self.planned_steps if s not in self._step_names]
        if never_run:
            self._output.event("WARNING planned steps that were never run: " + ", ".join(never_run))
        self._finish_line()
        if self._alerter.notify_on_success:
            self._alerter.send(
                Message(
                    subject=f"OK: batch {self.name} run {self.run_id}",
                    text=self.render_summary(),
                    log_tail=(),
                    success=True,
                )
            )

    def _write_metrics_db(self) -> None:
        if self.metrics_db is None or not self._metrics.records:
            return
        try:
            n = write_metrics_to_duckdb(self.metrics_db, self._metrics.records)
            self._output.event(f"{n} step metrics written to {self.metrics_db} (ops.batch_step_metrics)", console=False)
        except Exception as exc:
            self._output.event(
                f"WARNING could not write step metrics to {self.metrics_db}: {type(exc).__name__}: {exc}"
            )

    # ------------------------------------------------------------------ public API
    @property
    def metrics(self) -> list[dict]:
        """One dict per step (ok, failed or skipped), in execution order (copies)."""
        return [dict(m) for m in self._metrics.records]

    @property
    def failed(self) -> bool:
        return self.failure is not None

    @property
    def notifications(self) -> list[DeliveryResult]:
        """The delivery results of the run's notification (one per channel)."""
        return list(self._alerter.deliveries)

    @property
    def summary_lines(self) -> list[tuple[str, str]]:
        return list(self._summary)

    def plan_steps(self, names: Iterable[str]) -> None:
        """Add steps to the plan once they are known (e.g. one per month, after the months are planned)."""
        added = [n for n in names if n not in self.planned_steps]
        self.planned_steps.extend(added)
        if added:
            self._output.event("planned steps: " + ", ".join(added))

    def log(self, text: str) -> None:
        """A line of the caller's own in the run log (and on the console)."""
        self._output.event(text)

    def summary_line(self, label: str, value: Any) -> None:
        """Add a line to the end-of-run summary, e.g. ``("products forecast", 600)``."""
        text = "-" if value is None else str(value)
        self._summary.append((str(label), text))
        if self._output.is_open:
            self._output.event(f"summary: {label} = {text}", console=False)

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
        return write_metrics_to_duckdb(db_path, self._metrics.records)

    def step(
        self,
        name: str,
        cmd: Command,
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
        if not self._output.is_open or self.status not in ("running", "failed"):
            raise RuntimeError("BatchRun.step() must be called inside the `with BatchRun(...)` block")
        if name in self._step_names:
            raise ValueError(f"duplicate step name {name!r} in run {self.run_id}")
        self._step_names.add(name)
        index = len(self._metrics.records) + 1

        if self.failure is not None:
            self._record_skipped(name, index, reason=f"run already failed at step {self.failure.step_name}")
            return StepResult(name, "skipped", None, None, metrics=self._metrics.records[-1])

        is_callable = callable(cmd)
        argv = command_argv(name, cmd, env, extra_env)

        started_at = _utcnow()
        t0 = time.monotonic()
        if is_callable:
            self._output.event(f"START step {index} {name}: python {describe_callable(cmd)}")
        else:
            self._output.event(f"START step {index} {name}: {shlex.join(argv)}{f' (cwd {cwd})' if cwd else ''}")

        value, peak_mb, exit_code, failure, interrupted = execute_step(
            cmd,
            argv,
            self._output,
            env=env,
            extra_env=extra_env,
            cwd=cwd,
            timeout_s=timeout_s,
            dbt_project_dir=dbt_project_dir,
            run_dbt_project_dir=self.dbt_project_dir,
        )

        duration = time.monotonic() - t0
        row_count: int | None = None
        if failure is None:
            try:
                row_count = resolve_rows(rows, value)
            except Exception as exc:
                self._output.event(f"WARNING step {name}: could not count rows: {type(exc).__name__}: {exc}")

        metrics = self._step_record(
            index=index,
            name=name,
            kind="python" if is_callable else "shell",
            started_at=started_at,
            duration=duration,
            status="ok" if failure is None else "failed",
            exit_code=exit_code,
            peak_mb=peak_mb,
            rows=row_count,
            error=failure.error if failure else None,
        )
        self._metrics.record(metrics)
        self._output.event(end_line(metrics))

        if failure is None:
            return StepResult(name, "ok", exit_code, duration, value=value, rows=row_count, metrics=dict(metrics))

        hints = list(failure.hints) + ([hint] if hint else [])
        self._fail(step_name=name, error=failure.error, exit_code=exit_code, hints=hints, step_index=index)
        if interrupted is not None:
            raise interrupted
        assert self.failure is not None
        raise self.failure

    # ------------------------------------------------------------------ summary
    def render_summary(self) -> str:
        """The one-screen summary as text (see :meth:`print_summary`)."""
        total = self._duration_s if self._duration_s is not None else time.monotonic() - self._t0
        return render_summary(
            batch_name=self.name,
            run_id=self.run_id,
            status=self.status,
            total_s=total,
            log_path=self.log_path,
            records=self._metrics.records,
            failure=(self.failure.step_name, self.failure.error) if self.failure else None,
            lines=self._summary,
        )

    def print_summary(self, file: TextIO | None = None) -> str:
        """Print the summary (steps with status/duration/memory/rows, then summary lines) to
        ``file`` (default: the run's console) and append it to the log file. Returns the text."""
        text = self.render_summary()
        safe_console_write(file or self._output.console or sys.stdout, text + "\n")
        self._output.append_block(text)
        return text

    # ------------------------------------------------------------------ failures
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
        if self.failure_hint:
            hints = [*hints, self.failure_hint]
        if step_name is not None:
            self._output.event(f"FAILED step {step_name}: {error}")
        for h in hints:
            self._output.event(f"  hint: {h}")
        self._output.event(f"  full log: {self.log_path.resolve()}")
        for planned in self.planned_steps:  # the remaining planned steps will not run
            if planned not in self._step_names:
                self._step_names.add(planned)
                self._record_skipped(
                    planned,
                    len(self._metrics.records) + 1,
                    reason=f"run failed at step {step_name or '(outside a step)'}",
                )
        where = f"at step {step_name}" if step_name else "outside a step"
        self.failure = BatchFailed(
            f"batch {self.name} run {self.run_id} failed {where}: {error} (log: {self.log_path})",
            run_id=self.run_id,
            batch_name=self.name,
            step_name=step_name,
            error=error,
            step_exit_code=exit_code,
            log_path=self.log_path,
        )
        self._alerter.send(
            failure_message(
                batch_name=self.name,
                run_id=self.run_id,
                step_name=step_name,
                step_index=step_index,
                error=error,
                hints=hints,
                log_path=self.log_path,
                records=self._metrics.records,
                log_tail=self._output.tail,
            )
        )

    # ------------------------------------------------------------------ records
    def _step_record(self, *, started_at: datetime, **fields: Any) -> dict:
        return step_record(
            run_id=self.run_id, batch_name=self.name, started_at=started_at, finished_at=_utcnow(), **fields
        )

    def _record_skipped(self, name: str, index: int, reason: str) -> None:
        self._metrics.record(
            self._step_record(
                index=index,
                name=name,
                kind=None,
                started_at=_utcnow(),
                duration=None,
                status="skipped",
                exit_code=None,
                peak_mb=None,
                rows=None,
                error=None,
            )
        )
        self._output.event(f"SKIPPED step {index} {name}: {reason}")

    def _finish_line(self) -> None:
        self.finished_at = _utcnow()
        self._duration_s = time.monotonic() - self._t0
        self._output.event(
            f"BATCH {self.name} run {self.run_id} {self.status.upper()} in {self._duration_s:.1f}s "
            f"({self._metrics.status_counts()})"
        )

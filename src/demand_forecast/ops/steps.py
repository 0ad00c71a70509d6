"""Running one step of a batch: a subprocess streamed line by line, or a Python callable with its
output teed, each measured for peak memory; and turning a failed exit into words a person can act on.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .dbt_results import load_run_results, run_results_path
from .output import RunOutput, Tee

try:  # not available on Windows
    import resource
except ImportError:  # pragma: no cover
    resource = None  # type: ignore[assignment]

TERMINATE_GRACE_S = 10.0

# DuckDB's message when another process holds the file: names the file, the program and its PID.
_DUCKDB_LOCK = re.compile(
    r'Could not set lock on file "(?P<file>[^"]+)": Conflicting lock is held in (?P<program>.+?) \(PID (?P<pid>\d+)\)'
)


class StepFailure(Exception):
    """The failure of one step: what went wrong, the exit code, and hints on what to do."""

    def __init__(self, error: str, exit_code: int | None, hints: list[str]):
        super().__init__(error)
        self.error = error
        self.exit_code = exit_code
        self.hints = hints


# ---------------------------------------------------------------------- memory
def maxrss_to_mb(maxrss: float) -> float:
    # ru_maxrss is KiB on Linux/BSD and bytes on macOS.
    if sys.platform == "darwin":
        return maxrss / (1024 * 1024)
    return maxrss / 1024


def vm_hwm_mb(pid: int | str = "self") -> float | None:
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
    return maxrss_to_mb(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


# ---------------------------------------------------------------------- subprocess
def terminate(proc: subprocess.Popen) -> None:
    """SIGTERM now, SIGKILL after a grace period if the process is still there."""
    try:
        proc.terminate()
    except OSError:
        return

    def _kill_later() -> None:
        time.sleep(TERMINATE_GRACE_S)
        if proc.returncode is None:
            with contextlib.suppress(OSError):
                proc.kill()

    threading.Thread(target=_kill_later, daemon=True).start()


def _pump(stream, output: RunOutput) -> None:
    try:
        for raw in iter(stream.readline, b""):
            output.line(raw.decode("utf-8", errors="replace").rstrip("\r\n"), console=True)
    except (OSError, ValueError):
        pass


def run_subprocess(
    argv: list[str],
    output: RunOutput,
    *,
    env: Mapping[str, str] | None,
    extra_env: Mapping[str, str] | None,
    cwd: str | os.PathLike[str] | None,
    timeout_s: float | None,
) -> tuple[int, float | None, bool]:
    """Run ``argv`` with its output streamed to ``output``. Returns (exit code, peak MB, timed out)."""
    full_env = dict(os.environ if env is None else env)
    if extra_env:
        full_env.update(extra_env)
    # Child python processes (dbt, edr) must not block-buffer their output: we stream it.
    full_env.setdefault("PYTHONUNBUFFERED", "1")
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=full_env, cwd=cwd
    )
    reader = threading.Thread(target=_pump, args=(proc.stdout, output), daemon=True, name=f"batch-output-{proc.pid}")
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
                polled_mb = _max_or_none(polled_mb, vm_hwm_mb(proc.pid))
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    proc.returncode = os.waitstatus_to_exitcode(status)
                    peak_mb = polled_mb if polled_mb is not None else maxrss_to_mb(usage.ru_maxrss)
                    break
                if deadline is not None and time.monotonic() > deadline and not timed_out:
                    timed_out = True
                    output.event(f"timeout after {timeout_s:g} s: terminating pid {proc.pid}")
                    terminate(proc)
                time.sleep(delay)
                delay = min(delay * 2, 0.1)
        else:  # pragma: no cover - Windows
            try:
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                timed_out = True
                terminate(proc)
                proc.wait()
    except BaseException:
        # Ctrl-C or similar while waiting: do not leave the child running.
        if proc.returncode is None:
            terminate(proc)
            with contextlib.suppress(subprocess.TimeoutExpired, ChildProcessError):
                proc.wait(timeout=TERMINATE_GRACE_S)
        raise
    finally:
        reader.join(timeout=5)
        if reader.is_alive():
            output.event(
                "WARNING output pipe still open after the process exited "
                "(a background child keeps it); not waiting for it"
            )
        elif proc.stdout is not None:
            proc.stdout.close()
    assert proc.returncode is not None
    return proc.returncode, peak_mb, timed_out


# ---------------------------------------------------------------------- callable
def run_callable(
    func: Callable[[], Any], output: RunOutput, cwd: str | os.PathLike[str] | None
) -> tuple[Any, float | None]:
    """Call ``func`` with stdout/stderr teed into the log (not echoed twice). Returns (value, peak MB)."""
    precise = _reset_peak_rss() and vm_hwm_mb() is not None
    old_cwd = os.getcwd() if cwd else None
    out_tee = Tee(sys.stdout, lambda line: output.line(line, console=False))
    err_tee = Tee(sys.stderr, lambda line: output.line(line, console=False))
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
    peak = vm_hwm_mb() if precise else _self_peak_mb()
    return value, peak


# ---------------------------------------------------------------------- explaining a failed exit
def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def is_dbt_command(argv: Sequence[str]) -> bool:
    if not argv:
        return False
    exe = os.path.basename(argv[0]).lower()
    if exe in ("dbt", "dbt.exe"):
        return True
    # python -m dbt.cli.main ...
    return "-m" in argv[:3] and any(a.startswith("dbt") for a in argv[1:4])


def arg_value(argv: Sequence[str], option: str) -> str | None:
    for i, arg in enumerate(argv):
        if arg == option and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(option + "="):
            return arg.split("=", 1)[1]
    return None


def lock_holder(lines: Sequence[str]) -> str | None:
    """A readable account of a DuckDB lock conflict found in output lines, or None."""
    for line in reversed(lines):
        match = _DUCKDB_LOCK.search(line)
        if match:
            return (
                f"the DuckDB file {match['file']} is locked by another process: {match['program']} "
                f"(PID {match['pid']}). DuckDB lets one process write, or many read: close that "
                "connection (BI tools must open the warehouse read-only) and rerun"
            )
    return None


def describe_exit(
    argv: list[str],
    exit_code: int,
    *,
    output_tail: Sequence[str],
    cwd: str | os.PathLike[str] | None,
    dbt_project_dir: str | os.PathLike[str] | None,
    run_dbt_project_dir: Path | None,
    started_wall: float,
) -> StepFailure:
    """Why a subprocess step failed, as an error line and hints (failing dbt nodes, a held lock ...)."""
    error = f"exit code {exit_code}"
    hints: list[str] = []
    if exit_code < 0:
        error = f"exit code {exit_code} (killed by {signal_name(-exit_code)})"
        if -exit_code == getattr(signal, "SIGKILL", 9):
            hints.append(
                "SIGKILL usually means the out-of-memory killer; check memory limits (DEMAND_DUCKDB_MEMORY, threads)"
            )
    locked = lock_holder(output_tail)
    if locked:
        error = f"{error}: {locked}"
    if dbt_project_dir is not None or is_dbt_command(argv):
        # Precedence: the step's dbt_project_dir, --project-dir in the command, the run's
        # dbt_project_dir, the step's cwd, the current directory.
        project = dbt_project_dir or arg_value(argv, "--project-dir") or run_dbt_project_dir or cwd or "."
        project_path = Path(project)
        if cwd and not project_path.is_absolute() and dbt_project_dir is None:
            project_path = Path(cwd) / project_path
        target = arg_value(argv, "--target-path")
        # Allow 2 s of clock/mtime granularity slack; older files are from a previous run.
        results = load_run_results(project_path, target_path=target, newer_than=started_wall - 2)
        if results is not None and results.failures:
            error = f"{error}: {results.failure_message(max_nodes=5)}"
            hints.extend(node.describe() for node in results.failures)
            hints.append(f"dbt results: {run_results_path(project_path, target)}")
        elif locked:
            hints.append("no dbt node ran: dbt could not open the warehouse")
        elif exit_code == 2:
            hints.append(
                "dbt could not run (bad arguments, profile/project error or compilation error); "
                "the dbt error is in the output above"
            )
        elif exit_code == 1:
            hints.append("dbt reported errors; see the output above")
    if not hints:
        hints.append("see the last lines of the step output above")
    return StepFailure(error, exit_code, hints)

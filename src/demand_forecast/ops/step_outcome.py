"""What one step of a batch run came to: its command checked, run (through :mod:`.steps`) and every
way it can fail turned into a :class:`~.steps.StepFailure`; its value and rows when it succeeded.

:class:`~.runlog.BatchRun` records the outcome, logs it and, on a failure, fails the run.
"""

from __future__ import annotations

import os
import shlex
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from .output import RunOutput
from .steps import StepFailure, describe_exit, run_callable, run_subprocess

Command = Sequence[str | os.PathLike[str]] | str | Callable[[], Any]


class BatchStop(Exception):
    """A checked condition that stops the batch; the message says what is wrong and what to do."""


class StepOutcome(NamedTuple):
    """A step's run: the callable's return value, peak MB, exit code, the failure (None when it
    succeeded) and a KeyboardInterrupt / SystemExit to re-raise once the failure is recorded."""

    value: Any
    peak_mb: float | None
    exit_code: int | None
    failure: StepFailure | None
    interrupted: BaseException | None


def command_argv(
    name: str, cmd: Command, env: Mapping[str, str] | None, extra_env: Mapping[str, str] | None
) -> list[str]:
    """The argv of a subprocess step (a string is split with :func:`shlex.split`); ``[]`` for a callable."""
    if callable(cmd):
        if env is not None or extra_env is not None:
            raise ValueError("env/extra_env only apply to subprocess steps")
        return []
    argv = shlex.split(cmd) if isinstance(cmd, str) else [os.fspath(a) for a in cmd]
    if not argv:
        raise ValueError(f"step {name!r}: empty command")
    return argv


def describe_callable(func: Callable[[], Any]) -> str:
    """``module.function`` of a step's callable (through functools.partial); ``<lambda>`` left out."""
    target = getattr(func, "func", func)
    name = getattr(target, "__qualname__", None) or repr(target)
    return name.replace(".<locals>", "").replace(".<lambda>", "")


def resolve_rows(rows: Any, value: Any) -> int | None:
    """Rows a step processed: ``rows`` (a number or a callable), else an int return value or its ``"rows"``."""
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


def exception_failure(output: RunOutput, exc: BaseException) -> StepFailure:
    """An exception raised by a step: its traceback into the log, its type and message as the error."""
    output.lines(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return StepFailure(f"{type(exc).__name__}: {exc}", 1, ["the traceback is in the log above the FAILED line"])


def not_found(program: str, exc: OSError) -> StepFailure:
    return StepFailure(
        f"command not found: {program}",
        127,
        [f"{program!r} is not on PATH ({exc.strerror}); is the virtualenv activated and the tool installed?"],
    )


def execute_step(
    cmd: Command,
    argv: list[str],
    output: RunOutput,
    *,
    env: Mapping[str, str] | None,
    extra_env: Mapping[str, str] | None,
    cwd: str | os.PathLike[str] | None,
    timeout_s: float | None,
    dbt_project_dir: str | os.PathLike[str] | None,
    run_dbt_project_dir: str | os.PathLike[str] | None,
) -> StepOutcome:
    """Run the step's command (``argv``, or the callable ``cmd`` when ``argv`` is empty)."""
    wall0 = time.time()
    peak_mb: float | None = None
    try:
        if not argv:
            value, peak_mb = run_callable(cmd, output, cwd)  # type: ignore[arg-type]
            return StepOutcome(value, peak_mb, 0, None, None)
        exit_code, peak_mb, timed_out = run_subprocess(
            argv, output, env=env, extra_env=extra_env, cwd=cwd, timeout_s=timeout_s
        )
        if timed_out:
            raise StepFailure(
                f"timed out after {timeout_s:g} s (killed)",
                exit_code,
                ["raise timeout_s or look for a hang in the output above"],
            )
        if exit_code != 0:
            raise describe_exit(
                argv,
                exit_code,
                output_tail=output.tail,
                cwd=cwd,
                dbt_project_dir=dbt_project_dir,
                run_dbt_project_dir=run_dbt_project_dir,
                started_wall=wall0,
            )
        return StepOutcome(None, peak_mb, exit_code, None, None)
    except StepFailure as exc:
        failure = exc
    except BatchStop as exc:
        failure = StepFailure(str(exc), 1, [])
    except FileNotFoundError as exc:
        failure = not_found(argv[0], exc) if argv else exception_failure(output, exc)
    except PermissionError as exc:
        if argv:
            failure = StepFailure(f"cannot execute {argv[0]}: {exc.strerror}", 126, [])
        else:
            failure = exception_failure(output, exc)
    except Exception as exc:
        failure = exception_failure(output, exc)
    except BaseException as exc:  # KeyboardInterrupt / SystemExit inside the step
        return StepOutcome(None, None, None, StepFailure(f"interrupted ({type(exc).__name__})", None, []), exc)
    return StepOutcome(None, peak_mb, failure.exit_code, failure, None)

"""A batch step's command and its outcome (demand_forecast.ops.step_outcome)."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from demand_forecast.ops.step_outcome import command_argv, describe_callable, resolve_rows


def _build_dashboard(size: int) -> int:
    return size


def test_a_command_becomes_an_argv_and_a_bad_one_is_refused() -> None:
    assert command_argv("dbt", "dbt build --vars '{a: 1}'", None, None) == ["dbt", "build", "--vars", "{a: 1}"]
    assert command_argv("edr", ["edr", Path("report")], None, {"X": "1"}) == ["edr", "report"]
    assert command_argv("python", lambda: 1, None, None) == []
    with pytest.raises(ValueError, match="'nothing': empty command"):
        command_argv("nothing", "  ", None, None)
    with pytest.raises(ValueError, match="only apply to subprocess steps"):
        command_argv("python", lambda: 1, None, {"X": "1"})


def test_rows_come_from_the_argument_or_the_return_value() -> None:
    assert resolve_rows(12, None) == 12
    assert resolve_rows(lambda: 7, 99) == 7
    assert resolve_rows(None, 600) == 600
    assert resolve_rows(None, {"rows": "40", "path": "x"}) == 40
    assert resolve_rows(None, True) is None  # a bool is not a row count
    assert resolve_rows(None, "done") is None


def test_a_callable_is_named_by_its_function() -> None:
    assert describe_callable(functools.partial(_build_dashboard, 3)) == "_build_dashboard"

    def outer() -> object:
        return lambda: None

    assert describe_callable(outer()) == "test_a_callable_is_named_by_its_function.outer"

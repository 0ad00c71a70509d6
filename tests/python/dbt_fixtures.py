"""Read the dbt project's YAML (vars, model properties, unit-test rows) for tests (not a test module).

Tests that check SQL and Python against each other read the rows of a dbt unit test from here, so
one fixture feeds both implementations.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[2]


def load_yaml(relative: str) -> dict[str, Any]:
    return yaml.safe_load((ROOT / relative).read_text())


def project_vars() -> dict[str, Any]:
    return dict(load_yaml("dbt_project.yml")["vars"])


def model_properties(relative: str) -> dict[str, dict[str, Any]]:
    """The ``models:`` entries of a properties file, by model name."""
    return {entry["name"]: entry for entry in load_yaml(relative)["models"]}


def _rows(given: dict[str, Any]) -> pd.DataFrame:
    rows = given.get("rows")
    if given.get("format") == "csv":
        return pd.read_csv(io.StringIO(rows))
    return pd.DataFrame(rows or [])


def unit_test(relative: str, name: str) -> tuple[dict[str, pd.DataFrame], pd.DataFrame, dict[str, Any]]:
    """``(inputs by ref name, expected rows, vars)`` of the unit test ``name`` in ``relative``.

    The vars are the project's, with the unit test's overrides applied.
    """
    tests = {t["name"]: t for t in load_yaml(relative)["unit_tests"]}
    test = tests[name]
    inputs = {}
    for given in test["given"]:
        ref = given["input"].removeprefix("ref('").removesuffix("')")
        inputs[ref] = _rows(given)
    variables = {**project_vars(), **(test.get("overrides", {}).get("vars") or {})}
    return inputs, _rows(test["expect"]), variables

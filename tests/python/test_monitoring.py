"""Monitoring that is quiet when nothing is wrong and says what a warning means.

The loud side (injected faults still warn or fail) is in test_e2e_dbt.py; here: the batch's last
build on clean generated data has no warning at all, and every test that can warn explains itself.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def _tests_in(node: object) -> list[tuple[str, dict]]:
    """(name, body) of every data test declared in a parsed yml tree."""
    found: list[tuple[str, dict]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("data_tests", "tests") and isinstance(value, list):
                for test in value:
                    if isinstance(test, dict):
                        found += [(name, body) for name, body in test.items() if isinstance(body, dict)]
            else:
                found += _tests_in(value)
    elif isinstance(node, list):
        for item in node:
            found += _tests_in(item)
    return found


def test_every_test_that_can_warn_says_what_it_means_and_what_to_do() -> None:
    tests = [
        (path.name, name, body)
        for path in sorted([*ROOT.glob("models/**/*.yml"), *ROOT.glob("python_models/**/*.yml")])
        for name, body in _tests_in(yaml.safe_load(path.read_text()))
    ]
    monitors = [
        (file, name, body)
        for file, name, body in tests
        if (body.get("config") or {}).get("severity") == "warn"
        or "monitoring" in ((body.get("config") or {}).get("tags") or [])
    ]
    assert len(monitors) >= 10
    unexplained = [
        (file, name)
        for file, name, body in monitors
        if len(body.get("description", "")) < 80 or not (body["config"].get("meta") or {}).get("what_to_do")
    ]
    assert unexplained == []


@pytest.mark.dbt
@pytest.mark.slow
def test_the_last_build_on_clean_data_has_no_warning(built_warehouse: dict[str, object]) -> None:
    with duckdb.connect(str(built_warehouse["database"]), read_only=True) as connection:
        rows = connection.execute(
            """
            select test_short_name, table_name, status, test_results_description
            from elementary.elementary_test_results
            where invocation_id = (select invocation_id from elementary.elementary_test_results
                                   order by detected_at desc limit 1)
            """
        ).fetchall()
    anomaly_tests = [row for row in rows if row[0].endswith("anomalies")]
    assert len(anomaly_tests) >= 5, "the Elementary monitors ran"
    assert [(name, table, status, text) for name, table, status, text in rows if status != "pass"] == []
    assert "0 warned" in built_warehouse["output"]

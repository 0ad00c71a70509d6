"""Read dbt's ``target/run_results.json`` into counts and readable failure messages.

Used by the batch wrapper (:mod:`demand_forecast.ops.runlog`) for the end-of-run summary
("dbt tests pass/warn/fail/error: 120/2/0/0") and to name the failing dbt nodes when a
``dbt`` step fails ("dbt test not_null_fct_forecasts_forecast_p50 failed: 3 rows").

Only the stable part of the artifact is read (``metadata``, ``args``, ``elapsed_time`` and
per result ``unique_id``, ``status``, ``message``, ``failures``, ``execution_time``), so it
works across run-results schema versions (v4 to v6).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "NodeResult",
    "DbtRunSummary",
    "run_results_path",
    "load_run_results",
    "summarize_run_results",
    "parse_run_results",
]

# Statuses as written by dbt (RunStatus, TestStatus, FreshnessStatus).
_OK_STATUSES = {"success", "pass", "no-op"}
_WARN_STATUSES = {"warn"}
_FAIL_STATUSES = {"error", "fail", "runtime error", "partial success"}
_SKIP_STATUSES = {"skipped"}

_HASH_SUFFIX = re.compile(r"^[0-9a-f]{10}$")
_MAX_MESSAGE_CHARS = 1000  # a quarantine gate's message lists reasons and products


def _node_name(unique_id: str, resource_type: str) -> str:
    """``test.pkg.not_null_x_y.5c1e2b3a4d`` -> ``not_null_x_y``; ``model.pkg.fct`` -> ``fct``."""
    parts = unique_id.split(".")
    if len(parts) < 3:
        return unique_id
    rest = parts[2:]
    if resource_type == "test" and len(rest) > 1 and _HASH_SUFFIX.match(rest[-1]):
        rest = rest[:-1]
    return ".".join(rest)


def _one_line(message: Any, limit: int = _MAX_MESSAGE_CHARS) -> str:
    if message is None:
        return ""
    text = " ".join(str(message).split())
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return text


@dataclass(frozen=True)
class NodeResult:
    """One entry of ``run_results.json`` reduced to what a person needs to see."""

    unique_id: str
    resource_type: str  # model, test, seed, snapshot, unit_test, operation, ...
    name: str
    status: str
    message: str = ""
    failures: int | None = None
    execution_time: float | None = None

    def describe(self) -> str:
        """A one-line, human-readable description of a failing or warning node.

        ``dbt test not_null_fct_forecasts_forecast_p50 failed: 3 rows``
        ``dbt model fct_forecasts error: Runtime Error ...``
        """
        kind = self.resource_type.replace("_", " ")
        label = f"dbt {kind} {self.name}"
        if self.status in ("fail", "warn"):
            verb = "failed" if self.status == "fail" else "warned"
            if self.failures is not None:
                unit = "row" if self.failures == 1 else "rows"
                return f"{label} {verb}: {self.failures} {unit}"
            return f"{label} {verb}: {self.message}" if self.message else f"{label} {verb}"
        verb = "errored" if self.resource_type in ("test", "unit_test") else "error"
        if self.status == "partial success":
            verb = "partially failed"
        return f"{label} {verb}: {self.message}" if self.message else f"{label} {verb}"


@dataclass
class DbtRunSummary:
    """Counts and failing nodes of one dbt invocation."""

    command: str | None = None  # args.which: build, run, test, seed, ...
    invocation_id: str | None = None
    generated_at: str | None = None
    elapsed_time: float | None = None
    dbt_version: str | None = None
    # (resource_type, status) -> count, e.g. ("test", "pass") -> 120
    counts: dict[tuple[str, str], int] = field(default_factory=dict)
    nodes: list[NodeResult] = field(default_factory=list)

    # -- counts --------------------------------------------------------------------------
    def count(self, resource_type: str, statuses: Iterable[str]) -> int:
        wanted = set(statuses)
        return sum(n for (rt, st), n in self.counts.items() if rt == resource_type and st in wanted)

    @property
    def models_ok(self) -> int:
        return self.count("model", _OK_STATUSES)

    @property
    def models_error(self) -> int:
        return self.count("model", _FAIL_STATUSES)

    @property
    def models_skipped(self) -> int:
        return self.count("model", _SKIP_STATUSES)

    @property
    def tests_pass(self) -> int:
        return self.count("test", {"pass", "success"})

    @property
    def tests_warn(self) -> int:
        return self.count("test", {"warn"})

    @property
    def tests_fail(self) -> int:
        return self.count("test", {"fail"})

    @property
    def tests_error(self) -> int:
        return self.count("test", {"error", "runtime error"})

    @property
    def tests_skipped(self) -> int:
        return self.count("test", _SKIP_STATUSES)

    # -- nodes ---------------------------------------------------------------------------
    @property
    def failures(self) -> list[NodeResult]:
        """Nodes that errored or failed (tests with ``severity: error`` that found rows)."""
        return [n for n in self.nodes if n.status in _FAIL_STATUSES]

    @property
    def warnings(self) -> list[NodeResult]:
        return [n for n in self.nodes if n.status in _WARN_STATUSES]

    @property
    def ok(self) -> bool:
        return not self.failures

    def failure_message(self, max_nodes: int = 10) -> str:
        """``dbt test a failed: 3 rows; dbt model b error: ...`` (empty when nothing failed)."""
        failing = self.failures
        parts = [n.describe() for n in failing[:max_nodes]]
        if len(failing) > max_nodes:
            parts.append(f"... and {len(failing) - max_nodes} more failing dbt nodes")
        return "; ".join(parts)

    def tests_line(self) -> str:
        """``120 passed, 2 warned, 0 failed, 0 errored`` (data tests only)."""
        line = (
            f"{self.tests_pass} passed, {self.tests_warn} warned, {self.tests_fail} failed, {self.tests_error} errored"
        )
        if self.tests_skipped:
            line += f", {self.tests_skipped} skipped"
        return line

    def summary_lines(self) -> list[tuple[str, str]]:
        """(label, value) pairs for :meth:`demand_forecast.ops.runlog.BatchRun.summary_line`."""
        lines: list[tuple[str, str]] = []
        types = {rt for rt, _ in self.counts}
        if "seed" in types:
            lines.append(
                (
                    "dbt seeds ok/error",
                    f"{self.count('seed', _OK_STATUSES)}/{self.count('seed', _FAIL_STATUSES)}",
                )
            )
        if "model" in types:
            value = f"{self.models_ok}/{self.models_error}"
            if self.models_skipped:
                value += f" ({self.models_skipped} skipped)"
            lines.append(("dbt models ok/error", value))
        if "snapshot" in types:
            lines.append(
                (
                    "dbt snapshots ok/error",
                    f"{self.count('snapshot', _OK_STATUSES)}/{self.count('snapshot', _FAIL_STATUSES)}",
                )
            )
        if "test" in types:
            value = f"{self.tests_pass}/{self.tests_warn}/{self.tests_fail}/{self.tests_error}"
            if self.tests_skipped:
                value += f" ({self.tests_skipped} skipped)"
            lines.append(("dbt tests pass/warn/fail/error", value))
        if "unit_test" in types:
            lines.append(
                (
                    "dbt unit tests pass/fail",
                    f"{self.count('unit_test', _OK_STATUSES)}/{self.count('unit_test', _FAIL_STATUSES)}",
                )
            )
        for node in self.warnings[:5]:
            lines.append(("dbt warning", node.describe()))
        for node in self.failures[:5]:
            lines.append(("dbt failure", node.describe()))
        return lines


def parse_run_results(data: Mapping[str, Any]) -> DbtRunSummary:
    """Turn the parsed JSON of ``run_results.json`` into a :class:`DbtRunSummary`."""
    metadata = data.get("metadata") or {}
    args = data.get("args") or {}
    summary = DbtRunSummary(
        command=args.get("which"),
        invocation_id=metadata.get("invocation_id"),
        generated_at=metadata.get("generated_at"),
        elapsed_time=data.get("elapsed_time"),
        dbt_version=metadata.get("dbt_version"),
    )
    for result in data.get("results") or []:
        unique_id = str(result.get("unique_id") or "")
        resource_type = unique_id.split(".", 1)[0] if unique_id else "unknown"
        status = str(result.get("status") or "unknown").lower()
        failures = result.get("failures")
        node = NodeResult(
            unique_id=unique_id,
            resource_type=resource_type,
            name=_node_name(unique_id, resource_type),
            status=status,
            message=_one_line(result.get("message")),
            failures=int(failures) if isinstance(failures, (int, float)) and resource_type != "model" else None,
            execution_time=result.get("execution_time"),
        )
        summary.nodes.append(node)
        key = (resource_type, status)
        summary.counts[key] = summary.counts.get(key, 0) + 1
    return summary


def run_results_path(
    project_dir: str | os.PathLike[str] = ".", target_path: str | os.PathLike[str] | None = None
) -> Path:
    """Where dbt writes ``run_results.json`` for a project.

    ``target_path`` defaults to ``$DBT_TARGET_PATH`` or ``target``; a relative target path
    is taken relative to the project directory, as dbt does.
    """
    target = Path(target_path or os.environ.get("DBT_TARGET_PATH") or "target")
    if not target.is_absolute():
        target = Path(project_dir) / target
    return target / "run_results.json"


def load_run_results(
    path: str | os.PathLike[str] = ".",
    *,
    target_path: str | os.PathLike[str] | None = None,
    newer_than: float | None = None,
) -> DbtRunSummary | None:
    """Read run results from a ``run_results.json`` file or a dbt project directory.

    Returns ``None`` when the file does not exist, cannot be parsed, or (with
    ``newer_than``, a ``time.time()`` value) was last written before that moment, i.e. it
    is left over from an earlier dbt invocation.
    """
    p = Path(path)
    if p.is_dir():
        p = run_results_path(p, target_path)
    try:
        if newer_than is not None and p.stat().st_mtime < newer_than:
            return None
        with p.open(encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    return parse_run_results(data)


def summarize_run_results(
    path: str | os.PathLike[str] = "target/run_results.json", *, newer_than: float | None = None
) -> DbtRunSummary | None:
    """Alias of :func:`load_run_results`: a ``run_results.json`` file or a project directory."""
    return load_run_results(path, newer_than=newer_than)

"""Where the time and memory of a dbt invocation went, read from its ``target`` folder.

:func:`node_timings` adds the stage (:data:`STAGES`) and the start/end times of each dbt node to what
``run_results.json`` says; :func:`attributed_wall` shares the run's wall time among the stages,
:func:`stage_peak_memory` and :func:`running_at` line the nodes up with the memory samples of
:func:`measure.run_measured`. ``common`` re-exports every name for the scripts' ``import common as bench``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

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

"""Step metrics of a batch run: one record per step, appended to ``run_metrics.jsonl`` as each step
ends, written to the warehouse (``ops.batch_step_metrics``), and rendered as the closing summary.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

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

_MB_FMT = "{:,.1f}"


def _iso(ts: datetime | None) -> str | None:
    return ts.isoformat(timespec="milliseconds") if ts else None


def step_record(
    *,
    run_id: str,
    batch_name: str,
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
    """One metrics record (the keys of :data:`METRIC_FIELDS`)."""
    rps = rows / duration if rows is not None and duration and duration > 0 else None
    return {
        "run_id": run_id,
        "batch_name": batch_name,
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


class MetricsLog:
    """The records of one run, in order, each also appended to a JSON-lines file when recorded."""

    def __init__(self, path: Path, warn: Callable[[str], None]):
        self.path = path
        self._warn = warn
        self.records: list[dict] = []

    def record(self, metrics: dict) -> None:
        self.records.append(metrics)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(metrics, ensure_ascii=False) + "\n")
        except OSError as exc:
            self._warn(f"WARNING could not append to {self.path}: {exc}")

    def status_counts(self) -> str:
        counts: dict[str, int] = {}
        for m in self.records:
            counts[m["status"]] = counts.get(m["status"], 0) + 1
        return ", ".join(f"{n} {s}" for s, n in counts.items()) or "no steps"

    def last_run_step(self) -> str | None:
        for m in reversed(self.records):
            if m["status"] != "skipped":
                return m["step_name"]
        return None


def end_line(m: Mapping[str, Any]) -> str:
    """``END step 3 dbt build 2026-10: ok exit_code=0 duration=41.20s peak_memory=466.5MB``"""
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


# ---------------------------------------------------------------------- summary
def fmt_duration(seconds: float | None) -> str:
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


def render_summary(
    *,
    batch_name: str,
    run_id: str,
    status: str,
    total_s: float,
    log_path: Path,
    records: Sequence[Mapping[str, Any]],
    failure: tuple[str | None, str] | None,
    lines: Sequence[tuple[str, str]],
) -> str:
    """The one-screen summary: one row per step, the failure if any, then the summary lines."""
    width = 88
    label = {"ok": "OK", "failed": "FAILED", "running": "OK so far (run in progress)", "pending": "NOT STARTED"}[status]
    out = [
        "=" * width,
        f"Batch {batch_name}  run {run_id}  {label}  total {fmt_duration(total_s)}",
        f"log: {log_path}",
        "-" * width,
        f"{'#':>2}  {'step':<34} {'status':<8} {'duration':>9} {'peak MB':>8} {'rows':>11} {'rows/s':>9}",
    ]
    for m in records:
        step_name = m["step_name"] if len(m["step_name"]) <= 34 else m["step_name"][:31] + "..."
        out.append(
            f"{m['step_index']:>2}  {step_name:<34} {m['status']:<8} "
            f"{fmt_duration(m['duration_s']):>9} {_fmt_num(m['peak_memory_mb'], _MB_FMT):>8} "
            f"{_fmt_num(m['rows']):>11} {_fmt_num(m['rows_per_second']):>9}"
        )
    if not records:
        out.append("    (no steps ran)")
    if failure is not None:
        step_name, error = failure
        out.append("-" * width)
        out.append(f"FAILED {f'at step {step_name}' if step_name else 'outside a step'}: {error}")
    if lines:
        out.append("-" * width)
        label_width = min(max(len(text) for text, _ in lines), 40)
        for text, value in lines:
            out.append(f"{text:<{label_width}}  {value}")
    out.append("=" * width)
    return "\n".join(out)


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

    rows = [
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
        for m in metrics
    ]
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

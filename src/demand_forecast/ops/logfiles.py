"""What keeps ``logs/`` small: dbt's file log at INFO and rotated small, and the last N batch logs.

Left alone, each dbt command of a batch appends DEBUG lines (every SQL statement, every adapter
call) to ``logs/dbt.log``, rotated at 10 MB with 5 backups: tens of MB per run. The batch starts
every dbt command with :func:`dbt_log_env` (a value the environment already sets wins) and removes
batch logs beyond the newest ``DEMAND_LOG_KEEP`` (default 12, a year of monthly runs). Bound of
``logs/`` (docs/operations.md): dbt's log at most ``6 x DBT_LOG_FILE_MAX_BYTES`` (the file and its
5 backups) plus the kept batch logs plus ``run_metrics.jsonl`` (a few KB per run).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

#: dbt's file log: INFO (what the console shows, with timestamps), rotated at 2 MB (dbt keeps 5 backups).
DBT_LOG_DEFAULTS = {"DBT_LOG_LEVEL_FILE": "info", "DBT_LOG_FILE_MAX_BYTES": str(2 * 1024 * 1024)}
DBT_LOG_BACKUPS = 5  # dbt-common's RotatingFileHandler(backupCount=5)
DEFAULT_KEEP_BATCH_LOGS = 12


def dbt_log_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """dbt's file-log settings for a dbt command: the defaults above, unless ``environ`` sets them."""
    environ = os.environ if environ is None else environ
    return {name: environ.get(name) or value for name, value in DBT_LOG_DEFAULTS.items()}


def dbt_log_bound_bytes(environ: Mapping[str, str] | None = None) -> int:
    """The most dbt's file log can take on disk: the file and its backups."""
    return (DBT_LOG_BACKUPS + 1) * int(dbt_log_env(environ)["DBT_LOG_FILE_MAX_BYTES"])


def keep_batch_logs(environ: Mapping[str, str] | None = None) -> int:
    """How many batch logs to keep (``DEMAND_LOG_KEEP``, at least 1)."""
    environ = os.environ if environ is None else environ
    text = environ.get("DEMAND_LOG_KEEP", "").strip()
    if not text:
        return DEFAULT_KEEP_BATCH_LOGS
    try:
        keep = int(text)
    except ValueError:
        keep = 0
    if keep < 1:
        raise ValueError(f"DEMAND_LOG_KEEP must be a whole number of batch logs to keep, at least 1; got {text!r}")
    return keep


def prune_batch_logs(log_dir: Path, keep: int, current: Path | None = None) -> list[Path]:
    """Remove the oldest ``batch-*.log`` files of ``log_dir`` beyond the newest ``keep`` (never ``current``).

    Run ids start with a UTC timestamp, so the names sort by age. Returns the removed files.
    """
    logs = sorted(p for p in log_dir.glob("batch-*.log") if p.is_file() and p != current)
    older = logs[: max(0, len(logs) - (keep - (1 if current is not None else 0)))]
    removed = []
    for path in older:
        try:
            path.unlink()
            removed.append(path)
        except FileNotFoundError:
            continue
    return removed

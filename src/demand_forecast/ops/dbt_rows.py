"""Rows a dbt command built, for the step table's ``rows`` and ``rows/s`` columns.

dbt writes each node's ``adapter_response`` to ``run_results.json``. DuckDB reports
``rows_affected`` for seeds (``INSERT n``) but only ``OK`` for models, so a model's rows are
counted in the warehouse after the command: ``count(*)`` of its relation when that is a table
(an incremental table counts all its rows, every as-of month). Views are not counted: counting a
view over the raw files would read them all again. Tests, unit tests and failed or skipped nodes
build nothing.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import duckdb

_QUOTED = re.compile(r'"((?:[^"]|"")*)"')
_BUILDING = {"model", "seed", "snapshot"}
_BUILT = {"success"}


def relation_parts(relation_name: str) -> tuple[str, str] | None:
    """``"demand"."marts"."fct_forecasts"`` -> ``("marts", "fct_forecasts")``; None when unreadable."""
    quoted = [part.replace('""', '"') for part in _QUOTED.findall(relation_name or "")]
    parts = quoted or [part for part in (relation_name or "").split(".") if part]
    return (parts[-2], parts[-1]) if len(parts) >= 2 else None


def _node_rows(result: Mapping[str, Any]) -> tuple[int | None, tuple[str, str] | None]:
    """(rows the adapter reported, or None; the relation to count when it did not)."""
    response = result.get("adapter_response") or {}
    affected = response.get("rows_affected") if isinstance(response, Mapping) else None
    if isinstance(affected, int) and not isinstance(affected, bool) and affected >= 0:
        return affected, None
    return None, relation_parts(str(result.get("relation_name") or ""))


def built_rows(
    run_results: str | os.PathLike[str], warehouse: str | os.PathLike[str], *, newer_than: float | None = None
) -> int | None:
    """Rows of the seeds, snapshots and table models a dbt command built; None when nothing counts.

    ``run_results`` is the command's ``run_results.json``; ``warehouse`` the DuckDB file it built;
    a file last written before ``newer_than`` (a ``time.time()``) is an earlier command's: None.
    """
    try:
        if newer_than is not None and Path(run_results).stat().st_mtime < newer_than:
            return None
        data = json.loads(Path(run_results).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    total: int | None = None
    to_count: list[tuple[str, str]] = []
    for result in data.get("results") or []:
        unique_id = str(result.get("unique_id", ""))
        if unique_id.split(".", 1)[0] not in _BUILDING or result.get("status") not in _BUILT:
            continue
        rows, relation = _node_rows(result)
        if rows is not None:
            total = (total or 0) + rows
        elif relation is not None:
            to_count.append(relation)
    if to_count and Path(warehouse).exists():
        with duckdb.connect(str(warehouse), read_only=True) as connection:
            tables = {
                (schema, name)
                for schema, name in connection.execute(
                    "select table_schema, table_name from information_schema.tables where table_type = 'BASE TABLE'"
                ).fetchall()
            }
            for schema, name in to_count:
                if (schema, name) not in tables:
                    continue
                quoted = ".".join('"' + part.replace('"', '""') + '"' for part in (schema, name))
                total = (total or 0) + int(connection.execute(f"select count(*) from {quoted}").fetchone()[0])
    return total


def parquet_rows(folder: str | os.PathLike[str]) -> int:
    """Rows of every ``*.parquet`` file of ``folder`` (read from the files' footers)."""
    import pyarrow.parquet as pq

    return sum(pq.read_metadata(path).num_rows for path in sorted(Path(folder).glob("*.parquet")))

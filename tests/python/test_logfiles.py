"""logs/ stays small: dbt's file log at INFO and rotated at 2 MB, the newest N batch logs kept."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from demand_forecast.ops.logfiles import (
    DBT_LOG_DEFAULTS,
    DEFAULT_KEEP_BATCH_LOGS,
    dbt_log_bound_bytes,
    dbt_log_env,
    keep_batch_logs,
    prune_batch_logs,
)

#: the documented bound of one batch's logs (docs/operations.md, "Logs"): dbt's log and its 5
#: backups at 2 MB each, plus the batch's own log
BATCH_LOG_BOUND_BYTES = 6 * 2 * 1024 * 1024 + 4 * 1024 * 1024


def test_dbt_runs_with_a_small_info_file_log_unless_told_otherwise():
    assert dbt_log_env({}) == {"DBT_LOG_LEVEL_FILE": "info", "DBT_LOG_FILE_MAX_BYTES": "2097152"}
    assert dbt_log_env({"DBT_LOG_LEVEL_FILE": "debug"})["DBT_LOG_LEVEL_FILE"] == "debug"
    assert dbt_log_bound_bytes({}) == 6 * 2 * 1024 * 1024
    makefile = (Path(__file__).resolve().parents[2] / "Makefile").read_text(encoding="utf-8")
    for name, value in DBT_LOG_DEFAULTS.items():  # `make docs` and friends log as the batch does
        assert re.search(rf"^export {name}\s+\?= {value}$", makefile, flags=re.MULTILINE), name


def test_only_the_newest_batch_logs_are_kept(tmp_path):
    names = [f"batch-202611{day:02d}T010000Z-abc{day:03d}.log" for day in range(1, 16)]
    for name in names:
        (tmp_path / name).write_text("x")
    (tmp_path / "dbt.log").write_text("dbt")
    (tmp_path / "run_metrics.jsonl").write_text("{}")
    current = tmp_path / "batch-20261130T010000Z-cur000.log"
    current.write_text("now")
    removed = prune_batch_logs(tmp_path, keep=12, current=current)
    assert sorted(p.name for p in removed) == names[:4]
    kept = sorted(p.name for p in tmp_path.glob("batch-*.log"))
    assert kept == [*names[4:], current.name]
    assert (tmp_path / "dbt.log").exists() and (tmp_path / "run_metrics.jsonl").exists()
    assert prune_batch_logs(tmp_path, keep=1, current=current) and [p.name for p in tmp_path.glob("batch-*")] == [
        current.name
    ]


def test_keep_setting_is_checked():
    assert keep_batch_logs({}) == DEFAULT_KEEP_BATCH_LOGS
    assert keep_batch_logs({"DEMAND_LOG_KEEP": " 3 "}) == 3
    for bad in ("0", "-2", "many"):
        with pytest.raises(ValueError, match="DEMAND_LOG_KEEP must be a whole number"):
            keep_batch_logs({"DEMAND_LOG_KEEP": bad})


@pytest.mark.slow
@pytest.mark.dbt
def test_one_batch_logs_stay_under_the_documented_bound(replay):
    """The shared replay (3 months, reports included): its batch log, dbt's log, nothing at DEBUG."""
    tmp = Path(replay["tmp"])
    batch_logs = sorted((tmp / "logs").glob("batch-*.log"))
    dbt_logs = sorted((tmp / "dbt-logs").glob("dbt.log*"))
    assert len(batch_logs) == 1 and dbt_logs
    total = sum(p.stat().st_size for p in [*batch_logs, *dbt_logs])
    sizes = {p.name: p.stat().st_size for p in [*batch_logs, *dbt_logs]}
    print(f"one batch's logs: {total / 1e6:.2f} MB {sizes}")
    assert total < BATCH_LOG_BOUND_BYTES, sizes
    assert all(p.stat().st_size <= 2 * 1024 * 1024 + 64 * 1024 for p in dbt_logs), sizes
    text = "".join(p.read_text(encoding="utf-8", errors="replace") for p in dbt_logs)
    assert "[debug]" not in text, "dbt's file log holds DEBUG lines"
    assert "[info ]" in text


@pytest.mark.slow
@pytest.mark.dbt
def test_the_batch_log_shows_forecasting_progress(replay):
    log = next((Path(replay["tmp"]) / "logs").glob("batch-*.log")).read_text(encoding="utf-8")
    lines = [line for line in log.splitlines() if "forecast progress | " in line]
    assert any("forecast progress | models: ets fit" in line for line in lines), lines[:20]
    assert any(re.search(r"series [\d,]+/[\d,]+ \(100%\)", line) for line in lines), lines[:20]
    assert sum("forecast progress | done" in line for line in lines) >= 3  # one per month built

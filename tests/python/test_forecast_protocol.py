"""One test suite over every registered forecaster (in the spirit of scikit-learn's check_estimator).

Each model of :data:`demand_forecast.forecasting.models.REGISTRY`, built from a config, must honour
the interface of :mod:`demand_forecast.forecasting.models.base` on a mixed panel (smooth,
erratic, intermittent, new and late-starting products, excluded months): output shape, no
leakage (changing the data after an origin changes nothing at that origin), determinism,
non-negative forecasts, NaN exactly where the model declares it does not cover a series, the
scikit-learn conventions.  A new model added to the registry is checked without a new test.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from forecast_synth import mixed_panel

from demand_forecast.forecasting.backtest import Refit, cross_validation
from demand_forecast.forecasting.config import ForecastConfig
from demand_forecast.forecasting.features import build_panel_arrays
from demand_forecast.forecasting.models import ALL_MODELS, REGISTRY, BaseForecaster, build_models

CONFIG = ForecastConfig(horizon=3, n_jobs=1, seed=5, gbm_num_threads=1)
NAMES = [model.name for model in REGISTRY]


@pytest.fixture(scope="module")
def data():
    panel, profiles, as_of = mixed_panel(n_products=36, n_months=40, seed=4)
    return panel, build_panel_arrays(panel, as_of, profiles)


def _model(name: str) -> BaseForecaster:
    (model,) = [m for m in build_models(CONFIG.replace(models=(name,)))]
    return model


def _fit_forecast(name: str, panel, fit_at: int, origins: list[int]) -> np.ndarray:
    return _model(name).fit(panel, fit_at).forecast(panel, origins)


def _origins(panel) -> tuple[int, list[int]]:
    final = panel.n_months - 1
    return final - 4, [final - 4, final - 2, final]


def test_the_registry_names_every_model_once_in_the_config_order() -> None:
    assert len(set(NAMES)) == len(NAMES)
    assert tuple(NAMES) == ALL_MODELS == ForecastConfig().models
    assert [m.name for m in build_models(CONFIG)] == NAMES
    with pytest.raises(ValueError, match="unknown models"):
        ForecastConfig(models=("prophet",))


@pytest.mark.parametrize("name", NAMES)
def test_forecast_shape_and_non_negative(name: str, data) -> None:
    _, panel = data
    fit_at, origins = _origins(panel)
    out = _fit_forecast(name, panel, fit_at, origins)
    assert out.shape == (panel.n_series, len(origins), CONFIG.horizon)
    assert np.isfinite(out).any(), "the model forecast nothing on a mixed panel"
    assert (out[~np.isnan(out)] >= 0).all()
    assert not np.isinf(out).any()


@pytest.mark.parametrize("name", NAMES)
def test_nan_exactly_where_the_model_does_not_cover_a_series(name: str, data) -> None:
    _, panel = data
    fit_at, origins = _origins(panel)
    model = _model(name).fit(panel, fit_at)
    out = model.forecast(panel, origins)
    coverage = [model.covers(panel, origin) for origin in origins]
    assert coverage[-1].any()
    for j, (origin, covered) in enumerate(zip(origins, coverage, strict=True)):
        forecast_made = ~np.isnan(out[:, j, :])
        # all horizons or none
        assert (forecast_made.all(axis=1) == forecast_made.any(axis=1)).all()
        np.testing.assert_array_equal(forecast_made[:, 0], covered, err_msg=f"{name} at origin {origin}")


@pytest.mark.parametrize("name", NAMES)
def test_no_leakage_data_after_an_origin_changes_nothing_there(name: str, data) -> None:
    panel_frame, panel = data
    fit_at, origins = _origins(panel)
    cutoff = origins[1]
    clean = _fit_forecast(name, panel, fit_at, origins)
    poisoned_frame = panel_frame.copy()
    later = poisoned_frame["month"] > panel.months[cutoff]
    rng = np.random.default_rng(1)
    poisoned_frame.loc[later, "demand"] = poisoned_frame.loc[later, "demand"] * 30 + rng.integers(0, 500, later.sum())
    poisoned_frame.loc[later, "avg_unit_price"] = 1e6
    poisoned_frame.loc[later, "exclude_from_training"] = ~poisoned_frame.loc[later, "exclude_from_training"]
    poisoned = build_panel_arrays(poisoned_frame, panel.months[-1])
    dirty = _fit_forecast(name, poisoned, fit_at, origins)
    np.testing.assert_array_equal(clean[:, :2], dirty[:, :2])  # the fit origin and the cutoff
    assert not np.array_equal(clean[:, 2], dirty[:, 2], equal_nan=True)  # ... the as-of month sees it


@pytest.mark.parametrize("name", NAMES)
def test_same_data_same_forecasts(name: str, data) -> None:
    _, panel = data
    fit_at, origins = _origins(panel)
    first = _fit_forecast(name, panel, fit_at, origins)
    again = _fit_forecast(name, panel, fit_at, origins)
    np.testing.assert_array_equal(first, again)
    # forecasting twice from one fit gives the same again (the fitted state is not consumed)
    model = _model(name).fit(panel, fit_at)
    np.testing.assert_array_equal(model.forecast(panel, origins), model.forecast(panel, origins))


@pytest.mark.parametrize("name", NAMES)
def test_estimate_once_then_refilter_equals_forecasting_each_origin_from_that_fit(name: str, data) -> None:
    _, panel = data
    fit_at, origins = _origins(panel)
    model = _model(name).fit(panel, fit_at)
    together = model.forecast(panel, origins)
    one_by_one = np.concatenate([model.forecast(panel, [o]) for o in origins], axis=1)
    np.testing.assert_array_equal(together, one_by_one)


@pytest.mark.parametrize("name", NAMES)
def test_scikit_learn_conventions(name: str, data) -> None:
    _, panel = data
    model = _model(name)
    with pytest.raises(RuntimeError, match="not fitted"):
        model.forecast(panel, [panel.n_months - 1])
    params = model.get_params()
    assert not any(k.endswith("_") for k in params) and params["horizon"] == CONFIG.horizon
    assert type(model)(**params).get_params() == params  # parameters round-trip through __init__
    assert model.fit(panel, panel.n_months - 3) is model
    with pytest.raises(ValueError, match="before the fit origin"):
        model.forecast(panel, [panel.n_months - 4])
    json.dumps(model.describe(), default=str)
    json.dumps(model.features())
    frame = model.predict()
    assert list(frame.columns) == ["product_id", "forecast_month", "horizon", "forecast"]
    assert (frame["forecast_month"] > panel.months[panel.n_months - 3]).all()


@pytest.mark.parametrize("name", [m.name for m in REGISTRY if m(3).needs.estimated])
def test_refit_policy_decides_where_parameters_are_estimated(name: str, data) -> None:
    _, panel = data
    model = _model(name)
    once = cross_validation([model], panel, 3, 4, refit=Refit(False, False)).forecasts[name]
    each = cross_validation([_model(name)], panel, 3, 4, refit=Refit(True, True)).forecasts[name]
    final = cross_validation([_model(name)], panel, 3, 4, refit=Refit(False, True)).forecasts[name]
    np.testing.assert_array_equal(once[:, 0], each[:, 0])  # the first cutoff is estimated in every plan
    np.testing.assert_array_equal(once[:, :-1], final[:, :-1])  # "final" changes the final origin only
    np.testing.assert_array_equal(each[:, -1], final[:, -1])  # ... where it is estimated as in "each"
    assert not np.array_equal(once[:, -1], final[:, -1], equal_nan=True)
    every_two = cross_validation([_model(name)], panel, 3, 4, refit=Refit(2, False)).forecasts[name]
    np.testing.assert_array_equal(every_two[:, 2], each[:, 2])  # estimated at cutoffs 0 and 2


def test_refit_groups_follow_statsforecast_refit() -> None:
    assert Refit(False, False).groups(3) == [[0, 1, 2, 3]]
    assert Refit(False, True).groups(3) == [[0, 1, 2], [3]]
    assert Refit(True, True).groups(3) == [[0], [1], [2], [3]]
    assert Refit(2, False).groups(5) == [[0, 1], [2, 3], [4, 5]]
    assert Refit(False, False).groups(0) == [[0]]
    assert Refit.from_setting("final") == Refit(False, True)
    with pytest.raises(ValueError, match="refit setting"):
        Refit.from_setting("sometimes")


def test_cross_validation_takes_cutoffs_step_size_apart(data) -> None:
    _, panel = data
    run = cross_validation([_model("baseline")], panel, 3, 3, step_size=2)
    final = panel.n_months - 1
    assert run.origins == [final - 6, final - 4, final - 2, final]
    assert run.forecasts["baseline"].shape == (panel.n_series, 4, 3)
    with pytest.raises(ValueError, match="h=2"):
        cross_validation([_model("baseline")], panel, 2, 3)


def test_long_frame_convenience_matches_the_arrays(data) -> None:
    panel_frame, panel = data
    model = _model("seasonal_naive")
    frame = model.fit(panel_frame[["product_id", "month", "demand"]]).predict()
    arrays = _model("seasonal_naive").fit(panel).forecast(panel, [panel.n_months - 1])[:, 0, :]
    pivot = frame.pivot(index="product_id", columns="horizon", values="forecast")
    rows = pd.Index(panel.product_ids).get_indexer(pivot.index)
    # the panel frame's exclusions are not in the three columns given: compare products without any
    excluded = set(panel_frame.loc[panel_frame["exclude_from_training"], "product_id"])
    keep = ~pivot.index.isin(excluded)
    np.testing.assert_allclose(pivot.to_numpy()[keep], arrays[rows][keep])

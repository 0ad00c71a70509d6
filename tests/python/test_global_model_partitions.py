"""The global LightGBM model above ``gbm_max_training_rows``: one booster per product-group partition.

Below the limit nothing may change (one booster, identical forecasts); above it every product is
forecast once, by the booster of its partition; partitions keep groups whole (pieces of a group
larger than the limit aside), stay within the limit (one documented exception) and do not depend
on the order of the input rows.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from forecast_synth import mixed_panel

from demand_forecast.dbt_bridge import config_hash, forecast_config
from demand_forecast.forecasting.config import ForecastConfig
from demand_forecast.forecasting.features import build_panel_arrays
from demand_forecast.forecasting.models.global_model import LightGBMForecaster, plan_partitions
from demand_forecast.forecasting.pipeline import run_forecasting

H = 3
FAST = {"n_estimators": 25}
#: product groups of the test panel: sizes 30, 15, 8, 4 products; 3 products have no group
GROUP_SIZES = {"G_big": 30, "G_mid": 15, "G_small": 8, "G_tiny": 4}


@pytest.fixture(scope="module")
def data():
    panel, profiles, as_of = mixed_panel(n_products=60, n_months=40, seed=11)
    labels = [g for g, n in GROUP_SIZES.items() for _ in range(n)] + [None] * 3
    # interleave the groups over the product ids so a group is no contiguous block of rows
    order = np.random.default_rng(0).permutation(len(labels))
    by_pid = {f"P{i:03d}": labels[order[i]] for i in range(60)}
    panel = panel.assign(product_group=panel["product_id"].map(by_pid))
    profiles = profiles.assign(product_group=profiles["product_id"].map(by_pid))
    return panel, profiles, as_of


@pytest.fixture(scope="module")
def arrays(data):
    panel, profiles, as_of = data
    return build_panel_arrays(panel, as_of, profiles)


def _model(limit: int | None) -> LightGBMForecaster:
    return LightGBMForecaster(
        H, params=FAST, num_threads=1, train_origins=12, min_train_rows=50, max_training_rows=limit
    )


def _groups(arrays) -> np.ndarray:
    return np.asarray(arrays.group_names, dtype=object)[arrays.group_codes]


# ---------------------------------------------------------------------------
# counting rows before building features
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("origin", [3, 20, 39])
def test_rows_per_series_are_the_rows_of_the_training_set(arrays, origin):
    model = _model(None)
    counts = model.training_rows_per_series(arrays, origin)
    _, target, _ = model.training_set(arrays, origin)
    assert counts.sum() == len(target)
    for row in (0, 7, 59):  # product by product, too
        _, own, _ = model.training_set(arrays.subset(np.array([row])), origin)
        assert counts[row] == len(own)


# ---------------------------------------------------------------------------
# below the limit: exactly the one global model
# ---------------------------------------------------------------------------


def test_at_the_limit_the_model_is_the_unpartitioned_model_exactly(arrays):
    origin = arrays.n_months - 7
    total = int(_model(None).training_rows_per_series(arrays, origin).sum())
    plain = _model(None).fit(arrays, origin)
    limited = _model(total).fit(arrays, origin)  # exactly at the limit: still one model
    assert limited.partitions_ is None and limited.booster_ is not None
    assert limited.model_text_ == plain.model_text_
    origins = list(range(origin, arrays.n_months))
    np.testing.assert_array_equal(limited.forecast(arrays, origins), plain.forecast(arrays, origins))
    assert limited.model_blob() == plain.model_blob()
    assert limited.describe()["partitions"] == [] and limited.describe()["max_training_rows"] == total


def test_default_limit_keeps_one_model_in_the_pipeline(data):
    panel, profiles, as_of = data
    config = ForecastConfig(horizon=H, n_origins=3, n_jobs=1, seed=5, gbm_num_threads=1, models=("lightgbm",))
    unlimited = LightGBMForecaster.from_config(config)
    unlimited.max_training_rows = None  # the model as it was before the limit existed
    result = run_forecasting(panel, profiles, as_of, config)
    arrays = build_panel_arrays(panel, as_of, profiles)
    unlimited.fit(arrays, arrays.n_months - 1)
    expected = unlimited.forecast(arrays, [arrays.n_months - 1])[:, 0, :]
    got = result.forecasts[result.forecasts["model_name"] == "lightgbm"]
    got = got.pivot(index="product_id", columns="horizon", values="forecast_p50").reindex(arrays.product_ids)
    covered = ~np.isnan(expected).all(axis=1)
    np.testing.assert_array_equal(got.to_numpy()[covered], expected[covered])
    params = json.loads(result.registry.set_index("model_name").loc["lightgbm", "params_json"])
    assert params["partitions"] == [] and params["max_training_rows"] == config.gbm_max_training_rows


# ---------------------------------------------------------------------------
# above the limit
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def split(arrays):
    """Fitted with a limit of 40% of the rows: G_big must be cut, the small groups packed together."""
    origin = arrays.n_months - 1
    per_series = _model(None).training_rows_per_series(arrays, origin)
    limit = int(per_series.sum() * 0.4)
    return _model(limit).fit(arrays, origin), per_series, limit


def test_partitions_cover_every_product_once_and_respect_the_limit(arrays, split):
    model, per_series, limit = split
    parts = model.partitions_
    assert len(parts) >= 3
    rows = np.concatenate([p.rows for p in parts])
    assert sorted(rows.tolist()) == list(range(arrays.n_series))  # each product in exactly one partition
    for part in parts:
        assert part.train_rows == per_series[part.rows].sum() <= limit
    assert len(model.boosters_) == len(parts) and all(b is not None for b in model.boosters_)
    assert model.train_rows_ == per_series.sum()


def test_partitions_follow_the_product_groups(arrays, split):
    model, per_series, limit = split
    groups = _groups(arrays)
    home = {}
    for number, part in enumerate(model.partitions_):
        assert set(groups[part.rows]) == set(part.groups)
        for g in part.groups:
            home.setdefault(g, set()).add(number)
    for g in np.unique(groups):
        if per_series[groups == g].sum() <= limit:
            assert len(home[g]) == 1, f"group {g} fits the limit but was split"
    big = per_series[groups == "G_big"].sum()
    assert big > limit and len(home["G_big"]) == -(-big // limit)  # cut into the fewest pieces
    assert "unknown" in home  # products without a group form the group "unknown"


def test_each_product_is_forecast_by_its_partitions_model(arrays, split):
    model, _, _ = split
    origins = [arrays.n_months - 1]
    got = model.forecast(arrays, origins)
    plain = _model(None).fit(arrays, origins[0]).forecast(arrays, origins)
    covered = ~np.isnan(plain)
    np.testing.assert_array_equal(~np.isnan(got), covered)  # the same products and horizons
    assert not np.allclose(got[covered], plain[covered])  # ... by other models than the global one
    for part in model.partitions_:
        sub = arrays.subset(part.rows)
        alone = _model(None).fit(sub, origins[0]).forecast(sub, origins)
        np.testing.assert_array_equal(got[part.rows], alone)


def test_new_products_are_forecast_by_their_groups_partition(arrays, split):
    model, per_series, _ = split
    new = np.flatnonzero((per_series == 0) & (~np.isnan(arrays.y)).any(axis=1))
    assert len(new) > 0
    got = model.forecast(arrays, [arrays.n_months - 1])[new, 0, :]
    assert np.isfinite(got).all()
    groups = _groups(arrays)
    for row in new:
        (part,) = [p for p in model.partitions_ if row in p.rows]
        assert groups[row] in part.groups


def test_result_does_not_depend_on_the_order_of_the_rows(data, arrays, split):
    model, _, limit = split
    panel, profiles, as_of = data
    shuffled = panel.sample(frac=1.0, random_state=3).reset_index(drop=True)
    other = build_panel_arrays(shuffled, as_of, profiles.iloc[::-1])
    again = _model(limit).fit(other, other.n_months - 1)
    assert [p.label for p in again.partitions_] == [p.label for p in model.partitions_]
    assert [list(other.product_ids[p.rows]) for p in again.partitions_] == [
        list(arrays.product_ids[p.rows]) for p in model.partitions_
    ]
    np.testing.assert_array_equal(
        again.forecast(other, [other.n_months - 1]), model.forecast(arrays, [arrays.n_months - 1])
    )


def test_registry_records_the_partitions(split):
    model, _, limit = split
    described = model.describe()
    assert described["max_training_rows"] == limit
    assert [p["label"] for p in described["partitions"]] == [p.label for p in model.partitions_]
    blob = json.loads(model.model_blob())
    assert len(blob["partitions"]) == len(model.partitions_)
    assert all(p["model"].startswith("tree") for p in blob["partitions"])
    assert sum(p["products"] for p in blob["partitions"]) == sum(len(p.rows) for p in model.partitions_)


def test_pipeline_above_the_limit_forecasts_each_product_once(data):
    panel, profiles, as_of = data
    config = ForecastConfig(
        horizon=H, n_origins=3, n_jobs=1, seed=5, gbm_num_threads=1, models=("lightgbm", "baseline")
    )
    result = run_forecasting(panel, profiles, as_of, config.replace(gbm_max_training_rows=600))
    lgbm = result.forecasts[result.forecasts["model_name"] == "lightgbm"]
    assert not lgbm.duplicated(["product_id", "horizon"]).any()
    assert set(lgbm["product_id"]) == set(panel["product_id"])
    params = json.loads(result.registry.set_index("model_name").loc["lightgbm", "params_json"])
    assert len(params["partitions"]) > 1 and all(p["train_rows"] <= 600 for p in params["partitions"])


# ---------------------------------------------------------------------------
# the plan alone
# ---------------------------------------------------------------------------


def _plan_sets(plan, ids):
    return [sorted(ids[p.rows]) for p in plan]


def test_plan_packs_whole_groups_first_fit_decreasing():
    ids = np.array([f"p{i}" for i in range(6)], dtype=object)
    groups = np.array(["A", "A", "B", "C", "C", "D"], dtype=object)
    rows = np.array([30, 30, 50, 20, 20, 10])
    plan = plan_partitions(ids, groups, rows, 70)
    # sizes A=60, B=50, C=40, D=10: A+D in the first, B in the second, C in the third
    assert [p.label for p in plan] == ["A+D", "B", "C"]
    assert [p.train_rows for p in plan] == [70, 50, 40]
    assert len(plan_partitions(ids, groups, rows, 1000)) == 1


def test_plan_cuts_a_large_group_by_a_stable_hash_whatever_the_order():
    rng = np.random.default_rng(1)
    ids = np.array([f"SKU-{i:04d}" for i in range(200)], dtype=object)
    groups = np.where(np.arange(200) < 150, "big", "other").astype(object)
    rows = rng.integers(1, 40, 200)
    limit = int(rows[:150].sum() // 3) + 1
    plan = plan_partitions(ids, groups, rows, limit)
    pieces = [p for p in plan if "big#" in p.label]
    assert len(pieces) == 3 and all(p.train_rows <= limit for p in plan)
    perm = rng.permutation(200)
    again = plan_partitions(ids[perm], groups[perm], rows[perm], limit)
    assert [p.label for p in again] == [p.label for p in plan]
    assert _plan_sets(again, ids[perm]) == _plan_sets(plan, ids)
    # the hash, not the id's position, decides the piece: not simply the first ids in the first piece
    first = sorted(ids[pieces[0].rows])
    assert first != sorted(ids[:150])[: len(first)]


def test_a_product_larger_than_the_limit_is_the_one_partition_above_it():
    ids = np.array(["a", "b", "c", "d"], dtype=object)
    groups = np.array(["G", "G", "G", "H"], dtype=object)
    rows = np.array([5, 80, 5, 4])
    plan = plan_partitions(ids, groups, rows, 20)
    over = [p for p in plan if p.train_rows > 20]
    assert len(over) == 1 and list(ids[over[0].rows]) == ["b"] and over[0].train_rows == 80
    assert sorted(np.concatenate([p.rows for p in plan]).tolist()) == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="positive"):
        plan_partitions(ids, groups, rows, 0)


# ---------------------------------------------------------------------------
# the setting
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [0, -5, 2.5, True, "1000"])
def test_the_limit_must_be_a_positive_whole_number_and_the_error_says_what_to_set(bad):
    with pytest.raises(ValueError, match="gbm_max_training_rows") as error:
        ForecastConfig(gbm_max_training_rows=bad)
    assert "dbt var gbm_max_training_rows" in str(error.value)
    with pytest.raises(ValueError, match="max_training_rows"):
        LightGBMForecaster(H, max_training_rows=0)


def test_the_limit_comes_from_the_dbt_var_and_is_part_of_the_config_hash():
    config = forecast_config({"n_jobs": "1", "gbm_max_training_rows": "1500000"})
    assert config.gbm_max_training_rows == 1_500_000
    assert LightGBMForecaster.from_config(config).max_training_rows == 1_500_000
    default = forecast_config({"n_jobs": "1"})
    assert default.gbm_max_training_rows == ForecastConfig().gbm_max_training_rows
    assert config_hash(config) != config_hash(default)
    with pytest.raises(ValueError, match="must be positive"):
        forecast_config({"gbm_max_training_rows": "0"})

"""One owner per fact: table schemas, forecast settings and dbt vars, demand-class cut-offs.

Each fact has one owner; these tests check that every other place that states it agrees:

* the columns of the forecasting tables: :mod:`demand_forecast.forecasting.schemas` owns them; the
  yml of the Python models and the types DuckDB receives must agree;
* the forecasting settings: each dbt var has the name of its ForecastConfig field, and the one
  ``forecast_settings`` block passes every such var to every Python model;
* the demand-class cut-offs: vars read by ``int_series_profiles`` and by the package (the rows of
  the dbt unit tests give the same classes in Python).
"""

from __future__ import annotations

import dataclasses
import re

import duckdb
import numpy as np
import pandas as pd
import pytest
from dbt_fixtures import ROOT, load_yaml, model_properties, project_vars, unit_test

from demand_forecast.dbt_bridge import BRIDGE_SETTINGS, forecast_config, forecast_config_from_vars, typed
from demand_forecast.forecasting import schemas
from demand_forecast.forecasting.config import ForecastConfig
from demand_forecast.forecasting.features import (
    ADI_CUTOFF,
    CV2_CUTOFF,
    DEMAND_CLASSES,
    build_panel_arrays,
    demand_class_at,
)

PYTHON_MODELS_YML = "python_models/_forecasting__models.yml"
CONFIG_FIELDS = {f.name for f in dataclasses.fields(ForecastConfig)}


@pytest.mark.parametrize("table", sorted(schemas.TABLES))
def test_yml_documents_the_schema_columns_in_order_with_their_types(table: str) -> None:
    columns = model_properties(PYTHON_MODELS_YML)[table]["columns"]
    documented = [(c["name"], c.get("data_type")) for c in columns]
    assert documented == list(schemas.TABLES[table].warehouse_types().items())


def test_a_schema_is_a_mart_exactly_when_its_model_lives_in_the_marts_folder() -> None:
    marts = {path.stem for path in (ROOT / "python_models" / "marts").glob("*.py")}
    assert {name for name, schema in schemas.TABLES.items() if schema.mart} == marts & set(schemas.TABLES)
    assert schemas.FORECASTS.warehouse_types()["as_of_month"] == "date"
    assert schemas.BACKTEST.warehouse_types()["cutoff_month"] == "timestamp"


def _sample_frame(schema: schemas.TableSchema) -> pd.DataFrame:
    values = {
        "str": ["a", None],
        "int": [1, None],
        "float": [1.5, np.nan],
        "bool": [True, None],
        "date": [pd.Timestamp("2024-01-01"), pd.NaT],
        "timestamp": [pd.Timestamp("2024-01-01 10:00:00"), pd.NaT],
    }
    return pd.DataFrame({name: values[kind] for name, kind in schema.columns})


@pytest.mark.parametrize("table", sorted(schemas.TABLES))
def test_typed_frames_reach_duckdb_with_the_schema_types(table: str) -> None:
    schema = schemas.TABLES[table]
    frame = typed(_sample_frame(schema).iloc[:, ::-1], schema)  # column order comes from the schema
    with duckdb.connect() as connection:
        connection.register("frame", frame)
        described = connection.execute("describe select * from frame").fetchall()
    assert [(name, kind.lower()) for name, kind, *_ in described] == list(schema.duckdb_types().items())


def test_run_columns_leave_out_what_the_dbt_model_adds() -> None:
    assert schemas.FORECASTS.run_columns()[-1] == "selection_reason"
    assert "is_selected" not in schemas.FORECASTS.run_columns()
    assert "config_json" not in schemas.REGISTRY.run_columns() and "params_json" in schemas.REGISTRY.run_columns()
    with pytest.raises(ValueError, match="unknown column kinds"):
        schemas.TableSchema("t", (("a", "text"),))


# --------------------------------------------------------------------------- settings and vars


def _settings_block() -> dict[str, str]:
    return load_yaml(PYTHON_MODELS_YML)["x-forecast-settings"]


def test_every_forecast_setting_is_the_var_of_the_same_name_and_a_config_field() -> None:
    settings = _settings_block()
    variables = project_vars()
    for key, value in settings.items():
        assert value == "{{ var('" + key + "') }}", key
        assert key in variables, f"setting {key} has no var in dbt_project.yml"
        assert key in CONFIG_FIELDS or key in BRIDGE_SETTINGS, key
    # every var named like a config field reaches the models
    assert {v for v in variables if v in CONFIG_FIELDS} <= set(settings)


def test_every_forecasting_model_gets_the_one_settings_block() -> None:
    settings = _settings_block()
    models = model_properties(PYTHON_MODELS_YML)
    assert set(models) == set(schemas.TABLES)
    for name, entry in models.items():
        assert entry["config"]["forecast_settings"] == settings, name
    # every Python model is documented in exactly one yml: the forecasting one or the purchasing one
    ymls = sorted((ROOT / "python_models").rglob("*.yml"))
    assert [p.name for p in ymls] == ["_forecasting__models.yml", "_purchasing_marts__models.yml"]
    documented = [name for path in ymls for name in model_properties(str(path.relative_to(ROOT)))]
    python_files = sorted(p.stem for p in (ROOT / "python_models").rglob("*.py"))
    assert sorted(documented) == python_files


def test_var_defaults_equal_the_config_defaults() -> None:
    variables = project_vars()
    from_vars = forecast_config_from_vars({**variables, "n_jobs": 1})
    # the project runs 2 worker processes by default; everything else is the package's default
    assert from_vars == ForecastConfig(n_jobs=1)
    assert variables["n_jobs"] == 2


def test_forecast_settings_rendered_as_strings_parse_to_the_config() -> None:
    rendered = {key: str(value) for key, value in project_vars().items() if key in _settings_block()}
    assert forecast_config(rendered) == forecast_config_from_vars(project_vars())
    with pytest.raises(ValueError, match="not a ForecastConfig field"):
        forecast_config({"forecast_horizon": "4"})


def test_no_sql_reads_a_renamed_forecasting_var() -> None:
    renamed = ("forecast_horizon", "backtest_origins", "forecast_n_jobs", "forecast_seed", "forecast_models")
    macro = (ROOT / "macros/renamed_vars.sql").read_text()
    for folder in ("models", "macros", "tests", "analyses", "python_models"):
        for path in (ROOT / folder).rglob("*"):
            if path.suffix in (".sql", ".yml", ".py") and path.name != "renamed_vars.sql":
                text = path.read_text()
                assert not [old for old in renamed if f"var('{old}'" in text or f'var("{old}"' in text], path
    assert all(f"'{old}'" in macro for old in renamed)  # ... and a run that passes one fails


# --------------------------------------------------------------------------- demand classes


def test_the_cutoffs_are_vars_read_by_the_sql() -> None:
    sql = (ROOT / "models/intermediate/int_series_profiles.sql").read_text()
    code = "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))
    assert "var('adi_cutoff')" in code and "var('cv2_cutoff')" in code
    assert not re.search(r"\b(1\.32|0\.49)\b", code)
    variables = project_vars()
    assert (variables["adi_cutoff"], variables["cv2_cutoff"]) == (ADI_CUTOFF, CV2_CUTOFF)


@pytest.mark.parametrize("name", ["demand_classes_at_the_default_cutoffs", "demand_classes_follow_the_cutoff_vars"])
def test_python_classifies_the_sql_unit_test_rows_alike(name: str) -> None:
    inputs, expected, variables = unit_test("models/intermediate/_int_series_profiles__unit_tests.yml", name)
    panel = inputs["int_monthly_demand"]
    as_of = pd.Timestamp(inputs["int_batch_parameters"]["as_of_month"].iloc[0])
    arrays = build_panel_arrays(panel, as_of)
    codes = demand_class_at(
        arrays,
        arrays.n_months - 1,
        int(variables["min_history_months"]),
        float(variables["adi_cutoff"]),
        float(variables["cv2_cutoff"]),
    )
    got = dict(zip(arrays.product_ids, np.asarray(DEMAND_CLASSES)[codes], strict=True))
    assert got == dict(zip(expected["product_id"], expected["demand_class"], strict=True))
    config = forecast_config_from_vars(variables)
    assert (config.adi_cutoff, config.cv2_cutoff) == (float(variables["adi_cutoff"]), float(variables["cv2_cutoff"]))

"""The semantic layer (models/semantic): dbt parse accepts the semantic models and metrics, and
MetricFlow (`mf query`, dbt-metricflow) answers from a built warehouse with the numbers the
accuracy and forecast marts hold.
"""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

ROOT = Path(__file__).resolve().parents[2]
DBT = str(Path(sys.executable).with_name("dbt"))
MF = str(Path(sys.executable).with_name("mf"))
METRICS = {
    "wape",
    "bias",
    "p10_p90_coverage",
    "mase",
    "model_wape",
    "forecast_units",
    "forecast_units_p10",
    "forecast_units_p90",
}

pytestmark = [pytest.mark.dbt, pytest.mark.slow]


@pytest.fixture(scope="module")
def semantic_manifest(built_warehouse: dict[str, object]) -> dict:
    """`dbt parse` of the project into the built warehouse's target folder, copied to where mf reads it."""
    env = built_warehouse["env"]
    result = subprocess.run([DBT, "parse", "--quiet"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    parsed = Path(env["DBT_TARGET_PATH"]) / "semantic_manifest.json"
    # mf reads <project root>/target/semantic_manifest.json whatever DBT_TARGET_PATH says, as a
    # user's `dbt parse` in the project leaves it (docs/bi.md).
    (ROOT / "target").mkdir(exist_ok=True)
    shutil.copyfile(parsed, ROOT / "target" / "semantic_manifest.json")
    return json.loads(parsed.read_text())


def _mf_query(built_warehouse: dict[str, object], out: Path, *args: str) -> list[dict[str, str]]:
    result = subprocess.run(
        [MF, "query", *args, "--csv", str(out)],
        cwd=ROOT,
        env=built_warehouse["env"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0 and out.exists(), result.stdout[-3000:] + result.stderr[-2000:]
    with out.open() as handle:
        return list(csv.DictReader(handle))


def test_dbt_parse_validates_the_semantic_models_and_metrics(semantic_manifest: dict) -> None:
    assert {model["name"] for model in semantic_manifest["semantic_models"]} == {
        "forecast_evaluations",
        "forecasts",
        "products",
    }
    assert {metric["name"] for metric in semantic_manifest["metrics"]} >= METRICS
    described = {metric["name"]: metric["description"] for metric in semantic_manifest["metrics"]}
    assert "sum |forecast - actual| / sum |actual|" in described["wape"]


def test_metricflow_wape_by_month_and_horizon_equals_the_accuracy_mart(
    built_warehouse: dict[str, object], semantic_manifest: dict, tmp_path: Path
) -> None:
    rows = _mf_query(
        built_warehouse,
        tmp_path / "accuracy.csv",
        "--metrics",
        "wape,bias,p10_p90_coverage",
        "--group-by",
        "metric_time__month,forecast_evaluation__horizon",
    )
    assert rows
    with duckdb.connect(str(built_warehouse["database"]), read_only=True) as connection:
        mart = {
            (str(month), int(horizon)): (wape, bias, coverage)
            for month, horizon, wape, bias, coverage in connection.execute(
                "select forecast_month, horizon, wape, bias, coverage_p10_p90 from marts.mart_accuracy_by_segment "
                "where segment_type = 'all'"
            ).fetchall()
        }
    found = {}
    for row in rows:
        month = row["metric_time__month"][:10]
        horizon = int(row["forecast_evaluation__horizon"])
        found[(month, horizon)] = tuple(float(row[name]) for name in ("wape", "bias", "p10_p90_coverage"))
    assert set(found) == set(mart)
    for key, values in found.items():
        assert values == pytest.approx(mart[key], rel=1e-9, abs=1e-12), key


def test_metricflow_forecast_units_by_product_group_equal_the_forecasts(
    built_warehouse: dict[str, object], semantic_manifest: dict, tmp_path: Path
) -> None:
    with duckdb.connect(str(built_warehouse["database"]), read_only=True) as connection:
        latest = connection.execute("select max(as_of_month) from marts.fct_forecasts").fetchone()[0]
        expected = {
            (group, str(month)): units
            for group, month, units in connection.execute(
                """
                select products.product_group, forecasts.forecast_month, sum(forecasts.forecast_p50)
                from marts.fct_forecasts as forecasts
                inner join marts.dim_products as products on forecasts.product_id = products.product_id
                where forecasts.is_selected and forecasts.as_of_month = ?
                group by all
                """,
                [latest],
            ).fetchall()
        }
    rows = _mf_query(
        built_warehouse,
        tmp_path / "units.csv",
        "--metrics",
        "forecast_units",
        "--group-by",
        "metric_time__month,product__product_group",
        "--where",
        f"{{{{ TimeDimension('forecast__as_of_month', 'month') }}}} = '{latest}'",
    )
    found = {
        (row["product__product_group"], row["metric_time__month"][:10]): float(row["forecast_units"]) for row in rows
    }
    assert len(expected) >= 3
    assert found.keys() == expected.keys()
    for key, units in found.items():
        assert units == pytest.approx(expected[key], rel=1e-9), key

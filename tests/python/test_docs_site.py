"""`make docs`: the dbt docs site as one HTML file that opens from disk and shows the lineage.

Built on the session's warehouse (conftest ``built_warehouse``), then opened from ``file://`` in
headless Chromium, driven over the DevTools protocol by the client of test_dashboard_browser.
The lineage screenshot goes to ``test-output/docs-lineage.png``.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
from test_dashboard_browser import Browser, _ensure_chromium, _screenshot

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "test-output"
# the chain from a raw file to the BI table: every step must be on the lineage of mart_forecast_wide
CHAIN = [
    "stg_raw__sales_lines",
    "int_sales_lines_validated",
    "int_daily_sales_cleaned",
    "int_monthly_demand",
    "int_forecast_backtest",
    "fct_forecasts",
    "fct_forecast_accuracy",
    "mart_forecast_wide",
]

pytestmark = [pytest.mark.dbt, pytest.mark.slow]


@pytest.fixture(scope="module")
def docs_site(built_warehouse: dict[str, object]) -> dict[str, Path]:
    folder = Path(built_warehouse["folder"])
    env = {**built_warehouse["env"], "DEMAND_REPORTS_DIR": str(folder / "reports")}
    result = subprocess.run(["make", "docs"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    page = folder / "reports" / "docs" / "index.html"
    assert str(page) in result.stdout
    return {"page": page, "target": Path(env["DBT_TARGET_PATH"]) / "docs"}


def test_every_model_is_described_and_marts_are_the_public_interface(docs_site: dict[str, Path]) -> None:
    manifest = json.loads((docs_site["target"] / "manifest.json").read_text())
    models = [node for node in manifest["nodes"].values() if node["resource_type"] == "model"]
    ours = [node for node in models if node["package_name"] == "demand_forecast"]
    assert len(ours) >= 25
    assert [node["name"] for node in ours if not node["description"].strip()] == []
    access = {node["name"]: (node["access"], node["group"]) for node in ours}
    for name, (level, group) in access.items():
        assert group == "demand_planning", name
        folder = next(node for node in ours if node["name"] == name)["fqn"][1]
        assert level == ("public" if folder == "marts" else "protected"), (name, folder, level)
    assert manifest["groups"]["group.demand_forecast.demand_planning"]["owner"]["email"]
    # every column of every mart is described
    marts = [node for node in ours if node["fqn"][1] == "marts"]
    mart_files = [*(ROOT / "models" / "marts").glob("*.sql"), *(ROOT / "python_models" / "marts").glob("*.py")]
    assert {node["name"] for node in marts} == {path.stem for path in mart_files}
    assert len(marts) == 12  # six SQL marts; six Python marts (forecasts, registry, by group, purchasing)
    undocumented = [
        (node["name"], column)
        for node in marts
        for column, info in node["columns"].items()
        if not info["description"].strip()
    ]
    assert undocumented == []
    catalog = json.loads((docs_site["target"] / "catalog.json").read_text())
    for node in marts:
        built = set(catalog["nodes"][node["unique_id"]]["columns"])
        assert built == set(node["columns"]), node["name"]  # the yml lists exactly the columns built


def test_the_docs_page_opens_from_disk_and_shows_the_lineage(docs_site: dict[str, Path]) -> None:
    page = docs_site["page"]
    html = page.read_text(errors="replace")
    assert len(html) > 1_000_000 and '"manifest"' in html and '"catalog"' in html  # embedded, not fetched
    browser = Browser(_ensure_chromium())
    try:
        session = browser.new_page()
        selection = "%2Bmart_forecast_wide"  # the BI table and everything upstream of it
        url = f"{page.resolve().as_uri()}#!/model/model.demand_forecast.mart_forecast_wide?g_v=1&g_i={selection}"
        session.send("Page.navigate", {"url": url})
        session.wait_event("Page.loadEventFired", timeout=60)
        deadline = time.monotonic() + 60
        nodes: list[str] = []
        while time.monotonic() < deadline:
            nodes = session.evaluate(
                "(function () { var cy = document.getElementById('cy'); if (!cy || !window.angular) return [];"
                " var graph = angular.element(cy).scope().graph; if (!graph || !graph.elements) return [];"
                " return graph.elements.filter(function (e) { return e.group === 'nodes'; })"
                ".map(function (e) { return e.data.name; }); })()"
            )
            if "mart_forecast_wide" in nodes and session.evaluate("document.querySelectorAll('#cy canvas').length"):
                break
            time.sleep(0.5)
        assert set(CHAIN) <= set(nodes), nodes
        assert not any(name.startswith("dbt_") for name in nodes), "the selection shows the project, not Elementary"
        canvas = session.evaluate(
            "Array.prototype.map.call(document.querySelectorAll('#cy canvas'), function (c) { return c.width; })"
        )
        assert canvas and max(canvas) > 500
        text = session.evaluate("document.body.innerText")
        assert "The BI table" in text  # the model's description is on the page under the graph
        session.sleep(1500)  # let the layout settle before the picture
        _screenshot(session, OUTPUT / "docs-lineage.png")
        # the site's own data and scripts are inline: nothing is fetched over the network
        fetched = [u for u in session.requested_urls() if u.startswith(("http:", "https:"))]
        assert fetched == [], fetched
        session.close()
    finally:
        browser.close()
    assert (OUTPUT / "docs-lineage.png").stat().st_size > 20_000

"""The HTML page: one self-contained file with plotly.js, the data as JSON and our script.

No server and no CDN: plotly.js is embedded once in a ``<script>``, the figures and tables are JSON
in one ``<script type="application/json">`` block, and ``assets/dashboard.js`` draws them with
``Plotly.react`` and builds the forecast table and its CSV files in the browser.
"""

from __future__ import annotations

import datetime as dt
import html
import json
from importlib import resources
from pathlib import Path
from typing import Any

from .explain import explain_failed_step, explain_read_error, explain_test
from .formatting import (
    COLORS,
    COVERAGE_TARGET,
    DEFAULT_TOP_N,
    FONT,
    MODEL_COLORS,
    PLOT_HEIGHT,
    SUBTITLE_WIDTH,
    TITLE_WIDTH,
    TREND_MONTHS,
    as_date,
    finite,
    jsonable,
    model_color,
    month_label,
    pct,
    period_label,
    plural,
)
from .warehouse import Segments

_ASSETS = resources.files(__package__).joinpath("assets")
CSS = _ASSETS.joinpath("dashboard.css").read_text(encoding="utf-8")
JS = _ASSETS.joinpath("dashboard.js").read_text(encoding="utf-8")
PASSED = ("pass", "passed", "success")
esc = html.escape


def no_data(message: str, warn: bool = False) -> str:
    return f'<div class="no-data{" warn" if warn else ""}">{esc(message)}</div>'


def kpi(value: str, label: str, extra_class: str = "") -> str:
    return (
        f'<div class="kpi{(" " + extra_class) if extra_class else ""}"><div class="value">{esc(value)}</div>'
        f'<div class="label">{esc(label)}</div></div>'
    )


def kpi_cards(kpis: dict | None) -> str:
    if not kpis:
        return no_data("No data yet: marts.dim_products is missing or empty, so there are no product counts.")
    cards = [
        ("Products", kpis.get("n_products")),
        ("With a forecast", kpis.get("n_forecast")),
        ("New", kpis.get("n_new")),
        ("Discontinued", kpis.get("n_discontinued")),
        ("Intermittent", kpis.get("n_intermittent")),
        ("Lumpy", kpis.get("n_lumpy")),
    ]
    return "".join(kpi(f"{int(v):,}", k) for k, v in cards if v is not None)


def headline_html(headline: dict | None) -> str:
    """The accuracy purchasing got: the selected forecast, out of sample, over the window."""
    if not headline or headline.get("wape") is None:
        return no_data(
            "No accuracy yet: a forecast is scored once its month's sales are in, so the first scores appear "
            "one month after the first run (marts.mart_accuracy_by_segment is missing or empty)."
        )
    months = period_label(headline.get("months"))
    models = ", ".join(headline.get("selected_models") or []) or "selected forecast"
    bias = finite(headline.get("bias"))
    bias_word = "over-forecast" if (bias or 0) > 0.005 else ("under-forecast" if (bias or 0) < -0.005 else "no bias")
    cards = [
        kpi(
            pct(headline["wape"]),
            f"WAPE of the forecast handed to purchasing ({models}), 1 month ahead, {months}, "
            f"{plural(int(headline.get('n_products') or 0), 'product')}: out of sample",
            "headline",
        ),
        kpi(pct(bias, signed=True), f"bias ({bias_word})"),
    ]
    if headline.get("coverage") is not None:
        cards.append(kpi(pct(headline["coverage"]), f"actuals inside P10-P90 (target {pct(COVERAGE_TARGET)})"))
    if headline.get("baseline_wape") is not None:
        cards.append(kpi(pct(headline["baseline_wape"]), "WAPE of the baseline over the same months"))
    return f'<div class="kpis" id="headline-accuracy">{"".join(cards)}</div>'


def data_tests_html(tests: dict | None) -> str:
    """Counts by status of the last dbt run's tests; every test that did not pass with what it
    means and what to do."""
    if not tests:
        return no_data(
            "No data yet: elementary.elementary_test_results is missing or empty "
            "(dbt has not run the tests with the Elementary package yet)."
        )
    counts = tests["counts"]
    total = sum(c["n"] for c in counts)
    detected = tests.get("detected_at")
    when = f" ({as_date(detected).isoformat()})" if detected else ""
    chips = "".join(
        f'<div class="kpi"><div class="value status-{esc(str(c["status"]).replace(" ", "_"))}">'
        f'{c["n"]:,}</div><div class="label">{esc(str(c["status"]))}</div></div>'
        for c in counts
    )
    bad = [c for c in counts if c["status"] not in PASSED]
    headline = (
        f"Last dbt run{when}: {total:,} tests, all passed"
        if not bad
        else f"Last dbt run{when}: {total:,} tests, " + ", ".join(f"{c['n']:,} {c['status']}" for c in bad)
    )
    out = [f'<h3 id="tests-headline">{esc(headline)}</h3>', f'<div class="kpis">{chips}</div>']
    if tests["failing"]:
        items = []
        for r in tests["failing"]:
            meaning, action = explain_test(r)
            where = ".".join(str(x) for x in (r["table_name"], r["column_name"]) if x)
            found = f'<div class="found">Found: {esc(r["description"])}</div>' if r.get("description") else ""
            items.append(
                f'<li class="test-warning"><span class="status-{esc(str(r["status"]).replace(" ", "_"))}">'
                f"{esc(str(r['status']))}</span> <b>{esc(str(r['test']))}</b>"
                f"{(' on ' + esc(where)) if where else ''}"
                f'<div class="meaning">{esc(meaning)}</div>{found}'
                f'<div class="action">What to do: {esc(action)}</div></li>'
            )
        out.append(f'<ul class="warnings" id="failing-tests">{"".join(items)}</ul>')
    return "".join(out)


def steps_html(steps: dict | None) -> str:
    """The last batch run's steps; columns nobody filled in are left out."""
    if not steps or not steps["rows"]:
        return no_data("No data yet: ops.batch_step_metrics is missing or empty (no batch run recorded).")
    rows = steps["rows"]
    total = sum(finite(r["duration_s"]) or 0 for r in rows)
    failed = [r for r in rows if r["status"] not in ("ok", "success")]
    slowest = max(rows, key=lambda r: finite(r["duration_s"]) or 0)
    headline = (
        f"Last batch run {steps['run_id']}: {plural(len(rows), 'step')} in {total / 60:.1f} min"
        + (f", {len(failed)} not ok" if failed else ", all ok")
        + f"; slowest: {slowest['step_name']} ({finite(slowest['duration_s']) or 0:,.0f} s)"
    )
    columns = [
        ("duration_s", "duration (s)", "{:,.1f}"),
        ("peak_memory_mb", "peak memory (MB)", "{:,.0f}"),
        ("row_count", "rows", "{:,.0f}"),
        ("rows_per_second", "rows/s", "{:,.0f}"),
    ]
    columns = [c for c in columns if any(finite(r[c[0]]) is not None for r in rows)]

    def cell(value: Any, pattern: str) -> str:
        number = finite(value)
        return f'<td class="num">{"" if number is None else pattern.format(number)}</td>'

    body = "".join(
        f"<tr><td>{esc(str(r['step_name']))}</td>"
        f'<td class="status-{"pass" if r["status"] in ("ok", "success") else "fail"}">{esc(str(r["status"]))}</td>'
        + "".join(cell(r[name], pattern) for name, _, pattern in columns)
        + "</tr>"
        for r in rows
    )
    head = "".join(f"<th>{esc(label)}</th>" for _, label, _ in columns)
    notes = "".join(no_data(explain_failed_step(r), warn=True) for r in failed)
    return (
        f'<h3>{esc(headline)}</h3><table class="list"><thead><tr><th>step</th><th>status</th>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table>{notes}"
    )


def chart(div_id: str) -> str:
    return f'<div class="chart" id="{div_id}"></div>'


def _selector_options(segments: Segments) -> str:
    options = ['<option value="all">All products</option>']
    if segments.groups:
        options.append('<optgroup label="Product groups">')
        options += [f'<option value="{segments.group_key[g]}">{esc(g)}</option>' for g in segments.groups]
        options.append("</optgroup>")
        for group in segments.groups:
            cats = [i for i in segments.items if i["level"] == "category" and i["group"] == group]
            options.append(f'<optgroup label="Categories in {esc(group)}">')
            options += [f'<option value="{i["key"]}">{esc(group)} / {esc(i["label"])}</option>' for i in cats]
            options.append("</optgroup>")
    return "".join(options)


def _payload(data: dict[str, Any], figures: dict[str, Any], top_n: int) -> str:
    segments: Segments = data["segments"]
    seg_data = data.get("seg", {})
    products = data.get("products") or {}
    order = data.get("product_order") or []
    table = data.get("table") or {}
    payload = {
        "figures": figures,
        "segment_kpis": {k: v.get("kpis") for k, v in seg_data.items()},
        "segment_labels": {item["key"]: segments.full_label(item["key"]) for item in segments.items},
        "segment_filters": {item["key"]: [item["group"], item["category"]] for item in segments.items},
        "segment_totals": {k: v.get("forecast") for k, v in seg_data.items()},
        "products": {pid: products[pid] for pid in order},
        "product_order": order,
        "product_months": [m.isoformat() for m in data.get("product_months") or []],
        "forecast_months": [m.isoformat() for m in data.get("forecast_months") or []],
        "table": {
            "months": [m.isoformat() if m else None for m in table.get("months") or []],
            "rows": table.get("rows") or [],
            "n_total": table.get("n_total") or 0,
        },
        "as_of": data["as_of"].isoformat() if data.get("as_of") else None,
        "model_error_source": data.get("model_error_source"),
        "model_colors": {**MODEL_COLORS, **{m: model_color(m) for m in (data.get("models") or {})}},
        "colors": COLORS,
        "font": FONT,
        "title_width": TITLE_WIDTH,
        "plot_height": PLOT_HEIGHT,
        "subtitle_width": SUBTITLE_WIDTH,
        "top_n": top_n,
    }
    text = json.dumps(jsonable(payload), separators=(",", ":"), allow_nan=False)
    # the JSON sits inside a <script> element: no character of it may close the element
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _overview_notes(data: dict[str, Any], warn_for) -> str:
    tables = data.get("tables") or {}
    notes = []
    if data.get("warehouse_missing"):
        notes.append(
            no_data(
                f"No data yet: the warehouse {data['warehouse']} does not exist. Run the monthly batch first "
                "(demand-forecast run, or make run).",
                warn=True,
            )
        )
    elif not tables.get("forecasts"):
        notes.append(
            no_data(
                "No data yet: marts.fct_forecasts is missing or empty - no forecast has been "
                "made (first run, or the forecast step failed). Run the batch (demand-forecast run); if it "
                "ran, its log in logs/ names the failed step."
            )
        )
    notes.append(warn_for("warehouse", "window", "forecasts", "kpis", "actuals", "forecast", "accuracy", "models"))
    return "".join(notes)


def _product_body(data: dict[str, Any], top_n: int) -> str:
    products = data.get("products") or {}
    order = data.get("product_order") or []
    if not order:
        return no_data(
            "No data yet: no product has monthly demand or a forecast "
            "(intermediate.int_monthly_demand and marts.fct_forecasts are missing or empty)."
        )
    n_total = data.get("n_products_total")
    note = (
        f"{len(order):,} of {int(n_total):,} products embedded: the top {top_n:,} by cleaned demand "
        f"over the last 12 months plus every product that needs attention. Type an id or a name."
        if n_total
        else f"{len(order):,} products embedded."
    )
    datalist = "".join(
        f'<option value="{esc(pid)}">{esc(str(products[pid].get("name") or pid))} - '
        f"{esc(str(products[pid].get('group') or ''))}</option>"
        for pid in order
    )
    return f"""
      <div class="controls">
        <label for="product-search">Product</label>
        <input id="product-search" list="product-list" placeholder="type a product id or name" autocomplete="off">
        <datalist id="product-list">{datalist}</datalist>
        <span class="note">{esc(note)}</span>
      </div>
      <div id="product-message" class="no-data" style="display:none"></div>
      <div class="product-info" id="product-info"></div>
      <div class="grid">{chart("prod-history")}{chart("prod-models")}</div>"""


def _table_body(data: dict[str, Any]) -> str:
    table = data.get("table")
    if not table or not table.get("rows"):
        return no_data(
            "No data yet: marts.mart_forecast_wide is missing or empty, so there is no forecast table "
            "(it is built with the forecasts)."
        )
    return """
      <div class="controls">
        <a id="seg-csv" class="button" href="#" download="forecast.csv">Download CSV</a>
        <span class="note" id="table-note"></span>
      </div>
      <div class="table-wrap"><table class="list forecast" id="seg-table"></table></div>"""


def render_html(
    data: dict[str, Any],
    figures: dict[str, Any],
    *,
    elementary_report: str = "elementary_report.html",
    elementary_exists: bool | None = None,
    top_n: int = DEFAULT_TOP_N,
    generated_at: dt.datetime | None = None,
) -> str:
    """The page: CSS, plotly.js (once), the data as JSON, our script."""
    from plotly.offline import get_plotlyjs

    segments: Segments = data["segments"]
    as_of = data.get("as_of")
    generated_at = generated_at or dt.datetime.now(dt.timezone.utc)
    errors = data.get("errors") or {}

    def warn_for(*sections: str) -> str:
        return "".join(no_data(explain_read_error(s, errors[s]), warn=True) for s in sections if s in errors)

    report_note = ""
    if elementary_exists is False:
        report_note = " (not generated yet: the batch writes it with <code>edr report</code>)"
    footer = (
        f'As of <span id="footer-as-of">{esc(month_label(as_of))}</span> &middot; run <span id="footer-run-id">'
        f"{esc(str(data.get('run_id') or 'n/a'))}</span> &middot; generated "
        f"{esc(generated_at.strftime('%Y-%m-%d %H:%M UTC'))} &middot; warehouse "
        f"{esc(Path(data.get('warehouse', '')).name)} &middot; "
        f"{len(data.get('product_order') or []):,} products embedded"
    )
    seg_all = data.get("seg", {}).get("all", {})
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Demand forecast - {esc(month_label(as_of))}</title>
<style>{CSS.replace("FONT", FONT)}</style>
<script type="text/javascript">{get_plotlyjs()}</script>
</head>
<body>
<header>
  <h1>Demand forecast for purchasing</h1>
  <nav><a href="#overview">Overview</a><a href="#groups">Groups &amp; categories</a><a href="#product">Product</a>
  <a href="#health">Data health</a></nav>
  <div class="asof">as of {esc(month_label(as_of))}</div>
</header>
<main>
  <section id="overview">
    <h2>Overview</h2>
    <p class="lead">All products: the next three months against the last {TREND_MONTHS} months, and how accurate the
    forecasts handed to purchasing have been once the actual sales came in.</p>
    {_overview_notes(data, warn_for)}
    {headline_html(data.get("headline"))}
    <div class="kpis" id="overview-kpis">{kpi_cards(seg_all.get("kpis"))}</div>
    <div class="grid">{chart("ov-forecast")}{chart("ov-accuracy")}{chart("ov-model-accuracy")}{chart("ov-coverage")}
    {chart("ov-models")}</div>
  </section>

  <section id="groups">
    <h2>By product group and category: <span id="segment-current">All products</span></h2>
    <p class="lead">The selector switches every chart, count and table of this section.</p>
    {warn_for("headline", "breakdown", "attention", "table")}
    <div class="controls">
      <label for="segment-select">Group or category</label>
      <select id="segment-select">{_selector_options(segments)}</select>
    </div>
    <div class="kpis" id="seg-kpis"></div>
    <div class="grid">{chart("seg-forecast")}{chart("seg-accuracy")}{chart("seg-breakdown")}
    {chart("seg-attention")}</div>
    <h3 id="table-title">Forecast by product: <span id="table-label">All products</span></h3>
    {_table_body(data)}
  </section>

  <section id="product">
    <h2>One product</h2>
    <p class="lead">Monthly history (raw and cleaned, stock-out and outlier months marked), the forecast handed to
    purchasing and how its model compares with the baseline.</p>
    {warn_for("products")}
    {_product_body(data, top_n)}
  </section>

  <section id="health">
    <h2>Data health</h2>
    <p class="lead">What the cleaning kept out or repaired, and the data tests of the last run. Details:
    <a id="elementary-link" href="{esc(elementary_report)}">Elementary report</a>{report_note}.</p>
    {warn_for("quarantine", "stockouts", "tests", "steps")}
    <div class="grid">{chart("dh-quarantine")}{chart("dh-stockouts")}</div>
    <div class="grid" style="margin-top:14px">
      <div id="dh-tests">{data_tests_html(data.get("tests"))}</div>
      <div id="dh-steps">{steps_html(data.get("steps"))}</div>
    </div>
  </section>
</main>
<footer id="footer">{footer}</footer>
<script type="application/json" id="dashboard-data">{_payload(data, figures, top_n)}</script>
<script type="text/javascript">{JS}</script>
</body>
</html>
"""

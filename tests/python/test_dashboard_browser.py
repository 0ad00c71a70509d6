"""The dashboard in a real browser: headless Chromium driven over the Chrome DevTools Protocol.

No extra Python dependency: the CDP websocket client below uses the standard library only.
Chromium is Debian's ``chromium`` package; when ``/usr/bin/chromium`` (or ``$CHROMIUM_BIN``) is
missing, ``scripts/ensure_chromium.sh`` installs it with apt-get. The tests are skipped only when
that is impossible (not root, no apt-get). Screenshots go to ``test-output/`` at the repo root.

The page is built from the warehouse of the batch replay (conftest.py ``marts_warehouse``): the real
marts, so the table and CSV checks compare with ``mart_forecast_wide`` itself.
"""

from __future__ import annotations

import base64
import contextlib
import csv
import datetime as dt
import io
import json
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import duckdb
import pytest

from demand_forecast import dashboard

pytestmark = [pytest.mark.browser, pytest.mark.dbt, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
OUTPUT = REPO / "test-output"
CHROMIUM = os.environ.get("CHROMIUM_BIN", "/usr/bin/chromium")
CHART_IDS = [
    "ov-forecast",
    "ov-accuracy",
    "ov-coverage",
    "ov-models",
    "ov-model-accuracy",
    "seg-forecast",
    "seg-accuracy",
    "seg-breakdown",
    "seg-attention",
    "prod-history",
    "prod-models",
    "dh-quarantine",
    "dh-stockouts",
]
SEGMENT_CHARTS = ["seg-forecast", "seg-accuracy", "seg-breakdown", "seg-attention"]


# ------------------------------------------------------------------ a minimal CDP client
class CDPError(RuntimeError):
    pass


class CDPSession:
    """One websocket to one page target: JSON commands with ids, events collected on the way."""

    def __init__(self, ws_url: str, timeout: float = 30.0) -> None:
        url = urlparse(ws_url)
        self.timeout = timeout
        self.sock = socket.create_connection((url.hostname, url.port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET {url.path} HTTP/1.1\r\nHost: {url.hostname}:{url.port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        self.sock.sendall(request.encode())
        response = b""
        while b"\r\n\r\n" not in response:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise CDPError("websocket handshake: connection closed")
            response += chunk
        head, _, self._buffer = response.partition(b"\r\n\r\n")
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise CDPError(f"websocket handshake refused: {head[:200]!r}")
        self._next_id = 0
        self.events: list[dict] = []

    # -- frames
    def _send_frame(self, payload: bytes, opcode: int = 0x1) -> None:
        header = bytearray([0x80 | opcode])
        n = len(payload)
        if n < 126:
            header.append(0x80 | n)
        elif n < 1 << 16:
            header.append(0x80 | 126)
            header += struct.pack("!H", n)
        else:
            header.append(0x80 | 127)
            header += struct.pack("!Q", n)
        mask = os.urandom(4)
        repeated = (mask * (n // 4 + 1))[:n]
        masked = (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(n, "big") if n else b""
        self.sock.sendall(bytes(header) + mask + masked)

    def _recv_exact(self, n: int) -> bytes:
        while len(self._buffer) < n:
            chunk = self.sock.recv(max(65536, n - len(self._buffer)))
            if not chunk:
                raise CDPError("websocket closed by the browser")
            self._buffer += chunk
        data, self._buffer = self._buffer[:n], self._buffer[n:]
        return data

    def _recv_message(self) -> dict:
        parts: list[bytes] = []
        while True:
            b0, b1 = self._recv_exact(2)
            opcode, length = b0 & 0x0F, b1 & 0x7F
            if length == 126:
                length = struct.unpack("!H", self._recv_exact(2))[0]
            elif length == 127:
                length = struct.unpack("!Q", self._recv_exact(8))[0]
            mask = self._recv_exact(4) if b1 & 0x80 else None
            data = self._recv_exact(length)
            if mask:
                data = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
            if opcode == 0x8:
                raise CDPError("websocket closed by the browser")
            if opcode == 0x9:
                self._send_frame(data, opcode=0xA)
                continue
            if opcode == 0xA:
                continue
            parts.append(data)
            if b0 & 0x80:
                return json.loads(b"".join(parts).decode("utf-8"))

    # -- protocol
    def send(self, method: str, params: dict | None = None) -> dict:
        self._next_id += 1
        message_id = self._next_id
        self._send_frame(json.dumps({"id": message_id, "method": method, "params": params or {}}).encode())
        while True:
            message = self._recv_message()
            if message.get("id") == message_id:
                if "error" in message:
                    raise CDPError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def wait_event(self, method: str, timeout: float | None = None) -> dict:
        deadline = time.monotonic() + (timeout or self.timeout)
        for event in self.events:
            if event.get("method") == method:
                return event
        while time.monotonic() < deadline:
            message = self._recv_message()
            self.events.append(message)
            if message.get("method") == method:
                return message
        raise CDPError(f"timed out waiting for {method}")

    def evaluate(self, expression: str, await_promise: bool = False):
        result = self.send(
            "Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": await_promise}
        )
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise CDPError(
                f"JS exception in {expression[:80]!r}: "
                f"{details.get('exception', {}).get('description') or details.get('text')}"
            )
        return result["result"].get("value")

    def sleep(self, ms: int) -> None:
        self.evaluate(f"new Promise(function (r) {{ setTimeout(r, {ms}); }})", await_promise=True)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()

    # -- what the tests check
    def js_errors(self) -> list[str]:
        errors = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                details = params.get("exceptionDetails", {})
                errors.append(f"exception: {details.get('exception', {}).get('description') or details.get('text')}")
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                errors.append(
                    "console.error: "
                    + " ".join(str(a.get("value", a.get("description"))) for a in params.get("args", []))
                )
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                errors.append(f"log: {params['entry'].get('text')} {params['entry'].get('url', '')}")
        return errors

    def requested_urls(self) -> list[str]:
        return [e["params"]["request"]["url"] for e in self.events if e.get("method") == "Network.requestWillBeSent"]


# ------------------------------------------------------------------ chromium
def _ensure_chromium() -> str:
    if os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    result = subprocess.run(
        ["bash", str(REPO / "scripts" / "ensure_chromium.sh")], capture_output=True, text=True, timeout=900
    )
    if result.returncode == 2:
        pytest.skip(f"headless Chromium is not installed and cannot be installed here: {result.stderr.strip()}")
    if result.returncode != 0 or not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"scripts/ensure_chromium.sh could not install chromium:\n{result.stdout}\n{result.stderr}")
    return CHROMIUM


class Browser:
    def __init__(self, binary: str) -> None:
        self._browser_session: CDPSession | None = None
        self.profile = Path(tempfile.mkdtemp(prefix="dashboard-chromium-"))
        self.log = open(self.profile / "chromium.log", "wb")  # noqa: SIM115 - lives as long as the browser
        self.proc = subprocess.Popen(
            [
                binary,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
                "--disable-extensions",
                "--hide-scrollbars",
                "--window-size=1400,1000",
                f"--user-data-dir={self.profile}",
                "--remote-debugging-port=0",
                "about:blank",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        port_file = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                log = (self.profile / "chromium.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"chromium did not start (exit {self.proc.returncode}):\n{log}")
            time.sleep(0.05)
        self.port = int(port_file.read_text().split()[0])

    def new_page(self) -> CDPSession:
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}/json/new?about:blank", method="PUT")
        with urllib.request.urlopen(request, timeout=10) as response:
            target = json.load(response)
        session = CDPSession(target["webSocketDebuggerUrl"])
        for domain in ("Runtime", "Log", "Page", "Network"):
            session.send(f"{domain}.enable")
        return session

    def allow_downloads(self, folder: Path) -> None:
        """Downloads of every page go to ``folder``: a browser-wide setting, made over a session to the
        browser's own target that stays open (the setting ends with the session)."""
        if self._browser_session is None:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/json/version", timeout=10) as response:
                self._browser_session = CDPSession(json.load(response)["webSocketDebuggerUrl"])
        self._browser_session.send("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(folder)})

    def close(self) -> None:
        if self._browser_session is not None:
            self._browser_session.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.log.close()
        shutil.rmtree(self.profile, ignore_errors=True)


@pytest.fixture(scope="module")
def browser():
    instance = Browser(_ensure_chromium())
    try:
        yield instance
    finally:
        instance.close()


def _open(browser: Browser, page: Path) -> CDPSession:
    session = browser.new_page()
    session.send("Page.navigate", {"url": page.resolve().as_uri()})
    session.wait_event("Page.loadEventFired", timeout=60)
    deadline = time.monotonic() + 30
    while not session.evaluate("window.dashboardReady === true"):
        errors = session.js_errors()
        if errors or time.monotonic() > deadline:
            session.close()
            raise AssertionError(f"the dashboard script did not finish: {errors or 'timeout'}")
        time.sleep(0.1)
    return session


def _screenshot(session: CDPSession, path: Path, selector: str | None = None) -> None:
    """Full page (or one element) as PNG: the viewport is made as tall as the page first, so
    nothing is captured beyond it (which makes Chromium re-layout mid-capture)."""
    metrics = session.send("Page.getLayoutMetrics")
    size = metrics.get("cssContentSize") or metrics["contentSize"]
    width, height = 1400, int(size["height"]) + 1
    session.send(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
    )
    try:
        session.evaluate("window.scrollTo(0, 0)")
        session.sleep(400)
        if selector:
            box = session.evaluate(
                f"(function () {{ var r = document.querySelector({json.dumps(selector)})"
                f".getBoundingClientRect(); return [r.left, r.top, r.width, r.height]; }})()"
            )
        else:
            box = [0, 0, width, height]
        shot = session.send(
            "Page.captureScreenshot",
            {"format": "png", "clip": {"x": box[0], "y": box[1], "width": box[2], "height": box[3], "scale": 1}},
        )
    finally:
        session.send("Emulation.clearDeviceMetricsOverride")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(base64.b64decode(shot["data"]))


def _segment_state(session: CDPSession) -> dict:
    return session.evaluate(
        f"(function () {{ var out = {{}}; {json.dumps(SEGMENT_CHARTS)}.forEach(function (id) {{ "
        "var el = document.getElementById(id);"
        " out[id] = {title: el.layout.title.text, svgTitle: (el.querySelector('.gtitle') || {}).textContent || '',"
        " data: JSON.stringify(el.data.map(function (t) { return [t.x, t.y]; }))}; });"
        " out.kpis = document.getElementById('seg-kpis').textContent;"
        " out.label = document.getElementById('segment-current').textContent; return out; })()"
    )


# ------------------------------------------------------------------ tests
@pytest.fixture(scope="module")
def built_pages(marts_warehouse, tmp_path_factory):
    """The dashboard of the warehouse the batch built (conftest.py), and the page of an empty warehouse."""
    root = tmp_path_factory.mktemp("browser")
    full = root / "reports" / "dashboard.html"
    dashboard.build_dashboard(
        marts_warehouse, full, top_n=25, generated_at=dt.datetime(2026, 11, 2, 6, 30, tzinfo=dt.timezone.utc)
    )
    empty_db = root / "empty.duckdb"
    duckdb.connect(str(empty_db)).close()
    empty = root / "empty" / "dashboard.html"
    dashboard.build_dashboard(empty_db, empty)
    return full, empty


def _clipped_labels(session: CDPSession) -> list[str]:
    """Axis tick labels and axis titles drawn (partly) outside their chart: cut off on screen."""
    return session.evaluate(
        "(function () { var out = []; Array.prototype.forEach.call(document.querySelectorAll('.js-plotly-plot'),"
        " function (el) { var box = el.getBoundingClientRect();"
        " el.querySelectorAll('.xtick text, .ytick text, .g-xtitle text, .g-ytitle text').forEach(function (t) {"
        " var r = t.getBoundingClientRect(); if (!r.width) { return; }"
        " if (r.left < box.left - 1 || r.right > box.right + 1 || r.top < box.top - 1 || r.bottom > box.bottom + 1)"
        " { out.push(el.id + ': ' + t.textContent); } }); }); return out; })()"
    )


def _option(session: CDPSession, value: str) -> tuple[str, str]:
    """The value and the label of one entry of the group selector."""
    options = session.evaluate(
        "Array.prototype.map.call(document.querySelectorAll('#segment-select option'),"
        " function (o) { return [o.value, o.textContent]; })"
    )
    return next((o[0], o[1]) for o in options if o[0] == value)


def _select(session: CDPSession, value: str) -> None:
    session.evaluate(
        f"(function () {{ var s = document.getElementById('segment-select'); s.value = {json.dumps(value)};"
        " s.dispatchEvent(new Event('change')); })()"
    )
    session.sleep(250)


def _table_state(session: CDPSession) -> dict:
    return session.evaluate(
        "(function () { var t = document.getElementById('seg-table'), a = document.getElementById('seg-csv');"
        " return {rows: Array.prototype.map.call(t.querySelectorAll('tbody tr:not(.total)'), function (r) {"
        " return Array.prototype.map.call(r.cells, function (c) { return c.textContent; }); }),"
        " total: (t.querySelector('tbody tr.total') || {}).textContent || '', months: Array.prototype.map.call("
        " t.querySelectorAll('thead th.month'), function (h) { return h.textContent; }),"
        " label: document.getElementById('table-label').textContent, download: a.download,"
        " href: a.getAttribute('href')}; })()"
    )


def _wide_mart(warehouse: Path, group: str | None = None) -> list[tuple]:
    """The forecast table a purchaser should get: mart_forecast_wide, largest next-month P50 first."""
    where = "where product_group = ?" if group else ""
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        return connection.execute(
            "select product_id, product_name, product_group, category, selected_model, "
            "month_1_p10, month_1_p50, month_1_p90, month_2_p10, month_2_p50, month_2_p90, "
            "month_3_p10, month_3_p50, month_3_p90, month_1, month_2, month_3 "
            f"from marts.mart_forecast_wide {where} order by month_1_p50 desc nulls last, product_id",
            [group] if group else [],
        ).fetchall()


def _download(browser: Browser, session: CDPSession, folder: Path) -> tuple[str, str]:
    """Click the CSV link like a user; wait for the file; its name and text."""
    folder.mkdir(parents=True, exist_ok=True)
    browser.allow_downloads(folder)
    session.evaluate("document.getElementById('seg-csv').click()")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        files = [f for f in folder.iterdir() if not f.name.endswith(".crdownload")]
        if files:
            time.sleep(0.2)  # the rename from .crdownload is the last step; the file is complete
            return files[0].name, files[0].read_text(encoding="utf-8-sig")
        time.sleep(0.1)
    raise AssertionError(f"no file downloaded to {folder}: {list(folder.iterdir())}")


def test_dashboard_renders_and_switches_groups(browser, built_pages):
    full, _ = built_pages
    session = _open(browser, full)
    try:
        assert session.evaluate("window.dashboardReady === true"), "dashboard script did not finish"
        # every chart drew an SVG with content
        rendered = session.evaluate(
            "(function () { return Array.prototype.map.call(document.querySelectorAll('.js-plotly-plot'),"
            " function (el) { return [el.id, el.querySelectorAll('svg.main-svg').length,"
            " el.querySelectorAll('.trace, .bars .point, .annotation').length]; }); })()"
        )
        by_id = {row[0]: row for row in rendered}
        assert sorted(by_id) == sorted(CHART_IDS)
        for chart_id, svgs, marks in rendered:
            assert svgs >= 1 and marks >= 1, f"{chart_id} rendered no content: {svgs} svg, {marks} marks"
        forecast_traces = session.evaluate("document.querySelectorAll('#ov-forecast .scatterlayer .trace').length")
        assert forecast_traces >= 4
        assert _clipped_labels(session) == []

        # the group selector swaps every chart of the section (data, layout and drawn title) and the counts
        before = _segment_state(session)
        group_value, group_label = _option(session, "g1")
        _select(session, group_value)
        after = _segment_state(session)
        assert after["label"] == group_label
        assert after["kpis"] != before["kpis"]
        for chart_id in SEGMENT_CHARTS:
            assert after[chart_id]["title"] != before[chart_id]["title"], chart_id
            assert after[chart_id]["svgTitle"] != before[chart_id]["svgTitle"], chart_id
            assert after[chart_id]["data"] != before[chart_id]["data"], chart_id
        assert group_label in after["seg-forecast"]["svgTitle"]
        # a category, then back to all products
        _select(session, "g1c0")
        category = _segment_state(session)
        assert category["seg-forecast"]["title"] != after["seg-forecast"]["title"]
        assert _clipped_labels(session) == []
        _select(session, "all")
        assert _segment_state(session)["seg-forecast"]["title"] == before["seg-forecast"]["title"]
        _screenshot(session, OUTPUT / "dashboard.png")

        # one product: type an id, the charts follow; clicking a "needs attention" bar opens that product
        order = session.evaluate("JSON.parse(document.getElementById('dashboard-data').textContent).product_order")
        assert len(order) >= 25
        session.evaluate(
            f"(function () {{ var i = document.getElementById('product-search'); i.value = "
            f"{json.dumps(order[3])}; i.dispatchEvent(new Event('change')); }})()"
        )
        session.sleep(200)
        title = session.evaluate("document.querySelector('#prod-history .gtitle').textContent")
        assert title.startswith(order[3]), title
        assert order[3] in session.evaluate("document.getElementById('product-info').textContent")
        clicked = session.evaluate(
            "(function () { var el = document.getElementById('seg-attention'); var id = el.data[0].customdata[0][0];"
            " el.emit('plotly_click', {points: [{customdata: el.data[0].customdata[0]}]}); return id; })()"
        )
        session.sleep(200)
        assert session.evaluate("document.getElementById('product-search').value") == clicked
        assert session.evaluate("document.querySelector('#prod-history .gtitle').textContent").startswith(clicked)
        # an id that is not embedded gives a message, not an error
        session.evaluate(
            "(function () { var i = document.getElementById('product-search'); i.value = 'NOPE';"
            " i.dispatchEvent(new Event('change')); })()"
        )
        assert "not embedded" in session.evaluate("document.getElementById('product-message').textContent")
        _screenshot(session, OUTPUT / "dashboard-product.png", "#product")

        assert session.js_errors() == []
        offline = [u for u in session.requested_urls() if not u.startswith(("file:", "data:", "blob:", "about:"))]
        assert offline == [], f"the dashboard fetched from the network: {offline}"
    finally:
        session.close()
    assert (OUTPUT / "dashboard.png").stat().st_size > 10_000


def test_forecast_table_and_its_csv_per_group(browser, built_pages, marts_warehouse, tmp_path):
    full, _ = built_pages
    session = _open(browser, full)
    try:
        # all products: every product of the wide mart, months 1-3 with P10/P50/P90, a total row
        state = _table_state(session)
        wide = _wide_mart(marts_warehouse)
        assert state["label"] == "All products"
        assert [row[0] for row in state["rows"]] == [row[0] for row in wide]
        assert state["months"] == [row.strftime("%b %Y") for row in wide[0][14:17]]
        assert len(state["rows"][0]) == 3 + 9 and state["total"].startswith(f"Total of {len(wide)} products")

        # a group: the table and the CSV hold that group's products only, and the CSV downloads
        group_value, group = _option(session, "g1")
        _select(session, group_value)
        state = _table_state(session)
        wide = _wide_mart(marts_warehouse, group)
        assert state["label"] == group and [row[0] for row in state["rows"]] == [row[0] for row in wide]
        assert state["href"].startswith("blob:")
        name, text = _download(browser, session, tmp_path / "downloads")
        assert name == state["download"] and name.startswith("forecast_") and name.endswith(".csv")
        lines = list(csv.reader(io.StringIO(text)))
        months = [m.strftime("%Y-%m") for m in wide[0][14:17]]
        assert lines[0] == [
            "product_id",
            "product_name",
            "product_group",
            "category",
            "selected_model",
            *[f"{m} {p}" for m in months for p in ("P10", "P50", "P90")],
        ]
        assert len(lines) == 1 + len(wide)
        for cells, row in zip(lines[1:], wide, strict=True):
            assert cells[:5] == ["" if v is None else str(v) for v in row[:5]]
            assert [float(c) for c in cells[5:]] == pytest.approx([round(v, 1) for v in row[5:14]], abs=0.051)
        _screenshot(session, OUTPUT / "dashboard-table.png", "#groups")
        assert session.js_errors() == []
    finally:
        session.close()


def test_empty_warehouse_page_has_no_js_errors(browser, built_pages):
    _, empty = built_pages
    session = _open(browser, empty)
    try:
        assert session.evaluate("window.dashboardReady === true")
        assert session.js_errors() == []
        notes = session.evaluate("document.querySelectorAll('.no-data').length")
        assert notes >= 5
        charts = session.evaluate(
            "Array.prototype.map.call(document.querySelectorAll('.js-plotly-plot'),"
            " function (el) { return [el.id, (el.querySelector('.annotation-text') || {}).textContent || ''];})"
        )
        assert len(charts) == 11  # no product charts without products
        for chart_id, note in charts:
            assert note.startswith("No data yet"), (chart_id, note)
        _screenshot(session, OUTPUT / "dashboard-empty.png")
    finally:
        session.close()

"""Reading the dashboard page and the warehouse in the dashboard tests (test_dashboard*.py)."""

from __future__ import annotations

import datetime as dt
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import pandas as pd


class PageParser(HTMLParser):
    """Option values and labels of <select id="segment-select">, and every element id."""

    def __init__(self) -> None:
        super().__init__()
        self.in_select = False
        self.in_option = False
        self.options: list[tuple[str, str]] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "select" and attrs.get("id") == "segment-select":
            self.in_select = True
        elif tag == "option" and self.in_select:
            self.in_option = True
            self.options.append((attrs.get("value", ""), ""))

    def handle_endtag(self, tag):
        if tag == "select":
            self.in_select = False
        elif tag == "option":
            self.in_option = False

    def handle_data(self, data):
        if self.in_option and self.options:
            value, label = self.options[-1]
            self.options[-1] = (value, label + data)


def parse(page: str) -> PageParser:
    parser = PageParser()
    parser.feed(page)
    return parser


def without_scripts(page: str) -> str:
    return re.sub(r"<script.*?</script>", "", page, flags=re.S)


def payload_of(page: str) -> dict:
    match = re.search(r'<script type="application/json" id="dashboard-data">(.*?)</script>', page, re.S)
    assert match, "embedded dashboard data not found"
    return json.loads(match.group(1))


def query(path: Path, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(path), read_only=True) as connection:
        return connection.execute(sql, params or []).fetchall()


def frame(path: Path, sql: str, params: list | None = None) -> pd.DataFrame:
    with duckdb.connect(str(path), read_only=True) as connection:
        return connection.execute(sql, params or []).fetchdf()


def as_date(value) -> dt.date:
    return value.date() if isinstance(value, dt.datetime) else value


def mon(day: dt.date) -> str:
    return day.strftime("%b %Y")


def title(fig: dict) -> str:
    return fig["layout"]["title"]["text"].replace("<br>", " ")


def pct(value: float) -> str:
    return f"{value:.0%}"

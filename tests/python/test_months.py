"""The one month helper (demand_forecast.months)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from demand_forecast.months import (
    add_months,
    month_number,
    month_numbers,
    month_start,
    months_between,
    parse_month,
    previous_month,
)


@pytest.mark.parametrize(
    ("start", "k", "expected"),
    [
        (dt.date(2026, 1, 1), -1, dt.date(2025, 12, 1)),
        (dt.date(2026, 12, 1), 1, dt.date(2027, 1, 1)),
        (dt.date(2026, 3, 1), -27, dt.date(2023, 12, 1)),
        (dt.date(2026, 3, 31), 0, dt.date(2026, 3, 1)),
    ],
)
def test_add_months_crosses_years_and_keeps_the_type(start, k, expected):
    assert add_months(start, k) == expected
    shifted = add_months(pd.Timestamp(start), k)
    assert isinstance(shifted, pd.Timestamp)
    assert shifted == pd.Timestamp(expected)


def test_month_numbers_are_consecutive_and_match_the_scalar_form():
    days = pd.to_datetime(["2025-11-15", "2025-12-01", "2026-01-31"])
    numbers = month_numbers(days)
    assert numbers.dtype == np.int64
    assert list(np.diff(numbers)) == [1, 1]
    assert numbers[0] == month_number(dt.date(2025, 11, 1))
    assert months_between(dt.date(2025, 11, 30), pd.Timestamp("2026-01-01")) == 2


def test_month_start_drops_day_and_time_zone():
    assert month_start("2026-05-17 13:00:00+02:00") == pd.Timestamp("2026-05-01")


@pytest.mark.parametrize("text", ["2026-13", "2026-00", "26-01", "2026/01", "", "2026-1", "2026-01-01"])
def test_parse_month_refuses_what_is_not_a_month(text):
    with pytest.raises(ValueError, match="YYYY-MM"):
        parse_month(text)


def test_parse_and_previous_month():
    assert parse_month(" 2026-09 ") == dt.date(2026, 9, 1)
    assert previous_month(dt.date(2026, 1, 15)) == dt.date(2025, 12, 1)

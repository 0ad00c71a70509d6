"""Month arithmetic, written once for the whole package.

A month is identified by its first day. ``month_number`` maps a date to ``year * 12 + month - 1``
(consecutive months are consecutive integers), the representation every vectorised computation
uses; :func:`add_months` shifts a month and keeps the input's type (``datetime.date`` or
``pandas.Timestamp``); :func:`parse_month` reads the ``YYYY-MM`` text users type.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import TypeVar

import numpy as np
import pandas as pd

MonthLike = TypeVar("MonthLike", dt.date, pd.Timestamp)

_MONTH_TEXT = re.compile(r"^(\d{4})-(\d{2})$")


def month_number(value: dt.date | pd.Timestamp) -> int:
    """``year * 12 + month - 1`` of one date."""
    return value.year * 12 + value.month - 1


def month_numbers(values) -> np.ndarray:
    """:func:`month_number` of many date-like values, as an int64 array."""
    ts = pd.to_datetime(pd.Series(values), errors="raise")
    return ts.dt.year.to_numpy(dtype=np.int64) * 12 + ts.dt.month.to_numpy(dtype=np.int64) - 1


def month_start(value) -> pd.Timestamp:
    """First day of the month of ``value`` as a Timestamp (no time zone)."""
    ts = pd.Timestamp(value)
    if ts.tzinfo is not None:
        ts = ts.tz_localize(None)
    return pd.Timestamp(year=ts.year, month=ts.month, day=1)


def add_months(month: MonthLike, k: int) -> MonthLike:
    """First day of the month ``k`` months after ``month`` (before it when ``k < 0``), same type as given."""
    year, month0 = divmod(month_number(month) + int(k), 12)
    if isinstance(month, pd.Timestamp):
        return pd.Timestamp(year=year, month=month0 + 1, day=1)
    return dt.date(year, month0 + 1, 1)


def months_between(start: dt.date | pd.Timestamp, end: dt.date | pd.Timestamp) -> int:
    """Whole months from ``start``'s month to ``end``'s month (negative when ``end`` is earlier)."""
    return month_number(end) - month_number(start)


def parse_month(text: str) -> dt.date:
    """``"YYYY-MM"`` as the first day of that month; a clear ``ValueError`` for anything else."""
    match = _MONTH_TEXT.match(str(text).strip())
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise ValueError(f"a month must be written YYYY-MM (e.g. 2026-09), got {text!r}")
    return dt.date(int(match.group(1)), int(match.group(2)), 1)


def previous_month(today: dt.date | None = None) -> dt.date:
    """The calendar month before ``today``'s (default: the real today)."""
    return add_months((today or dt.date.today()).replace(day=1), -1)

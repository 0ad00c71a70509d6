"""Reading a user's file for the importer: the file itself, text, dates and numbers, each failing
with an :class:`ImportValidationError` that names the file, the row and the column.

Shared by :mod:`demand_forecast.data.importer` (the sales file) and
:mod:`demand_forecast.data.optional_inputs` (stock, purchase order and ordering rule files).
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$")
ISO_MONTH = re.compile(r"^\d{4}-\d{2}$")


class ImportValidationError(ValueError):
    """The input file cannot be imported; the message names file, row and column."""


def problem(path: Path, rows: np.ndarray, col: str, flag: str, what: str, values: list) -> ImportValidationError:
    row = int(rows[0])
    more = f" ({len(rows) - 1} more bad row(s) in this column)" if len(rows) > 1 else ""
    return ImportValidationError(
        f"{path.name}: row {row}, column '{col}' ({flag}): {what}: {values[0]!r}{more}. "
        f"Rows are counted from 1 = first data row after the header. File: {path}"
    )


def read_table_file(path: Path) -> pd.DataFrame:
    name = path.name.lower()
    try:
        if name.endswith((".parquet", ".pq")):
            return pq.read_table(path).to_pandas()
        if name.endswith((".csv", ".csv.gz", ".txt", ".tsv")):
            sep = "\t" if name.endswith(".tsv") else ","
            return pd.read_csv(path, dtype=str, keep_default_na=False, sep=sep)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise ImportValidationError(f"{path.name}: cannot read the file: {exc}. File: {path}") from exc
    raise ImportValidationError(
        f"{path.name}: unsupported file type (use .csv, .csv.gz, .tsv or .parquet). File: {path}"
    )


def as_text(series: pd.Series) -> pd.Series:
    """Text with missing values as ''."""
    out = series.astype(object).where(series.notna(), "")
    return out.map(lambda v: v if isinstance(v, str) else str(v)).str.strip()


def parse_dates(path: Path, series: pd.Series, col: str, date_format: str | None) -> pd.Series:
    """Return datetime64 dates (midnight); raise on the first unparseable value."""
    non_null = series.dropna()
    if pd.api.types.is_datetime64_any_dtype(series):
        parsed = pd.to_datetime(series)
        if getattr(parsed.dt, "tz", None) is not None:
            parsed = parsed.dt.tz_localize(None)
    elif len(non_null) and all(isinstance(v, dt.date) for v in non_null):
        # parquet date32 columns arrive as datetime.date objects
        parsed = pd.to_datetime(series.astype(object), errors="coerce")
    else:
        text = as_text(series)
        if date_format:
            parsed = pd.to_datetime(text, format=date_format, errors="coerce")
        else:
            iso = text.str.match(ISO_DATE)
            month = text.str.match(ISO_MONTH)
            candidate = text.where(~month, text + "-01").str.slice(0, 10)
            parsed = pd.to_datetime(candidate.where(iso | month, None), format="%Y-%m-%d", errors="coerce")
    parsed = pd.Series(parsed, index=series.index)
    bad = np.flatnonzero(parsed.isna().to_numpy())
    if len(bad):
        hint = f"expected format {date_format!r}" if date_format else "expected YYYY-MM-DD or YYYY-MM"
        raise problem(path, bad + 1, col, "--date-col", f"cannot parse date ({hint})", [series.iloc[bad[0]]])
    return parsed.dt.normalize().astype("datetime64[us]")


def parse_numbers(path: Path, series: pd.Series, col: str, flag: str, what: str) -> np.ndarray:
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        values = series.to_numpy(dtype=float, na_value=np.nan)
    else:
        text = as_text(series)
        values = pd.to_numeric(text.where(text != "", None), errors="coerce").to_numpy(dtype=float)
    bad = np.flatnonzero(~np.isfinite(values))
    if len(bad):
        raise problem(path, bad + 1, col, flag, f"{what} is not a number", [series.iloc[bad[0]]])
    return values

"""Optional files of ``demand-forecast import``: stock on hand, purchase orders, ordering rules.

Each is a CSV or parquet file read and checked like the sales file (errors name the file, the 1-based
data row and the column; nothing is written before every file passed) and becomes one raw contract
folder (docs/contracts.md):

``--stock FILE``            one row per product and day -> ``stock_snapshots/``
    columns: the product id (``--id-col`` of the sales file, or ``product_id``), ``snapshot_date`` (or
    ``date``), ``on_hand_qty`` (a whole number >= 0).
``--purchase-orders FILE``  one row per order line -> ``purchase_orders/``
    columns: the product id, ``order_date``, ``expected_arrival_month`` (``YYYY-MM`` or a date),
    ``quantity`` (a whole number > 0); optional ``purchase_order_id`` (default ``PO<row>``), ``status``
    (open | received | cancelled, default open), ``received_date``.
``--ordering-rules FILE``   one row per product -> ``ordering_rules/``
    columns: the product id, ``pack_size`` (a whole number >= 1); optional ``min_order_qty`` (>= 0,
    default 0), ``unit_cost``, ``holding_cost_rate``.

Every product id must be a series of the sales file. ``loaded_at`` is the day after a snapshot's day
and the day after an order was placed (so a replay of an earlier as-of month sees what was known
then), and for ordering rules the sales file's last load time.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from .contract import (
    ORDERING_RULES_SCHEMA,
    PURCHASE_ORDER_STATUSES,
    PURCHASE_ORDERS_SCHEMA,
    SNAPSHOT_SCHEMA,
)
from .reading import ImportValidationError, as_text, parse_dates, parse_numbers, problem, read_table_file

#: folder written for each option
FOLDERS = {"stock": "stock_snapshots", "purchase_orders": "purchase_orders", "ordering_rules": "ordering_rules"}


def _column(path: Path, df: pd.DataFrame, names: tuple[str, ...], flag: str, required: bool = True) -> str | None:
    for name in names:
        if name in df.columns:
            return name
    if not required:
        return None
    raise ImportValidationError(
        f"{path.name}: header row, column '{names[0]}' ({flag}): column not found"
        f"{' (also tried ' + ', '.join(repr(n) for n in names[1:]) + ')' if len(names) > 1 else ''}; "
        f"columns present: {', '.join(map(str, df.columns)) or '(none)'}. File: {path}"
    )


def _ids(path: Path, df: pd.DataFrame, col: str, flag: str, known: set[str]) -> np.ndarray:
    ids = as_text(df[col])
    empty = np.flatnonzero((ids == "").to_numpy())
    if len(empty):
        raise problem(path, empty + 1, col, flag, "empty product id", [df[col].iloc[empty[0]]])
    unknown = np.flatnonzero(~ids.isin(known).to_numpy())
    if len(unknown):
        raise problem(
            path, unknown + 1, col, flag, "product id is not a series of the sales file", [ids.iloc[unknown[0]]]
        )
    return ids.to_numpy(dtype=object)


def _numbers(path: Path, df: pd.DataFrame, col: str, flag: str, what: str) -> np.ndarray:
    """Numbers of a column; an empty cell is NaN, anything else that is not a number an error."""
    text = as_text(df[col])
    values = pd.to_numeric(text.where(text != "", None), errors="coerce").to_numpy(dtype=float)
    bad = np.flatnonzero((text != "").to_numpy() & ~np.isfinite(values))
    if len(bad):
        raise problem(path, bad + 1, col, flag, f"{what} is not a number", [df[col].iloc[bad[0]]])
    return values


def _whole(path: Path, df: pd.DataFrame, col: str, flag: str, minimum: int, default: int | None = None) -> np.ndarray:
    """Whole numbers >= ``minimum``; with a ``default``, empty cells take it (else they are an error)."""
    if default is None:
        values = parse_numbers(path, df[col], col, flag, col)
    else:
        values = _numbers(path, df, col, flag, col)
        values = np.where(np.isnan(values), float(default), values)
    bad = np.flatnonzero((values != np.round(values)) | (values < minimum))
    if len(bad):
        raise problem(path, bad + 1, col, flag, f"not a whole number >= {minimum}", [df[col].iloc[bad[0]]])
    return values.astype(np.int64)


def _read_nonempty(path: Path) -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise ImportValidationError(f"{path.name}: file not found: {path}")
    df = read_table_file(path)
    df.columns = [str(c) for c in df.columns]
    if len(df) == 0:
        raise ImportValidationError(f"{path.name}: row 1: the file has a header but no data rows. File: {path}")
    return df


def _day_array(dates: pd.Series) -> pa.Array:
    return pa.array(dates.to_numpy().astype("datetime64[D]"), pa.date32())


def _next_day(dates: pd.Series) -> pa.Array:
    return pa.array(dates.to_numpy().astype("datetime64[us]") + np.timedelta64(1, "D"), pa.timestamp("us"))


def read_stock(path: Path, id_col: str, known: set[str], loaded_at: np.datetime64) -> pa.Table:
    """``--stock``: end-of-day units on hand per product and day."""
    df = _read_nonempty(path)
    idc = _column(path, df, (id_col, "product_id"), "--stock product id")
    datec = _column(path, df, ("snapshot_date", "date"), "--stock snapshot_date")
    qtyc = _column(path, df, ("on_hand_qty",), "--stock on_hand_qty")
    ids = _ids(path, df, idc, "--stock", known)
    dates = parse_dates(path, df[datec], datec, None)
    qty = _whole(path, df, qtyc, "--stock", 0)
    key = pd.DataFrame({"id": ids, "date": dates.to_numpy()})
    dup = np.flatnonzero(key.duplicated().to_numpy())
    if len(dup):
        raise problem(
            path, dup + 1, datec, "--stock", "second snapshot of the same product and day", [df[datec].iloc[dup[0]]]
        )
    return pa.table(
        {
            "snapshot_date": _day_array(dates),
            "product_id": pa.array(ids.tolist(), pa.string()),
            "on_hand_qty": pa.array(qty.astype(np.int32), pa.int32()),
            "loaded_at": _next_day(dates),
        },
        schema=SNAPSHOT_SCHEMA,
    )


def read_purchase_orders(path: Path, id_col: str, known: set[str], loaded_at: np.datetime64) -> pa.Table:
    """``--purchase-orders``: order lines to suppliers (open and past)."""
    df = _read_nonempty(path)
    idc = _column(path, df, (id_col, "product_id"), "--purchase-orders product id")
    ids = _ids(path, df, idc, "--purchase-orders", known)
    orderc = _column(path, df, ("order_date",), "--purchase-orders order_date")
    arrivalc = _column(path, df, ("expected_arrival_month",), "--purchase-orders expected_arrival_month")
    qtyc = _column(path, df, ("quantity",), "--purchase-orders quantity")
    order_date = parse_dates(path, df[orderc], orderc, None)
    arrival = parse_dates(path, df[arrivalc], arrivalc, None).dt.to_period("M").dt.to_timestamp()
    qty = _whole(path, df, qtyc, "--purchase-orders", 1)
    statusc = _column(path, df, ("status",), "", required=False)
    status = as_text(df[statusc]).str.lower() if statusc else pd.Series("open", index=df.index)
    status = status.where(status != "", "open")
    bad = np.flatnonzero(~status.isin(PURCHASE_ORDER_STATUSES).to_numpy())
    if len(bad):
        raise problem(
            path,
            bad + 1,
            statusc,
            "--purchase-orders",
            "status is not open, received or cancelled",
            [df[statusc].iloc[bad[0]]],
        )
    receivedc = _column(path, df, ("received_date",), "", required=False)
    received = pd.Series(pd.NaT, index=df.index, dtype="datetime64[us]")
    if receivedc:
        text = as_text(df[receivedc])
        parsed = parse_dates(
            path, text.where(text != "", "1970-01-01"), receivedc, None
        )  # placeholder: row numbers stay
        received = parsed.where(text != "")
    idcol = _column(path, df, ("purchase_order_id",), "", required=False)
    po_ids = as_text(df[idcol]) if idcol else pd.Series("", index=df.index)
    po_ids = po_ids.where(po_ids != "", pd.Series([f"PO{i + 1}" for i in range(len(df))], index=df.index))
    return pa.table(
        {
            "purchase_order_id": pa.array(po_ids.tolist(), pa.string()),
            "product_id": pa.array(ids.tolist(), pa.string()),
            "order_date": _day_array(order_date),
            "expected_arrival_month": _day_array(arrival),
            "quantity": pa.array(qty, pa.int64()),
            "status": pa.array(status.tolist(), pa.string()),
            "received_date": pa.array(
                received.to_numpy().astype("datetime64[D]"), pa.date32(), mask=received.isna().to_numpy()
            ),
            "loaded_at": _next_day(order_date),
        },
        schema=PURCHASE_ORDERS_SCHEMA,
    )


def read_ordering_rules(path: Path, id_col: str, known: set[str], loaded_at: np.datetime64) -> pa.Table:
    """``--ordering-rules``: pack size, minimum order, unit cost, holding cost rate per product."""
    df = _read_nonempty(path)
    idc = _column(path, df, (id_col, "product_id"), "--ordering-rules product id")
    ids = _ids(path, df, idc, "--ordering-rules", known)
    dup = np.flatnonzero(pd.Series(ids).duplicated().to_numpy())
    if len(dup):
        raise problem(path, dup + 1, idc, "--ordering-rules", "second rule for the same product", [ids[dup[0]]])
    pack = _whole(path, df, _column(path, df, ("pack_size",), "--ordering-rules pack_size"), "--ordering-rules", 1)
    moqc = _column(path, df, ("min_order_qty",), "", required=False)
    moq = _whole(path, df, moqc, "--ordering-rules", 0, default=0) if moqc else np.zeros(len(df), np.int64)

    def optional_number(name: str) -> pa.Array:
        col = _column(path, df, (name,), "", required=False)
        if col is None:
            return pa.nulls(len(df), pa.float64())
        values = _numbers(path, df, col, "--ordering-rules", name)
        negative = np.flatnonzero(values < 0)
        if len(negative):
            raise problem(
                path, negative + 1, col, "--ordering-rules", f"{name} is negative", [df[col].iloc[negative[0]]]
            )
        return pa.array(values, pa.float64(), mask=np.isnan(values))

    return pa.table(
        {
            "product_id": pa.array(ids.tolist(), pa.string()),
            "pack_size": pa.array(pack, pa.int64()),
            "min_order_qty": pa.array(moq, pa.int64()),
            "unit_cost": optional_number("unit_cost"),
            "holding_cost_rate": optional_number("holding_cost_rate"),
            "loaded_at": pa.array(np.full(len(df), loaded_at), pa.timestamp("us")),
        },
        schema=ORDERING_RULES_SCHEMA,
    )


READERS = {"stock": read_stock, "purchase_orders": read_purchase_orders, "ordering_rules": read_ordering_rules}


def read_optional_files(files: dict[str, str | Path | None], id_col: str, products: pa.Table) -> dict[str, pa.Table]:
    """Check and convert every given optional file (``stock``, ``purchase_orders``, ``ordering_rules``).

    ``products``: the products table of the import. Returns the tables by raw folder name; a file not
    given is left out.
    """
    known = set(products.column("product_id").to_pylist())
    last_loaded = products.column("loaded_at").to_numpy().astype("datetime64[us]").max()
    out = {}
    for key, path in files.items():
        if path is None:
            continue
        out[FOLDERS[key]] = READERS[key](Path(path), id_col, known, last_loaded)
    return out

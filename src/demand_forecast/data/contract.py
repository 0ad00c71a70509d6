"""The raw data contract in code: the Arrow schemas of the three raw sources and of the optional
purchasing inputs (docs/contracts.md), and the check the batch runs on every raw file before it
builds anything.

The generator and the importer both write exactly these schemas. ``products.sales_grain`` is an
optional column: ``day`` (each sales line is a sale on its date, the default when the column is
absent or empty) or ``month`` (each line is a whole month's total, as the importer writes monthly
data); the cleaning judges a line against lines of the same grain.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

SOURCES = ("sales_lines", "products", "stock_snapshots")

SALES_SCHEMA = pa.schema(
    [
        ("line_id", pa.string()),
        ("sale_date", pa.string()),
        ("product_id", pa.string()),
        ("quantity", pa.string()),
        ("unit_price", pa.string()),
        ("loaded_at", pa.timestamp("us")),
    ]
)
PRODUCTS_SCHEMA = pa.schema(
    [
        ("product_id", pa.string()),
        ("product_name", pa.string()),
        ("product_group", pa.string()),
        ("category", pa.string()),
        ("launch_date", pa.date32()),
        ("discontinued_date", pa.date32()),
        ("list_price", pa.float64()),
        ("loaded_at", pa.timestamp("us")),
    ]
)
SNAPSHOT_SCHEMA = pa.schema(
    [
        ("snapshot_date", pa.date32()),
        ("product_id", pa.string()),
        ("on_hand_qty", pa.int32()),
        ("loaded_at", pa.timestamp("us")),
    ]
)

# Optional sources (docs/contracts.md "Purchasing inputs"): a folder may be absent or empty; the
# pipeline then reads an empty table with these columns (macros/optional_raw_source.sql).
OPTIONAL_SOURCES = ("purchase_orders", "ordering_rules")

PURCHASE_ORDERS_SCHEMA = pa.schema(
    [
        ("purchase_order_id", pa.string()),
        ("product_id", pa.string()),
        ("order_date", pa.date32()),
        ("expected_arrival_month", pa.date32()),
        ("quantity", pa.int64()),
        ("status", pa.string()),
        ("received_date", pa.date32()),
        ("loaded_at", pa.timestamp("us")),
    ]
)
ORDERING_RULES_SCHEMA = pa.schema(
    [
        ("product_id", pa.string()),
        ("pack_size", pa.int64()),
        ("min_order_qty", pa.int64()),
        ("unit_cost", pa.float64()),
        ("holding_cost_rate", pa.float64()),
        ("loaded_at", pa.timestamp("us")),
    ]
)
#: Values of purchase_orders.status.
PURCHASE_ORDER_STATUSES = ("open", "received", "cancelled")
REQUIRED_COLUMNS = {
    "sales_lines": tuple(SALES_SCHEMA.names),
    "products": tuple(PRODUCTS_SCHEMA.names),
    "stock_snapshots": tuple(SNAPSHOT_SCHEMA.names),
    "purchase_orders": tuple(PURCHASE_ORDERS_SCHEMA.names),
    "ordering_rules": tuple(ORDERING_RULES_SCHEMA.names),
}
#: Columns a source may carry or leave out.
OPTIONAL_COLUMNS = {
    "sales_lines": (),
    "products": ("sales_grain",),
    "stock_snapshots": (),
    "purchase_orders": (),
    "ordering_rules": (),
}
SALES_GRAINS = ("day", "month")


def products_schema(sales_grain: bool) -> pa.Schema:
    """The products schema, with the optional ``sales_grain`` column when asked for."""
    return PRODUCTS_SCHEMA.append(pa.field("sales_grain", pa.string())) if sales_grain else PRODUCTS_SCHEMA


def _file_columns(path: Path) -> list[str]:
    """The column names of one raw file; raises ValueError when the file cannot be read as its type."""
    if path.suffix == ".parquet":
        try:
            return list(pq.read_schema(path).names)
        except (OSError, pa.ArrowException) as exc:
            raise ValueError(f"not a readable parquet file (truncated or corrupt?): {exc}") from exc
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            header = next(csv.reader(fh), None)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ValueError(f"not a readable UTF-8 CSV file: {exc}") from exc
    if not header:
        raise ValueError("the CSV file is empty: it has no header row")
    return [name.strip() for name in header]


def _column_problem(source: str, columns: Iterable[str]) -> str | None:
    present = list(columns)
    required = REQUIRED_COLUMNS[source]
    allowed = set(required) | set(OPTIONAL_COLUMNS[source])
    missing = [c for c in required if c not in present]
    extra = [c for c in present if c not in allowed]
    duplicated = sorted({c for c in present if present.count(c) > 1})
    parts = []
    if missing:
        parts.append("missing column " + ", ".join(f"'{c}'" for c in missing))
    if extra:
        parts.append("column " + ", ".join(f"'{c}'" for c in extra) + " not in the contract")
    if duplicated:
        parts.append("column " + ", ".join(f"'{c}'" for c in duplicated) + " repeated")
    if not parts:
        return None
    renamed = " (renamed?)" if missing and extra else ""
    return "; ".join(parts) + renamed


def _duplicate_products(path: Path) -> str | None:
    """A product id that appears twice in one products file (a file is one load of the master)."""
    table = pq.read_table(path, columns=["product_id"]) if path.suffix == ".parquet" else None
    if table is None:
        with path.open(newline="", encoding="utf-8") as fh:
            ids = [row.get("product_id") for row in csv.DictReader(fh)]
    else:
        ids = table.column("product_id").to_pylist()
    seen: set = set()
    repeated = []
    for product in ids:
        if product is None or str(product).strip() == "":
            continue
        key = str(product).strip()
        if key in seen:
            repeated.append(key)
        seen.add(key)
    if not repeated:
        return None
    shown = ", ".join(f"'{p}'" for p in sorted(set(repeated))[:5])
    return f"product_id {shown} appears more than once ({len(repeated)} repeated rows)"


def check_raw_files(raw: Path, fmt: str = "parquet") -> list[str]:
    """Problems of the raw folder against the contract, one line per bad file (empty: all good).

    Each source folder must hold at least one ``*.<fmt>`` file (an optional source's folder may be
    absent or empty); every file must be readable and carry exactly the contract's columns (the
    optional ones may be absent); a products file must not list a product twice. Only headers and
    parquet footers are read, plus the products ids.
    """
    suffix = ".csv" if fmt == "csv" else ".parquet"
    problems = []
    for source in SOURCES + OPTIONAL_SOURCES:
        folder = raw / source
        files = sorted(folder.glob(f"*{suffix}")) if folder.is_dir() else []
        if not files and source in OPTIONAL_SOURCES:
            continue
        if not files:
            problems.append(f"{folder}: no *{suffix} file (DEMAND_RAW_FORMAT={fmt}); is the raw data there?")
            continue
        for path in files:
            try:
                problem = _column_problem(source, _file_columns(path))
                if problem is None and source == "products":
                    problem = _duplicate_products(path)
            except (ValueError, OSError, pa.ArrowException) as exc:
                problem = str(exc)
            if problem:
                problems.append(f"{source}/{path.name}: {problem} (file {path})")
    return problems

"""The raw data contract in code: the Arrow schemas of the three raw sources (README "Raw data
contract", docs/contracts.md). The generator and the importer both write exactly these."""

from __future__ import annotations

import pyarrow as pa

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

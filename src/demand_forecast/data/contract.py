"""The raw data contract in code: the Arrow schemas of the three raw sources (README "Raw data
contract", docs/contracts.md) and of the optional purchasing inputs. The generator and the importer
both write exactly these."""

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

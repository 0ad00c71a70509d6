"""Writing the generated tables: raw parts (parquet or CSV), the product files, a clean output folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ..data.contract import PRODUCTS_SCHEMA
from .columns import product_ids, timestamp_text
from .world import DEMAND_TYPES, GROUPS, Calendar


def write_table(table: pa.Table, path_no_ext: Path, fmt: str) -> None:
    if fmt == "parquet":
        # unique ids gain nothing from dictionary encoding
        dictionary = [f.name for f in table.schema if f.name != "line_id"]
        pq.write_table(table, str(path_no_ext) + ".parquet", use_dictionary=dictionary)
        return
    cols = {}
    for field in table.schema:
        col = table.column(field.name).combine_chunks()
        if pa.types.is_timestamp(field.type):
            ts = col.cast(pa.int64()).to_numpy(zero_copy_only=False)
            col = timestamp_text(ts)
        cols[field.name] = col
    pacsv.write_csv(pa.table(cols), str(path_no_ext) + ".csv", write_options=pacsv.WriteOptions(quoting_style="needed"))


def clean_output(out: Path) -> None:
    for src in ("sales_lines", "products", "stock_snapshots", "purchase_orders", "ordering_rules"):
        folder = out / "raw" / src
        folder.mkdir(parents=True, exist_ok=True)
        for f in folder.iterdir():
            if f.is_file() and f.suffix in (".parquet", ".csv"):
                f.unlink()
    truth = out / "truth"
    truth.mkdir(parents=True, exist_ok=True)
    for f in truth.iterdir():
        if f.is_file() and f.suffix in (".parquet", ".json"):
            f.unlink()


def products_tables(prod: dict, cal: Calendar, stockout_days: np.ndarray) -> tuple[pa.Table, pa.Table]:
    """``products`` (raw) and ``products_truth``; ``stockout_days`` per product from the ordering simulation."""
    n = prod["n"]
    numbers = np.arange(1, n + 1)
    pids = product_ids(numbers)
    groups = [GROUPS[g][0] for g in prod["group"]]
    cats = [GROUPS[g][1][c] for g, c in zip(prod["group"], prod["cat_idx"], strict=False)]
    names = [f"{c} item {i:06d}" for c, i in zip(cats, numbers, strict=False)]
    launch = (prod["launch"] + cal.start_epoch).astype(np.int32)
    disc = pa.array((prod["disc_day"] + cal.start_epoch).astype(np.int32), pa.date32(), mask=~prod["discontinued"])
    products = pa.table(
        {
            "product_id": pids,
            "product_name": pa.array(names, pa.string()),
            "product_group": pa.array(groups, pa.string()),
            "category": pa.array(cats, pa.string()),
            "launch_date": pa.array(launch, pa.date32()),
            "discontinued_date": disc,
            "list_price": pa.array(prod["list_cents"] / 100.0),
            "loaded_at": pa.array(np.full(n, cal.extract_us), pa.timestamp("us")),
        },
        schema=PRODUCTS_SCHEMA,
    )
    truth = pa.table(
        {
            "product_id": pids,
            "product_group": pa.array(groups, pa.string()),
            "category": pa.array(cats, pa.string()),
            "demand_type": pa.array([DEMAND_TYPES[k] for k in prod["dtype_idx"]], pa.string()),
            "launch_date": pa.array(launch, pa.date32()),
            "discontinued_date": disc,
            "active_from": pa.array((prod["active_from"] + cal.start_epoch).astype(np.int32), pa.date32()),
            "active_to": pa.array((prod["active_to"] + cal.start_epoch).astype(np.int32), pa.date32()),
            "is_cold_start": pa.array(prod["cold"]),
            "launched_last_3_months": pa.array(prod["recent"]),
            "is_discontinued": pa.array(prod["discontinued"]),
            "has_stockout": pa.array(stockout_days > 0),
            "stockout_days": pa.array(stockout_days.astype(np.int64)),
            "order_cover": pa.array(prod["cover"]),
            "has_outlier": pa.array(prod["has_outlier"]),
            "list_price": pa.array(prod["list_cents"] / 100.0),
            "level": pa.array(prod["level"]),
            "lumpy_order_size": pa.array(np.where(prod["dtype_idx"] == 3, prod["lumpy_size"], np.nan)),
            "trend_per_year": pa.array(prod["trend"]),
            "season_amplitude": pa.array(prod["amplitude"]),
        }
    )
    return products, truth

"""`demand-forecast import` with the optional stock, purchase order and ordering rule files."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from demand_forecast.data.contract import ORDERING_RULES_SCHEMA, PURCHASE_ORDERS_SCHEMA, SNAPSHOT_SCHEMA
from demand_forecast.data.importer import ImportValidationError, import_file, main

FIXTURES = Path(__file__).parent / "fixtures"
DAILY = FIXTURES / "import_daily.csv"  # series A-1 and B-2 (id column "sku"), January and February 2024
OPTIONS = dict(id_col="sku", date_col="day", qty_col="units")


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    return {
        "stock": _write(
            tmp_path,
            "stock.csv",
            "sku,snapshot_date,on_hand_qty\nA-1,2024-02-29,12\nB-2,2024-02-29,0\nA-1,2024-01-31,3\n",
        ),
        "purchase_orders": _write(
            tmp_path,
            "orders.csv",
            "purchase_order_id,sku,order_date,expected_arrival_month,quantity,status,received_date\n"
            "X1,A-1,2024-01-03,2024-03,24,open,\n"
            "X2,B-2,2023-12-02,2024-02,10,received,2024-02-03\n"
            ",B-2,2024-02-02,2024-04-01,6,,\n",
        ),
        "ordering_rules": _write(
            tmp_path, "rules.csv", "sku,pack_size,min_order_qty,unit_cost\nA-1,12,24,6.5\nB-2,1,,\n"
        ),
    }


def test_optional_files_become_contract_folders(tmp_path, files):
    out = tmp_path / "data"
    summary = import_file(DAILY, out, **OPTIONS, **files)
    raw = out / "raw"
    assert sorted(p.name for p in raw.iterdir()) == [
        "import_manifest.json",
        "ordering_rules",
        "products",
        "purchase_orders",
        "sales_lines",
        "stock_snapshots",
    ]
    assert summary["stock_snapshots"].startswith("3 rows from ") and summary["purchase_orders"].startswith("3 rows")

    stock = pq.read_table(raw / "stock_snapshots")
    assert stock.schema == SNAPSHOT_SCHEMA
    stock = stock.to_pandas().sort_values(["product_id", "snapshot_date"]).reset_index(drop=True)
    assert stock["on_hand_qty"].tolist() == [3, 12, 0]
    assert stock["loaded_at"].iloc[0] == pd.Timestamp("2024-02-01")  # the day after the snapshot

    orders = pq.read_table(raw / "purchase_orders")
    assert orders.schema == PURCHASE_ORDERS_SCHEMA
    orders = orders.to_pandas()
    assert orders["purchase_order_id"].tolist() == ["X1", "X2", "PO3"]  # a missing id: PO + the row number
    assert orders["expected_arrival_month"].tolist() == [dt.date(2024, 3, 1), dt.date(2024, 2, 1), dt.date(2024, 4, 1)]
    assert orders["status"].tolist() == ["open", "received", "open"]  # an empty status is open
    assert orders["received_date"].iloc[1] == dt.date(2024, 2, 3) and pd.isna(orders["received_date"].iloc[0])
    assert orders["loaded_at"].iloc[0] == pd.Timestamp("2024-01-04")  # known the day after it was placed

    rules = pq.read_table(raw / "ordering_rules")
    assert rules.schema == ORDERING_RULES_SCHEMA
    rules = rules.to_pandas().set_index("product_id")
    assert rules.loc["A-1", ["pack_size", "min_order_qty", "unit_cost"]].tolist() == [12, 24, 6.5]
    assert rules.loc["B-2", "min_order_qty"] == 0 and pd.isna(rules.loc["B-2", "unit_cost"])


@pytest.mark.parametrize(
    ("key", "text", "pattern"),
    [
        ("stock", "sku,snapshot_date,on_hand_qty\nZ-9,2024-02-29,1\n", r"row 1, column 'sku'.*not a series"),
        ("stock", "sku,date,on_hand_qty\nA-1,2024-02-29,1\nA-1,2024-02-29,2\n", r"row 2, column 'date'.*second"),
        ("stock", "sku,snapshot_date,on_hand_qty\nA-1,2024-02-29,-4\n", r"row 1, column 'on_hand_qty'.*>= 0"),
        ("stock", "sku,snapshot_date\nA-1,2024-02-29\n", r"column 'on_hand_qty'.*column not found"),
        (
            "purchase_orders",
            "sku,order_date,expected_arrival_month,quantity\nA-1,2024-01-03,2024-03,0\n",
            r"row 1, column 'quantity'.*whole number >= 1",
        ),
        (
            "purchase_orders",
            "sku,order_date,expected_arrival_month,quantity,status\nA-1,2024-01-03,2024-03,5,shipped\n",
            r"row 1, column 'status'.*not open, received or cancelled.*'shipped'",
        ),
        (
            "purchase_orders",
            "sku,order_date,expected_arrival_month,quantity\nA-1,2024-01-03,March,5\n",
            r"row 1, column 'expected_arrival_month'.*cannot parse date",
        ),
        ("ordering_rules", "sku,pack_size\nA-1,0\n", r"row 1, column 'pack_size'.*whole number >= 1"),
        ("ordering_rules", "sku,pack_size\nA-1,6\nA-1,12\n", r"row 2, column 'sku'.*second rule"),
        ("ordering_rules", "sku,pack_size,unit_cost\nA-1,6,-2\n", r"row 1, column 'unit_cost'.*negative"),
    ],
)
def test_bad_optional_files_are_rejected_and_nothing_is_written(tmp_path, key, text, pattern):
    out = tmp_path / "data"
    import_file(DAILY, out, **OPTIONS)
    before = sorted(p.name for p in (out / "raw").iterdir())
    bad = _write(tmp_path, f"bad_{key}.csv", text)
    with pytest.raises(ImportValidationError, match=pattern):
        import_file(DAILY, out, **OPTIONS, **{key: bad})
    assert sorted(p.name for p in (out / "raw").iterdir()) == before


def test_reimport_without_purchase_files_removes_the_old_ones(tmp_path, files):
    out = tmp_path / "data"
    import_file(DAILY, out, **OPTIONS, **files)
    import_file(DAILY, out, **OPTIONS)
    names = sorted(p.name for p in (out / "raw").iterdir())
    assert "purchase_orders" not in names and "ordering_rules" not in names
    assert pq.read_table(out / "raw" / "stock_snapshots").num_rows == 0


def test_cli_flags(tmp_path, files):
    out = tmp_path / "data"
    argv = ["--input", str(DAILY), "--out", str(out), "--id-col", "sku", "--date-col", "day", "--qty-col", "units"]
    argv += ["--stock", str(files["stock"]), "--purchase-orders", str(files["purchase_orders"])]
    argv += ["--ordering-rules", str(files["ordering_rules"]), "--format", "csv"]
    assert main(argv) == 0
    header = (out / "raw" / "purchase_orders" / "part-00000.csv").read_text().splitlines()[0].replace('"', "")
    assert header == ",".join(PURCHASE_ORDERS_SCHEMA.names)
    assert main([*argv[:8], "--stock", str(tmp_path / "missing.csv")]) == 2


def test_errors_name_the_row_of_the_file_even_after_empty_cells(tmp_path):
    out = tmp_path / "data"
    rules = _write(tmp_path, "rules.csv", "sku,pack_size,min_order_qty,unit_cost\nA-1,6,,\nB-2,6,,x\n")
    with pytest.raises(ImportValidationError, match=r"row 2, column 'unit_cost'.*'x'"):
        import_file(DAILY, out, **OPTIONS, ordering_rules=rules)
    orders = _write(
        tmp_path,
        "orders.csv",
        "sku,order_date,expected_arrival_month,quantity,received_date\n"
        "A-1,2024-01-03,2024-03,5,\nB-2,2024-01-03,2024-03,5,03/02/2024\n",
    )
    with pytest.raises(ImportValidationError, match=r"row 2, column 'received_date'.*'03/02/2024'"):
        import_file(DAILY, out, **OPTIONS, purchase_orders=orders)

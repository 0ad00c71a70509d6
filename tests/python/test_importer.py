"""Tests of the bring-your-own-data importer."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from demand_forecast.data.importer import ImportValidationError, import_file, main
from demand_forecast.synthetic import datagen

FIXTURES = Path(__file__).parent / "fixtures"
DAILY = FIXTURES / "import_daily.csv"
MONTHLY = FIXTURES / "import_monthly.csv"


def _sales(out: Path) -> pd.DataFrame:
    return (
        pq.read_table(out / "raw" / "sales_lines")
        .to_pandas()
        .sort_values("line_id", key=lambda s: s.str[1:].astype(int))
        .reset_index(drop=True)
    )


def _products(out: Path) -> pd.DataFrame:
    return pq.read_table(out / "raw" / "products").to_pandas().set_index("product_id")


def _daily_options() -> dict:
    return dict(
        id_col="sku", date_col="day", qty_col="units", group_col="family", category_col="subfamily", price_col="price"
    )


def test_daily_file(tmp_path):
    out = tmp_path / "data"
    summary = import_file(DAILY, out, **_daily_options())
    assert summary["frequency"] == "daily" and summary["rows"] == 7 and summary["series"] == 2
    assert summary["zero_rows_skipped"] == 1

    assert sorted(p.name for p in (out / "raw").iterdir()) == [
        "import_manifest.json",
        "products",
        "sales_lines",
        "stock_snapshots",
    ]
    schema = pq.read_schema(out / "raw" / "sales_lines" / "part-00000.parquet")
    assert schema.names == ["line_id", "sale_date", "product_id", "quantity", "unit_price", "loaded_at"]
    assert [str(t) for t in schema.types] == ["string"] * 5 + ["timestamp[us]"]

    sales = _sales(out)
    assert sales["line_id"].tolist() == ["R1", "R3", "R4", "R5", "R6", "R7"]  # row 2 has quantity 0
    assert sales["sale_date"].tolist() == [
        "2024-01-01",
        "2024-01-05",
        "2024-01-02",
        "2024-01-03",
        "2024-02-10",
        "2024-02-01",
    ]
    assert sales["quantity"].tolist() == ["3", "2", "7", "-1", "4", "5"]
    assert sales["unit_price"].tolist() == ["9.90", "10.50", "4.00", "4.00", "10.10", "4.20"]
    assert sales["loaded_at"].iloc[0] == pd.Timestamp("2024-01-02")  # the day after

    products = _products(out)
    assert products.loc["A-1", "launch_date"] == dt.date(2024, 1, 1)
    assert products.loc["B-2", "launch_date"] == dt.date(2024, 1, 2)
    assert products.loc["A-1", "product_group"] == "Tools"
    assert products.loc["A-1", "category"] == "Mallets"  # value of the latest row
    assert products.loc["B-2", "category"] == "Rollers"
    assert products.loc["A-1", "list_price"] == pytest.approx(10.0)  # median of 9.9, 9.9, 10.5, 10.1
    assert products["discontinued_date"].isna().all()

    snaps = pq.read_table(out / "raw" / "stock_snapshots")
    assert snaps.num_rows == 0
    assert snaps.schema.names == ["snapshot_date", "product_id", "on_hand_qty", "loaded_at"]
    manifest = json.loads((out / "raw" / "import_manifest.json").read_text())
    assert manifest["columns"]["price"] == "price" and manifest["frequency"] == "daily"

    # the pipeline can read it like generated data
    units = (
        duckdb.connect()
        .execute(f"select sum(cast(quantity as bigint)) from read_parquet('{out}/raw/sales_lines/*.parquet')")
        .fetchone()[0]
    )
    assert units == 20


def test_monthly_file_lines_on_first_of_month(tmp_path):
    out = tmp_path / "data"
    summary = import_file(MONTHLY, out, id_col="series_id")
    assert summary["frequency"] == "monthly"
    sales = _sales(out)
    assert sales["sale_date"].tolist() == ["2019-01-01", "2019-02-01", "2019-03-01", "2019-02-01", "2019-04-01"]
    assert sales["quantity"].tolist() == ["120", "95", "130", "40", "55"]
    assert sales["unit_price"].unique().tolist() == ["1.00"]  # default price: revenue = units
    # a month is known after it ends
    assert sales["loaded_at"].tolist()[:2] == [pd.Timestamp("2019-02-01"), pd.Timestamp("2019-03-01")]
    products = _products(out)
    assert products.loc["T2", "launch_date"] == dt.date(2019, 2, 1)
    assert products.loc["T1", "product_group"] == "all" and products.loc["T1", "category"] == "all"


def test_monthly_forced_maps_dates_to_first_of_month(tmp_path):
    src = tmp_path / "month_end.csv"
    src.write_text("product_id,date,quantity\nA,2024-01-31,5\nA,2024-02-29,6\nB,2024-02\t,7\n".replace("\t", ""))
    out = tmp_path / "data"
    summary = import_file(src, out, frequency="monthly")
    assert summary["frequency"] == "monthly"
    assert _sales(out)["sale_date"].tolist() == ["2024-01-01", "2024-02-01", "2024-02-01"]
    # two rows of the same month are duplicates for monthly data
    dup = tmp_path / "dup_month.csv"
    dup.write_text("product_id,date,quantity\nA,2024-01-05,5\nA,2024-01-20,6\n")
    with pytest.raises(ImportValidationError, match=r"row 2, columns 'product_id' \+ 'date'.*row 1"):
        import_file(dup, tmp_path / "other", frequency="monthly")
    assert not (tmp_path / "other").exists()


def test_parquet_input_with_date_column(tmp_path):
    src = tmp_path / "in.parquet"
    pq.write_table(
        pa.table(
            {
                "product_id": ["X", "X", "Y"],
                "date": pa.array([dt.date(2023, 5, 1), dt.date(2023, 5, 2), dt.date(2023, 5, 2)], pa.date32()),
                "quantity": pa.array([1, 2, 3], pa.int64()),
                "product_group": ["g1", "g1", "g2"],
            }
        ),
        src,
    )
    out = tmp_path / "data"
    summary = import_file(src, out, fmt="csv")
    assert summary["frequency"] == "daily" and summary["columns"]["group"] == "product_group"
    lines = (out / "raw" / "sales_lines" / "part-00000.csv").read_text().splitlines()
    assert lines[0].replace('"', "") == "line_id,sale_date,product_id,quantity,unit_price,loaded_at"
    assert lines[1].replace('"', "") == "R1,2023-05-01,X,1,1.00,2023-05-02T00:00:00"
    assert (out / "raw" / "products" / "products.csv").is_file()
    assert (out / "raw" / "stock_snapshots" / "part-00000.csv").read_text().strip().replace(
        '"', ""
    ) == "snapshot_date,product_id,on_hand_qty,loaded_at"


def test_non_integer_quantity_needs_rounding_flag(tmp_path):
    src = tmp_path / "frac.csv"
    src.write_text("product_id,date,quantity\nA,2024-01-01,1.5\nA,2024-01-02,2\n")
    with pytest.raises(ImportValidationError, match=r"frac\.csv: row 1, column 'quantity'.*whole number"):
        import_file(src, tmp_path / "data")
    assert not (tmp_path / "data").exists()
    import_file(src, tmp_path / "data", round_quantities=True)
    assert _sales(tmp_path / "data")["quantity"].tolist() == ["2", "2"]


@pytest.mark.parametrize(
    "name, options, pattern",
    [
        (
            "bad_missing_column.csv",
            {},
            r"bad_missing_column\.csv: header row, column 'quantity' \(--qty-col\): column not found",
        ),
        ("bad_date.csv", {}, r"bad_date\.csv: row 3, column 'date' \(--date-col\): cannot parse date.*'2024-13-40'"),
        (
            "bad_quantity.csv",
            {},
            r"bad_quantity\.csv: row 2, column 'quantity' \(--qty-col\): quantity is not a number: 'abc'",
        ),
        (
            "bad_duplicate.csv",
            {},
            r"bad_duplicate\.csv: row 4, columns 'product_id' \+ 'date'.*duplicate key.*'B'.*row 2",
        ),
        (
            "import_daily.csv",
            {"id_col": "sku", "date_col": "day", "qty_col": "units", "price_col": "cost"},
            r"import_daily\.csv: header row, column 'cost' \(--price-col\)",
        ),
    ],
)
def test_malformed_files_are_rejected_and_nothing_is_written(tmp_path, name, options, pattern):
    out = tmp_path / "data"
    with pytest.raises(ImportValidationError, match=pattern) as info:
        import_file(FIXTURES / name, out, **options)
    assert isinstance(info.value, ValueError)
    assert not out.exists()


def test_failed_import_leaves_existing_data_untouched(tmp_path):
    out = tmp_path / "data"
    import_file(MONTHLY, out, id_col="series_id")
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    with pytest.raises(ImportValidationError):
        import_file(FIXTURES / "bad_date.csv", out)
    after = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before


def test_cli_exit_codes(tmp_path, capsys):
    out = tmp_path / "data"
    rc = main(["--input", str(FIXTURES / "bad_quantity.csv"), "--out", str(out)])
    assert rc == 2
    err = capsys.readouterr().err
    assert "bad_quantity.csv" in err and "row 2" in err and "'quantity'" in err
    assert not out.exists()
    assert main(["--input", str(tmp_path / "missing.csv"), "--out", str(out)]) == 2
    assert "file not found" in capsys.readouterr().err
    rc = main(["--input", str(MONTHLY), "--out", str(out), "--id-col", "series_id"])
    assert rc == 0 and (out / "raw" / "sales_lines" / "part-00000.parquet").is_file()


def test_import_replaces_generated_data(tmp_path):
    out = tmp_path / "data"
    datagen.generate(out, products=12, years=1, end_date="2026-10-31", chunk_size=4, progress=False)
    assert len(list((out / "raw" / "sales_lines").iterdir())) == 3
    (out / "raw" / "notes.txt").write_text("keep me")
    import_file(DAILY, out, **_daily_options())
    assert [p.name for p in (out / "raw" / "sales_lines").iterdir()] == ["part-00000.parquet"]
    assert (out / "raw" / "notes.txt").read_text() == "keep me"
    assert not (out / "truth").exists()  # synthetic truth no longer describes the data
    assert not [p for p in (out / "raw").iterdir() if p.name.startswith(".import-")]
    assert len(_products(out)) == 2

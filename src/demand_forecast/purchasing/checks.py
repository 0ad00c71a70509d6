"""What stops an automatic order suggestion, in words purchasing can act on.

A product gets no automatic suggestion (status ``review``) when

* its selected forecast fails a sanity check -- the same rules as the dbt tests on ``fct_forecasts``
  (``tests/generic/forecast_sanity.sql``), applied per product so a suggestion never rests on the batch
  having stopped: a month of the lead time without a forecast; a null, non-finite or negative value;
  P10 <= P50 <= P90 violated; a P50 above ``max_multiple`` x the largest month so far (for a product
  with less than ``min_history_months`` of history: the largest month of any product of its group);
* its ordering rule cannot be used (pack size not a whole number >= 1, negative minimum order);
* one of its purchase order rows could not be read.

Unknown stock (no snapshot at the end of the as-of month) also blocks a suggestion; the policy says so
itself (see :func:`demand_forecast.purchasing.policy.suggest_orders`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def _fmt(value) -> str:
    """A number as people write it (0, 2.5, 1,200); anything else as its text."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return repr(value)
    if not np.isfinite(value):
        return str(value)
    if value.is_integer():
        return f"{value:,.0f}"
    return f"{value:,.0f}" if abs(value) >= 10 else f"{value:.2f}".rstrip("0").rstrip(".")


def forecast_issues(
    forecasts: pd.DataFrame,
    profiles: pd.DataFrame,
    lead_time_months: int,
    max_multiple: float = 5.0,
    min_history_months: int = 6,
) -> pd.Series:
    """Why the selected forecast of a product cannot be ordered from, per ``product_id`` (only failing ones).

    ``forecasts``: the selected forecast at the as-of month (``product_id, forecast_month, horizon,
    forecast_p10, forecast_p50, forecast_p90``); ``profiles``: ``int_series_profiles`` (``product_id,
    product_group, history_months, max_monthly_demand``). Products of ``profiles`` without any forecast
    row are reported too.
    """
    L = int(lead_time_months)
    fc = forecasts.loc[forecasts["horizon"].between(1, L)].copy()
    fc["month"] = pd.to_datetime(fc["forecast_month"]).dt.strftime("%Y-%m")
    prof = profiles.set_index("product_id")
    history = pd.to_numeric(prof["history_months"], errors="coerce").fillna(0)
    own_max = pd.to_numeric(prof["max_monthly_demand"], errors="coerce").fillna(0.0)
    group_max = own_max.groupby(prof["product_group"]).transform("max")
    reference = own_max.where(history >= min_history_months, group_max).clip(lower=1.0)

    issues: dict[str, list[str]] = {}

    def add(pid: str, text: str) -> None:
        issues.setdefault(pid, []).append(text)

    present = fc.groupby("product_id")["horizon"].apply(lambda h: set(h.astype(int)))
    for pid in prof.index.union(present.index):
        missing = sorted(set(range(1, L + 1)) - present.get(pid, set()))
        if missing:
            add(pid, f"the selected forecast lacks horizon(s) {', '.join(map(str, missing))} of the lead time")
    p10, p50, p90 = (
        pd.to_numeric(fc[c], errors="coerce").to_numpy(float) for c in ("forecast_p10", "forecast_p50", "forecast_p90")
    )
    finite = np.isfinite(p10) & np.isfinite(p50) & np.isfinite(p90)
    limit = fc["product_id"].map(reference).to_numpy(float) * max_multiple
    for i, pid in enumerate(fc["product_id"].to_numpy(dtype=object)):
        month = fc["month"].iloc[i]
        if not finite[i]:
            add(pid, f"the forecast for {month} is not a number")
        elif min(p10[i], p50[i], p90[i]) < 0:
            add(pid, f"the forecast for {month} is negative (P10 {_fmt(p10[i])}, P50 {_fmt(p50[i])})")
        elif not (p10[i] <= p50[i] <= p90[i]):
            add(
                pid,
                f"the quantiles for {month} are out of order "
                f"(P10 {_fmt(p10[i])}, P50 {_fmt(p50[i])}, P90 {_fmt(p90[i])})",
            )
        elif np.isfinite(limit[i]) and p50[i] > limit[i]:
            add(
                pid,
                f"the forecast for {month} (P50 {_fmt(p50[i])}) is above {_fmt(max_multiple)} x the largest "
                f"month so far ({_fmt(limit[i] / max_multiple)}); check the recent sales for a data error",
            )
    return pd.Series(
        {pid: "forecast failed a sanity check: " + "; ".join(texts) for pid, texts in sorted(issues.items())},
        dtype=object,
    )


def rules_issues(rules: pd.DataFrame) -> pd.Series:
    """Why an ordering rule (``product_id, pack_size, min_order_qty``) cannot be used, per product."""
    pack = pd.to_numeric(rules["pack_size"], errors="coerce")
    moq = pd.to_numeric(rules["min_order_qty"], errors="coerce")
    bad_pack = pack.isna() | (pack < 1) | (pack != np.floor(pack))
    bad_moq = moq.isna() | (moq < 0)
    out = {}
    for i in np.flatnonzero((bad_pack | bad_moq).to_numpy()):
        parts = []
        if bad_pack.iloc[i]:
            parts.append(f"pack_size {_fmt(rules['pack_size'].iloc[i])} is not a whole number >= 1")
        if bad_moq.iloc[i]:
            parts.append(f"min_order_qty {_fmt(rules['min_order_qty'].iloc[i])} is not a number >= 0")
        out[rules["product_id"].iloc[i]] = "ordering rule unusable: " + " and ".join(parts) + "; fix ordering_rules/"
    return pd.Series(out, dtype=object)


def combine_issues(*issues: pd.Series) -> pd.Series:
    """One text per product from several issue series (joined with '; ')."""
    parts = [s.dropna() for s in issues if s is not None and len(s)]
    if not parts:
        return pd.Series(dtype=object)
    joined = pd.concat(parts)
    return joined.groupby(level=0, sort=True).agg("; ".join)

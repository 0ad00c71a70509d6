"""Safety stock from backtest residuals of *cumulative* demand, and the plan of a forecast.

Why residuals of the cumulative demand
--------------------------------------
An order has to cover the demand of the ``L`` months ``T+1 .. T+L`` together (see
:mod:`.policy`), and the quantile of a sum is not the sum of quantiles. Errors of one forecast in
consecutive months are positively correlated (a forecast that misses a level shift or a trend is low
in every month), but not perfectly. A sum of P90s assumes perfect correlation and keeps too much
stock where errors partly cancel; adding variances assumes independence and keeps too little where
they do not. The forecasts only carry per-month quantiles, so the distribution of their sum cannot
be read off them. The backtest can give it: at every backtest cutoff ``c`` each model forecast
``c+1 .. c+L``, and for cutoffs ``c <= T - L`` the actual demand of all those months is known. The
empirical distribution of the cumulative error, pooled over the products of a demand class and
scaled by each product's level, has whatever correlation the model's errors really have. (Quantiles
of the sum would need the joint distribution of the monthly errors, which we do not store.)

Formulas
--------
For every backtest point (product ``p``, model ``m``, cutoff ``c`` with all ``L`` months known)::

    F = sum_{h=1..L} max(f_{c,h}, 0)        A = sum_{h=1..L} y_{c+h}
    s_c = 12-month mean demand at c, at least 1 unit
          (the interval scale, demand_forecast.forecasting.backtest.interval_level)
    r = (A - F) / s_c

Pools: the ``r`` of all products of one model and demand class; a pool with fewer than
``min_pool`` points falls back to the model over all classes, then to every point. With ``q_a``
the empirical ``a``-quantile of the pool (``a`` = the target service level of the product's group)::

    SS = max(0, q_a * s_T)        S = F_T + SS   (F_T = f_1 + ... + f_L at the as-of month T)

``S`` is then the ``a``-quantile of the cumulative demand given the forecast: ``a`` is a cycle service
level, the probability that the period ends without a stock-out; the share of demand served (fill
rate) is higher. A product without demand in the last 12 months and a zero forecast keeps no safety
stock (the 1-unit floor of the scale would otherwise stock a product nobody buys).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..forecasting.backtest import interval_level
from ..forecasting.features import build_panel_arrays

#: Policies of the simulation and their default forecast: the selected one and the seed's WMA baseline.
DEFAULT_POLICIES: Mapping[str, str] = {"selected": "ensemble", "baseline": "baseline"}

#: Columns of a plan (``fct_purchase_plans``) with their types.
PLAN_SCHEMA = {
    "as_of_month": "date",
    "product_id": "str",
    "policy": "str",
    "model_name": "str",
    "demand_class": "str",
    "service_level": "float",
    "forecast_before_arrival": "float",
    "forecast_arrival_month": "float",
    "forecast_lead_time": "float",
    "level": "float",
    "residual_quantile": "float",
    "residual_pool": "str",
    "residual_points": "int",
    "safety_stock": "float",
    "order_up_to": "float",
}
PLAN_COLUMNS = tuple(PLAN_SCHEMA)


def demand_levels(panel: pd.DataFrame, as_of_month, months, floor: float = 1.0) -> pd.DataFrame:
    """``s`` at each of ``months``: the 12-month mean demand of every product (at least ``floor``).

    Returns ``product_id, month, level``. The panel is read up to ``as_of_month`` only.
    """
    arrays = build_panel_arrays(panel, as_of_month)
    first = arrays.months[0]
    rows = []
    for month in sorted({pd.Timestamp(m) for m in months}):
        origin = (month.year - first.year) * 12 + month.month - first.month
        if origin < 0 or origin >= arrays.n_months:
            continue
        rows.append(
            pd.DataFrame(
                {"product_id": arrays.product_ids, "month": month, "level": interval_level(arrays, origin, floor)}
            )
        )
    if not rows:
        return pd.DataFrame({"product_id": pd.Series(dtype=object), "month": [], "level": []})
    return pd.concat(rows, ignore_index=True)


def cumulative_errors(backtest: pd.DataFrame, levels: pd.DataFrame, lead_time_months: int) -> pd.DataFrame:
    """Scaled residuals of the cumulative forecast over ``lead_time_months``, one per backtest point.

    ``backtest``: ``product_id, model_name, cutoff_month, horizon, forecast, actual`` (the shape of
    ``int_forecast_backtest``). ``levels``: ``product_id, month, level`` at the cutoffs. Only cutoffs
    whose ``L`` months all have a forecast and a known actual count. Returns ``product_id,
    model_name, cutoff_month, forecast_cum, actual_cum, level, residual``.
    """
    bt = backtest.loc[backtest["horizon"].between(1, lead_time_months)].copy()
    bt["forecast"] = pd.to_numeric(bt["forecast"], errors="coerce").clip(lower=0.0)
    bt["actual"] = pd.to_numeric(bt["actual"], errors="coerce")
    keys = ["product_id", "model_name", "cutoff_month"]
    agg = bt.groupby(keys, sort=True).agg(
        forecast_cum=("forecast", "sum"),
        actual_cum=("actual", "sum"),
        months=("horizon", "nunique"),
        known=("actual", "count"),
        forecasts=("forecast", "count"),
    )
    complete = (
        (agg["months"] == lead_time_months)
        & (agg["known"] == lead_time_months)
        & (agg["forecasts"] == lead_time_months)
    )
    agg = agg.loc[complete, ["forecast_cum", "actual_cum"]].reset_index()
    agg["cutoff_month"] = pd.to_datetime(agg["cutoff_month"])
    lv = levels.rename(columns={"month": "cutoff_month"})
    lv = lv.assign(cutoff_month=pd.to_datetime(lv["cutoff_month"]))
    agg = agg.merge(lv, on=["product_id", "cutoff_month"], how="inner")
    agg["residual"] = (agg["actual_cum"] - agg["forecast_cum"]) / agg["level"]
    return agg.loc[np.isfinite(agg["residual"])].reset_index(drop=True)


@dataclass
class ResidualPools:
    """Sorted scaled residuals per (model, demand class), per model, and over everything."""

    by_model_class: dict[tuple[str, str], np.ndarray]
    by_model: dict[str, np.ndarray]
    overall: np.ndarray
    min_pool: int

    def pool(self, model_name: str, demand_class: str) -> tuple[np.ndarray, str]:
        """The residuals a product of this model and class uses, and a label naming the pool."""
        own = self.by_model_class.get((model_name, demand_class), np.empty(0))
        if len(own) >= self.min_pool:
            return own, f"{model_name} | {demand_class}"
        model = self.by_model.get(model_name, np.empty(0))
        if len(model) >= self.min_pool:
            return model, f"{model_name} | all classes"
        return self.overall, "all models | all classes"


def _classes(product_ids: pd.Series, demand_class: Mapping[str, str]) -> np.ndarray:
    """Demand class of each product id (``unknown`` when the profiles do not know it)."""
    mapped = product_ids.map(dict(demand_class)).astype(object)
    return mapped.where(mapped.notna(), "unknown").astype(str).to_numpy()


def fit_pools(errors: pd.DataFrame, demand_class: Mapping[str, str], min_pool: int = 30) -> ResidualPools:
    """Pool the residuals of :func:`cumulative_errors` by model and the product's demand class."""
    classes = _classes(errors["product_id"], demand_class)
    r = errors["residual"].to_numpy(float)
    models = errors["model_name"].astype(str).to_numpy()
    by_mc = {key: np.sort(r[idx]) for key, idx in pd.Series(range(len(r))).groupby([models, classes]).groups.items()}
    by_m = {key: np.sort(r[idx]) for key, idx in pd.Series(range(len(r))).groupby(models).groups.items()}
    return ResidualPools(by_mc, by_m, np.sort(r), int(min_pool))


def empirical_quantile(sorted_values: np.ndarray, level: float) -> float:
    """The ``level``-quantile of a sorted sample (linear interpolation); NaN for an empty one."""
    if len(sorted_values) == 0:
        return float("nan")
    return float(np.quantile(sorted_values, level))


def service_levels_for(products: pd.DataFrame, by_group: Mapping[str, float], default: float) -> pd.Series:
    """Target service level of each product (``product_id, product_group``) from its group, else ``default``."""
    levels = products["product_group"].map(dict(by_group)).astype(float).fillna(float(default))
    bad = ~levels.between(0.5, 0.9999)
    if bad.any():
        first = products.loc[bad, "product_group"].iloc[0]
        raise ValueError(
            f"target service level of product group {first!r} is {levels[bad].iloc[0]}: it must lie between "
            "0.5 and 0.9999 (a share, e.g. 0.95); fix the seed purchasing_service_levels or the var "
            "purchasing_default_service_level"
        )
    return pd.Series(levels.to_numpy(), index=products["product_id"].to_numpy())


def plan_order_up_to(
    forecasts: pd.DataFrame,
    pools: ResidualPools,
    levels: pd.Series,
    demand_12m: pd.Series,
    demand_class: Mapping[str, str],
    service_level: pd.Series,
    model_name: str,
    lead_time_months: int,
) -> pd.DataFrame:
    """Order-up-to levels of one model's forecast at the as-of month.

    ``forecasts``: ``product_id, horizon, forecast_p50`` of that model. ``levels`` / ``demand_12m``:
    the scale ``s_T`` (floored) and the unfloored 12-month mean demand per product id;
    ``service_level`` per product id. Products whose forecast lacks a horizon get NaN terms (the
    checks of :mod:`.checks` turn that into a reason).
    """
    L = int(lead_time_months)
    fc = forecasts.loc[forecasts["horizon"].between(1, L), ["product_id", "horizon", "forecast_p50"]]
    wide = fc.pivot_table(index="product_id", columns="horizon", values="forecast_p50", aggfunc="first")
    wide = wide.reindex(columns=range(1, L + 1))
    f = wide.to_numpy(float).clip(min=0.0)
    pids = wide.index.to_numpy(dtype=object)
    f_pre = f[:, : L - 1].sum(axis=1)  # NaN when a month is missing; 0 for L = 1
    f_last = f[:, L - 1]
    cum = f_pre + f_last
    classes = _classes(pd.Series(pids), demand_class)
    alpha = pd.Series(pids).map(service_level).to_numpy(float)
    scale = pd.Series(pids).map(levels).fillna(1.0).to_numpy(float)
    recent = pd.Series(pids).map(demand_12m).fillna(0.0).to_numpy(float)
    q = np.full(len(pids), np.nan)
    label = np.empty(len(pids), dtype=object)
    points = np.zeros(len(pids), dtype=np.int64)
    cache: dict[tuple[str, float], tuple[float, str, int]] = {}
    for i, (cls, a) in enumerate(zip(classes, alpha, strict=True)):
        key = (cls, float(a))
        if key not in cache:
            values, name = pools.pool(model_name, cls)
            cache[key] = (empirical_quantile(values, a), name, len(values))
        q[i], label[i], points[i] = cache[key]
    dead = (recent <= 0) & (np.nan_to_num(cum) <= 0)
    ss = np.where(dead, 0.0, np.maximum(0.0, np.nan_to_num(q) * scale))
    return pd.DataFrame(
        {
            "product_id": pids,
            "model_name": model_name,
            "demand_class": classes,
            "service_level": alpha,
            "forecast_before_arrival": f_pre,
            "forecast_arrival_month": f_last,
            "forecast_lead_time": cum,
            "level": scale,
            "residual_quantile": q,
            "residual_pool": label,
            "residual_points": points,
            "safety_stock": ss,
            "order_up_to": cum + ss,
        }
    )


def purchase_plans(
    backtest: pd.DataFrame,
    forecasts: pd.DataFrame,
    panel: pd.DataFrame,
    profiles: pd.DataFrame,
    as_of_month,
    service_levels_by_group: Mapping[str, float],
    default_service_level: float = 0.95,
    policies: Mapping[str, str] = DEFAULT_POLICIES,
    lead_time_months: int = 3,
    min_pool: int = 30,
) -> pd.DataFrame:
    """The plan of every policy at ``as_of_month``: one row per product and policy (:data:`PLAN_COLUMNS`).

    ``backtest``: the run's backtest (``int_forecast_backtest``); ``forecasts``: the run's final
    forecasts (``product_id, model_name, horizon, forecast_p50``, e.g. ``fct_forecasts`` of the month);
    ``panel`` / ``profiles``: ``int_monthly_demand`` / ``int_series_profiles``; ``policies``: policy
    name -> the model whose forecast drives it.
    """
    L = int(lead_time_months)
    if L < 1:
        raise ValueError(f"lead_time_months must be >= 1, got {L}")
    horizons = pd.to_numeric(forecasts["horizon"], errors="coerce")
    if len(forecasts) and horizons.max() < L:
        raise ValueError(
            f"lead_time_months is {L} but the forecasts reach {int(horizons.max())} month(s) ahead: "
            "set the var horizon >= lead_time_months"
        )
    as_of = pd.Timestamp(as_of_month).normalize().replace(day=1)
    demand_class = dict(zip(profiles["product_id"], profiles["demand_class"].astype(str), strict=False))
    alpha = service_levels_for(
        profiles[["product_id", "product_group"]], service_levels_by_group, default_service_level
    )

    bt = backtest.loc[backtest["model_name"].isin(list(policies.values()))]
    cutoffs = pd.to_datetime(bt["cutoff_month"]).unique()
    cut_levels = demand_levels(panel, as_of, list(cutoffs) + [as_of])
    errors = cumulative_errors(bt, cut_levels, L)
    pools = fit_pools(errors, demand_class, min_pool)
    at_as_of = cut_levels.loc[cut_levels["month"] == as_of].set_index("product_id")["level"]
    recent = demand_levels(panel, as_of, [as_of], floor=0.0).set_index("product_id")["level"]

    parts = []
    for policy, model in policies.items():
        own = forecasts.loc[forecasts["model_name"] == model]
        plan = plan_order_up_to(own, pools, at_as_of, recent, demand_class, alpha, model, L)
        parts.append(plan.assign(policy=policy))
    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=list(PLAN_COLUMNS))
    out["as_of_month"] = as_of
    return out[list(PLAN_COLUMNS)].sort_values(["product_id", "policy"], kind="stable").reset_index(drop=True)

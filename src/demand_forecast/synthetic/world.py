"""The simulated world's demand: calendar, product attributes, expected and realised daily demand.

See the module docstring of :mod:`demand_forecast.synthetic.datagen` for the demand model.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa

from .columns import EPOCH, US_PER_DAY, US_PER_HOUR

# (group, categories, month-of-year profile Jan..Dec, weekday profile Mon..Sun, median list price)
GROUPS = [
    (
        "Garden",
        ["Tools", "Seeds", "Furniture", "Irrigation"],
        [0.45, 0.55, 0.9, 1.45, 1.75, 1.65, 1.4, 1.1, 0.8, 0.65, 0.55, 0.75],
        [0.8, 0.8, 0.85, 0.9, 1.1, 1.6, 0.95],
        25.0,
    ),
    (
        "Heating",
        ["Heaters", "Insulation", "Fuel"],
        [1.8, 1.6, 1.2, 0.8, 0.5, 0.4, 0.4, 0.5, 0.8, 1.2, 1.5, 1.8],
        [0.95, 0.95, 1.0, 1.0, 1.05, 1.25, 0.8],
        80.0,
    ),
    (
        "Toys",
        ["Games", "Puzzles", "Outdoor toys", "Dolls"],
        [0.7, 0.65, 0.75, 0.8, 0.8, 0.8, 0.9, 0.9, 0.9, 1.0, 1.6, 2.2],
        [0.8, 0.8, 0.85, 0.9, 1.1, 1.55, 1.0],
        20.0,
    ),
    (
        "Stationery",
        ["Paper", "Pens", "School bags"],
        [1.1, 0.9, 0.9, 0.8, 0.8, 0.8, 1.0, 1.9, 1.6, 0.9, 0.8, 0.7],
        [1.25, 1.25, 1.25, 1.2, 1.05, 0.0, 0.0],
        4.0,
    ),
    (
        "Kitchen",
        ["Cookware", "Utensils", "Storage", "Appliances"],
        [0.9, 0.9, 1.0, 1.0, 1.0, 0.9, 0.9, 0.9, 1.0, 1.0, 1.2, 1.5],
        [0.9, 0.9, 0.95, 0.95, 1.05, 1.35, 0.9],
        18.0,
    ),
    (
        "Beverages",
        ["Soft drinks", "Water", "Juice"],
        [0.7, 0.7, 0.85, 1.0, 1.2, 1.45, 1.55, 1.45, 1.1, 0.85, 0.8, 1.0],
        [0.9, 0.9, 0.95, 1.0, 1.2, 1.35, 0.7],
        2.5,
    ),
    (
        "Electronics",
        ["Cables", "Batteries", "Lighting", "Audio"],
        [0.9, 0.8, 0.85, 0.85, 0.85, 0.85, 0.9, 0.95, 0.95, 1.0, 1.5, 1.8],
        [0.9, 0.9, 0.95, 1.0, 1.1, 1.35, 0.8],
        15.0,
    ),
    (
        "Cleaning",
        ["Detergents", "Paper goods", "Brushes"],
        [1.05, 1.0, 1.05, 1.05, 1.0, 0.95, 0.95, 0.95, 1.0, 1.0, 0.95, 1.05],
        [1.2, 1.2, 1.2, 1.15, 1.1, 0.15, 0.0],
        6.0,
    ),
]
GROUP_WEIGHTS = np.array([0.14, 0.08, 0.12, 0.10, 0.16, 0.12, 0.14, 0.14])

DEMAND_TYPES = ["smooth", "erratic", "intermittent", "lumpy"]
DEMAND_TYPE_SHARES = np.array([0.45, 0.20, 0.25, 0.10])
# per demand type: daily Gamma shape (overdispersion), month shock sigma
GAMMA_SHAPE = np.array([8.0, 1.2, 50.0, 50.0])
MONTH_SHOCK_SIGMA = np.array([0.08, 0.85, 0.15, 0.3])
LUMPY_SIZE_SIGMA = 0.9
MAX_DAILY_SIZE = 5_000
MAX_BULK_ORDER = 9_000  # a bulk order is an outlier to cap, not an absurd value to reject

SHARE_COLD_START = 0.10
SHARE_COLD_START_RECENT = 0.25  # of the cold starts: launched within the last 3 months
SHARE_DISCONTINUED = 0.05
SHARE_OUTLIER = 0.02
PACK_SIZES = (1, 2, 4, 6, 12, 24, 48)
ORDER_COVER_BY_TYPE = (1.0, 1.6, 1.3, 1.5)  # the company's cover grows with how erratic a product sells
SHARE_MIN_ORDER = 0.3  # products whose supplier has a minimum order (2-5 packs)
SHARE_NO_UNIT_COST = 0.05  # products whose unit cost is missing in ordering_rules (list price values them)
SHARE_NO_HOLDING_RATE = 0.3  # products without a holding cost rate (the default applies)


TRUTH_SCHEMA = pa.schema(
    [
        ("product_id", pa.string()),
        ("month", pa.date32()),
        ("true_demand", pa.float64()),
    ]
)


def default_end_date(today: dt.date | None = None) -> dt.date:
    """Yesterday: data that runs up to the day before the batch, as a warehouse fed daily would.

    The batch forecasts from the last complete month (the SQL cuts there); the days of the running
    month keep Elementary's daily volume and freshness monitors, measured back from now, meaningful.
    """
    today = today or dt.date.today()
    return today - dt.timedelta(days=1)


class Calendar:
    def __init__(self, end_date: dt.date, years: int):
        end_month = end_date.year * 12 + end_date.month - 1
        start_month = end_month - 12 * years + 1
        self.start = dt.date(start_month // 12, start_month % 12 + 1, 1)
        self.end = end_date
        self.n_days = (end_date - self.start).days + 1
        self.start_epoch = (self.start - EPOCH).days
        days = np.arange(self.n_days) + self.start_epoch
        d64 = days.astype("datetime64[D]")
        m64 = d64.astype("datetime64[M]")
        month_abs = m64.astype(np.int64)
        self.month_of_day = (month_abs - month_abs[0]).astype(np.int64)
        self.n_months = int(self.month_of_day[-1]) + 1
        self.month_start_day = np.flatnonzero(np.r_[True, np.diff(self.month_of_day) > 0])
        self.month_epoch = (
            (np.arange(self.n_months) + month_abs[0]).astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
        )
        self.moy = (month_abs % 12).astype(np.int64)
        self.dow = ((days + 3) % 7).astype(np.int64)  # 1970-01-01 was a Thursday; 0 = Monday
        self.years_since_start = np.arange(self.n_days) / 365.25
        self.extract_us = (self.start_epoch + self.n_days) * US_PER_DAY + 6 * US_PER_HOUR


def month_profiles() -> tuple[np.ndarray, np.ndarray]:
    moy = np.array([g[2] for g in GROUPS], dtype=float)
    moy /= moy.mean(axis=1, keepdims=True)
    dow = np.array([g[3] for g in GROUPS], dtype=float)
    dow /= dow.mean(axis=1, keepdims=True)
    return moy, dow


def make_products(n: int, cal: Calendar, seed: int) -> dict:
    """All product-level attributes, drawn vectorised from one generator."""
    if n < 1 or n >= 900_000:
        raise ValueError("--products must be between 1 and 899,999")
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(0,))))
    D = cal.n_days
    group = rng.choice(len(GROUPS), size=n, p=GROUP_WEIGHTS / GROUP_WEIGHTS.sum())
    n_cats = np.array([len(GROUPS[g][1]) for g in group])
    cat_idx = np.floor(rng.random(n) * n_cats).astype(np.int64)
    dtype_idx = rng.choice(4, size=n, p=DEMAND_TYPE_SHARES)
    med_price = np.array([GROUPS[g][4] for g in group])
    raw_price = med_price * rng.lognormal(0.0, 0.6, n)
    list_cents = np.maximum(99, np.rint(raw_price) * 100 - 1).astype(np.int64)

    # lifecycle
    u_life = rng.random(n)
    cold = u_life < SHARE_COLD_START
    recent = cold & (u_life < SHARE_COLD_START * SHARE_COLD_START_RECENT)
    launch = -1 - np.floor(rng.random(n) * 2500).astype(np.int64)
    lo_old, hi_old = 30, max(31, D - 91)
    launch_cold = lo_old + np.floor(rng.random(n) * (hi_old - lo_old)).astype(np.int64)
    launch_recent = (D - 90) + np.floor(rng.random(n) * 77).astype(np.int64)
    launch = np.where(cold, launch_cold, launch)
    launch = np.where(recent, launch_recent, launch)
    launch = np.minimum(launch, D - 1)
    u_disc = rng.random(n)
    disc_day = 180 + np.floor(rng.random(n) * max(1, D - 210)).astype(np.int64)
    discontinued = (~cold) & (u_disc < SHARE_DISCONTINUED / (1 - SHARE_COLD_START)) & (D > 400)
    disc_day = np.where(discontinued, disc_day, -1)
    active_from = np.maximum(launch, 0)
    active_to = np.where(discontinued, disc_day, D - 1)

    # demand parameters
    lv = rng.standard_normal(n)
    level = np.select(
        [dtype_idx == 0, dtype_idx == 1, dtype_idx == 2],
        [
            np.clip(4.0 * np.exp(0.8 * lv), 0.8, 60.0),
            np.clip(2.5 * np.exp(0.8 * lv), 0.3, 40.0),
            np.clip(0.02 * np.exp(0.5 * lv), 0.004, 0.045),
        ],
        np.clip(0.02 * np.exp(0.5 * lv), 0.004, 0.05),
    )
    lumpy_size = np.clip(15.0 * rng.lognormal(0.0, 0.6, n), 3.0, 200.0)
    trend = np.clip(rng.normal(0.02, 0.10, n), -0.25, 0.30)
    amplitude = rng.uniform(0.3, 1.0, n)
    ramp_tau = rng.uniform(20.0, 90.0, n)

    # the company's ordering (see .ordering): cover on its sales-rate estimate, the buyer's guess of a
    # launch's rate, pack size (about a week of demand or less), minimum order, costs
    cover = rng.uniform(1.15, 1.5, n) * np.asarray(ORDER_COVER_BY_TYPE)[dtype_idx]
    min_stock = np.where(dtype_idx == 3, lumpy_size * rng.uniform(2.0, 3.5, n), 2.0)
    launch_guess = rng.lognormal(0.0, 0.35, n)
    monthly_units = level * 30.4 * np.where(dtype_idx == 3, lumpy_size, 1.0)
    pack_options = np.array(PACK_SIZES)
    pack_cap = np.maximum(1.0, monthly_units / 4.0 * rng.uniform(0.5, 1.5, n))
    pack_size = pack_options[np.searchsorted(pack_options, pack_cap, side="right") - 1]
    min_order_qty = np.where(rng.random(n) < SHARE_MIN_ORDER, pack_size * rng.integers(2, 6, n), 0)
    unit_cost = np.round(list_cents / 100.0 * rng.uniform(0.45, 0.7, n), 2)
    unit_cost = np.where(rng.random(n) < SHARE_NO_UNIT_COST, np.nan, unit_cost)
    holding_cost_rate = np.round(rng.uniform(0.15, 0.3, n), 2)
    holding_cost_rate = np.where(rng.random(n) < SHARE_NO_HOLDING_RATE, np.nan, holding_cost_rate)

    window = active_to - active_from + 1
    has_outlier = (rng.random(n) < SHARE_OUTLIER) & (window >= 30)
    outlier_pos = rng.random(n)
    outlier_mult = rng.uniform(10.0, 30.0, n)

    return dict(
        n=n,
        group=group,
        cat_idx=cat_idx,
        dtype_idx=dtype_idx,
        list_cents=list_cents,
        cold=cold,
        recent=recent,
        launch=launch,
        discontinued=discontinued,
        disc_day=disc_day,
        active_from=active_from,
        active_to=active_to,
        level=level,
        lumpy_size=lumpy_size,
        trend=trend,
        amplitude=amplitude,
        ramp_tau=ramp_tau,
        cover=cover,
        min_stock=min_stock,
        launch_guess=launch_guess,
        pack_size=pack_size.astype(np.int64),
        min_order_qty=min_order_qty.astype(np.int64),
        unit_cost=unit_cost,
        holding_cost_rate=holding_cost_rate,
        has_outlier=has_outlier,
        outlier_pos=outlier_pos,
        outlier_mult=outlier_mult,
    )


def slice_products(prod: dict, i0: int, i1: int) -> dict:
    """The attributes of products ``i0 .. i1-1`` (a chunk)."""
    return {key: val[i0:i1] if isinstance(val, np.ndarray) else val for key, val in prod.items()}


def expected_demand(pr: dict, cal: Calendar) -> tuple[np.ndarray, np.ndarray]:
    """``(lam, active)``: expected daily demand (C x D) of a chunk of products and their active days."""
    t = np.arange(cal.n_days)
    moy_prof, dow_prof = month_profiles()
    a, b = pr["active_from"], pr["active_to"]
    active = (t[None, :] >= a[:, None]) & (t[None, :] <= b[:, None])
    season = 1.0 + pr["amplitude"][:, None] * (moy_prof[pr["group"]] - 1.0)  # C x 12
    lam = pr["level"][:, None] * np.exp(pr["trend"][:, None] * cal.years_since_start[None, :])
    lam *= season[:, cal.moy]
    lam *= dow_prof[pr["group"]][:, cal.dow]
    age = t[None, :] - pr["launch"][:, None]
    ramp = np.where(pr["cold"][:, None], 1.0 - np.exp(-(np.maximum(age, 0) + 1) / pr["ramp_tau"][:, None]), 1.0)
    lam *= ramp
    to_end = pr["disc_day"][:, None] - t[None, :]
    fade = np.where(pr["discontinued"][:, None] & (to_end < 120), 0.3 + 0.7 * np.clip(to_end, 0, 120) / 120.0, 1.0)
    lam *= fade
    lam *= active
    return lam, active


def realised_demand(
    pr: dict, cal: Calendar, lam: np.ndarray, seed: int, i0: int
) -> tuple[np.ndarray, np.ndarray, list[np.random.Generator]]:
    """``(demand, split_u, rngs)``: integer daily demand from each product's own random stream.

    ``split_u`` are the uniforms that split a day's sales into lines; ``rngs`` the products' streams,
    positioned for the line-level draws.
    """
    C, D, M = len(pr["level"]), cal.n_days, cal.n_months
    demand = np.zeros((C, D), dtype=np.int64)
    split_u = np.empty((C, D, 3), dtype=np.float32)
    rngs = []
    for j in range(C):
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(1, i0 + j))))
        rngs.append(rng)
        kind = pr["dtype_idx"][j]
        shape = GAMMA_SHAPE[kind]
        shock = rng.lognormal(0.0, MONTH_SHOCK_SIGMA[kind], M)
        noise = rng.gamma(shape, 1.0 / shape, D)
        row = rng.poisson(lam[j] * shock[cal.month_of_day] * noise)
        if kind == 3:
            size = np.rint(rng.lognormal(np.log(pr["lumpy_size"][j]), LUMPY_SIZE_SIGMA, D))
            row = row * np.clip(size, 1, MAX_DAILY_SIZE).astype(np.int64)
            row = np.minimum(row, MAX_DAILY_SIZE)
        demand[j] = row
        split_u[j] = rng.random((D, 3), dtype=np.float32)
    return demand, split_u, rngs


def monthly_truth(pids: pa.Array, pr: dict, cal: Calendar, demand: np.ndarray) -> pa.Table:
    """``true_monthly_demand`` rows of a chunk: the realised demand per month of the active window."""
    monthly = np.add.reduceat(demand, cal.month_start_day, axis=1)
    m_lo = cal.month_of_day[pr["active_from"]]
    m_hi = cal.month_of_day[pr["active_to"]]
    months = np.arange(cal.n_months)
    in_window = (months[None, :] >= m_lo[:, None]) & (months[None, :] <= m_hi[:, None])
    tr_r, tr_m = np.nonzero(in_window)
    return pa.table(
        {
            "product_id": pids.take(pa.array(tr_r)),
            "month": pa.array(cal.month_epoch[tr_m].astype(np.int32), pa.date32()),
            "true_demand": pa.array(monthly[tr_r, tr_m].astype(np.float64)),
        },
        schema=TRUTH_SCHEMA,
    )

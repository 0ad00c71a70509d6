"""Stock on hand of the simulated world: stock-out episodes and the daily snapshots.

See the module docstring of :mod:`demand_forecast.synthetic.datagen` ("Stock").
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from ..data.contract import SNAPSHOT_SCHEMA
from .columns import US_PER_DAY, US_PER_HOUR
from .world import Calendar


def stockout_days(pr: dict, n_days: int) -> np.ndarray:
    """C x D: True on the days of the chunk's stock-out episodes."""
    stockout = np.zeros((len(pr["level"]), n_days), dtype=bool)
    for r, s, e in zip(pr["so_prod"], pr["so_start"], pr["so_end"], strict=False):
        stockout[r, s : e + 1] = True
    return stockout


def snapshots(
    pr: dict, cal: Calendar, lam: np.ndarray, active: np.ndarray, stockout: np.ndarray, pids: pa.Array
) -> pa.Table:
    """End-of-day on hand over each product's active window: 0 in an episode, else a replenishment saw-tooth."""
    t = np.arange(cal.n_days)
    lam_mean = lam.sum(axis=1) / np.maximum(1, active.sum(axis=1))
    cyc = pr["cycle_len"][:, None]
    saw = 1.0 - ((t[None, :] + pr["cycle_phase"][:, None]) % cyc) / cyc
    stock_level = np.ceil(pr["safety"][:, None] + (lam_mean * pr["cycle_len"] * pr["cover"])[:, None] * saw)
    s_r, s_d = np.nonzero(active)
    on_hand = np.where(stockout[s_r, s_d], 0, np.maximum(1, stock_level[s_r, s_d])).astype(np.int32)
    return pa.table(
        {
            "snapshot_date": pa.array((s_d + cal.start_epoch).astype(np.int32), pa.date32()),
            "product_id": pids.take(pa.array(s_r)),
            "on_hand_qty": pa.array(on_hand, pa.int32()),
            "loaded_at": pa.array((s_d + cal.start_epoch + 1) * US_PER_DAY + US_PER_HOUR // 2, pa.timestamp("us")),
        },
        schema=SNAPSHOT_SCHEMA,
    )

"""Small synthetic panels for the forecasting tests (not a test module)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def long_panel(
    series: dict[str, np.ndarray], end: str = "2024-12-01", group: dict[str, str] | None = None
) -> pd.DataFrame:
    """Panel from ``{product_id: values}``; every series ends at ``end``."""
    frames = []
    for pid, values in series.items():
        values = np.asarray(values, dtype=np.float64)
        months = pd.date_range(end=pd.Timestamp(end), periods=len(values), freq="MS")
        frames.append(
            pd.DataFrame(
                {
                    "product_id": pid,
                    "month": months,
                    "demand": values,
                    "product_group": (group or {}).get(pid, "G1"),
                    "category": "C1",
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def mixed_panel(n_products: int = 40, n_months: int = 40, end: str = "2024-12-01", seed: int = 3):
    """A small mixed panel (smooth seasonal, intermittent, short and new products) and profiles."""
    rng = np.random.default_rng(seed)
    months = pd.date_range(end=pd.Timestamp(end), periods=n_months, freq="MS")
    moy = months.month.to_numpy()
    rows = []
    classes = {}
    for i in range(n_products):
        pid = f"P{i:03d}"
        grp = f"G{i % 3}"
        kind = ["smooth", "smooth", "intermittent", "smooth", "new", "erratic"][i % 6]
        level = 20 + 10 * (i % 7)
        mean = level * (1 + 0.3 * np.sin(2 * np.pi * (moy + i % 3) / 12))
        if kind == "smooth":
            y = rng.poisson(mean).astype(float)
        elif kind == "erratic":
            y = rng.poisson(mean * rng.gamma(1.0, 1.0, n_months)).astype(float)
        elif kind == "intermittent":
            y = (rng.random(n_months) < 0.3) * rng.integers(1, 6, n_months).astype(float)
        else:
            y = rng.poisson(mean).astype(float)
        start = 0
        if kind == "new":
            start = n_months - (1 + i % 4)
        elif i % 5 == 0:
            start = 10
        for t in range(start, n_months):
            rows.append(
                {
                    "product_id": pid,
                    "month": months[t],
                    "product_group": grp,
                    "category": f"{grp}-C{i % 2}",
                    "demand": y[t],
                    "avg_unit_price": 5.0 + (i % 4),
                    "is_partial_month": False,
                    "exclude_from_training": bool(t == n_months - 5 and i % 9 == 1),
                }
            )
        classes[pid] = kind
    panel = pd.DataFrame(rows)
    profiles = pd.DataFrame(
        {
            "product_id": list(classes),
            "demand_class": list(classes.values()),
            "product_group": [f"G{i % 3}" for i in range(n_products)],
            "discontinued_date": pd.NaT,
        }
    )
    return panel, profiles, months[-1]

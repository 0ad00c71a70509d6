"""Rolling-origin backtest: every model at every cutoff, in statsforecast's ``cross_validation`` shape.

:func:`cross_validation` takes a list of models (:mod:`demand_forecast.forecasting.models`) and one
refit policy, like statsforecast's ``cross_validation(h, n_windows, step_size, refit)``:

Origins
    Backtest cutoffs are ``as_of_month - k * step_size`` months for ``k = n_windows .. 1``; the
    final origin is ``as_of_month`` itself (the last month of the panel).  At each cutoff every
    model forecasts horizons ``1..h`` from data with ``month <= cutoff`` only.  Cutoffs before the
    panel's first month are left out.  Rows whose forecast month lies after ``as_of_month`` are
    dropped later (:func:`backtest_long`: their actual is unknown); so is the actual of a month
    excluded from training (null, ignored by the metrics).

Refit policy (:class:`Refit`; speed, see :mod:`demand_forecast.forecasting.models.statistical`)
    Models without estimated parameters (baseline, seasonal naive, SBA, TSB, cold start) compute
    every origin from scratch.  The others are estimated (``fit``) at the first cutoff and
    re-filtered (``forecast``) at the later ones, or re-estimated every ``windows`` cutoffs, and
    at the final origin when ``final`` is set.  The pipeline maps ``ForecastConfig.stat_refit``
    (per-series models) and ``gbm_refit`` (the global model) to a policy: ``"once"`` = estimate at
    the first cutoff only, ``"final"`` = there and at the final origin, ``"each"`` = at every
    origin.  In every case the parameters used at an origin were estimated from data up to that
    origin or earlier, so the backtest has no look-ahead.

The result (:class:`ModelOutputs`) keeps every model's forecasts at every origin as arrays, with
what the model registry records; :func:`backtest_long` turns it into a compact long frame with
integer codes, which :mod:`demand_forecast.forecasting.pipeline` turns into the public
``backtest`` frame.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from . import progress
from .features import PanelArrays, level_at
from .metrics import mase_scale_at

if TYPE_CHECKING:
    from .executor import Executor
    from .models import BaseForecaster


@dataclass(frozen=True)
class Refit:
    """When models with estimated parameters are estimated (statsforecast's ``refit``).

    ``windows``: ``False`` estimates once, at the first backtest cutoff, and re-filters at the
    later ones; ``True`` re-estimates at every cutoff; an integer ``k`` every ``k`` cutoffs.
    ``final``: re-estimate at the final origin (else the final forecast re-filters the last
    cutoff's estimate up to the as-of month).
    """

    windows: bool | int = False
    final: bool = True

    @classmethod
    def from_setting(cls, setting: str) -> Refit:
        """The policy of a ``ForecastConfig.stat_refit`` / ``gbm_refit`` value."""
        plans = {"once": cls(False, False), "final": cls(False, True), "each": cls(True, True)}
        if setting not in plans:
            raise ValueError(f"refit setting must be one of {sorted(plans)}, got {setting!r}")
        return plans[setting]

    def groups(self, n_windows: int) -> list[list[int]]:
        """Origin slots ``0..n_windows`` (the last is the final origin) grouped by estimation.

        Each group is estimated at its first slot and forecast at all of its slots.
        """
        step = 1 if self.windows is True else (int(self.windows) if self.windows else max(n_windows, 1))
        groups = [list(range(k, min(k + step, n_windows))) for k in range(0, n_windows, step)]
        if self.final or not groups:
            groups.append([n_windows])
        else:
            groups[-1].append(n_windows)
        return groups

    def describe(self, months: Sequence[pd.Timestamp]) -> str:
        """Where the parameters were estimated, in words (registry ``estimated_at``)."""
        if self == Refit(False, False):
            return str(months[0].date())
        if self == Refit(False, True):
            return "first backtest origin and final origin"
        if self == Refit(True, True):
            return "every origin"
        windows = "first backtest origin" if not self.windows else f"every {int(self.windows)} backtest origins"
        return windows + (" and final origin" if self.final else "")


@dataclass
class ModelOutputs:
    """Forecasts of every model at every origin.

    ``forecasts[name]`` is ``(n_products, n_origins + 1, H)``: slots
    ``0..n_origins-1`` are the backtest cutoffs (ascending), the last slot is
    the final origin (``as_of_month``).  ``info[name]`` holds registry data.
    """

    origins: list[int]
    forecasts: dict[str, np.ndarray]
    info: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def backtest_origins(self) -> list[int]:
        return self.origins[:-1]

    @property
    def final_origin(self) -> int:
        return self.origins[-1]

    @classmethod
    def merge(cls, parts: Sequence[ModelOutputs], order: Sequence[str]) -> ModelOutputs:
        """One set of outputs from runs over the same origins, models in ``order``."""
        forecasts = {k: v for part in parts for k, v in part.forecasts.items()}
        info = {k: v for part in parts for k, v in part.info.items()}
        origins = parts[0].origins if parts else []
        names = [name for name in order if name in forecasts]
        return cls(origins, {n: forecasts[n] for n in names}, {n: info[n] for n in names})


def origin_indices(arrays: PanelArrays, n_origins: int, step_size: int = 1) -> list[int]:
    """Column indices of the backtest cutoffs (ascending) followed by the final origin.

    Cutoffs before the panel's first month (no data at all) are left out.
    """
    final = arrays.n_months - 1
    return [final - k * step_size for k in range(n_origins, 0, -1) if final - k * step_size >= 0] + [final]


def cross_validation(
    models: Sequence[BaseForecaster],
    panel: PanelArrays,
    h: int,
    n_windows: int,
    step_size: int = 1,
    refit: Refit = Refit(),
    executor: Executor | None = None,
) -> ModelOutputs:
    """Forecasts of every model at ``n_windows`` cutoffs ``step_size`` months apart and at the final origin.

    See the module docstring.  ``h`` must be the models' horizon.
    """
    origins = origin_indices(panel, n_windows, step_size)
    n_cutoffs = len(origins) - 1
    months = [panel.months[o] for o in origins]
    forecasts: dict[str, np.ndarray] = {}
    info: dict[str, dict[str, Any]] = {}
    for model in models:
        if model.horizon != h:
            raise ValueError(f"model {model.name} forecasts {model.horizon} months, the backtest asks for h={h}")
        t0 = time.perf_counter()
        needs = model.needs
        groups = refit.groups(n_cutoffs) if needs.estimated else [list(range(n_cutoffs + 1))]
        parts = []
        for number, group in enumerate(groups, start=1):
            progress.stage(f"models: {model.name} fit {number}/{len(groups)}")
            model.fit(panel, origins[group[0]], executor=executor)
            parts.append(model.forecast(panel, [origins[slot] for slot in group]))
        forecasts[model.name] = np.concatenate(parts, axis=1)
        params = model.describe()
        if needs.per_series:
            params["estimated_at"] = refit.describe(months)
        info[model.name] = {
            "params": params,
            "features_json": json.dumps(model.features()),
            "train_start": panel.months[0],
            "train_end": panel.months[model.training_end(origins[-1])],
            "model_blob": model.model_blob(),
            "fit_seconds": time.perf_counter() - t0,
        }
    return ModelOutputs(origins=origins, forecasts=forecasts, info=info)


def backtest_long(arrays: PanelArrays, outputs: ModelOutputs, model_names: list[str]) -> pd.DataFrame:
    """Internal long backtest frame with integer codes.

    Columns: ``pid`` (product row), ``model`` (index into ``model_names``),
    ``origin`` (backtest slot), ``h``, ``t`` (target column), ``forecast``,
    ``actual`` (NaN = unknown), ``mase_scale`` and ``level`` (interval scale,
    the 12-month level at the cutoff floored at 1).  Only rows with a
    forecast and a target month ``<= as_of_month`` are kept.
    """
    final = outputs.final_origin
    parts: dict[str, list[np.ndarray]] = {
        k: [] for k in ("pid", "model", "origin", "h", "t", "forecast", "mase_scale", "level")
    }
    for j, o in enumerate(outputs.backtest_origins):
        scale = mase_scale_at(arrays, o)
        level = interval_level(arrays, o)
        for mi, name in enumerate(model_names):
            arr = outputs.forecasts.get(name)
            if arr is None:
                continue
            for h in range(1, arr.shape[2] + 1):
                if o + h > final:
                    continue
                f = arr[:, j, h - 1]
                rows = np.nonzero(~np.isnan(f))[0]
                if len(rows) == 0:
                    continue
                parts["pid"].append(rows.astype(np.int32))
                parts["model"].append(np.full(len(rows), mi, np.int16))
                parts["origin"].append(np.full(len(rows), j, np.int16))
                parts["h"].append(np.full(len(rows), h, np.int16))
                parts["t"].append(np.full(len(rows), o + h, np.int32))
                parts["forecast"].append(f[rows])
                parts["mase_scale"].append(scale[rows])
                parts["level"].append(level[rows])
    if not parts["pid"]:
        dtypes = {"pid": np.int32, "model": np.int16, "origin": np.int16, "h": np.int16, "t": np.int32}
        cols = {k: np.zeros(0, dtype=dtypes.get(k, np.float64)) for k in parts}
        cols["actual"] = np.zeros(0)
        return pd.DataFrame(cols)
    frame = pd.DataFrame({k: np.concatenate(v) for k, v in parts.items()})
    frame["actual"] = arrays.y[frame["pid"].to_numpy(), frame["t"].to_numpy()]
    return frame


def interval_level(arrays: PanelArrays, origin: int, floor: float = 1.0) -> np.ndarray:
    """Scale of a product for intervals: 12-month mean demand at ``origin``, at least ``floor``."""
    lvl = level_at(arrays.y, origin, 12)
    return np.where(np.isfinite(lvl), np.maximum(lvl, floor), floor)

"""Global LightGBM model over all products (name ``lightgbm``).

Strategy: **direct** multi-horizon forecasting with the horizon as a feature
---------------------------------------------------------------------------
One booster learns ``y(o + h) / scale(o)`` from features known at origin ``o``
(:meth:`LightGBMForecaster.origin_features`) for ``h = 1..H``; each training
origin contributes one row per product and horizon.  Why direct and not
recursive:

* no compounding of errors -- a recursive model feeds its own (biased,
  often too smooth) predictions back as lags, which hurts intermittent series
  most;
* the lag and rolling features at prediction time are exactly the features
  seen in training (no synthetic features built from predictions);
* one model with ``horizon`` and ``target_month`` as features shares
  strength across horizons, yields a single model text for the registry and
  needs no feature recomputation loop at prediction time.  The cost is H
  times more training rows, which the training window bounds.

Inputs and target are divided by the product's level at the origin (mean of
the last 12 months, floored at ``scale_floor``) so products of every size
share one model; predictions are multiplied back and clipped at zero.  The
objective is ``l1`` (absolute error: the booster predicts the median of the
scaled target, which the absolute-error metrics MAE, WAPE and MASE reward).
With ``weighting="series"`` (default) every row weighs the same, so each
series counts alike in its own scale, in line with scale-free errors such as
MASE (series of very different sizes, as in the M competitions' data); with
``weighting="volume"`` rows are weighted by that scale so large sellers count
more, in line with WAPE.  These defaults and ``train_origins`` (48) were chosen
together on the real-data dev split (docs/benchmarks.md, "LightGBM").

Features, declared on the model (as mlforecast declares lags and date
features on its forecaster): ``lag_k`` for ``k`` in ``lags`` (``lag_1`` is the
origin month), ``roll_mean_w`` / ``roll_std_w`` over the last ``w`` months for
``w`` in ``windows``, then ``zero_share_12``, ``seasonal_lag`` and
``seasonal_lag_2y`` (the target month one and two years before),
``log_level``, ``series_age``, ``log_price`` and ``rel_price`` (last known
``avg_unit_price``, and relative to its 12-month mean), ``target_month``,
``horizon`` and the categorical ``demand_class`` (at the origin),
``product_group``, ``category``.  Only columns ``<= origin`` are read.

Training at an estimation origin ``e`` (``fit(panel, e)``) uses the origins
``e - train_origins - H + 1 .. e - 1`` and keeps only rows whose target month
is ``<= e``: no future data.  ``forecast(panel, origins)`` predicts at every
origin with that booster (features computed from data up to each origin);
the backtest's refit policy (``ForecastConfig.gbm_refit``) decides when to
re-train.  It covers every product with an observed month (all NaN when the
panel gives fewer than ``min_train_rows`` training rows).

Missing months (``exclude_from_training``): target rows are dropped and the
affected lags / rolling statistics are NaN (LightGBM routes missing values
natively).

Determinism: fixed ``seed`` (bagging, feature sampling), ``deterministic=True``
and ``force_row_wise=True``; ``num_threads`` comes from the config.

Partitions by product group (``max_training_rows``, ``ForecastConfig.gbm_max_training_rows``)
----------------------------------------------------------------------------------------------
One fit holds its whole training frame in memory (docs/scale.md, "The global model at scale").
When the training rows of a fit (:meth:`LightGBMForecaster.training_rows_per_series`, counted
before any feature is built) exceed ``max_training_rows``, the products are split into partitions
(:func:`plan_partitions`): whole product groups packed first-fit-decreasing into partitions of at
most that many rows; a group larger than the limit is cut into pieces along the order of a stable
hash of ``product_id``.  One booster is trained per partition, one after another in this process
(also with the Spark executor), each on its own products' rows only, and each product is
forecast by its partition's booster.  At or below the limit nothing changes: one booster, the same
code path, identical forecasts.  Products without a group share the group ``unknown`` and are
partitioned like any group; new products (no training rows yet) go with their group.  The only
partition that may exceed the limit is a single product with more training rows than the limit
(at most ``(train_origins + horizon - 1) * horizon`` rows; the limit would have to be absurdly
small).  The plan depends only on the panel's content (products are sorted), not on row order.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .. import progress
from ..features import (
    ADI_CUTOFF,
    CV2_CUTOFF,
    DEMAND_CLASSES,
    PanelArrays,
    demand_class_at,
    forward_fill,
    level_at,
    nan_mean,
    nan_std,
    window,
)
from .base import BaseForecaster, Needs, empty_forecasts

if TYPE_CHECKING:
    from ..config import ForecastConfig
    from ..executor import Executor

#: features that do not depend on the model's lags and windows, in model order
FIXED_FEATURES = (
    "zero_share_12",
    "seasonal_lag",
    "seasonal_lag_2y",
    "log_level",
    "series_age",
    "log_price",
    "rel_price",
    "target_month",
    "horizon",
)
CATEGORICAL_FEATURES = ("demand_class", "product_group", "category")

DEFAULT_GBM_PARAMS: dict[str, Any] = {
    "objective": "l1",
    "learning_rate": 0.08,
    "n_estimators": 200,
    "num_leaves": 31,
    "min_child_samples": 100,
    "subsample": 0.7,
    "subsample_freq": 1,
    "colsample_bytree": 0.8,
    "reg_lambda": 1.0,
    "max_bin": 63,
    "max_cat_to_onehot": 8,
    "cat_smooth": 10.0,
}

#: parameters the model always sets itself (not overridable)
FIXED_GBM_PARAMS: dict[str, Any] = {"deterministic": True, "force_row_wise": True, "verbose": -1}


def import_lightgbm():
    """Import LightGBM; on first import its OpenMP runtime gets ``OMP_WAIT_POLICY=passive``.

    With the default (active) policy OpenMP threads spin while waiting; on a
    2-core machine that is shared with other work (the worker pool, dbt
    threads, other processes) that slows training by an order of magnitude.
    The variable is only set for the duration of the import (when the user has
    not set it) and restored afterwards, so the process environment is not
    changed.
    """
    if "lightgbm" in sys.modules:
        return sys.modules["lightgbm"]
    saved = os.environ.get("OMP_WAIT_POLICY")
    if saved is None:
        os.environ["OMP_WAIT_POLICY"] = "passive"
    try:
        import lightgbm
    finally:
        if saved is None:
            os.environ.pop("OMP_WAIT_POLICY", None)
    return lightgbm


@dataclass
class OriginFeatures:
    """Feature block of one origin: one row per (product, horizon)."""

    rows: np.ndarray  # product row index
    horizon: np.ndarray  # 1..H
    X: np.ndarray  # (m, n_features) float32
    scale: np.ndarray  # level used to scale inputs and the target


LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class Partition:
    """Products trained together by one booster (see the module docstring)."""

    label: str  # "G1+G4" (whole groups) or "G2#1/3" (piece 1 of 3 of group G2), pieces and groups joined by "+"
    groups: tuple[str, ...]  # product groups with products in the partition
    rows: np.ndarray  # product row indices into the panel, ascending
    train_rows: int  # training rows of those products at the fit origin

    def summary(self) -> dict[str, Any]:
        return {"label": self.label, "products": len(self.rows), "train_rows": self.train_rows}


def _hash_order(product_ids: np.ndarray) -> np.ndarray:
    """Positions of ``product_ids`` ordered by a stable hash (pandas' fixed-key SipHash), ties by id."""
    ids = np.asarray(product_ids, dtype=object).astype(str)
    hashed = pd.util.hash_array(ids.astype(object), categorize=False)
    return np.lexsort((ids, hashed))


def plan_partitions(
    product_ids: np.ndarray, groups: np.ndarray, train_rows: np.ndarray, max_rows: int
) -> list[Partition]:
    """Partitions of at most ``max_rows`` training rows that keep product groups whole where they can.

    ``product_ids``, ``groups`` (group label per product) and ``train_rows`` (training rows per
    product) are aligned arrays.  A group with more rows than ``max_rows`` is cut into the fewest
    pieces of at most ``max_rows`` rows along :func:`_hash_order`; whole groups and pieces are then
    packed first-fit-decreasing (larger first, ties by label) into partitions.  A product with more
    rows than ``max_rows`` on its own becomes a piece (and a partition) of its own: the one case a
    partition exceeds the limit.  Same content, same partitions, whatever the order of the arrays.
    """
    if max_rows < 1:
        raise ValueError(f"max_rows must be a positive number of training rows, got {max_rows}")
    product_ids = np.asarray(product_ids, dtype=object).astype(str)
    groups = np.asarray(groups, dtype=object).astype(str)
    train_rows = np.asarray(train_rows, dtype=np.int64)
    items: list[tuple[int, str, str, np.ndarray]] = []  # (rows, label, group, product positions)
    for group in np.unique(groups):
        members = np.flatnonzero(groups == group)
        total = int(train_rows[members].sum())
        if total <= max_rows:
            items.append((total, group, group, members))
            continue
        ordered = members[_hash_order(product_ids[members])]
        pieces: list[list[int]] = [[]]
        filled = 0
        for pos in ordered:
            rows = int(train_rows[pos])
            if pieces[-1] and filled + rows > max_rows:
                pieces.append([])
                filled = 0
            pieces[-1].append(int(pos))
            filled += rows
        for k, piece in enumerate(pieces, start=1):
            positions = np.asarray(piece, dtype=np.int64)
            items.append((int(train_rows[positions].sum()), f"{group}#{k}/{len(pieces)}", group, positions))
    items.sort(key=lambda item: (-item[0], item[1]))
    bins: list[list[tuple[int, str, str, np.ndarray]]] = []
    loads: list[int] = []
    for item in items:
        for b, load in enumerate(loads):
            if load + item[0] <= max_rows:
                bins[b].append(item)
                loads[b] += item[0]
                break
        else:
            bins.append([item])
            loads.append(item[0])
    partitions = []
    for content, load in zip(bins, loads, strict=True):
        content = sorted(content, key=lambda item: item[1])
        rows = np.sort(np.concatenate([item[3] for item in content]))
        partitions.append(
            Partition(
                label="+".join(item[1] for item in content),
                groups=tuple(sorted({item[2] for item in content})),
                rows=rows,
                train_rows=load,
            )
        )
    return partitions


class LightGBMForecaster(BaseForecaster):
    """Direct multi-horizon global LightGBM model (see module docstring).

    Fitted attributes: ``booster_`` (the ``lightgbm.LGBMRegressor``),
    ``model_text_`` (``booster_.booster_.model_to_string()``), ``train_rows_``,
    ``train_origin_`` (estimation origin index), ``feature_names_``.  Above
    ``max_training_rows`` (``None``: no limit) ``partitions_`` holds the
    :class:`Partition` list, ``boosters_`` one booster (or ``None``) per partition,
    ``partition_of_`` the partition of each product id; ``booster_`` is ``None`` then.
    """

    name = "lightgbm"

    def __init__(
        self,
        horizon: int = 3,
        params: dict[str, Any] | None = None,
        train_origins: int = 48,
        min_history: int = 6,
        num_threads: int = 1,
        seed: int = 42,
        scale_floor: float = 1.0,
        min_train_rows: int = 200,
        lags: Sequence[int] = (1, 2, 3, 6, 12),
        windows: Sequence[int] = (3, 6, 12),
        adi_cutoff: float = ADI_CUTOFF,
        cv2_cutoff: float = CV2_CUTOFF,
        weighting: str = "series",
        max_training_rows: int | None = None,
    ) -> None:
        super().__init__(horizon)
        if max_training_rows is not None and int(max_training_rows) < 1:
            raise ValueError(f"max_training_rows must be a positive number of rows or None, got {max_training_rows}")
        self.max_training_rows = None if max_training_rows is None else int(max_training_rows)
        if weighting not in ("volume", "series"):
            raise ValueError(f"weighting must be 'volume' or 'series', got {weighting!r}")
        self.weighting = weighting
        self.params = dict(params or {})
        self.train_origins = int(train_origins)
        self.min_history = int(min_history)
        self.num_threads = int(num_threads)
        self.seed = int(seed)
        self.scale_floor = float(scale_floor)
        self.min_train_rows = int(min_train_rows)
        self.lags = tuple(int(k) for k in lags)
        self.windows = tuple(int(w) for w in windows)
        self.adi_cutoff = float(adi_cutoff)
        self.cv2_cutoff = float(cv2_cutoff)

    @classmethod
    def from_config(cls, config: ForecastConfig) -> LightGBMForecaster:
        return cls(
            config.horizon,
            params=config.gbm_params,
            train_origins=config.gbm_train_origins,
            min_history=config.min_history_months,
            num_threads=config.lightgbm_threads,
            seed=config.seed,
            adi_cutoff=config.adi_cutoff,
            cv2_cutoff=config.cv2_cutoff,
            weighting=config.gbm_weighting,
            max_training_rows=config.gbm_max_training_rows,
        )

    @property
    def needs(self) -> Needs:
        return Needs(min_history=1, estimated=True, is_global=True)

    @property
    def feature_names(self) -> tuple[str, ...]:
        return (
            tuple(f"lag_{k}" for k in self.lags)
            + tuple(f"roll_mean_{w}" for w in self.windows)
            + tuple(f"roll_std_{w}" for w in self.windows)
            + FIXED_FEATURES
            + CATEGORICAL_FEATURES
        )

    def lgbm_params(self) -> dict[str, Any]:
        params = dict(DEFAULT_GBM_PARAMS)
        params.update(self.params)
        params.update(FIXED_GBM_PARAMS)
        params["random_state"] = self.seed
        params["n_jobs"] = self.num_threads
        return params

    # -- features -------------------------------------------------------------------------------
    def origin_features(self, panel: PanelArrays, origin: int, price_ff: np.ndarray | None = None) -> OriginFeatures:
        """Features of every product with an observed month at ``origin``, for horizons 1..H.

        Demand inputs are divided by the product's level at the origin (mean of the last 12
        months, :func:`~demand_forecast.forecasting.features.level_at`, floored at
        ``scale_floor``; 1 when that is not positive) so one global model serves products of any
        size; ``log_level`` gives the size back.
        """
        names = self.feature_names
        hist_len = panel.history_length(origin)
        has_obs = (~np.isnan(panel.y[:, : origin + 1])).any(axis=1) if origin >= 0 else np.zeros(panel.n_series, bool)
        rows = np.arange(panel.n_series)[(hist_len > 0) & has_obs]
        if len(rows) == 0:
            return OriginFeatures(rows, np.zeros(0, np.int64), np.zeros((0, len(names)), np.float32), np.zeros(0))
        ys = panel.y[rows]
        level = level_at(ys, origin, 12)
        scale = np.where(np.isfinite(level), np.maximum(level, self.scale_floor), self.scale_floor)
        scale = np.where(scale > 0, scale, 1.0)
        inv = 1.0 / scale

        cols = self._demand_features(ys, origin, inv)
        cols["log_level"] = np.log1p(np.nan_to_num(level, nan=0.0).clip(min=0.0))
        cols["series_age"] = hist_len[rows].astype(np.float64)
        if price_ff is None:
            price_ff = forward_fill(panel.price)
        p_now = price_ff[rows, origin]
        p_mean = nan_mean(window(panel.price[rows], origin, 12))
        with np.errstate(invalid="ignore", divide="ignore"):
            cols["log_price"] = np.where(p_now > 0, np.log(np.where(p_now > 0, p_now, 1.0)), np.nan)
            cols["rel_price"] = np.where(p_mean > 0, p_now / np.where(p_mean > 0, p_mean, 1.0), np.nan)
        classes = demand_class_at(panel, origin, self.min_history, self.adi_cutoff, self.cv2_cutoff)
        cols["demand_class"] = classes[rows].astype(np.float64)
        cols["product_group"] = panel.group_codes[rows].astype(np.float64)
        cols["category"] = panel.category_codes[rows].astype(np.float64)

        blocks = []
        for h in range(1, self.horizon + 1):
            per_h = dict(cols)
            for name, years in (("seasonal_lag", 1), ("seasonal_lag_2y", 2)):
                t = origin + h - 12 * years
                per_h[name] = ys[:, t] * inv if t >= 0 else np.full(len(rows), np.nan)
            per_h["target_month"] = np.full(len(rows), float(panel.moy(origin + h)))
            per_h["horizon"] = np.full(len(rows), float(h))
            blocks.append(np.column_stack([per_h[name] for name in names]).astype(np.float32))
        return OriginFeatures(
            rows=np.tile(rows, self.horizon),
            horizon=np.repeat(np.arange(1, self.horizon + 1), len(rows)),
            X=np.concatenate(blocks, axis=0),
            scale=np.tile(scale, self.horizon),
        )

    def _demand_features(self, ys: np.ndarray, origin: int, inv: np.ndarray) -> dict[str, np.ndarray]:
        """Scaled lags, rolling means and standard deviations, share of zero months."""
        cols: dict[str, np.ndarray] = {}
        for k in self.lags:
            t = origin - k + 1
            cols[f"lag_{k}"] = ys[:, t] * inv if t >= 0 else np.full(len(ys), np.nan)
        for w in self.windows:
            win = window(ys, origin, w) * inv[:, None]
            cols[f"roll_mean_{w}"] = nan_mean(win)
            cols[f"roll_std_{w}"] = nan_std(win)
        win12 = window(ys, origin, 12)
        valid12 = ~np.isnan(win12)
        with np.errstate(invalid="ignore", divide="ignore"):
            cols["zero_share_12"] = np.where(
                valid12.sum(1) > 0, ((win12 == 0) & valid12).sum(1) / np.maximum(valid12.sum(1), 1), np.nan
            )
        return cols

    # -- training and prediction ----------------------------------------------------------------
    def training_set(self, panel: PanelArrays, est_origin: int, price_ff: np.ndarray | None = None):
        """Stacked ``(X, target, weight)`` for estimation at ``est_origin``."""
        if price_ff is None:
            price_ff = forward_fill(panel.price)
        Xs, ts, ws = [], [], []
        first = max(0, est_origin - self.train_origins - self.horizon + 1)
        for o in range(first, est_origin):
            feats = self.origin_features(panel, o, price_ff)
            if len(feats.rows) == 0:
                continue
            tgt_col = o + feats.horizon
            keep = tgt_col <= est_origin
            target = np.full(len(feats.rows), np.nan)
            target[keep] = panel.y[feats.rows[keep], tgt_col[keep]]
            keep &= ~np.isnan(target)
            if not keep.any():
                continue
            Xs.append(feats.X[keep])
            ts.append(target[keep] / feats.scale[keep])
            ws.append(feats.scale[keep] if self.weighting == "volume" else np.ones(int(keep.sum())))
        if not Xs:
            return np.zeros((0, len(self.feature_names)), np.float32), np.zeros(0), np.zeros(0)
        X = np.concatenate(Xs)
        target = np.concatenate(ts)
        weight = np.concatenate(ws)
        weight = weight / weight.mean()
        return X, target, weight

    def training_rows_per_series(self, panel: PanelArrays, est_origin: int) -> np.ndarray:
        """``(n,)`` rows each product adds to the training set at ``est_origin``, without building features.

        The same rows as :meth:`training_set` keeps (its row count is the sum of these).
        """
        counts = np.zeros(panel.n_series, dtype=np.int64)
        observed = ~np.isnan(panel.y)
        seen = np.logical_or.accumulate(observed, axis=1)
        for o in range(max(0, est_origin - self.train_origins - self.horizon + 1), est_origin):
            eligible = (panel.history_length(o) > 0) & seen[:, o]
            for h in range(1, min(self.horizon, est_origin - o) + 1):
                counts += eligible & observed[:, o + h]
        return counts

    def _fit_booster(self, X: np.ndarray, target: np.ndarray, weight: np.ndarray):
        """One fitted ``LGBMRegressor``, or ``None`` below ``min_train_rows`` rows."""
        if len(target) < self.min_train_rows:
            return None
        lgb = import_lightgbm()
        names = list(self.feature_names)
        cat_idx = [names.index(c) for c in CATEGORICAL_FEATURES]
        model = lgb.LGBMRegressor(**self.lgbm_params())
        model.fit(X, target, sample_weight=weight, feature_name=names, categorical_feature=cat_idx)
        return model

    def _estimate(self, panel: PanelArrays, origin: int, executor: Executor | None) -> None:
        """Train at ``origin``; no booster (every forecast NaN) when there is too little data.

        Above ``max_training_rows`` rows: one booster per partition (module docstring).
        """
        import_lightgbm()
        self.train_origin_ = int(origin)
        self.feature_names_ = list(self.feature_names)
        self.codes_ = {
            "demand_class": list(DEMAND_CLASSES),
            "product_group": [str(x) for x in panel.group_names],
            "category": [str(x) for x in panel.category_names],
        }
        self.partitions_, self.boosters_, self.partition_of_ = None, None, None
        per_series = self.training_rows_per_series(panel, origin) if self.max_training_rows is not None else None
        if per_series is None or int(per_series.sum()) <= self.max_training_rows:
            X, target, weight = self.training_set(panel, origin)
            self.train_rows_ = int(len(target))
            self.booster_ = self._fit_booster(X, target, weight)
            self.model_text_ = None if self.booster_ is None else self.booster_.booster_.model_to_string()
            return
        self._estimate_partitions(panel, origin, per_series)

    def _estimate_partitions(self, panel: PanelArrays, origin: int, per_series: np.ndarray) -> None:
        """One booster per :func:`plan_partitions` partition, trained one after another."""
        groups = np.asarray(panel.group_names, dtype=object)[panel.group_codes]
        plan = plan_partitions(panel.product_ids, groups, per_series, int(self.max_training_rows))
        LOG.info(
            "lightgbm at %s: %d training rows exceed gbm_max_training_rows=%d; %d partitions by product group: %s",
            panel.months[origin].date(),
            int(per_series.sum()),
            self.max_training_rows,
            len(plan),
            "; ".join(f"{p.label}: {len(p.rows)} products, {p.train_rows} rows" for p in plan),
        )
        boosters = []
        for number, part in enumerate(plan, start=1):
            progress.stage(f"models: lightgbm partition {number}/{len(plan)} ({part.train_rows:,} rows)")
            X, target, weight = self.training_set(panel.subset(part.rows), origin)
            boosters.append(self._fit_booster(X, target, weight))
            del X, target, weight
        self.partitions_ = plan
        self.boosters_ = boosters
        self.partition_of_ = {
            str(pid): number for number, part in enumerate(plan) for pid in panel.product_ids[part.rows]
        }
        self.train_rows_ = int(per_series.sum())
        self.booster_ = None
        self.model_text_ = None

    def predict_at(self, panel: PanelArrays, origin: int, price_ff: np.ndarray | None = None) -> np.ndarray:
        """``(n, H)`` forecasts at ``origin`` with the trained booster (each product's partition's booster)."""
        out = np.full((panel.n_series, self.horizon), np.nan)
        partitioned = getattr(self, "boosters_", None) is not None
        if getattr(self, "booster_", None) is None and not partitioned:
            return out
        feats = self.origin_features(panel, origin, price_ff)
        if len(feats.rows) == 0:
            return out
        if not partitioned:
            pred = self.booster_.booster_.predict(feats.X, num_threads=self.num_threads) * feats.scale
            out[feats.rows, feats.horizon - 1] = np.clip(pred, 0.0, None)
            return out
        # products unknown at the fit (another panel) have no partition: no forecast
        part_of_row = np.array([self.partition_of_.get(str(pid), -1) for pid in panel.product_ids])[feats.rows]
        for number, booster in enumerate(self.boosters_):
            take = part_of_row == number
            if booster is None or not take.any():
                continue
            pred = booster.booster_.predict(feats.X[take], num_threads=self.num_threads) * feats.scale[take]
            out[feats.rows[take], feats.horizon[take] - 1] = np.clip(pred, 0.0, None)
        return out

    def _forecast(self, panel: PanelArrays, origins: Sequence[int]) -> np.ndarray:
        out = empty_forecasts(panel, origins, self.horizon)
        price_ff = forward_fill(panel.price)
        for j, o in enumerate(origins):
            out[:, j, :] = self.predict_at(panel, int(o), price_ff)
        return out

    # -- registry -------------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        """Parameters for the model registry (the thread count is left out: it does not change the model)."""
        params = {k: v for k, v in self.lgbm_params().items() if k != "n_jobs"}
        return {
            "params": params,
            "strategy": "direct, horizon as a feature, target scaled by 12-month level",
            "train_origins": self.train_origins,
            "scale_floor": self.scale_floor,
            "weighting": self.weighting,
            "train_rows": getattr(self, "train_rows_", None),
            "max_training_rows": self.max_training_rows,
            "partitions": [p.summary() for p in getattr(self, "partitions_", None) or []],
        }

    def features(self) -> dict[str, Any]:
        """Feature list plus the categorical code maps needed to re-use the model text."""
        return {
            "features": list(self.feature_names),
            "categorical": list(CATEGORICAL_FEATURES),
            "codes": getattr(self, "codes_", {}),
        }

    def training_end(self, final_origin: int) -> int:
        return int(getattr(self, "train_origin_", final_origin))

    def model_blob(self) -> str | None:
        """The model text; partitioned: JSON ``{"partitions": [{label, products, train_rows, model}]}``."""
        if getattr(self, "partitions_", None) is None:
            return getattr(self, "model_text_", None)
        parts = [
            {**part.summary(), "model": None if booster is None else booster.booster_.model_to_string()}
            for part, booster in zip(self.partitions_, self.boosters_, strict=True)
        ]
        return json.dumps({"partitions": parts})

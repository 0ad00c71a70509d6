"""Global LightGBM model over all products (name ``lightgbm``).

Strategy: **direct** multi-horizon forecasting with the horizon as a feature
---------------------------------------------------------------------------
One booster learns ``y(o + h) / scale(o)`` from features known at origin ``o``
(see :func:`demand_forecast.forecasting.features.origin_features`) for ``h = 1..H``; each
training origin contributes one row per product and horizon.  Why direct and
not recursive:

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
share one model; predictions are multiplied back and clipped at zero.  Rows
are weighted by that scale so large sellers count more, in line with WAPE.

Training at an estimation origin ``e`` uses the origins
``e - train_origins - H + 1 .. e - 1`` and keeps only rows whose target month
is ``<= e``: no future data.  ``forecast_arrays(arrays, origins)`` trains once
at ``origins[0]`` and predicts at every origin (features are always computed
from data up to that origin); the pipeline decides when to re-train
(``ForecastConfig.gbm_refit``).

Missing months (``exclude_from_training``): target rows are dropped and the
affected lags / rolling statistics are NaN (LightGBM routes missing values
natively).

Determinism: fixed ``seed`` (bagging, feature sampling), ``deterministic=True``
and ``force_row_wise=True``; ``num_threads`` comes from the config.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..features import (
    ADI_CUTOFF,
    CV2_CUTOFF,
    GBM_CATEGORICAL,
    GBM_FEATURES,
    PanelArrays,
    forward_fill,
    origin_features,
)
from .base import BaseForecaster, empty_forecasts

DEFAULT_GBM_PARAMS: dict[str, Any] = {
    "objective": "regression",
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


class LightGBMForecaster(BaseForecaster):
    """Direct multi-horizon global LightGBM model (see module docstring).

    Fitted attributes: ``booster_`` (the ``lightgbm.LGBMRegressor``),
    ``model_text_`` (``booster_.booster_.model_to_string()``), ``train_rows_``,
    ``train_origin_`` (estimation origin index), ``feature_names_``.
    """

    name = "lightgbm"

    def __init__(
        self,
        horizon: int = 3,
        params: dict[str, Any] | None = None,
        train_origins: int = 18,
        min_history: int = 6,
        num_threads: int = 1,
        seed: int = 42,
        scale_floor: float = 1.0,
        min_train_rows: int = 200,
        adi_cutoff: float = ADI_CUTOFF,
        cv2_cutoff: float = CV2_CUTOFF,
    ) -> None:
        super().__init__(horizon)
        self.params = dict(params or {})
        self.train_origins = int(train_origins)
        self.min_history = int(min_history)
        self.num_threads = int(num_threads)
        self.seed = int(seed)
        self.scale_floor = float(scale_floor)
        self.min_train_rows = int(min_train_rows)
        self.adi_cutoff = float(adi_cutoff)
        self.cv2_cutoff = float(cv2_cutoff)

    def lgbm_params(self) -> dict[str, Any]:
        params = dict(DEFAULT_GBM_PARAMS)
        params.update(self.params)
        params.update(FIXED_GBM_PARAMS)
        params["random_state"] = self.seed
        params["n_jobs"] = self.num_threads
        return params

    def _feature_args(self) -> dict[str, float]:
        return {"scale_floor": self.scale_floor, "adi_cutoff": self.adi_cutoff, "cv2_cutoff": self.cv2_cutoff}

    def training_set(self, arrays: PanelArrays, est_origin: int, price_ff: np.ndarray | None = None):
        """Stacked ``(X, target, weight)`` for estimation at ``est_origin``."""
        if price_ff is None:
            price_ff = forward_fill(arrays.price)
        Xs, ts, ws = [], [], []
        first = max(0, est_origin - self.train_origins - self.horizon + 1)
        for o in range(first, est_origin):
            feats = origin_features(
                arrays, o, self.horizon, self.min_history, price_ff=price_ff, **self._feature_args()
            )
            if len(feats.rows) == 0:
                continue
            tgt_col = o + feats.horizon
            keep = tgt_col <= est_origin
            target = np.full(len(feats.rows), np.nan)
            target[keep] = arrays.y[feats.rows[keep], tgt_col[keep]]
            keep &= ~np.isnan(target)
            if not keep.any():
                continue
            Xs.append(feats.X[keep])
            ts.append(target[keep] / feats.scale[keep])
            ws.append(feats.scale[keep])
        if not Xs:
            return np.zeros((0, len(GBM_FEATURES)), np.float32), np.zeros(0), np.zeros(0)
        X = np.concatenate(Xs)
        target = np.concatenate(ts)
        weight = np.concatenate(ws)
        weight = weight / weight.mean()
        return X, target, weight

    def fit_arrays(self, arrays: PanelArrays, est_origin: int, price_ff: np.ndarray | None = None) -> bool:
        """Train at ``est_origin``; returns False when there is too little data."""
        lgb = import_lightgbm()

        X, target, weight = self.training_set(arrays, est_origin, price_ff)
        self.train_origin_ = int(est_origin)
        self.train_rows_ = int(len(target))
        self.feature_names_ = list(GBM_FEATURES)
        if len(target) < self.min_train_rows:
            self.booster_ = None
            self.model_text_ = None
            return False
        cat_idx = [GBM_FEATURES.index(c) for c in GBM_CATEGORICAL]
        model = lgb.LGBMRegressor(**self.lgbm_params())
        model.fit(X, target, sample_weight=weight, feature_name=list(GBM_FEATURES), categorical_feature=cat_idx)
        self.booster_ = model
        self.model_text_ = model.booster_.model_to_string()
        return True

    def predict_arrays(self, arrays: PanelArrays, origin: int, price_ff: np.ndarray | None = None) -> np.ndarray:
        """``(n, H)`` forecasts at ``origin`` with the trained booster."""
        out = np.full((arrays.n_series, self.horizon), np.nan)
        if getattr(self, "booster_", None) is None:
            return out
        if price_ff is None:
            price_ff = forward_fill(arrays.price)
        feats = origin_features(
            arrays, origin, self.horizon, self.min_history, price_ff=price_ff, **self._feature_args()
        )
        if len(feats.rows) == 0:
            return out
        pred = self.booster_.booster_.predict(feats.X, num_threads=self.num_threads) * feats.scale
        out[feats.rows, feats.horizon - 1] = np.clip(pred, 0.0, None)
        return out

    def forecast_arrays(self, arrays: PanelArrays, origins: Sequence[int]) -> np.ndarray:
        out = empty_forecasts(arrays, origins, self.horizon)
        price_ff = forward_fill(arrays.price)
        self.fit_arrays(arrays, int(origins[0]), price_ff)
        for j, o in enumerate(origins):
            out[:, j, :] = self.predict_arrays(arrays, int(o), price_ff)
        return out

    def describe(self) -> dict[str, Any]:
        """Parameters for the model registry (the thread count is left out: it does not change the model)."""
        params = {k: v for k, v in self.lgbm_params().items() if k != "n_jobs"}
        return {
            "params": params,
            "strategy": "direct, horizon as a feature, target scaled by 12-month level",
            "train_origins": self.train_origins,
            "scale_floor": self.scale_floor,
            "train_rows": getattr(self, "train_rows_", None),
        }


def features_json(arrays: PanelArrays) -> str:
    """Feature list plus the categorical code maps needed to re-use the model text."""
    from ..features import DEMAND_CLASSES

    return json.dumps(
        {
            "features": list(GBM_FEATURES),
            "categorical": list(GBM_CATEGORICAL),
            "codes": {
                "demand_class": list(DEMAND_CLASSES),
                "product_group": [str(x) for x in arrays.group_names],
                "category": [str(x) for x in arrays.category_names],
            },
        }
    )

"""Configuration of the forecasting run.

One frozen dataclass, :class:`ForecastConfig`, carries every knob of the
forecasting package.  It is plain data (picklable, JSON friendly via
:meth:`ForecastConfig.to_dict`) so it can travel to worker processes and be
stored in the model registry.

Importing this module has no side effects.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from typing import Any

from .catalog import ALL_MODELS, DEFAULT_ETS_SPECS, ETS_SPECS
from .features import ADI_CUTOFF, CV2_CUTOFF, DEMAND_CLASSES

__all__ = ["ALL_MODELS", "DEFAULT_ETS_SPECS", "DEMAND_CLASSES", "DERIVED_MODELS", "ETS_SPECS", "ForecastConfig"]

#: Names of the two derived "models" added after selection.
DERIVED_MODELS: tuple[str, ...] = ("ensemble", "champion")

#: Values of :attr:`ForecastConfig.forecast_executor`.
EXECUTORS: tuple[str, ...] = ("local", "spark")

#: Fields that say where the work runs, not what it computes: the executor gives the same forecasts
#: (tested), so they stay out of :meth:`ForecastConfig.result_settings` (the registry's config hash).
WHERE_IT_RUNS: tuple[str, ...] = ("forecast_executor", "spark_remote", "spark_master")

SPARK_MASTER = re.compile(r"local(\[(\*|\d+)(,\d+)?\])?|spark://\S+|yarn|k8s://\S+|mesos://\S+")


@dataclass(frozen=True)
class ForecastConfig:
    """Settings of one forecasting run.

    Core
        horizon: number of months forecast after each origin (1..horizon).
        n_origins: backtest origins; cutoffs are ``as_of_month - k`` months for
            ``k = 1..n_origins``.
        min_history_months: products with fewer months of history (at an origin)
            are "new" and are forecast by ``cold_start`` (plus the global
            LightGBM model and the baseline, which cope with short series).
        adi_cutoff, cv2_cutoff: Syntetos-Boylan demand-class cut-offs
            (:func:`demand_forecast.forecasting.features.demand_class_at`; the
            same dbt vars classify ``int_series_profiles``).
        models: models to run (subset of :data:`ALL_MODELS`).
        n_jobs: worker processes for the per-series statistical models; 1 runs
            in-process.  Also the default for LightGBM ``num_threads``.
        seed: seed for every random choice (LightGBM bagging, row sampling).

    Baselines and intermittent models
        baseline_weights: weights of the last k observed months, most recent
            first (normalised to sum 1).
        season_length: seasonal period in months (12).
        sba_alpha: smoothing of size and interval in Croston/SBA.
        tsb_alpha, tsb_beta: smoothing of size and of demand probability in TSB.

    Statistical models (statsmodels ETS and Theta)
        stat_classes: demand classes (at the earliest origin) that get ETS/Theta.
        stat_min_history: months of history needed at the earliest origin.
        ets_specs: candidate ETS specs (subset of :data:`ETS_SPECS`), chosen
            per series by AICc; seasonal specs are only tried with at least 2
            seasons of data.  Default: ANN, AAdN, ANA, AAdA.
        ets_season_test: a cheap seasonality test (lag-12 autocorrelation)
            picks the seasonal or the non-seasonal half of ``ets_specs``
            before fitting (halves the cost).
        ets_log: also fit every candidate spec on ``log(1 + y)`` (a multiplicative
            model of ``y``) and let AICc, corrected for the transform, choose
            (:mod:`demand_forecast.forecasting.models.ets`); twice the fits.
        stat_refit: ``"final"`` (default) estimates parameters at the earliest
            origin, re-filters with fixed parameters at every later origin and
            re-estimates at the final origin (on M1 monthly, MASE 0.689 instead
            of 0.715 for ETS, docs/benchmarks.md); ``"once"`` re-filters the
            earliest estimate up to the final forecast too (half the cost);
            ``"each"`` re-estimates at every origin
            (``n_origins + 1`` times the cost; the reference for measuring
            what the cheaper plans cost in accuracy).
        chunk_size: products per task sent to a worker process.

    Where the per-series work runs (:mod:`demand_forecast.forecasting.executor`, docs/scale.md)
        forecast_executor: ``"local"`` (default: this process and ``n_jobs``
            worker processes) or ``"spark"`` (Spark ``groupBy(product_id)
            .applyInPandas``; needs the optional ``spark`` extra).  Only the
            per-series estimation moves; LightGBM, selection and intervals stay
            in this process.
        spark_remote: Spark Connect URL (``sc://host:15002``) of the Spark
            cluster; empty: not used.
        spark_master: Spark master of a session started here (``local[2]``,
            ``local[2,3]`` = 2 cores and up to 3 attempts per task,
            ``spark://host:7077``); empty: not used.  With neither set, the
            ``spark`` executor uses the active SparkSession (e.g. the
            ``session`` a dbt-databricks Python model receives) and fails
            when there is none.

    Global LightGBM model
        gbm_params: LightGBM parameters (merged over the defaults in
            :mod:`demand_forecast.forecasting.models.global_model`).
        gbm_train_origins: how many monthly origins before the estimation
            origin feed the training set (each gives one row per product and
            horizon); 48 by default: the whole history of most panels
            (chosen with ``gbm_weighting`` and the ``l1`` objective on the
            real-data dev split, docs/benchmarks.md).
        gbm_refit: ``"final"`` trains once at the earliest backtest origin
            (re-used for all backtest origins) and once at the final origin;
            ``"each"`` trains at every origin; ``"once"`` trains only at the
            earliest origin.
        gbm_num_threads: LightGBM threads (default: ``n_jobs``).
        gbm_weighting: ``"series"`` (default) weighs every row the same (each
            product counts alike, as in MASE); ``"volume"`` weights training
            rows by the product's level (large sellers count more, as in WAPE).
        gbm_max_training_rows: most training rows of one LightGBM fit.  A fit
            with more rows trains one model per partition of whole product
            groups (a group larger than this is cut by a stable hash of
            ``product_id``), one after another, each product forecast by its
            partition's model; at or below it, one global model.  The default
            (20 M rows) is about 4.8 GiB for one fit at the measured 255 bytes
            per row (docs/scale.md, "The global model at scale").

    Cold start
        cold_start_min_products: established products a group needs before its
            own seasonal profile is used (else the all-products profile).
        cold_start_profile_months: months of history (per established product)
            used to estimate the seasonal profile.
        cold_start_launch_curve: scale the launch level by the growth that
            the group's past launches showed at the same age (ramp-up).

    Selection, ensemble, intervals
        min_selection_points: backtest points a product needs to get its own
            champion; below it the champion of its segment is used.
        ensemble_pool: how ensemble members are chosen: ``"class"`` (one
            combination per demand class, by pooled backtest MASE, see
            ``ensemble_metric``; default),
            ``"segment"`` (per demand_class|product_group) or ``"product"``
            (the product's own best ``ensemble_size`` models).  See
            :mod:`demand_forecast.forecasting.selection`.
        ensemble_size: most models averaged in the ensemble.
        ensemble_min_pool_points: backtest points a pool needs to choose its
            combination; smaller pools fall back (new products to
            ``new_product_ensemble``, others to ``"product"``).
        new_product_ensemble: members for new products whose pool is too
            small to choose (default: cold start alone).
        ensemble_method: ``"mean"`` or ``"median"``.
        ensemble_metric: how a pool scores a combination: ``"mase"`` (default;
            each point's error over its product's in-sample seasonal-naive
            MAE, averaged, so every product weighs the same) or ``"wape"``
            (errors pooled over volume: the largest products decide).
        ensemble_as_candidate: the ensemble may be chosen as champion.
        interval_quantiles: lower and upper quantile of the band (0.1, 0.9).
        interval_min_pool: residuals a (model, horizon, class) pool needs;
            smaller pools fall back to (model, horizon) then (horizon).
    """

    horizon: int = 3
    n_origins: int = 12
    min_history_months: int = 6
    adi_cutoff: float = ADI_CUTOFF
    cv2_cutoff: float = CV2_CUTOFF
    models: tuple[str, ...] = ALL_MODELS
    n_jobs: int = 1
    seed: int = 42

    baseline_weights: tuple[float, ...] = (0.5, 0.3, 0.2)
    season_length: int = 12
    sba_alpha: float = 0.1
    tsb_alpha: float = 0.1
    tsb_beta: float = 0.1

    stat_classes: tuple[str, ...] = ("smooth", "erratic")
    stat_min_history: int = 12
    ets_specs: tuple[str, ...] = DEFAULT_ETS_SPECS
    ets_season_test: bool = True
    ets_log: bool = True
    stat_refit: str = "final"
    chunk_size: int = 250
    forecast_executor: str = "local"
    spark_remote: str = ""
    spark_master: str = ""

    gbm_params: dict[str, Any] = field(default_factory=dict)
    gbm_train_origins: int = 48
    gbm_refit: str = "final"
    gbm_num_threads: int | None = None
    gbm_weighting: str = "series"
    gbm_max_training_rows: int = 20_000_000

    cold_start_min_products: int = 5
    cold_start_profile_months: int = 36
    cold_start_launch_curve: bool = True

    min_selection_points: int = 6
    ensemble_pool: str = "class"
    ensemble_size: int = 3
    ensemble_min_pool_points: int = 150
    new_product_ensemble: tuple[str, ...] = ("cold_start",)
    ensemble_method: str = "mean"
    ensemble_metric: str = "mase"
    ensemble_as_candidate: bool = True
    interval_quantiles: tuple[float, float] = (0.1, 0.9)
    interval_min_pool: int = 30

    def __post_init__(self) -> None:
        # normalise sequences to tuples so the object stays hashable/picklable
        for name in (
            "models",
            "baseline_weights",
            "stat_classes",
            "ets_specs",
            "interval_quantiles",
            "new_product_ensemble",
        ):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        object.__setattr__(self, "gbm_params", dict(self.gbm_params))
        if self.horizon < 1:
            raise ValueError("horizon must be >= 1")
        if self.n_origins < 1:
            raise ValueError("n_origins must be >= 1")
        if self.min_history_months < 1:
            raise ValueError("min_history_months must be >= 1")
        if self.n_jobs < 1:
            raise ValueError("n_jobs must be >= 1")
        unknown = set(self.models) - set(ALL_MODELS)
        if unknown:
            raise ValueError(f"unknown models {sorted(unknown)}; known: {ALL_MODELS}")
        if not self.models:
            raise ValueError("at least one model is needed")
        if not self.baseline_weights or any(w < 0 for w in self.baseline_weights) or sum(self.baseline_weights) <= 0:
            raise ValueError("baseline_weights must be non-negative with a positive sum")
        bad_specs = set(self.ets_specs) - set(ETS_SPECS)
        if bad_specs:
            raise ValueError(f"unknown ETS specs {sorted(bad_specs)}; known: {ETS_SPECS}")
        if self.stat_refit not in ("once", "final", "each"):
            raise ValueError("stat_refit must be 'once', 'final' or 'each'")
        if self.gbm_refit not in ("once", "final", "each"):
            raise ValueError("gbm_refit must be 'once', 'final' or 'each'")
        if self.gbm_weighting not in ("volume", "series"):
            raise ValueError("gbm_weighting must be 'volume' or 'series'")
        if isinstance(self.gbm_max_training_rows, bool) or not isinstance(self.gbm_max_training_rows, int):
            raise ValueError(
                f"gbm_max_training_rows must be a whole number of rows, got {self.gbm_max_training_rows!r}: "
                "set the dbt var gbm_max_training_rows (or ForecastConfig(gbm_max_training_rows=...)) to e.g. 20000000"
            )
        if self.gbm_max_training_rows < 1:
            raise ValueError(
                f"gbm_max_training_rows must be positive, got {self.gbm_max_training_rows}: set the dbt var "
                "gbm_max_training_rows to the most training rows one LightGBM fit may hold (e.g. 20000000; "
                "docs/scale.md says how much memory a row needs)"
            )
        if self.ensemble_pool not in ("class", "segment", "product"):
            raise ValueError("ensemble_pool must be 'class', 'segment' or 'product'")
        if self.ensemble_size < 1 or self.ensemble_min_pool_points < 1:
            raise ValueError("ensemble_size and ensemble_min_pool_points must be >= 1")
        unknown_new = set(self.new_product_ensemble) - set(ALL_MODELS)
        if unknown_new:
            raise ValueError(f"unknown models in new_product_ensemble {sorted(unknown_new)}")
        if self.ensemble_method not in ("mean", "median"):
            raise ValueError("ensemble_method must be 'mean' or 'median'")
        if self.ensemble_metric not in ("mase", "wape"):
            raise ValueError("ensemble_metric must be 'mase' or 'wape'")
        lo, hi = self.interval_quantiles
        if not 0.0 < lo < 0.5 < hi < 1.0:
            raise ValueError("interval_quantiles must satisfy 0 < lo < 0.5 < hi < 1")
        for name in ("sba_alpha", "tsb_alpha", "tsb_beta"):
            value = getattr(self, name)
            if not 0.0 < value <= 1.0:
                raise ValueError(f"{name} must be in (0, 1]")
        bad_classes = set(self.stat_classes) - set(DEMAND_CLASSES)
        if bad_classes:
            raise ValueError(f"unknown demand classes {sorted(bad_classes)}")
        if self.chunk_size < 1:
            raise ValueError("chunk_size must be >= 1")
        self._check_executor()
        if self.adi_cutoff <= 1.0 or self.cv2_cutoff <= 0.0:
            raise ValueError("adi_cutoff must be > 1 and cv2_cutoff > 0 (Syntetos-Boylan: 1.32 and 0.49)")

    def _check_executor(self) -> None:
        if self.forecast_executor not in EXECUTORS:
            raise ValueError(f"forecast_executor must be one of {EXECUTORS}, got {self.forecast_executor!r}")
        remote, master = self.spark_remote.strip(), self.spark_master.strip()
        object.__setattr__(self, "spark_remote", remote)
        object.__setattr__(self, "spark_master", master)
        if remote and master:
            raise ValueError(
                f"set spark_remote ({remote!r}) or spark_master ({master!r}), not both: "
                "spark_remote connects to a running Spark Connect server, spark_master starts a session here"
            )
        if remote and not remote.startswith("sc://"):
            raise ValueError(f"spark_remote must be a Spark Connect URL such as sc://127.0.0.1:15002, got {remote!r}")
        if master and not SPARK_MASTER.fullmatch(master):
            raise ValueError(
                f"spark_master {master!r} is not a Spark master URL: use local, local[N], local[*], "
                "local[N,max_failures], spark://host:port, yarn or k8s://..."
            )

    @property
    def lightgbm_threads(self) -> int:
        """Threads given to LightGBM (``gbm_num_threads`` or ``n_jobs``)."""
        return int(self.gbm_num_threads or self.n_jobs)

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict view (tuples become lists), suitable for JSON."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    def result_settings(self) -> dict[str, Any]:
        """:meth:`to_dict` without :data:`WHERE_IT_RUNS`: what decides the results (and the config hash)."""
        return {key: value for key, value in self.to_dict().items() if key not in WHERE_IT_RUNS}

    def replace(self, **changes: Any) -> ForecastConfig:
        """Copy with some fields changed."""
        return dataclasses.replace(self, **changes)

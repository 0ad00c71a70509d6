"""Coherent forecasts for the product hierarchy: total > product group > category > product.

Purchasing reads product groups. The product forecasts of a run summed to a group are one group
forecast; the project's models run on the group totals themselves are another; they disagree. This
package forecasts every level and makes the levels agree (*coherent*: every aggregate equals the sum
of its products), choosing how by the rolling-origin backtest the run already made.

Two modules: :mod:`.algebra` (the hierarchy, the error covariance, the reconciliation methods) and
:mod:`.run` (:func:`forecast_hierarchy`: every level forecast, the methods scored, one chosen).

Notation
--------
``n`` products (bottom series), ``m`` aggregates (the total, every group, every category within
its group when some group has more than one), ``N = m + n``. ``C`` is the ``(m, n)`` 0/1 matrix
with ``C[a, p] = 1`` when product ``p`` belongs to aggregate ``a``; the summing matrix is
``S = [C; I_n]`` and a vector ``y`` of all levels (aggregates first) is coherent when
``y[:m] = C y[m:]``. ``U = [I_m; -C']`` spans the constraints: ``U' y = 0`` exactly when ``y`` is
coherent.

Base forecasts
--------------
* products: the run's selected forecast (``ensemble`` or ``champion``, as in ``fct_forecasts``);
* aggregates: :func:`run_forecasting` on the aggregate series (sums of the panel's ``demand``),
  i.e. the project's own models, backtest, selection and intervals applied to the totals.

Methods (each returns a coherent vector; every one is applied per backtest point and to the final
forecasts)
-------------------------------------------------------------------------------------------------
``bottom_up``
    products unchanged, aggregates = ``C b``.
``top_down``
    the total's base forecast split over products by their historical proportions (share of the
    total's demand over the 12 months up to the origin, :func:`historical_shares`: "proportions of the
    historical averages", Gross and Sohl's method F); products whose own base forecast is 0
    (discontinued, nothing forecast) get no share.
``middle_out``
    the same from the group level: each group's base forecast split over its products.
``mint_shrink``
    trace minimisation (Wickramasuriya, Athanasopoulos and Hyndman 2019) with ``W`` the covariance
    of the base forecasts' backtest errors shrunk towards its diagonal (Schaefer and Strimmer 2005,
    the intensity ``lambda`` estimated from the data): ``y~ = y^ - W U (U' W U)^-1 U' y^``, the
    projection equal to ``S (S' W^-1 S)^-1 S' W^-1 y^`` that never forms an ``N x N`` matrix (``W``
    is kept as diagonal + low-rank factor, so 30,000 products cost ``N x T`` memory). With fewer than
    :data:`MIN_ERROR_POINTS` error vectors, ``W`` is the diagonal of each series' squared in-sample
    seasonal-naive MAE (weighted least squares by scale).

Every method ends with the products clipped at 0 and the aggregates re-summed (``S max(b~, 0)``):
no negative units, coherence kept.

Choice
------
On the backtest points (cutoffs ``as_of - k``, horizons 1..3, forecast month <= as-of), every
method's coherent forecasts are scored by MASE per level (each series' error divided by its
in-sample seasonal-naive MAE, :func:`~demand_forecast.forecasting.metrics.mase_scale_at`). For
``mint_shrink`` the covariance used at a cutoff is estimated from the backtest errors of months up
to that cutoff only (what was known then; the earliest cutoffs know too few and weigh by scale), so
its score is out of sample. The chosen method is the one with the lowest group
level MASE among the methods whose product level MASE is not above the products' own (so the
product forecasts lose nothing on the backtest); ``bottom_up`` always qualifies (its products are
the base products), and ties go to the simpler method (the order of :data:`METHODS`).
"""

from .algebra import (
    LEVELS,
    METHODS,
    MIN_ERROR_POINTS,
    Hierarchy,
    ShrunkCovariance,
    bottom_up,
    build_hierarchy,
    error_covariance,
    fill_base,
    historical_shares,
    mint,
    nonnegative,
    reconcile,
    shrunk_covariance,
    split_down,
)
from .run import CHOICE_LEVEL, SELECTABLE, HierarchyResult, aggregate_panel, choose_method, forecast_hierarchy

__all__ = [
    "CHOICE_LEVEL",
    "LEVELS",
    "METHODS",
    "MIN_ERROR_POINTS",
    "SELECTABLE",
    "Hierarchy",
    "HierarchyResult",
    "ShrunkCovariance",
    "aggregate_panel",
    "bottom_up",
    "build_hierarchy",
    "choose_method",
    "error_covariance",
    "fill_base",
    "forecast_hierarchy",
    "historical_shares",
    "mint",
    "nonnegative",
    "reconcile",
    "shrunk_covariance",
    "split_down",
]

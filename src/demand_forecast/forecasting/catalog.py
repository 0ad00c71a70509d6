"""Names the configuration accepts: the models and the ETS specs.

A leaf module (it imports nothing of the package), so :mod:`.config` can validate a configuration
without importing the models, and the models can take a :class:`~.config.ForecastConfig` without
the two importing each other. :mod:`.models` checks at import that its registry carries exactly
these names in this order, so adding a model is its file, its class in ``models.REGISTRY`` and its
name here (the import fails with a message saying so otherwise).
"""

from __future__ import annotations

#: Every model, in the fixed order used for tie-breaks (simpler models first, so an exact tie goes
#: to the simpler model); the order of ``models.REGISTRY``.
ALL_MODELS: tuple[str, ...] = (
    "baseline",
    "seasonal_naive",
    "sba",
    "tsb",
    "ets",
    "theta",
    "lightgbm",
    "cold_start",
)

#: ETS specs the package can fit (error/trend/seasonal; "Ad" = damped additive trend).
ETS_SPECS: tuple[str, ...] = ("ANN", "AAN", "AAdN", "ANA", "AAdA")

#: Default candidates: the undamped trend (AAN) is left out -- it extrapolates
#: trends too far for monthly demand and costs another fit per series.
DEFAULT_ETS_SPECS: tuple[str, ...] = ("ANN", "AAdN", "ANA", "AAdA")

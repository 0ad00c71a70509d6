"""What the selection and interval stages of :func:`~.pipeline.run_forecasting` hand on.

Plain containers in integer codes: :mod:`.pipeline` fills them, :mod:`.outputs` turns them into the
public frames. They live apart from both so that neither imports the other for them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .selection import Selection


@dataclass
class Choice:
    """Result of the selection stage (:func:`.pipeline.choose`), in integer codes.

    ``names`` are the model codes: the base models, then ``ensemble`` (``ensemble_code``) and
    ``champion`` (``champion_code``).  ``backtest`` holds the base models' and the ensemble's
    backtest rows; ``final_all`` is ``(n_products, len(names), H)``; ``underlying[p]`` is the code
    of the model the champion copies for product ``p`` (a base model or the ensemble).
    """

    class_codes: np.ndarray
    segment_names: np.ndarray
    segment_codes: np.ndarray
    names: list[str]
    selection: Selection
    backtest: pd.DataFrame
    final_all: np.ndarray
    underlying: np.ndarray

    @property
    def ensemble_code(self) -> int:
        return len(self.names) - 2

    @property
    def champion_code(self) -> int:
        return len(self.names) - 1


@dataclass
class Bands:
    """Result of the interval stage (:func:`.pipeline.interval_bands`).

    ``backtest``: every backtest row (champion rows added) with its leave-one-origin-out ``p10``
    and ``p90``.  Final forecasts, one entry per (product row ``pid``, model code ``model``,
    horizon index ``h``): ``p10, p50, p90``; ``discontinued`` marks the ones set to 0 because the
    product is discontinued by then (``discontinued_after``: column of each product's
    discontinuation month).
    """

    backtest: pd.DataFrame
    pid: np.ndarray
    model: np.ndarray
    h: np.ndarray
    p10: np.ndarray
    p50: np.ndarray
    p90: np.ndarray
    discontinued: np.ndarray
    discontinued_after: np.ndarray

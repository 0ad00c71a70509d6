"""ETS and Theta for one product at several origins: a pure function, frame in, frame out.

For engines that want one task per series (e.g. Spark ``applyInPandas`` over ``product_id``): the
estimate at the first origin and the re-filter to the later ones of :mod:`.statistical`, done for
one product's history. Apart from :mod:`.statistical` because it builds the concrete models
(:mod:`.ets`, :mod:`.theta`), which themselves build on :mod:`.statistical`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..catalog import DEFAULT_ETS_SPECS
from .ets import ETSForecaster
from .statistical import STAT_OUTPUT_COLUMNS, refilter, series_positions
from .theta import ThetaForecaster


def statistical_series_forecast(
    history: pd.DataFrame,
    origins: Sequence,
    horizon: int,
    models: Sequence[str] = ("ets", "theta"),
    ets_specs: Sequence[str] | None = None,
    season_length: int = 12,
    season_test: bool = True,
) -> pd.DataFrame:
    """Forecast one product at several origins (pure function, frame in/out).

    Parameters
    ----------
    history : one product's rows ``product_id, month, demand`` (NaN demand =
        missing, e.g. excluded from training).  Rows after the last origin are
        only used to move the filter forward to later origins.
    origins : months (ascending); parameters are estimated with data
        ``<= origins[0]`` and re-used (re-filtered) at the later origins.
    horizon : forecast months after each origin.

    Returns
    -------
    DataFrame ``product_id, model_name, origin_month, horizon, forecast, spec``
    (forecasts may be negative here; callers clip).  Empty if the product has
    no data at ``origins[0]``.
    """
    cols = list(STAT_OUTPUT_COLUMNS)
    if history.empty:
        return pd.DataFrame(columns=cols)
    product_id, y, positions = series_positions(history, origins)
    o0 = positions[0]
    if o0 < 0 or np.all(np.isnan(y[: o0 + 1])):
        return pd.DataFrame(columns=cols)
    chosen = {
        "ets": ETSForecaster(
            horizon,
            ets_specs=DEFAULT_ETS_SPECS if ets_specs is None else ets_specs,
            season_length=season_length,
            season_test=season_test,
        ),
        "theta": ThetaForecaster(horizon, season_length=season_length),
    }
    records: list[tuple] = []
    origin_months = [pd.Timestamp(o) for o in origins]
    for name in (m for m in ("ets", "theta") if m in models):
        model = chosen[name]
        state = model.fit_function(y[: o0 + 1], **model.fit_args())
        paths = refilter(state, y, o0, positions, horizon, model.update_function, model.forecast_function)
        for j, f in enumerate(paths):
            for h in range(horizon):
                records.append((product_id, name, origin_months[j], h + 1, float(f[h]), state.spec))
    return pd.DataFrame.from_records(records, columns=cols)

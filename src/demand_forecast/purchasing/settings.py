"""Settings of the purchasing models, from the dbt vars (``purchasing_settings`` in the models' YAML)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: The policy every plan is also made for: the seed's weighted moving average, the baseline to beat.
BASELINE_MODEL = "baseline"


@dataclass(frozen=True)
class PurchasingSettings:
    """lead_time_months: an order placed after month T closed is sold from month T + this (docs/purchasing.md).
    default_service_level: target of groups the seed purchasing_service_levels does not list.
    min_residual_pool: fewer cumulative backtest residuals than this: the safety stock pools wider.
    selected_forecast: the forecast purchasing orders from (var selected_forecast: ensemble | champion).
    max_multiple_of_history / min_history_months: the forecast sanity rule (as the dbt tests).
    """

    lead_time_months: int = 3
    default_service_level: float = 0.95
    min_residual_pool: int = 30
    selected_forecast: str = "ensemble"
    max_multiple_of_history: float = 5.0
    min_history_months: int = 6

    def __post_init__(self) -> None:
        if self.lead_time_months < 1:
            raise ValueError(f"var purchasing_lead_time_months must be >= 1, got {self.lead_time_months}")
        if not 0.5 <= self.default_service_level <= 0.9999:
            raise ValueError(
                "var purchasing_default_service_level must lie between 0.5 and 0.9999 (a share, e.g. 0.95), "
                f"got {self.default_service_level}"
            )

    @property
    def policies(self) -> dict[str, str]:
        """Policy name -> the model whose forecast drives it: the selected forecast and the baseline."""
        return {"selected": self.selected_forecast, "baseline": BASELINE_MODEL}

    @classmethod
    def from_dbt(cls, settings: Mapping[str, Any] | None) -> PurchasingSettings:
        """Parse the rendered config (dbt renders vars to text)."""
        settings = dict(settings or {})
        defaults = cls()

        def value(key: str, cast: type) -> Any:
            raw = settings.get(key)
            if raw in (None, "", "None"):
                return getattr(defaults, key)
            return cast(float(raw)) if cast in (int, float) else cast(raw).strip()

        return cls(
            lead_time_months=value("lead_time_months", int),
            default_service_level=value("default_service_level", float),
            min_residual_pool=value("min_residual_pool", int),
            selected_forecast=value("selected_forecast", str),
            max_multiple_of_history=value("max_multiple_of_history", float),
            min_history_months=value("min_history_months", int),
        )

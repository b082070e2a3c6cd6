"""How the enrichment job is set up: candles, the previous-close move, indicators, alerts."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from quoteflow.config import Section

__all__ = ["AlertSettings", "EnrichSettings"]


class AlertSettings(Section):
    """Alert rules of the enrichment job; a rule set to ``false`` (or with no settings) is off."""

    sma_cross: tuple[int, int] | None = Field(
        (20, 50), description="fast, slow SMA periods; false: off"
    )
    rsi_period: int | None = Field(14, ge=2, description="RSI periods; false: off")
    rsi_oversold: float = Field(30.0, ge=0, le=100)
    rsi_overbought: float = Field(70.0, ge=0, le=100)
    volume_spike_factor: float | None = Field(
        3.0, gt=0, description="volume over its average that alerts; false: off"
    )
    volume_window: int = Field(20, ge=1, description="bars in the volume average")
    levels: dict[str, list[float]] = Field(
        default_factory=dict, description="price levels per instrument"
    )
    session_extremes: bool = True
    move_changes: bool = True

    @field_validator("sma_cross", "rsi_period", "volume_spike_factor", mode="before")
    @classmethod
    def _false_is_off(cls, value: Any, info: ValidationInfo) -> Any:
        """Read ``false`` as off (TOML has no null); name what a cross needs."""
        if value is False:
            return None
        if info.field_name == "sma_cross" and isinstance(value, list | tuple) and len(value) != 2:
            raise PydanticCustomError(
                "sma_cross", "give two SMA periods, fast and slow (e.g. [20, 50]), or false for off"
            )
        return value


class EnrichSettings(Section):
    """The enrichment job: candle period, the previous-close move and indicators."""

    period: str = "1m"
    every: str | None = Field(None, description="hopping windows: a bar of period every ...")
    price: Literal["trade", "mid"] = "trade"
    threshold_pct: float = Field(5.0, gt=0, description="move size for Bullish/Bearish")
    thresholds_pct: dict[str, float] = Field(
        default_factory=dict, description="per-instrument override of threshold_pct"
    )
    indicators: str = "sma:20,sma:50,rsi:14"
    allowed_lateness_ms: int = Field(0, ge=0)
    correction_horizon_s: float = Field(
        3600.0, gt=0, description="trades kept (event time) to apply corrections and cancels"
    )
    calendar: str = "XNYS"
    previous_closes: str | None = Field(
        None, description="daily bars file, OHLCV CSV, or a lake root (directory or s3://)"
    )
    alerts: AlertSettings = AlertSettings()

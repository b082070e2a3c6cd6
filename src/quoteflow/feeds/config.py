"""How the feeds are set up: what every live feed shares, and the synthetic market."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import Field

from quoteflow.config import Section

__all__ = ["ConnectionPolicy", "LiveFeedSettings", "SyntheticSettings"]


@dataclass(frozen=True)
class ConnectionPolicy:
    """How a live feed watches and re-opens its connection.

    ``heartbeat_s``: a WebSocket ping this often; no pong within half of it
    drops the connection (None: no pings). ``idle_timeout_s``: no frame at all
    for this long drops the connection (None: wait forever, for feeds that are
    silent outside trading hours). ``open_timeout_s``: connecting,
    authenticating and confirming the subscriptions must finish within this.
    Reconnects wait ``reconnect_initial_s``, doubling up to ``reconnect_max_s``,
    each delay drawn uniformly below its cap (full jitter).
    """

    heartbeat_s: float | None = 15.0
    idle_timeout_s: float | None = None
    open_timeout_s: float = 10.0
    reconnect_initial_s: float = 0.5
    reconnect_max_s: float = 30.0


class LiveFeedSettings(Section):
    """What every live feed sets: how it watches and re-opens its connection (ConnectionPolicy)."""

    heartbeat_s: float | None = Field(
        15.0, gt=0, description="WebSocket ping interval; no pong within half drops it"
    )
    idle_timeout_s: float | None = Field(
        None, gt=0, description="no frame for this long drops the connection (none: wait)"
    )
    open_timeout_s: float = Field(10.0, gt=0, description="connect, log in and subscribe within")
    reconnect_initial_s: float = Field(0.5, gt=0, description="first reconnect delay cap")
    reconnect_max_s: float = Field(30.0, gt=0, description="longest reconnect delay cap")

    def policy(self) -> ConnectionPolicy:
        """Return the connection policy these settings describe."""
        return ConnectionPolicy(
            heartbeat_s=self.heartbeat_s,
            idle_timeout_s=self.idle_timeout_s,
            open_timeout_s=self.open_timeout_s,
            reconnect_initial_s=self.reconnect_initial_s,
            reconnect_max_s=self.reconnect_max_s,
        )


class SyntheticSettings(Section):
    """The synthetic feed (see :mod:`quoteflow.feeds.synthetic` for the model)."""

    instruments: int = Field(10, ge=1, le=1000)
    rate_per_s: float = Field(5.0, gt=0, description="quote updates per instrument per second")
    trade_probability: float = Field(0.2, ge=0, le=1)
    annual_volatility: float = Field(0.3, ge=0)
    seed: int = 7
    calendar: str = "XNYS"

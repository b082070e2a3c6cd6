"""WebSocket close codes of quoteflow's servers: why the server ended a connection."""

from __future__ import annotations

from enum import IntEnum

__all__ = ["CloseCode"]


class CloseCode(IntEnum):
    """Why the server closed a connection (WebSocket close codes)."""

    RESTARTING = 1012
    """The gateway is shutting down or restarting; reconnect and resume."""
    BAD_REQUEST = 4000
    """A message was not valid JSON or not a request of this protocol."""
    UNAUTHENTICATED = 4001
    """No ``auth`` first, within the time allowed, or the key is unknown or revoked."""
    REVOKED = 4003
    """The key was revoked while connected."""
    SLOW_CONSUMER = 4008
    """The client read too slowly: its send queue filled up (ask for ``conflate``)."""
    TOO_MANY_CONNECTIONS = 4009
    """The key already has as many connections open as it may."""
    RATE_LIMITED = 4029
    """The key's message rate limit was exceeded for longer than its queue could hold,
    or the client sent requests faster than allowed."""

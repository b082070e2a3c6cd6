"""What the gateway raises: a resume from records no longer kept, a connection to end."""

from __future__ import annotations

from quoteflow.errors import GatewayError
from quoteflow.http.websocket import CloseCode

__all__ = ["CloseConnectionError", "ResumeGapError"]


class ResumeGapError(GatewayError):
    """What a client asked to resume from is no longer kept.

    ``first`` is the oldest sequence number still available (0 if unknown).
    Example message: ``quotes.enriched: resume after 120 asked, the oldest kept is 5000``.
    """

    def __init__(self, message: str, first: int = 0) -> None:
        super().__init__(message)
        self.first = first

    @classmethod
    def missing(cls, channel: str, after: int, first: int) -> ResumeGapError:
        """Return the error for a resume after ``after`` when ``first`` is the oldest kept."""
        return cls(f"{channel}: resume after {after} asked, the oldest kept is {first}", first)


class CloseConnectionError(GatewayError):
    """Internal: end a subscriber's connection with ``code`` after sending an error message."""

    def __init__(self, code: CloseCode, reason: str, error: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.error = error

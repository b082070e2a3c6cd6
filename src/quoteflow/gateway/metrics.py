"""The gateway's counters, served at ``/metrics`` in the Prometheus text format."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

__all__ = ["GatewayMetrics"]


class GatewayMetrics:
    """Counters of one gateway, in a registry of its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.published = Counter(
            "quoteflow_gateway_published_records", "Records published to subscribers, by channel",
            ["channel"], registry=self.registry,
        )  # fmt: skip
        self.delivered = Counter(
            "quoteflow_gateway_delivered_records", "Records sent over WebSocket connections",
            registry=self.registry,
        )  # fmt: skip
        self.connections = Gauge(
            "quoteflow_gateway_connections", "Open authenticated WebSocket connections",
            registry=self.registry,
        )  # fmt: skip
        self.refusals = Counter(
            "quoteflow_gateway_refusals", "Requests refused, by reason", ["reason"],
            registry=self.registry,
        )  # fmt: skip
        self.resumes = Counter(
            "quoteflow_gateway_resumes", "Subscriptions resumed, by where the oldest record was",
            ["source"], registry=self.registry,
        )  # fmt: skip
        self.closes = Counter(
            "quoteflow_gateway_closes", "Connections the gateway closed, by close code",
            ["code"], registry=self.registry,
        )  # fmt: skip

    def total(self, name: str, **labels: str) -> float:
        """Return a counter's value, e.g. ``total("delivered_records")`` (0 if never counted)."""
        sample = f"quoteflow_gateway_{name}_total"
        return self.registry.get_sample_value(sample, labels or None) or 0.0

    def render(self) -> bytes:
        """Return every metric in the Prometheus text format."""
        return generate_latest(self.registry)

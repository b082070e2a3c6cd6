"""The gateway's counters, served at ``/metrics`` in the Prometheus text format."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client import Counter as PrometheusCounter
from prometheus_client.core import CounterMetricFamily

__all__ = ["GatewayMetrics"]


class _PerRecordCounters:
    """The counters touched for every record or frame: plain numbers, read when scraped."""

    def __init__(self, metrics: GatewayMetrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[CounterMetricFamily]:
        published = CounterMetricFamily(
            "quoteflow_gateway_published_records", "Records published to subscribers, by channel",
            labels=["channel"],
        )  # fmt: skip
        for channel, count in sorted(self._metrics.published.items()):
            published.add_metric([channel], count)
        yield published
        yield CounterMetricFamily(
            "quoteflow_gateway_delivered_records", "Records sent over WebSocket connections",
            value=self._metrics.delivered,
        )  # fmt: skip


class GatewayMetrics:
    """Counters of one gateway, in a registry of its own.

    ``published`` (per channel) and ``delivered`` are plain numbers the hot
    paths add to; the others are Prometheus counters.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.published: Counter[str] = Counter()
        self.delivered = 0
        self.registry.register(_PerRecordCounters(self))
        self.connections = Gauge(
            "quoteflow_gateway_connections", "Open authenticated WebSocket connections",
            registry=self.registry,
        )  # fmt: skip
        self.refusals = PrometheusCounter(
            "quoteflow_gateway_refusals", "Requests refused, by reason", ["reason"],
            registry=self.registry,
        )  # fmt: skip
        self.resumes = PrometheusCounter(
            "quoteflow_gateway_resumes", "Subscriptions resumed, by where the oldest record was",
            ["source"], registry=self.registry,
        )  # fmt: skip
        self.closes = PrometheusCounter(
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

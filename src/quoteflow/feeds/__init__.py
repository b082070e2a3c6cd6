"""Feeds: provider adapters (one folder each), the synthetic feed and replay.

Each provider folder has the same files (``feeds/_template/`` shows them):
``config.py`` (its settings), ``schemas.py`` (raw payloads, the provider's own
field names), ``parsing.py`` (pure functions from raw payloads to records, with
``ts_recv_ns`` passed in), ``client.py`` (the live feed) and ``factories.py``.
Past ``parsing.py`` only the shared records of :mod:`quoteflow.events` exist.
:data:`~quoteflow.feeds.registry.PROVIDERS` lists them. Names are imported on
first use, so the command line reads the registry without loading a feed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from quoteflow._lazy import lazy_names

__all__ = ["PROVIDERS", "Feed", "Normalized", "ProviderEntry", "provider"]

_HOMES = {
    "Feed": "quoteflow.feeds.base",
    "Normalized": "quoteflow.feeds.base",
    "PROVIDERS": "quoteflow.feeds.registry",
    "ProviderEntry": "quoteflow.feeds.registry",
    "provider": "quoteflow.feeds.registry",
}

if TYPE_CHECKING:
    from quoteflow.feeds.base import Feed, Normalized
    from quoteflow.feeds.registry import PROVIDERS, ProviderEntry, provider


__getattr__, __dir__ = lazy_names(__name__, _HOMES)

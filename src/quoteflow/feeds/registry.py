"""Every provider quoteflow reads, by the name commands use: one entry each.

An entry names the provider's package (``feeds/<name>/``), which follows the
contract that ``feeds/_template/`` shows: ``PROVIDER`` (the records' provider
tag), ``parse_message`` and, if the provider sends frames of messages,
``parse_frame`` (its ``__init__.py``); ``config.py`` (its settings section),
``schemas.py``, ``parsing.py``, ``client.py`` (the live feed) and
``factories.py`` (``live_feed``: the feed built from settings and a command's
options). The registry imports nothing of a provider until asked, so the
command line lists the providers without loading them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from quoteflow.events import Event
    from quoteflow.feeds.base import Normalized

__all__ = ["PROVIDERS", "ProviderEntry", "provider"]


@dataclass(frozen=True)
class ProviderEntry:
    """A provider: its command-line name, its package, and whether messages name an instrument."""

    name: str
    package: str
    instrument_required: bool = False
    """The messages do not name their instrument (IG: it is the subscription's item)."""

    def module(self) -> ModuleType:
        """Import and return the provider's package."""
        return importlib.import_module(self.package)

    def factories(self) -> ModuleType:
        """Import and return the provider's ``factories`` module (it loads the client)."""
        return importlib.import_module(f"{self.package}.factories")

    @property
    def parse_message(self) -> Callable[..., list[Event]]:
        """The message normalizer: ``(message, ts_recv_ns, *, instrument=None) -> records``."""
        return self.module().parse_message

    @property
    def parse_frame(self) -> Callable[[bytes, int], Normalized] | None:
        """The frame parser ``(frame, ts_recv_ns) -> Normalized``, if the provider has one."""
        return getattr(self.module(), "parse_frame", None)

    def settings_class(self) -> type[Any]:
        """Return the provider's settings section class (from its ``config.py``)."""
        return importlib.import_module(f"{self.package}.config").SETTINGS


PROVIDERS: dict[str, ProviderEntry] = {
    entry.name: entry
    for entry in (
        ProviderEntry("alpaca", "quoteflow.feeds.alpaca"),
        ProviderEntry("deribit", "quoteflow.feeds.deribit"),
        ProviderEntry("ig", "quoteflow.feeds.ig", instrument_required=True),
    )
}
"""The providers, by the lower-case name that commands take."""


def provider(name: str) -> ProviderEntry:
    """Return the provider called ``name``; a ValueError lists the known ones."""
    try:
        return PROVIDERS[name]
    except KeyError:
        raise ValueError(f"unknown provider {name!r}; known: {', '.join(PROVIDERS)}") from None

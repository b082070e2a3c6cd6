"""The template of a provider: copy this folder to ``feeds/<provider>/`` and fill it in.

The contract every provider folder keeps (checked for each registered provider
by ``tests/feeds/test_provider_contract.py``):

- ``__init__.py`` exports ``PROVIDER`` (the records' provider tag),
  ``parse_message`` and, when the provider sends frames of several messages,
  ``parse_frame``;
- ``config.py`` holds the settings section (from
  :class:`~quoteflow.feeds.config.LiveFeedSettings`) and names it ``SETTINGS``;
- ``schemas.py``: the wire messages as msgspec structs, the provider's own names;
- ``parsing.py``: pure functions from messages to records (``ts_recv_ns`` passed in);
- ``client.py``: the live feed, a :class:`~quoteflow.feeds.connection.WebSocketFeed`;
- ``factories.py``: ``async def live_feed(settings, ...)`` that a command calls.

Then add a :class:`~quoteflow.feeds.registry.ProviderEntry` to
:data:`~quoteflow.feeds.registry.PROVIDERS`, the section to
:class:`quoteflow.app.settings.Settings`, and an ``ingest`` command in
``cli/ingest.py``. This example speaks a made-up protocol: JSON quotes such as
``{"sym": "X", "bid": 1.0, "ask": 1.1, "t": 1700000000000}`` (milliseconds).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from quoteflow._lazy import lazy_names

__all__ = ["PROVIDER", "parse_frame", "parse_message"]

if TYPE_CHECKING:
    from quoteflow.feeds._template.parsing import PROVIDER, parse_frame, parse_message

__getattr__, __dir__ = lazy_names(__name__, {
    "PROVIDER": "quoteflow.feeds._template.parsing",
    "parse_frame": "quoteflow.feeds._template.parsing",
    "parse_message": "quoteflow.feeds._template.parsing",
})  # fmt: skip

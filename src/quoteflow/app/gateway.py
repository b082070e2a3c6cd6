"""The gateway as the settings describe it: keys, audit log, replay window, the lake behind it."""

from __future__ import annotations

import secrets

from quoteflow.access.keys import KeyStore
from quoteflow.app.settings import Settings
from quoteflow.events import Bar, from_batch
from quoteflow.gateway.audit import AuditLog
from quoteflow.gateway.hub import Hub
from quoteflow.gateway.journal import Journal
from quoteflow.gateway.service import BarReader, Gateway, GatewayOptions
from quoteflow.lake.query import Lake
from quoteflow.storage import LakeRoot

__all__ = ["build_gateway", "lake_bars"]


def lake_bars(lake: LakeRoot) -> BarReader:
    """Return a reader of the bars recorded in ``lake`` (its files listed afresh each time)."""

    def read(instrument: str, period: str, start_ns: int | None, end_ns: int | None,
             limit: int) -> list[Bar]:  # fmt: skip
        table = Lake(lake).read_bars(instrument, period, start_ns=start_ns, end_ns=end_ns,
                                     limit=limit)  # fmt: skip
        return from_batch(table, Bar)  # type: ignore[return-value]

    return read


def build_gateway(
    settings: Settings, channels: tuple[str, ...], *, keys: KeyStore | None = None
) -> Gateway:
    """Return the gateway the settings describe; ``keys`` overrides ``[gateway] keys_db``."""
    config = settings.gateway
    epoch = secrets.token_hex(6)
    lake = LakeRoot.open(settings.lake.root, settings.lake.endpoint_url)
    journal = Journal(lake, epoch) if config.journal else None
    options = GatewayOptions(send_queue=config.send_queue, auth_timeout_s=config.auth_timeout_s)
    return Gateway(
        Hub(window=config.replay_window, journal=journal),
        keys or KeyStore(config.keys_db),
        channels,
        options=options,
        audit=AuditLog(config.audit_log) if config.audit_log else None,
        bars=lake_bars(lake),
        epoch=epoch,
    )

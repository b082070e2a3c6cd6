"""Everything quoteflow can be configured with: each component's settings, assembled.

Each component owns its settings class (the bus, the feeds, enrichment, the
lake, the gateway, the exchange); this module only puts them together as the
sections of one file. :mod:`quoteflow.config` reads that file and the environment.
"""

from __future__ import annotations

from pathlib import Path

from quoteflow.bus.config import BusSettings
from quoteflow.config import SettingsBase, load
from quoteflow.enrich.config import EnrichSettings
from quoteflow.exchange.config import ExchangeSettings
from quoteflow.feeds.alpaca.config import AlpacaSettings
from quoteflow.feeds.config import SyntheticSettings
from quoteflow.feeds.deribit.config import DeribitSettings
from quoteflow.feeds.ig.config import IgSettings
from quoteflow.gateway.config import GatewaySettings
from quoteflow.lake.config import LakeSettings

__all__ = ["Settings", "load_settings"]


class Settings(SettingsBase):
    """Everything quoteflow can be configured with, by section."""

    bus: BusSettings = BusSettings()
    synthetic: SyntheticSettings = SyntheticSettings()
    enrich: EnrichSettings = EnrichSettings()
    lake: LakeSettings = LakeSettings()
    alpaca: AlpacaSettings = AlpacaSettings()
    deribit: DeribitSettings = DeribitSettings()
    ig: IgSettings = IgSettings()
    gateway: GatewaySettings = GatewaySettings()
    exchange: ExchangeSettings = ExchangeSettings()


def load_settings(path: str | Path | None = None) -> Settings:
    """Load the effective settings: environment over the TOML file over defaults.

    Raises :class:`~quoteflow.errors.ConfigError` for a missing or unreadable
    file, a file with secrets readable by others, or invalid values (the message
    lists each bad key).
    """
    return load(Settings, path)

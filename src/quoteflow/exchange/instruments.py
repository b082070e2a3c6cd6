"""Reference data of the exchange: what may trade, on which price grid, in which lots.

Instruments are listed in a TOML file (an ``[[instruments]]`` table each) or a
CSV file (a row each) with the fields of :class:`ExchangeInstrument`::

    [[instruments]]
    symbol = "ACME"
    tick_size = "0.01"
    lot_size = 100
    reference_price = "25.40"
    band_pct = 10
    currency = "USD"
    calendar = "XNYS"

Prices inside the exchange are integer ticks (``price / tick_size``), never
floats; decimal prices are read exactly (write them as strings in TOML).
"""

from __future__ import annotations

import csv
import re
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import msgspec

from quoteflow.calendars import calendar_by_name
from quoteflow.errors import ConfigError

__all__ = ["SAMPLE_INSTRUMENTS", "ExchangeInstrument", "load_instruments"]

_SYMBOL = re.compile(r"^[A-Z0-9][A-Z0-9._-]{0,31}$")


class ExchangeInstrument(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One listed instrument: its price grid, lot size, price band, currency and sessions."""

    symbol: str
    tick_size: Decimal
    """The smallest price step, e.g. ``0.01``."""
    reference_price: Decimal
    """The centre of the price band (the previous close) until the day's trades move it."""
    lot_size: Annotated[int, msgspec.Meta(ge=1)] = 1
    """Quantities are whole multiples of this."""
    band_pct: Decimal = Decimal(10)
    """Orders may not be priced, nor trade, further than this from the reference price."""
    currency: str = "USD"
    calendar: str = "XNYS"
    """The ``exchange_calendars`` calendar of its sessions; ``"24/7"`` always trades."""

    def ticks(self, price: Decimal) -> int:
        """Return ``price`` in ticks; ``ValueError`` if it is not on the tick grid.

        >>> ExchangeInstrument("ACME", Decimal("0.05"), Decimal(10)).ticks(Decimal("10.15"))
        203
        """
        ticks, remainder = divmod(price, self.tick_size)
        if remainder:
            raise ValueError(f"price {price} is not a multiple of the tick size {self.tick_size}")
        return int(ticks)

    def price(self, ticks: int) -> Decimal:
        """Return the decimal price of ``ticks``."""
        return ticks * self.tick_size

    def band(self, reference_ticks: int) -> tuple[int, int]:
        """Return the lowest and highest ticks allowed around ``reference_ticks``.

        The band is rounded inwards to the grid: a price just beyond it is refused.

        >>> ExchangeInstrument("ACME", Decimal("0.01"), Decimal(10)).band(1000)
        (900, 1100)
        """
        width = reference_ticks * self.band_pct / 100
        return reference_ticks - int(width), reference_ticks + int(width)

    def check(self) -> None:
        """Raise ValueError if the fields do not fit together."""
        for name in ("tick_size", "reference_price", "band_pct"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.band_pct > 100:
            raise ValueError(f"band_pct is a percentage up to 100, got {self.band_pct}")
        if not _SYMBOL.match(self.symbol):
            raise ValueError(f"symbol {self.symbol!r}: use A-Z, 0-9, '.', '_', '-' (up to 32)")
        self.ticks(self.reference_price)
        calendar_by_name(self.calendar)
        if not re.fullmatch(r"[A-Z]{3}", self.currency):
            raise ValueError(f"currency {self.currency!r}: use an ISO 4217 code such as USD")


def _rows(path: Path) -> list[dict]:
    if path.suffix.lower() == ".toml":
        with path.open("rb") as file:
            document = tomllib.load(file)
        rows = document.get("instruments")
        if not isinstance(rows, list):
            raise ConfigError(f"{path}: expected [[instruments]] tables")
        return rows
    if path.suffix.lower() == ".csv":
        with path.open(newline="") as file:
            return [{k: v for k, v in row.items() if v not in ("", None)}
                    for row in csv.DictReader(file)]  # fmt: skip
    raise ConfigError(f"{path}: instruments come from a .toml or a .csv file")


SAMPLE_INSTRUMENTS = Path(__file__).with_name("sample_instruments.toml")
"""The listing that ships with quoteflow: instruments that trade around the clock."""


def load_instruments(path: str | Path | None) -> dict[str, ExchangeInstrument]:
    """Return the instruments listed in ``path`` (TOML or CSV; None: the sample), by symbol.

    Raises ConfigError naming the file, the entry and the field for anything
    missing, malformed or inconsistent, and for a symbol listed twice.
    """
    path = SAMPLE_INSTRUMENTS if path is None else Path(path)
    try:
        rows = _rows(path)
    except (OSError, tomllib.TOMLDecodeError, csv.Error, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: {error}") from None
    instruments: dict[str, ExchangeInstrument] = {}
    for number, row in enumerate(rows, start=1):
        where = f"{path}: instrument {number}" + (f" ({row['symbol']})" if "symbol" in row else "")
        try:
            instrument = msgspec.convert(
                {k: str(v) if isinstance(v, float) else v for k, v in row.items()},
                ExchangeInstrument, strict=False,
            )  # fmt: skip
            instrument.check()
        except (msgspec.ValidationError, ValueError) as error:
            raise ConfigError(f"{where}: {error}") from None
        if instrument.symbol in instruments:
            raise ConfigError(f"{where}: {instrument.symbol} is listed twice")
        instruments[instrument.symbol] = instrument
    if not instruments:
        raise ConfigError(f"{path}: no instruments listed")
    return instruments

"""Reference data: loaded exactly from TOML and CSV, refused with the entry and field named."""

from decimal import Decimal

import pytest

from quoteflow.errors import ConfigError
from quoteflow.exchange.instruments import ExchangeInstrument, load_instruments

TOML = """
[[instruments]]
symbol = "ACME"
tick_size = "0.01"
lot_size = 100
reference_price = "25.40"
band_pct = 10

[[instruments]]
symbol = "BTC-USD"
tick_size = 0.5
reference_price = 64000
currency = "USD"
calendar = "24/7"
"""


def test_toml_and_csv_give_the_same_instruments_with_exact_decimals(tmp_path):
    (tmp_path / "listing.toml").write_text(TOML)
    (tmp_path / "listing.csv").write_text(
        "symbol,tick_size,lot_size,reference_price,band_pct,currency,calendar\n"
        "ACME,0.01,100,25.40,10,,\n"
        "BTC-USD,0.5,,64000,,USD,24/7\n"
    )
    from_toml = load_instruments(tmp_path / "listing.toml")
    assert from_toml == load_instruments(tmp_path / "listing.csv")
    acme = from_toml["ACME"]
    assert acme.tick_size == Decimal("0.01") and acme.reference_price == Decimal("25.40")
    assert acme.lot_size == 100
    assert acme.ticks(Decimal("25.40")) == 2540 and acme.price(2541) == Decimal("25.41")
    assert from_toml["BTC-USD"].ticks(Decimal("64000.5")) == 128001


def test_the_band_is_rounded_inwards_to_the_grid():
    odd = ExchangeInstrument("ODD", Decimal("0.01"), Decimal("10.05"), band_pct=Decimal(10))
    assert odd.band(1005) == (905, 1105)  # 100.5 ticks wide: a price 100.5 ticks away is out


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ('symbol = "acme"\ntick_size = "0.01"\nreference_price = "1"', "symbol 'acme'"),
        ('symbol = "ACME"\ntick_size = "0"\nreference_price = "1"', "tick_size"),
        ('symbol = "ACME"\ntick_size = "0.01"\nreference_price = "1.005"', "not a multiple"),
        ('symbol = "ACME"\ntick_size = "0.01"', "reference_price"),
        ('symbol = "ACME"\ntick_size = "0.01"\nreference_price = "1"\nlot_size = 0', "lot_size"),
        ('symbol = "ACME"\ntick_size = "0.01"\nreference_price = "1"\ncalendar = "MOON"',
         "unknown exchange calendar 'MOON'"),
        ('symbol = "ACME"\ntick_size = "0.01"\nreference_price = "1"\nfee = 1', "fee"),
    ],
)  # fmt: skip
def test_bad_entries_are_refused_naming_the_entry_and_field(tmp_path, entry, message):
    path = tmp_path / "listing.toml"
    path.write_text(f"[[instruments]]\n{entry}\n")
    with pytest.raises(ConfigError, match=message) as error:
        load_instruments(path)
    assert "instrument 1" in str(error.value)


def test_duplicates_empty_files_and_other_formats_are_refused(tmp_path):
    path = tmp_path / "listing.toml"
    path.write_text(TOML + TOML.split("\n\n")[0].replace("[[instruments]]", "\n[[instruments]]"))
    with pytest.raises(ConfigError, match="ACME is listed twice"):
        load_instruments(path)
    (tmp_path / "empty.csv").write_text("symbol,tick_size,reference_price\n")
    with pytest.raises(ConfigError, match="no instruments"):
        load_instruments(tmp_path / "empty.csv")
    with pytest.raises(ConfigError, match=r"\.toml or a \.csv"):
        load_instruments(tmp_path / "listing.json")

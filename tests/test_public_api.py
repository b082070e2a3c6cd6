"""The exported names of each package: a change here is a change of the public API."""

import importlib

import pytest

EXPORTS = {
    "quoteflow": ["__version__"],
    "quoteflow.bus": ["Bus", "Consumer", "MemoryBus", "MemoryConsumer", "Message"],
    "quoteflow.runtime": ["Operator", "Pipeline", "Sink", "Stage", "install_stop_signals"],
    "quoteflow.feeds": ["NORMALIZERS", "Feed", "MessageNormalizer", "Normalized"],
    "quoteflow.feeds.alpaca": ["PROVIDER", "parse_frame", "parse_message"],
    "quoteflow.feeds.deribit": ["PROVIDER", "parse_frame", "parse_message", "parse_ticker"],
    "quoteflow.feeds.ig": ["PROVIDER", "parse_message"],
    "quoteflow.enrich": [
        "BEARISH", "BULLISH", "NEUTRAL", "EnrichState", "Enricher", "PreviousCloses",
    ],
    "quoteflow.indicators": [
        "ADX", "ATR", "EMA", "MACD", "OBV", "RSI", "SMA", "WMA", "BollingerBands", "Indicator",
        "SessionVWAP", "Stochastic", "adx", "atr", "bollinger_bands", "ema", "macd", "obv", "rsi",
        "session_vwap", "sma", "stochastic", "wma",
    ],
    "quoteflow.events": [
        "EVENT_TYPES", "Alert", "Bar", "DeadLetter", "EnrichedQuote", "EnrichedTrade", "Event",
        "Interleaved", "News", "Quote", "Signal", "Status", "Ticker", "Trade", "TradeCancel",
        "TradeCorrection", "arrow_schema", "batch_type", "conform", "event_type", "from_batch",
        "to_batch",
    ],
    "quoteflow.errors": [
        "AuthenticationError", "BusError", "ConfigError", "ExchangeError", "FeedConnectionError",
        "FeedError",
        "LakeError", "NormalizeError", "OrderRejectedError", "QueryError", "QuoteflowError",
        "RecordFileError", "SubscriptionError",
    ],
}  # fmt: skip


@pytest.mark.parametrize("module", EXPORTS)
def test_exported_names_do_not_drift(module):
    mod = importlib.import_module(module)
    assert sorted(mod.__all__) == sorted(EXPORTS[module])
    for name in mod.__all__:
        assert hasattr(mod, name), f"{module}.{name} is exported but missing"


def test_every_error_derives_from_the_root():
    errors = importlib.import_module("quoteflow.errors")
    for name in errors.__all__:
        assert issubclass(getattr(errors, name), errors.QuoteflowError)
        assert name.endswith("Error")

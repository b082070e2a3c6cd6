"""The exported names of each package: a change here is a change of the public API."""

import importlib

import pytest

EXPORTS = {
    "quoteflow": [
        "Alert", "Bar", "DeadLetter", "EnrichedQuote", "EnrichedTrade", "Enricher",
        "GatewayClient", "Lake", "Pipeline", "Quote", "Sink", "Stage", "Trade", "__version__",
        "read_batches", "read_records",
    ],
    "quoteflow.lake": ["Lake", "LakeRoot", "LakeSink", "LakeWriter", "Partition"],
    "quoteflow.sinks": ["JsonLinesSink", "RecordFilesSink", "Sink", "SummarySink"],
    "quoteflow.access": ["ApiKey", "Authenticator", "KeyStore"],
    "quoteflow.bus": ["Bus", "Consumer", "MemoryBus", "MemoryConsumer", "Message", "open"],
    "quoteflow.runtime": ["Operator", "Pipeline", "Stage", "install_stop_signals"],
    "quoteflow.feeds": ["PROVIDERS", "Feed", "Normalized", "ProviderEntry", "provider"],
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
        "record_name", "record_type", "to_batch",
    ],
    "quoteflow.errors": [
        "AuthenticationError", "BusError", "ConfigError", "ExchangeError", "FeedConnectionError",
        "FeedError", "GatewayError",
        "LakeError", "NormalizeError", "QueryError", "QuoteflowError",
        "RecordFileError", "SubscriptionError",
    ],
}  # fmt: skip


@pytest.mark.parametrize("module", EXPORTS)
def test_exported_names_do_not_drift(module):
    """A package's face lists exactly these names, and each is there."""
    mod = importlib.import_module(module)
    assert sorted(mod.__all__) == sorted(EXPORTS[module])
    for name in mod.__all__:
        assert hasattr(mod, name), f"{module}.{name} is exported but missing"


def test_every_error_derives_from_the_root():
    errors = importlib.import_module("quoteflow.errors")
    for name in errors.__all__:
        assert issubclass(getattr(errors, name), errors.QuoteflowError)
        assert name.endswith("Error")


def test_the_public_names_import_lazily_and_resolve():
    import subprocess
    import sys

    code = (
        "import sys, quoteflow; assert 'quoteflow.lake' not in sys.modules; "
        "from quoteflow import Lake, Enricher, Quote, read_records; "
        "assert Lake.__module__ == 'quoteflow.lake.query'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)

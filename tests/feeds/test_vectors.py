"""Every normalizer reproduces the published reference records (tests/fixtures/vectors) exactly."""

import json

import pytest

from quoteflow.feeds import PROVIDERS
from quoteflow.formats.reference import reference_fields, to_reference
from tests.conftest import load_vector

CASES = [
    ("deribit_future_ticker", "deribit"),
    ("deribit_option_ticker", "deribit"),
    ("ig_quote", "ig"),
]


@pytest.mark.parametrize(("name", "provider"), CASES)
def test_normalizer_when_given_vector_reproduces_reference_record_exactly(name, provider):
    vector = load_vector(name)
    events = PROVIDERS[provider].parse_message(
        vector["raw"], vector["receivedAtMs"] * 1_000_000, instrument=vector["instrument"]
    )
    assert len(events) == 1
    event = events[0]
    assert event.provider == vector["provider"]
    assert event.instrument == vector["instrument"]
    reference = to_reference(event)
    # Same keys in the same order, same values and the same JSON types (1 vs 1.0).
    assert list(reference) == list(vector["normalized"])
    assert json.dumps(reference) == json.dumps(vector["normalized"])
    assert reference_fields(type(event), event.provider) == list(vector["normalized"])


def test_deribit_vector_when_wrapped_in_notification_gives_same_record():
    vector = load_vector("deribit_future_ticker")
    notification = {
        "jsonrpc": "2.0",
        "method": "subscription",
        "params": {"channel": "ticker.BTC-PERPETUAL.100ms", "data": vector["raw"]},
    }
    events = PROVIDERS["deribit"].parse_message(notification, vector["receivedAtMs"] * 1_000_000)
    assert to_reference(events[0]) == vector["normalized"]

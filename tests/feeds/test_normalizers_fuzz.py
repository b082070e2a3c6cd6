"""Random and mutated messages: normalizers raise NormalizeError or give valid records, never else.

Each normalizer gets at least 10,000 examples (counted, not assumed).
"""

import copy
import math

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quoteflow.errors import NormalizeError
from quoteflow.events import to_batch
from quoteflow.feeds import PROVIDERS
from quoteflow.feeds.alpaca import parse_frame as alpaca_frame
from quoteflow.feeds.deribit import parse_frame as deribit_frame
from quoteflow.formats.reference import to_reference
from tests.conftest import FIXTURES, load_vector

EXAMPLES = 10_000
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.from_regex(r"-?\d{1,6}(\.\d{0,4})?", fullmatch=True),
    st.sampled_from(["", "nan", "inf", "-1", "1e999", "2021-02-22T15:51:45Z", "q", "t", "n"]),
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def _alpaca_seeds() -> list[dict]:
    frames = (FIXTURES / "alpaca" / "stream.jsonl").read_text().splitlines()
    return [m for frame in frames for m in msgspec.json.decode(frame)]


SEEDS = {
    "alpaca": _alpaca_seeds(),
    "deribit": [
        load_vector("deribit_future_ticker")["raw"],
        load_vector("deribit_option_ticker")["raw"],
    ],
    "ig": [load_vector("ig_quote")["raw"]],
}


@st.composite
def mutated(draw, seeds: list[dict]) -> dict:
    message = copy.deepcopy(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 4))):
        keys = list(message)
        action = draw(st.sampled_from(["drop", "replace", "add", "negate", "nest"]))
        if action == "add" or not keys:
            message[draw(st.text(max_size=8))] = draw(json_values)
            continue
        key = draw(st.sampled_from(keys))
        if action == "drop":
            del message[key]
        elif action == "replace":
            message[key] = draw(json_values)
        elif (
            action == "negate"
            and isinstance(message[key], (int, float))
            and not isinstance(message[key], bool)
        ):
            message[key] = -message[key] - 1
        elif action == "nest" and isinstance(message[key], dict) and message[key]:
            inner = draw(st.sampled_from(list(message[key])))
            message[key][inner] = draw(json_values)
    return message


def _check_records(events) -> None:
    for event in events:
        to_batch([event])  # every value has its declared Arrow type
        for value in to_reference(event).values():
            assert not isinstance(value, float) or math.isfinite(value)


def _fuzz(provider: str) -> int:
    normalizer = PROVIDERS[provider].parse_message
    instrument = "CS.D.BITCOIN.CFE.IP" if provider == "ig" else None
    seen = 0

    @FUZZ
    @given(message=st.one_of(json_values, mutated(SEEDS[provider])))
    def run(message) -> None:
        nonlocal seen
        seen += 1
        try:
            events = normalizer(message, 1, instrument=instrument)
        except NormalizeError as error:
            assert error.field and error.reason
            return
        _check_records(events)

    run()
    return seen


def test_alpaca_normalizer_when_fuzzed_raises_only_normalize_error():
    assert _fuzz("alpaca") >= EXAMPLES


def test_deribit_normalizer_when_fuzzed_raises_only_normalize_error():
    assert _fuzz("deribit") >= EXAMPLES


def test_ig_normalizer_when_fuzzed_raises_only_normalize_error():
    assert _fuzz("ig") >= EXAMPLES


@settings(
    max_examples=2_000,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(messages=st.lists(st.one_of(json_values, mutated(SEEDS["alpaca"])), max_size=5))
def test_alpaca_frame_when_fuzzed_accounts_for_every_message(messages):
    try:
        frame = msgspec.json.encode(messages)
    except (OverflowError, TypeError, ValueError):
        return  # not encodable as JSON (huge int): no provider can send it
    result = alpaca_frame(frame, 1)
    _check_records(result.events)
    assert len(result.rejects) <= len(messages)


@settings(max_examples=2_000, deadline=None, database=None)
@given(frame=st.binary(max_size=64) | st.text(max_size=64).map(str.encode))
def test_frame_parsers_when_given_arbitrary_bytes_never_raise(frame):
    for parse in (alpaca_frame, deribit_frame):
        result = parse(frame, 1)
        _check_records(result.events)

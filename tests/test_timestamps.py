from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quoteflow.timestamps import _parse_with_arrow, parse_rfc3339_ns, parse_rfc3339_ns_many


def test_parse_keeps_nanoseconds_and_offsets():
    assert parse_rfc3339_ns("2021-02-22T15:51:44.208059788Z") == 1614009104208059788
    assert parse_rfc3339_ns("2021-02-22T16:51:44.1+01:00") == 1614009104100000000
    assert parse_rfc3339_ns("2021-02-22 15:51:44Z") == 1614009104000000000  # RFC 3339 allows " "


@pytest.mark.parametrize(
    "text",
    [
        "2021-02-22T15:51Z",
        "2021-02-22T15Z",
        "٢٠٢١-02-22T15:51:44Z",
        "2021-02-30T15:51:44Z",
        "2021-02-22T15:51:44",
        "1969-12-31T23:59:59Z",
        "2021-02-22T15:51:44.1234567890Z",
        "9999-01-01T00:00:00Z",
        "2262-04-12T00:00:00Z",
        "2021-02-22T15:51:44.Z",
        "2021-02-22T15:51:44.12a4Z",
        "2021-02-22T15:51:44,1Z",
        "0000-01-01T00:00:00Z",
        "",
    ],
)
def test_both_parsers_reject_the_same_bad_text(text):
    with pytest.raises(ValueError):
        parse_rfc3339_ns(text)
    with pytest.raises(ValueError):
        _parse_with_arrow([text])
    with pytest.raises(ValueError):
        parse_rfc3339_ns_many([text] * 100)


stamps = st.builds(
    lambda moment, digits, nanos, offset: (
        moment.strftime("%Y-%m-%dT%H:%M:%S")
        + (f".{nanos:09d}"[: digits + 1] if digits else "")
        + offset
    ),
    st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1)),
    st.integers(0, 9),
    st.integers(0, 999_999_999),
    st.sampled_from(["Z", "+00:00", "-05:00", "+05:30"]),
)


def reference_ns(text: str) -> int:
    """An independent parse: datetime for the whole seconds, the digits for the fraction."""
    whole, zone = text[:19], text[-6:] if text[-6] in "+-" else "+00:00"
    fraction = text[20 : len(text) - (1 if text.endswith("Z") else 6)] if text[19] == "." else ""
    seconds = datetime.fromisoformat(whole + zone).timestamp()
    return int(seconds) * 10**9 + int(fraction.ljust(9, "0") or 0)


@settings(max_examples=500, deadline=None)
@given(st.lists(stamps, min_size=1, max_size=20))
def test_parsers_agree_with_an_independent_parse(texts):
    expected = [reference_ns(t) for t in texts]
    assert _parse_with_arrow(texts).tolist() == expected
    assert [parse_rfc3339_ns(t) for t in texts] == expected
    assert parse_rfc3339_ns_many(texts * 32) == expected * 32


def test_parse_matches_datetime_for_whole_microseconds():
    moment = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
    assert parse_rfc3339_ns(moment.isoformat()) == int(moment.timestamp()) * 10**9 + 123456000

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from quoteflow.events import EVENT_TYPES, Trade, to_batch
from quoteflow.formats.reference import (
    JsonLinesEncoder,
    _layout_for,
    keyed_reference,
    reference_json,
    to_reference,
)

PROVIDERS = st.sampled_from(["IG", "alpaca", "deribit", "SYNTHETIC"])  # IG quotes: own layout
EVENTS = st.one_of(*(st.builds(cls, provider=PROVIDERS) for cls in EVENT_TYPES.values()))


def field_by_field(event):
    """The reference view written the plain way: every layout field, converted, tuples as lists."""
    values = msgspec.structs.asdict(event)
    out = {}
    for name, field, convert in _layout_for(type(event), event.provider):
        value = values[field]
        if convert is not None:
            value = convert(value)
        elif isinstance(value, tuple):
            value = list(value)
        out[name] = value
    return out


@given(EVENTS)
def test_the_reference_view_is_every_layout_field_converted(event):
    view, expected = to_reference(event), field_by_field(event)
    assert list(view) == list(expected)
    assert [type(v) for v in view.values()] == [type(v) for v in expected.values()]
    assert msgspec.json.encode(view) == msgspec.json.encode(expected)  # NaN != NaN


@given(EVENTS)
def test_reference_json_is_the_encoded_reference_view(event):
    assert reference_json(event) == msgspec.json.encode(to_reference(event))
    assert reference_json(event, keyed=True) == msgspec.json.encode(keyed_reference(event))


def _bounded_ints(cls):
    """Integer fields drawn within int64 (Arrow's range), the rest as their types say."""
    bounded = st.integers(-(2**62), 2**62)
    fields = {}
    for field in msgspec.structs.fields(cls):
        kinds = set(getattr(field.type, "__args__", (field.type,)))
        if int in kinds:
            fields[field.name] = st.one_of(st.none(), bounded) if type(None) in kinds else bounded
    return fields


BATCHES = (
    st.sampled_from(list(EVENT_TYPES.values()))
    .flatmap(
        lambda cls: st.lists(st.builds(cls, provider=PROVIDERS, **_bounded_ints(cls)), max_size=12)
    )
    .filter(bool)
)


@settings(max_examples=300, deadline=None)
@given(BATCHES)
def test_json_lines_from_columns_are_the_reference_lines_byte_for_byte(records):
    expected = b"".join(reference_json(r, keyed=True) + b"\n" for r in records)
    assert JsonLinesEncoder(small=0).lines(to_batch(records)) == expected


def test_json_lines_from_columns_write_floats_as_msgspec_does():
    values = [0.0, -0.0, 1e-5, 9.9e-6, 1e15, 1e16, 9999999999999998.0, 0.30000000000000004,
              2.499999999999991, 5e-324, 1.7976931348623157e308, 91.02, 1e-7, float("nan"),
              float("inf"), -float("inf"), 1 / 3]  # fmt: skip
    records = [Trade("P", "A", 1, 2, price=v, size=-v) for v in values]
    expected = b"".join(reference_json(r, keyed=True) + b"\n" for r in records)
    assert JsonLinesEncoder(small=0).lines(to_batch(records)) == expected

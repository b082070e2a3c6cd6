import msgspec
from hypothesis import given
from hypothesis import strategies as st

from quoteflow.events import EVENT_TYPES
from quoteflow.normalize import keyed_reference
from quoteflow.reference import _layout_for, reference_json, to_reference

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

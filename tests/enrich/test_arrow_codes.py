"""Arrow columns from codes and codes from Arrow columns agree with pyarrow's own."""

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quoteflow.enrich._arrow import StringCodes, maps_by_row, strings_by_code

# heads and tails shared past eight bytes, names differing only in their middle,
# empty and multibyte names
names = st.lists(
    st.one_of(
        st.text(max_size=12),
        st.text(max_size=4).map(lambda t: t + "-SAME-TAIL"),
        st.text(max_size=4).map(lambda t: "SAME-HEAD-" + t),
        st.text(max_size=12).map(lambda t: "SAME-HEAD-" + t + "-SAME-TAIL"),
    ),
    min_size=1,
    max_size=40,
    unique=True,
)


@settings(deadline=None)  # the first example compiles the numba loops
@given(names, st.data())
def test_string_codes_number_a_column_as_dictionary_encoding_does(known, data):
    rows = data.draw(st.lists(st.sampled_from(known), max_size=200))
    skip = data.draw(st.integers(0, len(rows)))
    column = pa.array(["x", *rows], pa.string()).slice(1 + skip)  # a slice: offsets shifted
    codes = StringCodes(known).codes(column)
    assert codes is not None
    assert [known[c] for c in codes.tolist()] == column.to_pylist()


@settings(deadline=None)  # the first example compiles the numba loops
@given(names, st.text(max_size=12))
def test_string_codes_give_none_for_an_unknown_string_or_a_null(known, other):
    codes = StringCodes(known)
    if other not in known:
        assert codes.codes(pa.array([known[0], other])) is None
    assert codes.codes(pa.array([known[0], None], pa.string())) is None


texts = st.lists(
    st.one_of(st.none(), st.text(max_size=30), st.sampled_from(["Bullish", "Bearish", "Neutral"])),
    min_size=1,
    max_size=6,
)


@settings(deadline=None)  # the first example compiles the numba loops
@given(texts, st.data())
def test_strings_by_code_equal_a_take(table, data):
    drawn = data.draw(st.lists(st.integers(0, len(table) - 1), max_size=100))
    codes = np.array(drawn, dtype=np.int64)
    expected = pa.array(table, pa.string()).take(pa.array(codes)).to_pylist()
    built = strings_by_code(table, codes.astype(np.int8))
    built.validate(full=True)
    assert built.to_pylist() == expected


@pytest.mark.parametrize("codes", [[1, 3, 2, 3], [1, 0, 3], [], [3] * 1000])
@pytest.mark.parametrize("table", [(None, "Bullish", "Bearish", "Neutral"), ("", "a", "bb", "c")])
def test_strings_by_code_of_equal_width_texts_equal_a_take(table, codes):
    codes = np.array(codes, dtype=np.int8)
    built = strings_by_code(table, codes)
    built.validate(full=True)
    assert built.to_pylist() == [table[c] for c in codes]


@settings(deadline=None)  # the first example compiles the numba loops
@given(st.data())
def test_maps_by_row_hold_the_values_that_are_not_nan(data):
    columns = data.draw(st.lists(st.text(min_size=1, max_size=30), min_size=1, max_size=5,
                                 unique=True))  # fmt: skip
    value = st.one_of(st.just(np.nan), st.floats(-1e6, 1e6))
    versions = data.draw(st.lists(st.lists(value, min_size=len(columns), max_size=len(columns)),
                                  min_size=1, max_size=6))  # fmt: skip
    rows = data.draw(st.lists(st.integers(0, len(versions) - 1), max_size=60))
    built = maps_by_row(columns, np.array(versions), np.array(rows, dtype=np.int64))
    built.validate(full=True)
    expected = [
        [(name, v) for name, v in zip(columns, versions[r], strict=True) if v == v] for r in rows
    ]
    assert built.to_pylist() == expected

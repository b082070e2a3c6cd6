"""One error tree: every exception quoteflow defines derives from QuoteflowError.

Each lives in ``quoteflow/errors.py`` or in a subpackage's ``errors.py`` under it.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import duckdb
import pytest

import quoteflow
from quoteflow.errors import QueryError, QuoteflowError
from quoteflow.lake.query import Lake
from quoteflow.storage import LakeRoot


def _modules():
    for info in pkgutil.walk_packages(quoteflow.__path__, "quoteflow."):
        yield importlib.import_module(info.name)


def _exceptions():
    for module in _modules():
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, BaseException) and value.__module__.startswith("quoteflow"):
                yield value


def test_every_exception_derives_from_quoteflow_error_and_lives_in_an_errors_module():
    found = set(_exceptions())
    assert found, "the walk found no exceptions"
    wrong = sorted(
        f"{cls.__module__}.{cls.__qualname__}"
        for cls in found
        if not issubclass(cls, QuoteflowError) or cls.__module__.rsplit(".", 1)[-1] != "errors"
    )
    assert wrong == []


def test_exception_names_are_not_defined_twice():
    names = [cls.__name__ for cls in set(_exceptions())]
    assert sorted(name for name in set(names) if names.count(name) > 1) == []


@pytest.mark.parametrize(
    "query",
    ["SELEC 1", "SELECT * FROM nowhere", "SELECT 1/'a'::INTEGER", "", "-- nothing"],
)
def test_the_lake_raises_its_own_query_error_not_duckdbs(tmp_path, query):
    lake = Lake(LakeRoot.open(tmp_path / "lake"))
    with pytest.raises(QueryError) as raised:
        lake.read_sql(query)
    assert not isinstance(raised.value, duckdb.Error)


def test_reading_an_unknown_view_or_bad_bars_is_a_query_error(tmp_path):
    lake = Lake(LakeRoot.open(tmp_path / "lake"))
    with pytest.raises(QueryError, match="no view"):
        lake.schema("quotes")
    assert lake.read_bars("A", "1m").num_rows == 0

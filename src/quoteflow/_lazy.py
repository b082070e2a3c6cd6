"""Package faces that import a name from its home only when it is first used.

A command that needs one light name of a package (a settings class, a record)
then does not load the package's heavy parts (numba, pyarrow, aiohttp).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_names"]


def lazy_names(
    package: str, homes: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Return a package's ``__getattr__`` and ``__dir__`` for ``homes`` (name -> module).

    Use as ``__getattr__, __dir__ = lazy_names(__name__, {...})`` in its ``__init__.py``.
    """
    namespace = importlib.import_module(package).__dict__

    def __getattr__(name: str) -> Any:  # noqa: N807 - a module's own hook
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(home), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:  # noqa: N807 - a module's own hook
        return sorted({*namespace, *homes})

    return __getattr__, __dir__

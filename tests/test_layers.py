"""The house's layers: every module imports only from its own layer or below, and no cycles.

Layers, from the ground up (ARCHITECTURE.md draws them):

1. core: records, errors, timestamps, calendars, storage roots, the config loader;
2. formats, feeds and indicators;
3. the bus, the runtime, sinks, access (API keys) and the HTTP server wrapper;
4. the services: enrich, lake, gateway, exchange; they do not import each other;
5. app, the one composition root;
6. cli, every command.

Every import counts, also those inside functions and under ``TYPE_CHECKING``.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

SOURCE = Path(__file__).parents[1] / "src"

LAYERS: list[tuple[str, ...]] = [
    ("errors", "timestamps", "calendars", "storage", "config", "events", "_lazy"),
    ("formats", "feeds", "indicators"),
    ("bus", "runtime", "sinks", "access", "http"),
    ("enrich", "lake", "gateway", "exchange"),
    ("app",),
    ("cli",),
]
INDEPENDENT = {"enrich", "lake", "gateway", "exchange"}
"""Services that talk through records and the bus, not through imports: app wires them."""

_LAYER_OF = {room: index for index, rooms in enumerate(LAYERS) for room in rooms}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SOURCE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Return the quoteflow modules ``path`` imports, relative imports resolved."""
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package.pop()
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return {name for name in found if name.startswith("quoteflow.")}


def _room(module: str) -> str:
    """Return the top-level room of a module: ``quoteflow.lake.writer`` -> ``lake``."""
    return module.split(".")[1]


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(path): path for path in SOURCE.rglob("*.py")}
    graph = {}
    for module, path in modules.items():
        graph[module] = {name for name in _imports(path) if name in modules and name != module}
    return graph


def test_every_room_has_a_layer():
    rooms = {_room(module) for module in _graph() if module.count(".") >= 1}
    assert rooms - _LAYER_OF.keys() == set(), "give each new room a layer in LAYERS"


def test_no_module_imports_a_layer_above_it_or_a_service_beside_it():
    wrong = []
    for module, imported in _graph().items():
        if module == "quoteflow":
            continue
        room = _room(module)
        for name in imported:
            other = _room(name)
            if _LAYER_OF[other] > _LAYER_OF[room]:
                wrong.append(f"{module} -> {name} (up from {room} to {other})")
            elif other != room and room in INDEPENDENT and other in INDEPENDENT:
                wrong.append(f"{module} -> {name} (service {room} imports service {other})")
    assert wrong == []


def test_the_public_face_imports_no_commands():
    imported = _graph()["quoteflow"]
    assert {_room(name) for name in imported} & {"app", "cli"} == set()


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Return the strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in graph[node]:
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _without_package_faces(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """Drop the arrows from a package's ``__init__`` to its own modules (it only hands names on)."""
    faces = defaultdict(set)
    for module, imported in graph.items():
        faces[module] = {name for name in imported if not name.startswith(module + ".")}
    return dict(faces)


@pytest.mark.parametrize("graph", [_without_package_faces(_graph())], ids=["modules"])
def test_there_are_no_import_cycles(graph):
    assert _cycles(graph) == []

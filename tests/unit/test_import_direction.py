"""Imports go one way: domain <- wire <- adapters <- app <- composition root, with no cycles.

The layers (docs/architecture.md says what goes where):

- `monitor.domain`: the pure core (its own purity test says what it may not touch);
- `monitor.wire`: the MQTT contract and the record's formats, over the domain;
- adapters: the broker link, the record, HTTP, metrics, the embedded broker;
- app: the pure shell (`monitor.pipeline`), the service that runs it, settings, replay;
- the composition root: `monitor.cli`, the only module that puts the
  service, the nurses' station and the simulators together.

`dashboard` and `simulators` speak only the contract (`monitor.wire`) and the neutral modules
(the broker link, layered settings, the version), never the service; each package's own `cli`
may use that package. Every module of the three packages must have a place here: a new module
without one fails this test until it is given one.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("monitor", "dashboard", "simulators")

DOMAIN, WIRE, ADAPTER, APP, ROOT_LAYER = 0, 1, 2, 3, 4
NEUTRAL = frozenset({"monitor", "monitor.mqtt", "monitor.layered", "monitor.quiet"})
LAYERS: dict[str, int] = {
    "monitor": WIRE,  # the package itself: its version
    "monitor.domain": DOMAIN,
    "monitor.wire": WIRE,
    "monitor.mqtt": ADAPTER,
    "monitor.layered": ADAPTER,
    "monitor.quiet": ADAPTER,
    "monitor.record": ADAPTER,
    "monitor.api": ADAPTER,
    "monitor.metrics": ADAPTER,
    "monitor.broker": ADAPTER,
    "monitor.paging": ADAPTER,
    "monitor.pipeline": APP,
    "monitor.app": APP,
    "monitor.settings": APP,
    "monitor.replay": APP,
    "monitor.audit": APP,
    "monitor.cli": ROOT_LAYER,
    "monitor.__main__": ROOT_LAYER,
}


def modules(root: Path = ROOT) -> dict[str, Path]:
    """Every module of the project's packages, by dotted name (a package by its own name)."""
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def imports(source: str, module: str, is_package: bool, known: Iterable[str]) -> set[str]:
    """The project modules `source` imports (at any depth, type-checking imports included),
    each resolved to the longest known module name it names."""
    known = set(known)
    package = module if is_package else module.rpartition(".")[0]
    named: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            named |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - node.level + 1]
                base = ".".join([*parts, node.module] if node.module else parts)
            submodules = {f"{base}.{alias.name}" for alias in node.names} & known
            named |= submodules or {base}  # `from pkg import module`: the module it names
    resolved = set()
    for name in named:
        parts = name.split(".")
        for end in range(len(parts), 0, -1):
            candidate = ".".join(parts[:end])
            if candidate in known:
                resolved.add(candidate)
                break
    return resolved - {module}


def layer_of(module: str) -> int | None:
    """A module's layer: its own, or its package's (the bare `monitor` covers only itself)."""
    if module in LAYERS:
        return LAYERS[module]
    parts = module.split(".")
    for end in range(len(parts) - 1, 1, -1):
        found = LAYERS.get(".".join(parts[:end]))
        if found is not None:
            return found
    return None


def why_not(source: str, target: str) -> str | None:
    """Why `source` may not import `target` (None when it may)."""
    top, target_top = source.split(".")[0], target.split(".")[0]
    if target_top == top and top in ("dashboard", "simulators"):
        return None
    if top in ("dashboard", "simulators"):
        if target in NEUTRAL or target.startswith("monitor.wire"):
            return None
        return f"{top} speaks only the contract (monitor.wire) and the neutral modules"
    if source in NEUTRAL and not (target in NEUTRAL or target.startswith("monitor.wire")):
        return "a neutral module imports only the contract"
    mine, theirs = layer_of(source), layer_of(target)
    if mine is None:
        return f"{source} has no layer: give it one in LAYERS"
    if target_top in ("dashboard", "simulators"):
        return None if mine == ROOT_LAYER else "only the composition root plugs in the station"
    if theirs is None:
        return f"{target} has no layer: give it one in LAYERS"
    if theirs > mine:
        return f"layer {mine} imports layer {theirs} above it"
    return None


def offences(root: Path = ROOT) -> list[str]:
    found = modules(root)
    graph = {
        name: imports(path.read_text(encoding="utf-8"), name, path.name == "__init__.py", found)
        for name, path in found.items()
    }
    wrong = [
        f"{source} imports {target}: {why}"
        for source, targets in sorted(graph.items())
        for target in sorted(targets)
        if (why := why_not(source, target))
    ]
    return wrong + [f"import cycle: {' -> '.join(c)}" for c in cycles(graph)]


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each strongly connected group of more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(groups)


def test_every_import_goes_one_way_and_none_in_a_circle() -> None:
    assert offences() == []


def test_every_module_has_a_place() -> None:
    unplaced = [m for m in modules() if m.startswith("monitor") and layer_of(m) is None]

    assert unplaced == []


# The check itself ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "target"),
    [
        ("monitor.domain.chair", "monitor.wire.payloads"),
        ("monitor.wire.outbound", "monitor.record.base"),
        ("monitor.record.sqlite", "monitor.app"),
        ("monitor.api", "dashboard.web"),
        ("monitor.app", "dashboard.hub"),
        ("monitor.app", "monitor.cli"),
        ("monitor.pipeline.intake", "simulators.clinic"),
        ("dashboard.hub", "monitor.settings"),
        ("dashboard.cli", "monitor.app"),
        ("dashboard.web", "monitor.domain.alarms"),
        ("simulators.player", "monitor.pipeline.router"),
        ("monitor.mqtt", "monitor.metrics"),
        ("monitor.newthing", "monitor.wire.topics"),
    ],
)
def test_the_check_refuses_a_wrong_way_import(source: str, target: str) -> None:
    assert why_not(source, target) is not None


@pytest.mark.parametrize(
    ("source", "target"),
    [
        ("monitor.wire.outbound", "monitor.domain.chair"),
        ("monitor.app", "monitor.record"),
        ("monitor.cli", "simulators.clinic"),
        ("monitor.cli", "dashboard.web"),
        ("dashboard.hub", "monitor.mqtt"),
        ("dashboard.web", "monitor.wire.station"),
        ("simulators.pager", "monitor.wire.outbound"),
        ("simulators.cli", "simulators.player"),
    ],
)
def test_the_check_allows_a_right_way_import(source: str, target: str) -> None:
    assert why_not(source, target) is None


def test_the_check_finds_imports_of_every_form() -> None:
    known = {"monitor", "monitor.wire", "monitor.wire.topics", "monitor.domain",
             "monitor.domain.chair", "dashboard", "dashboard.web"}  # fmt: skip
    source = (
        "import monitor.wire.topics\n"
        "from ..domain import chair\n"
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from dashboard.web import Dashboard\n"
        "def f():\n    import monitor\n"
    )

    found = imports(source, "monitor.pipeline.intake", False, known)

    assert found == {"monitor.wire.topics", "monitor.domain.chair", "dashboard.web", "monitor"}


def test_the_check_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}

    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []

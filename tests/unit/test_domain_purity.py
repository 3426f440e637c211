"""The domain core stays pure: no I/O, no clock, no randomness, nothing from the outer layers."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

# The source in this repository, not whatever copy of the package happens to be installed.
DOMAIN = Path(__file__).resolve().parents[2] / "monitor" / "domain"
MODULES = sorted(DOMAIN.rglob("*.py"))

FORBIDDEN = frozenset(
    {
        "asyncio",
        "socket",
        "time",
        "datetime",
        "random",
        "threading",
        "sqlite3",
        "aiomqtt",
        "paho",
        "fastapi",
        "starlette",
        "uvicorn",
        "httpx",
        "pydantic",
        "os",
        "subprocess",
    }
)


def _package_of(path: Path) -> str:
    """The dotted package a module file belongs to (`monitor.domain` for its modules)."""
    dotted = ".".join(path.relative_to(DOMAIN.parent.parent).with_suffix("").parts)
    return dotted.rpartition(".")[0]  # a module's package; `__init__` is its package's own


def _imports(source: str, package: str) -> list[tuple[int, str]]:
    """Every module `source` imports, as absolute dotted names, with its line; relative imports
    are resolved against `package`."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            name = node.module or ""
            if node.level:
                parts = package.split(".")
                base = parts[: len(parts) - node.level + 1]
                name = ".".join([*base, node.module] if node.module else base)
            found.append((node.lineno, name))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "__import__"
        ):
            found.append((node.lineno, "__import__"))
    return found


def _why_not(name: str) -> str | None:
    top = name.split(".")[0]
    if top in FORBIDDEN:
        return f"{top} is I/O, a clock or randomness"
    if top in ("importlib", "__import__"):
        return "dynamic imports hide what the core depends on"
    if top == "monitor" and name != "monitor.domain" and not name.startswith("monitor.domain."):
        return "the domain imports nothing from the layers above it"
    return None


def test_there_are_domain_modules_to_check() -> None:
    assert {p.name for p in MODULES} >= {
        "vitals.py",
        "limits.py",
        "baseline.py",
        "alarms.py",
        "rules.py",
        "technical.py",
        "recovery.py",
        "session.py",
        "commands.py",
        "events.py",
        "chair.py",
        "clinic.py",
        "state.py",
        "vocabulary.py",
    }


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_a_domain_module_imports_nothing_impure(path: Path) -> None:
    imports = _imports(path.read_text(encoding="utf-8"), _package_of(path))

    offences = [
        f"{path.name}:{line} imports {name}: {why}"
        for line, name in imports
        if (why := _why_not(name))
    ]

    assert offences == []


@pytest.mark.parametrize(
    ("source", "offending"),
    [
        ("import time", "time"),
        ("import os.path", "os.path"),
        ("from datetime import datetime", "datetime"),
        ("import paho.mqtt.client as mqtt", "paho.mqtt.client"),
        ("from monitor.wire import payloads", "monitor.wire"),
        ("from monitor import settings", "monitor"),
        ("from .. import cli", "monitor"),
        ("from ..store import Store", "monitor.store"),
        ("if True:\n    import asyncio", "asyncio"),
        ("def f():\n    from random import random", "random"),
        ("x = __import__('socket')", "__import__"),
        ("import importlib", "importlib"),
    ],
)
def test_the_check_catches_an_impure_import(source: str, offending: str) -> None:
    names = [name for _, name in _imports(source, "monitor.domain")]

    assert offending in names
    assert _why_not(offending) is not None


@pytest.mark.parametrize(
    ("source", "resolved"),
    [
        ("from monitor.domain.vitals import Vital", "monitor.domain.vitals"),
        ("from .vitals import Vital", "monitor.domain.vitals"),
        ("from . import vitals", "monitor.domain"),
        ("import hashlib", "hashlib"),
        ("from statistics import median", "statistics"),
        ("import timeit", "timeit"),  # not `time`
    ],
)
def test_the_check_lets_pure_imports_through(source: str, resolved: str) -> None:
    names = [name for _, name in _imports(source, "monitor.domain")]

    assert names == [resolved]
    assert _why_not(resolved) is None


def test_every_domain_module_is_in_the_monitor_domain_package() -> None:
    assert {_package_of(path) for path in MODULES} == {"monitor.domain"}

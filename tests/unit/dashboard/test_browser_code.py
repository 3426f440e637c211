"""The browser code keeps no copy of the server's rules, and is ES modules with one store of state.

The rules (priority ranks, the in-session phases, the legal steps per phase, the audio pause)
come from the server in `hello` (monitor/wire/station.py). A copy in the JS would drift from the
domain without a failing test, so these checks read the JS for the shapes such a copy takes.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from monitor.domain.alarms import AlarmPriority
from monitor.domain.session import Phase

STATIC = Path(__file__).resolve().parents[3] / "dashboard" / "static"
MODULES = STATIC / "js"
SCRIPTS = sorted(STATIC.rglob("*.js"))

_PHASE = "|".join(p.value for p in Phase)
_PRIORITY = "|".join(p.value for p in AlarmPriority)
COPIES = {
    # {baseline: ["start", "discharge"], ...}
    "a phase-to-steps map": re.compile(rf"""["']?\b(?:{_PHASE})\b["']?\s*:\s*\["""),
    # {high: 3, medium: 2, low: 1}
    "a priority-rank map": re.compile(rf"""["']?\b(?:{_PRIORITY})\b["']?\s*:\s*\d"""),
    # ["baseline", "infusing", "paused", "recovery"], or its complement ["empty", "discharged"]
    "a list of phases": re.compile(rf"""\[\s*["'](?:{_PHASE})["']\s*,\s*["'](?:{_PHASE})["']"""),
    # audioPauseS: 120, AUDIO_PAUSE_S = 120
    "an audio pause's seconds": re.compile(r"pause_?s\s*[:=]\s*\d", re.IGNORECASE),
}

# What app.js held before the rules came from the server: the checks must find each of them.
OLD_COPY = """
const PRIORITY_RANK = { high: 3, medium: 2, low: 1 };
const IN_SESSION = ["baseline", "infusing", "paused", "recovery"];
const STEPS = {
  empty: ["admit"],
  discharged: ["admit"],
  baseline: ["start", "discharge"],
};
const station = { audioPauseS: 120 };
"""


def copies_in(source: str) -> list[str]:
    """What looks like a copy of a server rule in `source`, as 'what: line'."""
    found = []
    for number, line in enumerate(source.splitlines(), 1):
        found += [f"{what} at line {number}: {line.strip()}" for what, p in COPIES.items()
                  if p.search(line)]  # fmt: skip
    return found


def test_the_checks_find_each_table_the_station_used_to_copy() -> None:
    found = " | ".join(copies_in(OLD_COPY))

    for what in COPIES:
        assert what in found


def test_the_scripts_are_there_to_check() -> None:
    assert (MODULES / "main.js").is_file()
    assert (MODULES / "state.js").is_file()
    assert all(path.parent == MODULES for path in SCRIPTS), "every script is a module in js/"


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.name)
def test_no_script_declares_a_rule_the_server_sends(path: Path) -> None:
    assert copies_in(path.read_text()) == [], "take it from the hello's tables (rules.js)"


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.name)
def test_every_import_names_a_module_that_is_there(path: Path) -> None:
    for target in re.findall(r"""^import .* from ["'](.+)["'];$""", path.read_text(), re.M):
        assert target.startswith("./"), f"{path.name}: import {target} relatively, no bare name"
        assert (path.parent / target).is_file(), f"{path.name} imports {target}, which is missing"


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.name)
def test_only_the_store_keeps_state_at_the_top_of_a_module(path: Path) -> None:
    source = path.read_text()
    if path.name == "state.js":
        return
    assert not re.findall(r"^(?:export )?(?:let|var) ", source, re.M), "keep it in state.js"
    assert not re.findall(r"^(?:export )?const \w+ = new (?:Map|Set)\b", source, re.M)


@pytest.mark.parametrize("page", ["index.html", "session.html"])
def test_pages_load_their_scripts_as_modules(page: str) -> None:
    tags = re.findall(r"<script\b[^>]*>", (STATIC / page).read_text())

    assert tags, f"{page} loads no script"
    assert all('type="module"' in tag and 'src="/static/js/' in tag for tag in tags), tags

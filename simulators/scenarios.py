"""Scenarios: named session stories, kept as TOML data files in `simulators/scenarios/`.

A scenario says who the patient is (overrides of the population's traits), how the monitor
behaves (overrides of its settings), what happens during the session (episodes, timed from the
infusion start: a desaturation, a vasovagal episode, an unplugged monitor, a monitor clock that
steps...), how common it is in a realistic clinic (`mix`), and which alarms it must cause
(`expect`) or must never cause (`forbid`), which the tests check.

Most episodes last `minutes`. The clock episodes are instants instead and move the monitor's
clock by `seconds` (negative = back): `clock_step` for good from `at_min` on (a daylight-saving
change on a monitor writing local time), `clock_glitch` for the one reading sent at `at_min`.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields, replace
from enum import StrEnum
from importlib import resources
from typing import Any

from simulators.bedside import MonitorSettings
from simulators.patient import PatientTraits


class ScenarioError(ValueError):
    """A scenario file that cannot be used; the message names the file and the problem."""


class EpisodeKind(StrEnum):
    DESATURATION = "desaturation"
    BRADYCARDIA = "bradycardia"
    PROBE_OFF = "probe_off"
    LEADS_OFF = "leads_off"
    MOTION = "motion"
    CUFF_JUNK = "cuff_junk"
    UNPLUG = "unplug"
    PAUSE = "pause"
    CLOCK_STEP = "clock_step"
    CLOCK_GLITCH = "clock_glitch"


CLOCK_KINDS = frozenset({EpisodeKind.CLOCK_STEP, EpisodeKind.CLOCK_GLITCH})


@dataclass(frozen=True, slots=True)
class Episode:
    kind: EpisodeKind
    at_min: float  # from the infusion start; negative = during the baseline
    minutes: float = 0.0  # how long it lasts; the clock kinds are instants
    spo2: float = 85.0
    hr: float = 40.0
    sbp_drop: float = 0.0
    seconds: float = 0.0  # the clock kinds: how far the monitor's clock moves (negative = back)

    def __post_init__(self) -> None:
        if self.kind in CLOCK_KINDS and self.seconds == 0:
            raise ValueError(f"a {self.kind} episode needs `seconds` (negative = back)")
        if self.kind not in CLOCK_KINDS and self.minutes <= 0:
            raise ValueError(f"a {self.kind} episode needs `minutes` above 0")

    def active(self, minute: float) -> bool:
        return self.at_min <= minute < self.at_min + self.minutes


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    summary: str
    mix: float = 0.0
    expect: tuple[str, ...] = ()
    forbid: tuple[str, ...] = ()
    expect_recovery: str = "any"
    patient: dict[str, Any] = field(default_factory=dict)
    monitor: dict[str, Any] = field(default_factory=dict)
    episodes: tuple[Episode, ...] = ()

    def monitor_settings(self, base: MonitorSettings) -> MonitorSettings:
        return replace(base, **self.monitor)

    def traits(self, base: PatientTraits) -> PatientTraits:
        return replace(base, **self.patient)


_RECOVERY = {"any", "recovered", "overdue_or_late"}


def load_scenarios() -> dict[str, Scenario]:
    """Every scenario shipped with the simulator, by name."""
    folder = resources.files("simulators") / "scenarios"
    found = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            scenario = parse_scenario(entry.read_text(encoding="utf-8"), source=entry.name)
            found[scenario.name] = scenario
    return found


def parse_scenario(text: str, *, source: str) -> Scenario:
    try:
        data = tomllib.loads(text)
        return _build(data)
    except (tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ScenarioError(f"scenario {source}: {exc}") from None


def _build(data: dict[str, Any]) -> Scenario:
    patient, monitor = dict(data.get("patient", {})), dict(data.get("monitor", {}))
    _known(patient, {f.name for f in fields(PatientTraits)}, "patient")
    _known(monitor, {f.name for f in fields(MonitorSettings)}, "monitor")
    recovery = str(data.get("expect_recovery", "any"))
    if recovery not in _RECOVERY:
        raise ValueError(f"expect_recovery must be one of {sorted(_RECOVERY)}")
    episodes = tuple(
        Episode(kind=EpisodeKind(e.pop("kind")), **e) for e in map(dict, data.get("episodes", []))
    )
    return Scenario(
        name=str(data["name"]),
        summary=str(data["summary"]),
        mix=float(data.get("mix", 0.0)),
        expect=tuple(data.get("expect", ())),
        forbid=tuple(data.get("forbid", ())),
        expect_recovery=recovery,
        patient=patient,
        monitor=monitor,
        episodes=episodes,
    )


def _known(values: dict[str, Any], known: set[str], table: str) -> None:
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"[{table}] has unknown keys {unknown}; known: {sorted(known)}")

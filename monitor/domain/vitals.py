"""Vital signs as the core sees them, and the screen every reading passes first.

How this works (CLINICAL.md, safety rule 1, "doubt raises, never discards"): a value the monitor
reports is trusted unless it is physically impossible. `screen` splits a raw reading into

- `values`: everything the alarm engine may act on, odd-looking values included;
- `artefacts`: what was set aside, each with its reason, recorded and counted but never alarmed
  on. Only the impossible is set aside (a 0, which monitors send for "no valid value"; a negative
  number; SpO2 above 100; DBP at or above SBP; SBP above 300; HR above 350), a value the device
  itself flags (SpO2 with the probe off, HR with the leads off) and every number of a cuff
  reading the monitor flags `nibp_failed`;
- `doubts`: valid values that look questionable (a narrow pulse pressure, a jump far from the
  previous value, SBP under 50, HR under 25, SpO2 under 50). They still raise their alarms, at
  their normal priority, with the doubt as the alarm's note.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum


class Vital(StrEnum):
    HR = "hr"
    PR = "pr"  # the pulse oximeter's own pulse rate
    SPO2 = "spo2"
    SBP = "sbp"
    DBP = "dbp"
    MAP = "map"


CONTINUOUS_VITALS = (Vital.HR, Vital.SPO2)
NIBP_VITALS = (Vital.SBP, Vital.DBP, Vital.MAP)
ALL_VITALS = (Vital.HR, Vital.PR, Vital.SPO2, Vital.SBP, Vital.DBP, Vital.MAP)

UNITS = {
    Vital.HR: "/min",
    Vital.PR: "/min",
    Vital.SPO2: "%",
    Vital.SBP: "mmHg",
    Vital.DBP: "mmHg",
    Vital.MAP: "mmHg",
}
LABELS = {
    Vital.HR: "HR",
    Vital.PR: "PR",
    Vital.SPO2: "SpO2",
    Vital.SBP: "SBP",
    Vital.DBP: "DBP",
    Vital.MAP: "MAP",
}

# Above these no human value exists: the number is a measurement fault.
IMPOSSIBLE_ABOVE: dict[Vital, float] = {
    Vital.HR: 350.0,
    Vital.PR: 350.0,
    Vital.SPO2: 100.0,
    Vital.SBP: 300.0,
    Vital.DBP: 300.0,
    Vital.MAP: 300.0,
}
# Below these a valid value is possible but questionable: it alarms, with a note.
QUESTIONABLE_BELOW: dict[Vital, float] = {
    Vital.HR: 25.0,
    Vital.PR: 25.0,
    Vital.SPO2: 50.0,
    Vital.SBP: 50.0,
}
# A pulse pressure under this fraction of SBP is narrow: real in tamponade or shock, more often
# a cuff that measured badly (the 147/118 of a real MIMIC-II record).
NARROW_PULSE_FRACTION = 0.25
# A value this far from the previous valid one, this soon after it, is questionable: the advice
# to repeat the cuff is what a nurse does for a sudden jump anyway.
JUMP: dict[Vital, tuple[float, float]] = {  # (change, within seconds)
    Vital.SBP: (60.0, 600.0),
    Vital.DBP: (40.0, 600.0),
    Vital.HR: (40.0, 10.0),
    Vital.SPO2: (20.0, 10.0),
}
# Oximeter pulse rate and ECG HR this far apart: the SpO2 is probably a motion artefact.
PULSE_DISAGREEMENT_PER_MIN = 20.0

CHECK_CUFF = "questionable: repeat the cuff"
CHECK_LEADS = "questionable: check the ECG leads"
CHECK_PROBE = "questionable: check the probe"
MOTION_NOTE = "possible motion artefact"
ADVICE = {
    Vital.SBP: CHECK_CUFF,
    Vital.DBP: CHECK_CUFF,
    Vital.MAP: CHECK_CUFF,
    Vital.HR: CHECK_LEADS,
    Vital.PR: CHECK_PROBE,
    Vital.SPO2: CHECK_PROBE,
}


class TechnicalCondition(StrEnum):
    """Conditions a device reports about itself in a reading's `technical` list."""

    SPO2_PROBE_OFF = "spo2_probe_off"
    SPO2_MOTION = "spo2_motion"
    NIBP_FAILED = "nibp_failed"
    LEADS_OFF = "leads_off"


@dataclass(frozen=True, slots=True)
class Reading:
    """One message from a bedside monitor, in the monitor's own time (epoch seconds)."""

    ts: float
    seq: int | None = None
    hr: float | None = None
    spo2: float | None = None
    sbp: float | None = None
    dbp: float | None = None
    map: float | None = None
    technical: frozenset[str] = frozenset()
    pr: float | None = None

    def value(self, vital: Vital) -> float | None:
        value: float | None = getattr(self, vital.value)
        return value

    @property
    def has_nibp(self) -> bool:
        return self.sbp is not None or self.dbp is not None


@dataclass(frozen=True, slots=True)
class Artefact:
    vital: Vital
    value: float
    reason: str
    impossible: bool = False  # not a "no valid value" nor a device flag: the measurement failed


@dataclass(frozen=True, slots=True)
class Screened:
    """The trustworthy part of a reading, what was set aside, and what is in doubt."""

    ts: float
    values: dict[Vital, float] = field(default_factory=dict)
    artefacts: tuple[Artefact, ...] = ()
    technical: frozenset[str] = frozenset()
    doubts: dict[Vital, str] = field(default_factory=dict)

    @property
    def has_nibp(self) -> bool:
        """A whole cuff reading: both SBP and DBP valid."""
        return Vital.SBP in self.values and Vital.DBP in self.values

    @property
    def has_cuff_value(self) -> bool:
        return Vital.SBP in self.values or Vital.DBP in self.values

    def note(self, vital: Vital) -> str | None:
        """The note an alarm on `vital` carries: its doubt, or for SpO2 a motion warning."""
        doubt = self.doubts.get(vital)
        if doubt is not None:
            return doubt
        if vital is Vital.SPO2 and self._motion():
            return MOTION_NOTE
        return None

    def _motion(self) -> bool:
        if TechnicalCondition.SPO2_MOTION in self.technical:
            return True
        hr, pr = self.values.get(Vital.HR), self.values.get(Vital.PR)
        return hr is not None and pr is not None and abs(hr - pr) > PULSE_DISAGREEMENT_PER_MIN


Previous = Mapping[Vital, tuple[float, float]]  # vital -> (ts, value) of its latest valid value


def screen(
    reading: Reading, *, ts: float | None = None, previous: Previous | None = None
) -> Screened:
    """Split a reading into valid values, artefacts (with reasons) and doubts (with notes).

    Args:
        ts: the reading's time on the chair's timeline (default: its own `ts`).
        previous: the latest valid value of each vital, to spot a jump.
    """
    at = reading.ts if ts is None else ts
    values: dict[Vital, float] = {}
    artefacts: list[Artefact] = []
    for vital in ALL_VITALS:
        raw = reading.value(vital)
        if raw is None:
            continue
        reason = _impossible(vital, raw, reading.technical)
        if reason:
            artefacts.append(
                Artefact(vital, raw, reason, impossible=raw < 0 or raw > IMPOSSIBLE_ABOVE[vital])
            )
        else:
            values[vital] = raw
    _screen_cuff(values, artefacts, reading.technical)
    doubts = _doubts(values, at, previous or {})
    return Screened(at, values, tuple(artefacts), reading.technical, doubts)


def _impossible(vital: Vital, value: float, technical: frozenset[str]) -> str | None:
    if value == 0:
        return f"{LABELS[vital]} 0 means no valid value"
    if value < 0:
        return f"{LABELS[vital]} {value:g} is negative: impossible"
    if value > IMPOSSIBLE_ABOVE[vital]:
        return f"{LABELS[vital]} {value:g} above {IMPOSSIBLE_ABOVE[vital]:g} {UNITS[vital]}: impossible"
    if vital in (Vital.SPO2, Vital.PR) and TechnicalCondition.SPO2_PROBE_OFF in technical:
        return f"{LABELS[vital]} reported with the probe off"
    if vital is Vital.HR and TechnicalCondition.LEADS_OFF in technical:
        return "HR reported with the leads off"
    return None


def _screen_cuff(
    values: dict[Vital, float], artefacts: list[Artefact], technical: frozenset[str]
) -> None:
    """Set aside a whole cuff reading the monitor flags failed, whose DBP is not below SBP, or
    with an impossible SBP or DBP: one impossible number means the measurement failed."""
    reason = _cuff_fault(values, technical, artefacts)
    if reason is None:
        return
    flagged = TechnicalCondition.NIBP_FAILED in technical
    for vital in NIBP_VITALS:
        if vital in values:
            artefacts.append(Artefact(vital, values.pop(vital), reason, impossible=not flagged))


def _cuff_fault(
    values: dict[Vital, float], technical: frozenset[str], artefacts: list[Artefact]
) -> str | None:
    if not any(v in values for v in NIBP_VITALS):
        return None
    if TechnicalCondition.NIBP_FAILED in technical:
        return "cuff reading the monitor flagged nibp_failed: not trusted"
    if any(a.vital in (Vital.SBP, Vital.DBP) for a in artefacts):
        return "rest of a cuff reading whose SBP or DBP was set aside"
    sbp, dbp = values.get(Vital.SBP), values.get(Vital.DBP)
    if sbp is not None and dbp is not None and dbp >= sbp:
        return f"DBP {dbp:g} at or above SBP {sbp:g}: impossible"
    mean = values.get(Vital.MAP)
    if mean is not None and sbp is not None and dbp is not None and not dbp <= mean <= sbp:
        values.pop(Vital.MAP)  # the mean alone is wrong; SBP and DBP still stand
    return None


def _doubts(values: dict[Vital, float], ts: float, previous: Previous) -> dict[Vital, str]:
    doubts: dict[Vital, str] = {}
    for vital, value in values.items():
        why = _why_questionable(vital, value, ts, previous)
        if why:
            doubts[vital] = f"{ADVICE[vital]} ({why})"
    narrow = _narrow_pulse(values)
    if narrow:
        for vital in (Vital.SBP, Vital.DBP):
            doubts.setdefault(vital, f"{CHECK_CUFF} ({narrow})")
    return doubts


def _why_questionable(vital: Vital, value: float, ts: float, previous: Previous) -> str | None:
    floor = QUESTIONABLE_BELOW.get(vital)
    if floor is not None and value < floor:
        return f"{LABELS[vital]} {value:g} below {floor:g}"
    jump, within = JUMP.get(vital, (0.0, 0.0))
    seen = previous.get(vital)
    if jump and seen is not None and 0 <= ts - seen[0] <= within and abs(value - seen[1]) > jump:
        return f"{LABELS[vital]} jumped from {seen[1]:g} to {value:g}"
    return None


def _narrow_pulse(values: dict[Vital, float]) -> str | None:
    sbp, dbp = values.get(Vital.SBP), values.get(Vital.DBP)
    if sbp is None or dbp is None or sbp - dbp >= NARROW_PULSE_FRACTION * sbp:
        return None
    return f"narrow pulse pressure {sbp:g}/{dbp:g}"

"""Vital signs as the core sees them, and the artefact screen every reading passes first.

How this works: a bedside monitor reports what it measured, including values no living patient
can show (a 0 for "no valid value", an SpO2 probe off, a cuff reading of 40/10). `screen` splits a
raw reading into the values the alarm engine may trust and a list of artefacts, each with the
reason it was set aside. Artefacts are recorded, never alarmed on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Vital(StrEnum):
    HR = "hr"
    SPO2 = "spo2"
    SBP = "sbp"
    DBP = "dbp"
    MAP = "map"


CONTINUOUS_VITALS = (Vital.HR, Vital.SPO2)
NIBP_VITALS = (Vital.SBP, Vital.DBP, Vital.MAP)

UNITS = {Vital.HR: "/min", Vital.SPO2: "%", Vital.SBP: "mmHg", Vital.DBP: "mmHg", Vital.MAP: "mmHg"}
LABELS = {Vital.HR: "HR", Vital.SPO2: "SpO2", Vital.SBP: "SBP", Vital.DBP: "DBP", Vital.MAP: "MAP"}

# What a living adult in a chair can show. Outside these, the value is a measurement artefact.
PLAUSIBLE_RANGE: dict[Vital, tuple[float, float]] = {
    Vital.HR: (20.0, 250.0),
    Vital.SPO2: (40.0, 100.0),
    Vital.SBP: (50.0, 280.0),
    Vital.DBP: (20.0, 180.0),
    Vital.MAP: (30.0, 220.0),
}
# A cuff reading whose pulse pressure is below this is not a blood pressure (60/58).
MIN_PULSE_PRESSURE_MMHG = 10.0
# A narrow pulse pressure is real at low pressures (shock) but not with a high diastolic: the
# 147/118 of a real MIMIC-II record is a cuff artefact, 190/140 of a hypertensive crisis is not.
NARROW_PULSE_FRACTION = 0.25
NARROW_HIGH_DBP_MMHG = 100.0


class TechnicalCondition(StrEnum):
    """Conditions a device reports about itself in a reading's `technical` list."""

    SPO2_PROBE_OFF = "spo2_probe_off"
    SPO2_MOTION = "spo2_motion"
    NIBP_FAILED = "nibp_failed"
    LEADS_OFF = "leads_off"


@dataclass(frozen=True, slots=True)
class Reading:
    """One message from a bedside monitor, in event time (epoch seconds)."""

    ts: float
    seq: int | None = None
    hr: float | None = None
    spo2: float | None = None
    sbp: float | None = None
    dbp: float | None = None
    map: float | None = None
    technical: frozenset[str] = frozenset()

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


@dataclass(frozen=True, slots=True)
class Screened:
    """The trustworthy part of a reading, and what was set aside."""

    ts: float
    values: dict[Vital, float] = field(default_factory=dict)
    artefacts: tuple[Artefact, ...] = ()
    technical: frozenset[str] = frozenset()

    @property
    def has_nibp(self) -> bool:
        return Vital.SBP in self.values and Vital.DBP in self.values


def screen(reading: Reading) -> Screened:
    """Split a reading into valid values and artefacts, each artefact with its reason."""
    values: dict[Vital, float] = {}
    artefacts: list[Artefact] = []
    for vital in (*CONTINUOUS_VITALS, *NIBP_VITALS):
        raw = reading.value(vital)
        if raw is None:
            continue
        reason = _implausible(vital, raw, reading.technical)
        if reason:
            artefacts.append(Artefact(vital, raw, reason))
        else:
            values[vital] = raw
    _screen_cuff(values, artefacts)
    return Screened(reading.ts, values, tuple(artefacts), reading.technical)


def _implausible(vital: Vital, value: float, technical: frozenset[str]) -> str | None:
    if value == 0:
        return f"{LABELS[vital]} 0 means no valid value"
    low, high = PLAUSIBLE_RANGE[vital]
    if not low <= value <= high:
        return f"{LABELS[vital]} {value:g} outside {low:g}-{high:g} {UNITS[vital]}"
    if vital is Vital.SPO2 and TechnicalCondition.SPO2_PROBE_OFF in technical:
        return "SpO2 reported with the probe off"
    if vital is Vital.HR and TechnicalCondition.LEADS_OFF in technical:
        return "HR reported with the leads off"
    return None


def _screen_cuff(values: dict[Vital, float], artefacts: list[Artefact]) -> None:
    """A cuff reading stands or falls as a whole: SBP and DBP are needed together."""
    reason = _cuff_artefact(values, artefacts)
    if reason is None:
        return
    for vital in NIBP_VITALS:
        if vital in values:
            artefacts.append(Artefact(vital, values.pop(vital), reason))


def _cuff_artefact(values: dict[Vital, float], artefacts: list[Artefact]) -> str | None:
    sbp, dbp = values.get(Vital.SBP), values.get(Vital.DBP)
    if any(a.vital in NIBP_VITALS for a in artefacts):
        return "rest of an implausible cuff reading"
    if not any(v in values for v in NIBP_VITALS):
        return None
    if sbp is None or dbp is None:
        return "cuff reading without both SBP and DBP"
    pulse = sbp - dbp
    if pulse < MIN_PULSE_PRESSURE_MMHG:
        return f"pulse pressure {pulse:g} mmHg below {MIN_PULSE_PRESSURE_MMHG:g}"
    if dbp >= NARROW_HIGH_DBP_MMHG and pulse < NARROW_PULSE_FRACTION * sbp:
        return f"pulse pressure {pulse:g} mmHg under 25 % of SBP with DBP {dbp:g}: cuff artefact"
    return None

"""Alarm limits: the clinic's defaults (CLINICAL.md) and how clinic and patient overrides apply.

Every number here is clinic policy. A clinic overrides any of them in its configuration, a patient's
admission may override them again for that session. Safety rule 6: each limit has a clinical range
(`RANGES`) and a value outside it is refused with the range in the message, so a typo (sbp_low 9,
sbp_high 1800) cannot silently switch an alarm off. `Limits.check` also keeps each high limit
above its low one. `Limit` names each field, so a rule or a range that names a limit is checked
by the type checker, and a name from configuration is refused unless it is one of them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from typing import Any

from monitor.domain.vocabulary import AlarmPriority


class LimitsError(ValueError):
    """An override names an unknown limit or gives a value outside its clinical range."""


class Limit(StrEnum):
    """The name of each limit: one member per field of `Limits` (a test holds them equal)."""

    SBP_HIGH = "sbp_high"
    SBP_LOW = "sbp_low"
    DBP_HIGH = "dbp_high"
    HR_HIGH = "hr_high"
    HR_LOW = "hr_low"
    SPO2_LOW = "spo2_low"
    SPO2_CRITICAL = "spo2_critical"
    SBP_RISE = "sbp_rise"
    DBP_RISE = "dbp_rise"
    PREINFUSION_SBP_WARN = "preinfusion_sbp_warn"
    PREINFUSION_DBP_WARN = "preinfusion_dbp_warn"
    PREINFUSION_SBP_STOP = "preinfusion_sbp_stop"
    PREINFUSION_DBP_STOP = "preinfusion_dbp_stop"
    HR_DELAY_S = "hr_delay_s"
    SPO2_DELAY_S = "spo2_delay_s"
    BP_HYSTERESIS_MMHG = "bp_hysteresis_mmhg"
    HR_HYSTERESIS_PER_MIN = "hr_hysteresis_per_min"
    SPO2_HYSTERESIS_PCT = "spo2_hysteresis_pct"
    BP_WORSE_MMHG = "bp_worse_mmhg"
    HR_WORSE_PER_MIN = "hr_worse_per_min"
    SPO2_WORSE_PCT = "spo2_worse_pct"
    RECOVERY_TOLERANCE = "recovery_tolerance"
    RECOVERY_WINDOW_S = "recovery_window_s"
    RECOVERY_READINGS = "recovery_readings"
    RECOVERY_CUFF_SPACING_S = "recovery_cuff_spacing_s"
    RECOVERY_SPO2_MIN = "recovery_spo2_min"
    RECOVERY_SPO2_DROP = "recovery_spo2_drop"
    BASELINE_SPREAD_MMHG = "baseline_spread_mmhg"
    CONTINUOUS_STALE_S = "continuous_stale_s"
    NIBP_STALE_S = "nibp_stale_s"


@dataclass(frozen=True, slots=True)
class Limits:
    # Absolute limits (mmHg, /min, %).
    sbp_high: float = 180.0
    sbp_low: float = 90.0
    dbp_high: float = 110.0
    hr_high: float = 120.0
    hr_low: float = 45.0
    spo2_low: float = 90.0
    spo2_critical: float = 85.0
    # Rise over the patient's own baseline (mmHg).
    sbp_rise: float = 40.0
    dbp_rise: float = 25.0
    # Before the infusion: warn at or above, advise not to start at or above.
    preinfusion_sbp_warn: float = 140.0
    preinfusion_dbp_warn: float = 90.0
    preinfusion_sbp_stop: float = 180.0
    preinfusion_dbp_stop: float = 110.0
    # Condition delays for continuous vitals, on the chair's clock (s). NIBP alarms at once.
    hr_delay_s: float = 10.0
    spo2_delay_s: float = 15.0
    # How far back inside a limit a value must come before its alarm condition ends.
    bp_hysteresis_mmhg: float = 5.0
    hr_hysteresis_per_min: float = 5.0
    spo2_hysteresis_pct: float = 1.0
    # Worse is new: an acknowledged alarm sounds again past this further change.
    bp_worse_mmhg: float = 20.0
    hr_worse_per_min: float = 20.0
    spo2_worse_pct: float = 5.0
    # Recovery: tolerance around baseline (fraction), window after delivery ends (s),
    # consecutive in-tolerance cuffs needed and how far apart, the SpO2 a recovered patient has.
    recovery_tolerance: float = 0.20
    recovery_window_s: float = 1200.0
    recovery_readings: int = 2
    recovery_cuff_spacing_s: float = 180.0
    recovery_spo2_min: float = 94.0
    recovery_spo2_drop: float = 3.0
    # Baseline: two cuffs further apart than this (mmHg) ask for a third.
    baseline_spread_mmhg: float = 20.0
    # Technical: a vital with no valid value for this long (wall clock, s) during a session.
    continuous_stale_s: float = 60.0
    nibp_stale_s: float = 1200.0

    def with_overrides(self, overrides: Mapping[str, float]) -> Limits:
        """Return these limits with `overrides` applied; raise LimitsError naming what is wrong."""
        known = {limit.value for limit in Limit}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise LimitsError(
                f"unknown limit {', '.join(unknown)}; known limits: {', '.join(sorted(known))}"
            )
        typed: dict[str, Any] = {
            name: _typed(self, Limit(name), v) for name, v in overrides.items()
        }
        merged = replace(self, **typed)
        merged.check()
        return merged

    def value(self, limit: Limit) -> float:
        """The value of the limit `limit` names."""
        return float(getattr(self, limit.value))

    def check(self) -> None:
        """Raise LimitsError listing every limit outside its range or above its partner."""
        problems = [
            problem for limit in Limit if (problem := _out_of_range(limit, self.value(limit)))
        ]
        for low, high in _BELOW:
            if self.value(low) >= self.value(high):
                problems.append(f"{low} must be below {high}")
        if problems:
            raise LimitsError("; ".join(problems))

    def as_dict(self) -> dict[str, float]:
        return {name: float(value) for name, value in asdict(self).items()}


# The clinical range of each limit, inclusive (safety rule 6). Outside it, an alarm would be off
# in practice (sbp_low 9) or would sound for every patient (spo2_low 99).
RANGES: dict[Limit, tuple[float, float]] = {
    Limit.SBP_HIGH: (140, 240),
    Limit.SBP_LOW: (60, 120),
    Limit.DBP_HIGH: (90, 140),
    Limit.HR_HIGH: (100, 180),
    Limit.HR_LOW: (30, 60),
    Limit.SPO2_LOW: (80, 97),
    Limit.SPO2_CRITICAL: (70, 92),
    Limit.SBP_RISE: (20, 80),
    Limit.DBP_RISE: (10, 50),
    Limit.PREINFUSION_SBP_WARN: (120, 180),
    Limit.PREINFUSION_DBP_WARN: (70, 110),
    Limit.PREINFUSION_SBP_STOP: (140, 220),
    Limit.PREINFUSION_DBP_STOP: (90, 130),
    Limit.HR_DELAY_S: (0, 30),
    Limit.SPO2_DELAY_S: (0, 30),
    Limit.BP_HYSTERESIS_MMHG: (0, 20),
    Limit.HR_HYSTERESIS_PER_MIN: (0, 20),
    Limit.SPO2_HYSTERESIS_PCT: (0, 5),
    Limit.BP_WORSE_MMHG: (5, 40),
    Limit.HR_WORSE_PER_MIN: (5, 40),
    Limit.SPO2_WORSE_PCT: (2, 10),
    Limit.RECOVERY_TOLERANCE: (0.05, 0.5),
    Limit.RECOVERY_WINDOW_S: (300, 7200),
    Limit.RECOVERY_READINGS: (2, 5),
    Limit.RECOVERY_CUFF_SPACING_S: (60, 900),
    Limit.RECOVERY_SPO2_MIN: (88, 98),
    Limit.RECOVERY_SPO2_DROP: (0, 6),
    Limit.BASELINE_SPREAD_MMHG: (10, 40),
    Limit.CONTINUOUS_STALE_S: (10, 300),
    Limit.NIBP_STALE_S: (300, 3600),
}


# Each low limit must stay below its high partner.
_BELOW: tuple[tuple[Limit, Limit], ...] = (
    (Limit.SBP_LOW, Limit.SBP_HIGH),
    (Limit.HR_LOW, Limit.HR_HIGH),
    (Limit.SPO2_CRITICAL, Limit.SPO2_LOW),
    (Limit.PREINFUSION_SBP_WARN, Limit.PREINFUSION_SBP_STOP),
    (Limit.PREINFUSION_DBP_WARN, Limit.PREINFUSION_DBP_STOP),
)


def _out_of_range(name: Limit, value: float) -> str | None:
    low, high = RANGES[name]
    if math.isfinite(value) and low <= value <= high:
        return None
    return f"{name} {value:g} is outside its clinical range {low:g}-{high:g}{_unit(name)}"


def _unit(name: Limit) -> str:
    if name.endswith("_s"):
        return " s"
    if name.startswith(("sbp", "dbp", "bp", "preinfusion", "baseline")):
        return " mmHg"
    if name.startswith("hr"):
        return " /min"
    if "spo2" in name:
        return " %"
    return ""


def _typed(limits: Limits, name: Limit, value: float) -> float:
    if not math.isfinite(value):
        raise LimitsError(f"{_out_of_range(name, value)}")
    if isinstance(getattr(limits, name.value), int):
        if value != int(value):
            raise LimitsError(f"{name} must be a whole number, not {value}")
        return int(value)
    return float(value)


DEFAULT_LIMITS = Limits()


# Reminders ------------------------------------------------------------------------------------

# How long a reminder may be set to, inclusive (s): shorter nags a nurse already at the chair,
# longer lets an acknowledged emergency go quiet for good.
REMINDER_RANGES: dict[AlarmPriority, tuple[float, float]] = {
    AlarmPriority.HIGH: (60, 900),
    AlarmPriority.MEDIUM: (60, 1800),
}


@dataclass(frozen=True, slots=True)
class Reminders:
    """How long an acknowledged alarm whose condition persists stays quiet before it sounds
    again at the station (and re-enters its paging escalation), per priority.

    Defaults: 3 min for high, 10 min for medium, as bedside monitors re-announce an
    acknowledged high alarm after 2-3 minutes; a low (awareness) alarm is never re-announced.
    Clinic policy like the limits: each time must be inside `REMINDER_RANGES`.
    """

    high_s: float = 180.0
    medium_s: float = 600.0

    def __post_init__(self) -> None:
        problems = []
        for priority, value in (
            (AlarmPriority.HIGH, self.high_s),
            (AlarmPriority.MEDIUM, self.medium_s),
        ):
            low, high = REMINDER_RANGES[priority]
            if not (math.isfinite(value) and low <= value <= high):
                problems.append(
                    f"reminder {priority.value}_s {value:g} is outside its range {low:g}-{high:g} s"
                )
        if problems:
            raise LimitsError("; ".join(problems))

    def after(self, priority: AlarmPriority) -> float | None:
        """Seconds after an acknowledgement that an alarm of `priority` sounds again; None: never."""
        if priority is AlarmPriority.HIGH:
            return self.high_s
        if priority is AlarmPriority.MEDIUM:
            return self.medium_s
        return None


DEFAULT_REMINDERS = Reminders()

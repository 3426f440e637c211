"""Alarm limits: the clinic's defaults (CLINICAL.md) and how clinic and patient overrides apply.

Every number here is clinic policy. A clinic overrides any of them in its configuration, a patient's
admission may override them again for that session. Safety rule 6: each limit has a clinical range
(`RANGES`) and a value outside it is refused with the range in the message, so a typo (sbp_low 9,
sbp_high 1800) cannot silently switch an alarm off. `Limits.check` also keeps each high limit
above its low one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any


class LimitsError(ValueError):
    """An override names an unknown limit or gives a value outside its clinical range."""


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
        known = {f.name for f in fields(self)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise LimitsError(
                f"unknown limit {', '.join(unknown)}; known limits: {', '.join(sorted(known))}"
            )
        typed: dict[str, Any] = {name: _typed(self, name, v) for name, v in overrides.items()}
        merged = replace(self, **typed)
        merged.check()
        return merged

    def check(self) -> None:
        """Raise LimitsError listing every limit outside its range or above its partner."""
        problems = [
            problem
            for name, value in asdict(self).items()
            if (problem := _out_of_range(name, float(value)))
        ]
        for low, high in (
            ("sbp_low", "sbp_high"),
            ("hr_low", "hr_high"),
            ("spo2_critical", "spo2_low"),
            ("preinfusion_sbp_warn", "preinfusion_sbp_stop"),
            ("preinfusion_dbp_warn", "preinfusion_dbp_stop"),
        ):
            if getattr(self, low) >= getattr(self, high):
                problems.append(f"{low} must be below {high}")
        if problems:
            raise LimitsError("; ".join(problems))

    def as_dict(self) -> dict[str, float]:
        return {name: float(value) for name, value in asdict(self).items()}


# The clinical range of each limit, inclusive (safety rule 6). Outside it, an alarm would be off
# in practice (sbp_low 9) or would sound for every patient (spo2_low 99).
RANGES: dict[str, tuple[float, float]] = {
    "sbp_high": (140, 240),
    "sbp_low": (60, 120),
    "dbp_high": (90, 140),
    "hr_high": (100, 180),
    "hr_low": (30, 60),
    "spo2_low": (80, 97),
    "spo2_critical": (70, 92),
    "sbp_rise": (20, 80),
    "dbp_rise": (10, 50),
    "preinfusion_sbp_warn": (120, 180),
    "preinfusion_dbp_warn": (70, 110),
    "preinfusion_sbp_stop": (140, 220),
    "preinfusion_dbp_stop": (90, 130),
    "hr_delay_s": (0, 30),
    "spo2_delay_s": (0, 30),
    "bp_hysteresis_mmhg": (0, 20),
    "hr_hysteresis_per_min": (0, 20),
    "spo2_hysteresis_pct": (0, 5),
    "bp_worse_mmhg": (5, 40),
    "hr_worse_per_min": (5, 40),
    "spo2_worse_pct": (2, 10),
    "recovery_tolerance": (0.05, 0.5),
    "recovery_window_s": (300, 7200),
    "recovery_readings": (2, 5),
    "recovery_cuff_spacing_s": (60, 900),
    "recovery_spo2_min": (88, 98),
    "recovery_spo2_drop": (0, 6),
    "baseline_spread_mmhg": (10, 40),
    "continuous_stale_s": (10, 300),
    "nibp_stale_s": (300, 3600),
}


def _out_of_range(name: str, value: float) -> str | None:
    low, high = RANGES[name]
    if math.isfinite(value) and low <= value <= high:
        return None
    return f"{name} {value:g} is outside its clinical range {low:g}-{high:g}{_unit(name)}"


def _unit(name: str) -> str:
    if name.endswith("_s"):
        return " s"
    if name.startswith(("sbp", "dbp", "bp", "preinfusion", "baseline")):
        return " mmHg"
    if name.startswith("hr"):
        return " /min"
    if "spo2" in name:
        return " %"
    return ""


def _typed(limits: Limits, name: str, value: float) -> float:
    if not math.isfinite(value):
        raise LimitsError(f"{_out_of_range(name, value)}")
    if isinstance(getattr(limits, name), int):
        if value != int(value):
            raise LimitsError(f"{name} must be a whole number, not {value}")
        return int(value)
    return float(value)


DEFAULT_LIMITS = Limits()

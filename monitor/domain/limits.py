"""Alarm limits: the clinic's defaults (CLINICAL.md) and how clinic and patient overrides apply.

Every number here is clinic policy. A clinic overrides any of them in its configuration, a patient's
admission may override them again for that session; `Limits.with_overrides` checks the result
still makes sense (a high limit above its low limit, positive delays) so a typo cannot silently
switch an alarm off.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any


class LimitsError(ValueError):
    """An override names an unknown limit or gives a value that makes no sense."""


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
    # Condition delays for continuous vitals, on event time (s). NIBP alarms at once.
    hr_delay_s: float = 10.0
    spo2_delay_s: float = 15.0
    # How far back inside a limit a value must come before its alarm condition ends.
    bp_hysteresis_mmhg: float = 5.0
    hr_hysteresis_per_min: float = 5.0
    spo2_hysteresis_pct: float = 1.0
    # Recovery: tolerance around baseline (fraction), window after the infusion stops (s),
    # consecutive in-tolerance NIBP readings needed.
    recovery_tolerance: float = 0.20
    recovery_window_s: float = 1200.0
    recovery_readings: int = 2
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
        problems = [
            f"{name} must be positive"
            for name, value in asdict(self).items()
            if not math.isfinite(value) or value <= 0
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
        if self.spo2_low > 100:
            problems.append("spo2_low must be at most 100")
        if self.recovery_tolerance >= 1:
            problems.append("recovery_tolerance is a fraction of baseline, below 1 (0.2 = 20 %)")
        if problems:
            raise LimitsError("; ".join(problems))

    def as_dict(self) -> dict[str, float]:
        return {name: float(value) for name, value in asdict(self).items()}


def _typed(limits: Limits, name: str, value: float) -> float:
    if isinstance(getattr(limits, name), int):
        if value != int(value):
            raise LimitsError(f"{name} must be a whole number, not {value}")
        return int(value)
    return float(value)


DEFAULT_LIMITS = Limits()

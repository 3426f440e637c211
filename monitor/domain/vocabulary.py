"""The closed vocabularies of the core: alarm kinds, classes, priorities and states, session
phases and steps, recovery statuses. Their own module, importing nothing, so that events and
every module that makes them can name them without import circles. The modules that own the
rules for each (alarms, session, recovery) re-export them.
"""

from __future__ import annotations

from enum import StrEnum


class AlarmKind(StrEnum):
    SBP_HIGH = "sbp_high"
    SBP_LOW = "sbp_low"
    DBP_HIGH = "dbp_high"
    SBP_RISE = "sbp_rise"
    DBP_RISE = "dbp_rise"
    HR_HIGH = "hr_high"
    HR_LOW = "hr_low"
    SPO2_LOW = "spo2_low"
    SPO2_CRITICAL = "spo2_critical"
    NO_PULSE = "no_pulse"
    RECOVERY_OVERDUE = "recovery_overdue"
    PREINFUSION_BP_HIGH = "preinfusion_bp_high"
    MONITOR_OFFLINE = "monitor_offline"
    VITALS_STALE = "vitals_stale"  # contract v1; v1.1 raises one alarm per vital instead
    HR_STALE = "hr_stale"
    SPO2_STALE = "spo2_stale"
    NIBP_STALE = "nibp_stale"
    CLOCK_STEP = "clock_step"
    BASELINE_INCOMPLETE = "baseline_incomplete"
    SPO2_PROBE_OFF = "spo2_probe_off"
    NIBP_FAILED = "nibp_failed"
    LEADS_OFF = "leads_off"
    MONITOR_SERVICE_DOWN = "monitor_service_down"
    PAGING_FAILED = "paging_failed"
    RECORD_FAILING = "record_failing"  # raised by stations from the service's status


class AlarmClass(StrEnum):
    PHYSIOLOGICAL = "physiological"
    TECHNICAL = "technical"


class AlarmPriority(StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"

    @property
    def rank(self) -> int:
        return {"high": 3, "medium": 2, "low": 1}[self.value]


class AlarmState(StrEnum):
    ACTIVE = "active"
    ACKNOWLEDGED = "acknowledged"
    LATCHED = "latched"
    CLEARED = "cleared"


class Phase(StrEnum):
    EMPTY = "empty"
    BASELINE = "baseline"
    INFUSING = "infusing"
    PAUSED = "paused"
    RECOVERY = "recovery"
    DISCHARGED = "discharged"

    @property
    def open(self) -> bool:
        """A patient is in the chair under this session."""
        return self in _OPEN


_OPEN = frozenset({Phase.BASELINE, Phase.INFUSING, Phase.PAUSED, Phase.RECOVERY})


class Step(StrEnum):
    ADMIT = "admit"
    START = "start"
    PAUSE = "pause"
    RESUME = "resume"
    STOP = "stop"
    DISCHARGE = "discharge"


class RecoveryStatus(StrEnum):
    WATCHING = "watching"
    RECOVERED = "recovered"
    OVERDUE = "overdue"
    RECOVERED_LATE = "recovered_late"
    CANNOT_ASSESS = "cannot_assess"
    DISCHARGED_UNCONFIRMED = "discharged_unconfirmed"

    @property
    def final(self) -> bool:
        return self in (
            RecoveryStatus.RECOVERED,
            RecoveryStatus.RECOVERED_LATE,
            RecoveryStatus.DISCHARGED_UNCONFIRMED,
        )

    @property
    def confirmed(self) -> bool:
        return self in (RecoveryStatus.RECOVERED, RecoveryStatus.RECOVERED_LATE)

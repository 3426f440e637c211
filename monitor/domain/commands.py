"""What comes into a chair besides readings: session commands, infusion events, nurse actions.

These are already validated at the edge (monitor.wire); each carries its own event time `ts`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from monitor.domain.session import Step
from monitor.domain.vitals import Reading, Vital

MAX_AUDIO_PAUSE_S = 600.0
INFUSION_STEPS = (Step.START, Step.PAUSE, Step.RESUME, Step.STOP)


@dataclass(frozen=True, slots=True)
class Admit:
    ts: float
    patient: str
    weight_kg: float | None = None
    baseline: dict[Vital, float] = field(default_factory=dict)
    limits: dict[str, float] = field(default_factory=dict)
    by: str | None = None


@dataclass(frozen=True, slots=True)
class Discharge:
    """The patient leaves. With an unacknowledged high-priority alarm on the chair, this is
    refused unless `over_alarms` says the nurse discharges over it (recorded with `by`)."""

    ts: float
    by: str | None = None
    over_alarms: bool = False


@dataclass(frozen=True, slots=True)
class InfusionEvent:
    ts: float
    step: Step  # START, PAUSE, RESUME or STOP
    drug: str | None = None
    dose_mg_per_kg: float | None = None
    planned_minutes: float | None = None
    by: str | None = None  # who did it at the station (None: the pump itself)

    def __post_init__(self) -> None:
        if self.step not in INFUSION_STEPS:
            raise ValueError(f"an infusion event is start, pause, resume or stop, not {self.step}")


@dataclass(frozen=True, slots=True)
class Acknowledge:
    ts: float
    alarm: str  # an alarm id, or an alarm kind of this chair
    by: str


@dataclass(frozen=True, slots=True)
class PauseAudio:
    ts: float
    seconds: float
    by: str


@dataclass(frozen=True, slots=True)
class AddNote:
    """A nurse's or clinician's free-text note on the chair's open session."""

    ts: float
    text: str
    by: str


@dataclass(frozen=True, slots=True)
class SetLimits:
    """Alarm limits changed during the open session, by limit name; checked like an
    admission's overrides (safety rule 6), in force from this moment to the discharge."""

    ts: float
    limits: dict[str, float]
    by: str


@dataclass(frozen=True, slots=True)
class DeviceReport:
    """The monitor's own status: online on connect, offline (often its Last Will)."""

    ts: float | None
    online: bool
    device: str | None = None


TimedInput = (
    Reading | Admit | Discharge | InfusionEvent | Acknowledge | PauseAudio | AddNote | SetLimits
)
Input = TimedInput | DeviceReport

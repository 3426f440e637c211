"""A patient's session in a chair: its phases, the transition table, and what the nurse asked for.

The session moves admit -> baseline -> infusing (pause <-> resume) -> recovery -> discharged,
driven by session commands (admit, discharge) and infusion events (start, pause, resume, stop).
A patient may also leave from the baseline phase without an infusion. `PHASES` is the whole state
machine; a command it does not list is rejected with the reason and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from monitor.domain.baseline import Baseline, BaselineSamples
from monitor.domain.limits import Limits
from monitor.domain.recovery import RecoveryTracker
from monitor.domain.vitals import Vital
from monitor.domain.vocabulary import Phase as Phase
from monitor.domain.vocabulary import Step as Step

PHASES: dict[tuple[Phase, Step], Phase] = {
    (Phase.EMPTY, Step.ADMIT): Phase.BASELINE,
    (Phase.DISCHARGED, Step.ADMIT): Phase.BASELINE,
    (Phase.BASELINE, Step.START): Phase.INFUSING,
    (Phase.BASELINE, Step.DISCHARGE): Phase.DISCHARGED,
    (Phase.INFUSING, Step.PAUSE): Phase.PAUSED,
    (Phase.INFUSING, Step.STOP): Phase.RECOVERY,
    (Phase.PAUSED, Step.RESUME): Phase.INFUSING,
    (Phase.PAUSED, Step.STOP): Phase.RECOVERY,
    (Phase.RECOVERY, Step.DISCHARGE): Phase.DISCHARGED,
}

_WHY_NOT: dict[Step, str] = {
    Step.ADMIT: "the chair already has an open session: discharge it first",
    Step.START: "an infusion starts only after admission, once, from the baseline phase",
    Step.PAUSE: "only a running infusion can be paused",
    Step.RESUME: "only a paused infusion can be resumed",
    Step.STOP: "only a running or paused infusion can be stopped",
    Step.DISCHARGE: "discharge needs an open session with no infusion running: stop it first",
}


class IllegalStep(Exception):
    def __init__(self, phase: Phase, step: Step) -> None:
        allowed = sorted(s.value for p, s in PHASES if p is phase)
        super().__init__(
            f"cannot {step.value} in phase {phase.value}: {_WHY_NOT[step]} "
            f"(possible now: {', '.join(allowed) or 'nothing'})"
        )
        self.phase = phase
        self.step = step


def next_phase(phase: Phase, step: Step) -> Phase:
    try:
        return PHASES[(phase, step)]
    except KeyError:
        raise IllegalStep(phase, step) from None


@dataclass(slots=True)
class Infusion:
    started_at: float | None = None
    stopped_at: float | None = None
    paused_at: float | None = None
    paused_s: float = 0.0
    drug: str | None = None
    dose_mg_per_kg: float | None = None
    planned_minutes: float | None = None

    def running_s(self, now: float) -> float:
        """Seconds of infusion delivered by `now`, pauses excluded."""
        if self.started_at is None:
            return 0.0
        end = next((t for t in (self.stopped_at, self.paused_at) if t is not None), now)
        return max(0.0, end - self.started_at - self.paused_s)


@dataclass(slots=True)
class Session:
    id: str
    patient: str
    admitted_at: float
    limits: Limits
    phase: Phase = Phase.BASELINE
    phase_since: float = 0.0
    weight_kg: float | None = None
    entered_baseline: dict[Vital, float] = field(default_factory=dict)
    limit_overrides: dict[str, float] = field(default_factory=dict)
    samples: BaselineSamples = field(default_factory=BaselineSamples)
    baseline: Baseline | None = None
    infusion: Infusion = field(default_factory=Infusion)
    recovery: RecoveryTracker | None = None
    closed_at: float | None = None
    admitted_by: str | None = None

"""The course of a session: admission, the infusion's steps, discharge, as changes to a Session.

Each function checks the step against the phase table first (`session.next_phase` raises
`IllegalStep` and nothing changes), then applies it and returns the events it caused. Alarms are
the chair's business: it clears or ends them around these calls.
"""

from __future__ import annotations

from monitor.domain.baseline import compute_baseline
from monitor.domain.commands import Admit, InfusionEvent
from monitor.domain.events import (
    BaselineSet,
    Event,
    PhaseChanged,
    SessionClosed,
    SessionOpened,
    session_id,
)
from monitor.domain.limits import Limits, LimitsError
from monitor.domain.recovery import RecoveryTracker
from monitor.domain.session import Infusion, Phase, Session, Step, next_phase
from monitor.domain.vitals import Vital

# What a nurse can enter as a patient's baseline: values a seated adult can have.
ENTERED_RANGE: dict[Vital, tuple[float, float]] = {
    Vital.HR: (30.0, 180.0),
    Vital.SPO2: (70.0, 100.0),
    Vital.SBP: (70.0, 250.0),
    Vital.DBP: (40.0, 150.0),
}
MIN_ENTERED_PULSE_PRESSURE_MMHG = 10.0


def admit(
    command: Admit, *, chair: str, phase: Phase, serial: int, clinic_limits: Limits
) -> tuple[Session, list[Event]]:
    """Open a session from the chair's `phase`; `serial` numbers the chair's sessions."""
    next_phase(phase, Step.ADMIT)
    limits = clinic_limits.with_overrides(command.limits)
    check_entered_baseline(command.baseline)
    sid = session_id(chair, command.ts, serial)
    session = Session(
        id=sid,
        patient=command.patient,
        admitted_by=command.by,
        admitted_at=command.ts,
        limits=limits,
        phase_since=command.ts,
        weight_kg=command.weight_kg,
        entered_baseline=dict(command.baseline),
        limit_overrides=dict(command.limits),
    )
    entered = {v.value: x for v, x in command.baseline.items()}
    overrides = dict(command.limits)
    return session, [
        SessionOpened(
            command.ts, sid, command.patient, command.weight_kg, entered, overrides, command.by
        ),
        PhaseChanged(command.ts, sid, Phase.BASELINE, phase, "admit"),
    ]


def infusion_step(session: Session, event: InfusionEvent) -> list[Event]:
    """Start (freezing the baseline), pause, resume or stop (starting the recovery watch)."""
    phase = next_phase(session.phase, event.step)
    previous, session.phase, session.phase_since = session.phase, phase, event.ts
    events: list[Event] = [PhaseChanged(event.ts, session.id, phase, previous, event.step.value)]
    # Delivery ended at the stop, or at the pause that became the stop (safety rule 5).
    delivery_end = (
        session.infusion.paused_at if session.infusion.paused_at is not None else event.ts
    )
    _account_pause(session.infusion, event)
    if event.step is Step.START:
        events.append(_start(session, event))
    elif event.step is Step.STOP:
        session.infusion.stopped_at = event.ts
        baseline = session.baseline
        assert baseline is not None  # frozen when the infusion started
        session.recovery = RecoveryTracker.start(
            session=session.id, stopped_at=delivery_end, baseline=baseline, limits=session.limits
        )
        events.append(session.recovery.update(event.ts))
    return events


def discharge(
    session: Session, ts: float, *, by: str | None, over_alarms: tuple[str, ...] = ()
) -> list[Event]:
    """Close the session; unless recovery was confirmed, record that as the outcome."""
    phase = next_phase(session.phase, Step.DISCHARGE)
    previous, session.phase = session.phase, phase
    session.phase_since = session.closed_at = ts
    events: list[Event] = [PhaseChanged(ts, session.id, phase, previous, "discharge")]
    tracker, outcome = session.recovery, None
    if tracker is not None:
        update = tracker.discharge(ts, by=by)
        events += [update] if update else []
        outcome = tracker.status  # final once discharged
    status = tracker.audited_status if tracker else None
    return [*events, SessionClosed(ts, session.id, status, outcome, by, over_alarms)]


def check_entered_baseline(baseline: dict[Vital, float]) -> None:
    """An entered baseline must be values a patient can have, and a BP must be a BP."""
    for vital, value in baseline.items():
        low, high = ENTERED_RANGE[vital]
        if not low <= value <= high:
            raise LimitsError(f"baseline {vital.value} {value:g} outside {low:g}-{high:g}")
    sbp, dbp = baseline.get(Vital.SBP), baseline.get(Vital.DBP)
    if sbp is not None and dbp is not None and sbp - dbp < MIN_ENTERED_PULSE_PRESSURE_MMHG:
        raise LimitsError(f"baseline BP {sbp:g}/{dbp:g} is not a blood pressure (SBP/DBP swapped?)")


def _start(session: Session, event: InfusionEvent) -> BaselineSet:
    infusion = session.infusion
    infusion.started_at = event.ts
    infusion.drug, infusion.dose_mg_per_kg = event.drug, event.dose_mg_per_kg
    infusion.planned_minutes = event.planned_minutes
    base = session.baseline = compute_baseline(
        session.samples,
        session.entered_baseline,
        spread_mmhg=session.limits.baseline_spread_mmhg,
    )
    return BaselineSet(
        event.ts, session.id, base.as_dict(), base.source, base.nibp_readings, base.has_bp
    )


def _account_pause(infusion: Infusion, event: InfusionEvent) -> None:
    if event.step is Step.PAUSE:
        infusion.paused_at = event.ts
    elif event.step in (Step.RESUME, Step.STOP) and infusion.paused_at is not None:
        infusion.paused_s += max(0.0, event.ts - infusion.paused_at)
        infusion.paused_at = None

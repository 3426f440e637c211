"""The vitals side of a chair: what one reading, or the passing of wall time, means for its alarms.

How this works: `Vigil.reading` takes a reading already placed on the chair's timeline and

1. screens it (`vitals.screen`): impossible values set aside, questionable ones kept with a note;
2. finds which of its vitals are late (older than the newest value of that vital): late values
   are history, charted but never clearing, resetting or restarting an alarm (safety rule 8);
3. runs the limit rules (`rules.RULES`), the pre-infusion check and the baseline samples, the
   no-pulse check (rule 4), the device's own conditions, the recovery check, stale data, and
   the suppression of relative alarms under their absolute ones.

`Vigil.stale` is the wall-time side: one alarm per vital that went silent (rule 3), suppressed
only by a monitor_offline that itself sounds (rule 7).
"""

from __future__ import annotations

from typing import Protocol

from monitor.domain.alarms import AlarmClass, AlarmKind, AlarmPriority
from monitor.domain.baseline import compute_baseline
from monitor.domain.events import ArtefactRecorded, Event, RecoveryUpdate
from monitor.domain.limits import Limits
from monitor.domain.recovery import RecoveryStatus
from monitor.domain.rules import RULES, Verdict, evaluate, preinfusion_finding
from monitor.domain.session import Phase, Session
from monitor.domain.state import ChairState
from monitor.domain.technical import (
    NO_PULSE_DELAY_S,
    STALE_KINDS,
    baseline_incomplete_finding,
    device_conditions,
    no_pulse_finding,
    overdue_finding,
    stale_finding,
)
from monitor.domain.vitals import (
    CONTINUOUS_VITALS,
    Reading,
    Screened,
    TechnicalCondition,
    Vital,
    screen,
)


class Seat(Protocol):
    """What the vitals side reads of its chair, and the one thing it asks of it."""

    @property
    def state(self) -> ChairState: ...
    @property
    def phase(self) -> Phase: ...
    @property
    def session(self) -> Session | None: ...
    @property
    def session_ref(self) -> str | None: ...
    @property
    def limits(self) -> Limits: ...
    def clinical_now(self, wall: float) -> float: ...
    def device_at(self, online: bool, device: str | None, *, ts: float) -> list[Event]: ...


_AFTER_START = (Phase.INFUSING, Phase.PAUSED, Phase.RECOVERY)
# Flags that explain a 0 HR and a 0 SpO2 as equipment, not a pulseless patient.
_EXPLAINED = frozenset(
    {
        TechnicalCondition.SPO2_PROBE_OFF,
        TechnicalCondition.LEADS_OFF,
        TechnicalCondition.SPO2_MOTION,
    }
)
# Alarms that say nothing about whether the patient is back to baseline now.
_NOT_BLOCKING_RECOVERY = (AlarmKind.RECOVERY_OVERDUE, AlarmKind.PREINFUSION_BP_HIGH)


class Vigil:
    def __init__(self, chair: Seat) -> None:
        self.chair = chair

    def reading(self, reading: Reading, wall: float) -> list[Event]:
        """Apply one reading (its `ts` on the chair's timeline) that arrived at `wall`."""
        chair, state = self.chair, self.chair.state
        events: list[Event] = []
        if state.device_online is not True:
            events += chair.device_at(True, state.device_name, ts=reading.ts)
        screened = screen(reading, previous=state.latest)
        late = {v for v in screened.values if v in state.latest and state.latest[v][0] > reading.ts}
        reading_late = state.newest_reading_ts is not None and reading.ts < state.newest_reading_ts
        state.newest_reading_ts = max(reading.ts, state.newest_reading_ts or reading.ts)
        events += [
            ArtefactRecorded(reading.ts, a.vital, a.value, a.reason, chair.session_ref)
            for a in screened.artefacts
        ]
        for vital, value in screened.values.items():
            if vital not in late:
                state.latest[vital] = (reading.ts, value)
            state.valid_wall[vital] = wall
        gaps = self._gaps(screened)
        events += self._limits(screened, late, gaps)
        events += self._baseline_phase(screened, late)
        if chair.phase.open:
            events += self._no_pulse(reading, screened, late=reading_late)
        if chair.phase.open:
            events += self._device_conditions(screened, late=reading_late)
        events += self._recovery(screened, late)
        events += self.stale(wall, chair.clinical_now(wall))
        events += self._suppression(reading.ts)
        return events

    # Limits ------------------------------------------------------------------------------

    def _gaps(self, screened: Screened) -> dict[Vital, float]:
        """How long each continuous vital that is valid now had no valid value before (rule 9)."""
        missing, gaps = self.chair.state.missing_since, {}
        for vital in CONTINUOUS_VITALS:
            if vital in screened.values:
                since = missing.pop(vital, None)
                gaps[vital] = 0.0 if since is None else max(0.0, screened.ts - since)
            else:
                missing.setdefault(vital, screened.ts)
        return gaps

    def _limits(
        self, screened: Screened, late: set[Vital], gaps: dict[Vital, float]
    ) -> list[Event]:
        chair, board, ts = self.chair, self.chair.state.board, screened.ts
        session, limits, ref = chair.session, chair.limits, chair.session_ref
        frozen = session.baseline if session and session.phase in _AFTER_START else None
        events: list[Event] = []
        for rule in RULES:
            value = screened.values.get(rule.vital)
            if value is None:
                continue
            is_late = rule.vital in late
            evaluation = evaluate(
                rule,
                value,
                limits=limits,
                baseline=frozen,
                ongoing=board.pending(rule.kind),
                note=screened.note(rule.vital),
            )
            if evaluation is None:
                continue
            if evaluation.verdict is Verdict.HOLDING:
                continue
            if evaluation.verdict is Verdict.PRESENT and evaluation.finding:
                events += board.present(
                    evaluation.finding,
                    ts=ts,
                    delay_s=evaluation.delay_s,
                    session=ref,
                    late=is_late,
                    shown_under=rule.shown_under,
                    gap_s=gaps.get(rule.vital, 0.0),
                )
            else:
                events += board.absent(rule.kind, ts=ts, late=is_late)
        return events

    def _baseline_phase(self, screened: Screened, late: set[Vital]) -> list[Event]:
        """Before the start: keep baseline samples, check the BP, ask for a third cuff when two
        disagree (rule 10). A reading taken before the admission (a cuff of the patient before,
        arriving late) is no sample of this patient's."""
        chair, board, ts = self.chair, self.chair.state.board, screened.ts
        session = chair.session
        if session is None or session.phase is not Phase.BASELINE or ts < session.admitted_at:
            return []
        session.samples.add(screened)
        if not screened.has_nibp or Vital.SBP in late:
            return []
        sbp, dbp = screened.values[Vital.SBP], screened.values[Vital.DBP]
        note = screened.note(Vital.SBP) or screened.note(Vital.DBP)
        finding = preinfusion_finding(sbp, dbp, chair.limits, note=note)
        events: list[Event] = [
            *(
                board.present(finding, ts=ts, session=chair.session_ref)
                if finding
                else board.absent(AlarmKind.PREINFUSION_BP_HIGH, ts=ts)
            )
        ]
        provisional = compute_baseline(
            session.samples,
            session.entered_baseline,
            spread_mmhg=chair.limits.baseline_spread_mmhg,
        )
        if provisional.missing and session.samples.nibp and len(session.samples.nibp) >= 2:
            conflict = baseline_incomplete_finding(provisional.missing, started=False)
            return [*events, *board.present(conflict, ts=ts, session=chair.session_ref)]
        return [*events, *board.absent(AlarmKind.BASELINE_INCOMPLETE, ts=ts)]

    def _suppression(self, ts: float) -> list[Event]:
        """A relative alarm adds nothing while its vital's absolute alarm is ongoing."""
        board = self.chair.state.board
        events: list[Event] = []
        for rule in RULES:
            if rule.shown_under is not None:
                by = rule.shown_under if board.ongoing(rule.shown_under) else None
                events += board.suppress(rule.kind, by=by, ts=ts)
        return events

    # Equipment and the pulseless patient -------------------------------------------------

    def _no_pulse(self, reading: Reading, screened: Screened, *, late: bool) -> list[Event]:
        """Rule 4: HR 0 and SpO2 0 together, with no flag from the monitor, is a patient check."""
        chair, board = self.chair, self.chair.state.board
        if late:
            return []
        pulse = reading.hr if reading.hr is not None else reading.pr
        flagged = bool(_EXPLAINED & reading.technical)
        if pulse == 0 and reading.spo2 == 0 and not flagged:
            finding = no_pulse_finding()
            return [
                *board.present(
                    finding, ts=reading.ts, delay_s=NO_PULSE_DELAY_S, session=chair.session_ref
                )
            ]
        if any(v in screened.values for v in (Vital.HR, Vital.PR, Vital.SPO2)):
            return [*board.absent(AlarmKind.NO_PULSE, ts=reading.ts, late=late)]
        return []

    def _device_conditions(self, screened: Screened, *, late: bool) -> list[Event]:
        chair, board = self.chair, self.chair.state.board
        events: list[Event] = []
        for kind, present, finding in device_conditions(screened):
            if present and finding:
                events += board.present(finding, ts=screened.ts, session=chair.session_ref)
            elif not present:
                events += board.absent(kind, ts=screened.ts, late=late)
        return events

    # Recovery ----------------------------------------------------------------------------

    def _recovery(self, screened: Screened, late: set[Vital]) -> list[Event]:
        chair = self.chair
        session = chair.session
        if session is None or session.recovery is None or chair.phase is not Phase.RECOVERY:
            return []
        tracker = session.recovery
        if screened.has_nibp and Vital.SBP not in late:
            updates = tracker.cuff_reading(
                screened.ts,
                sbp=screened.values[Vital.SBP],
                dbp=screened.values[Vital.DBP],
                continuous=chair.state.latest,
                ongoing_alarms=self._ongoing_physiological(),
            )
        else:
            updates = [u for u in [tracker.clock(screened.ts)] if u]
        return self.recovery_events(updates, screened.ts)

    def _ongoing_physiological(self) -> list[str]:
        return [
            a.kind.value
            for a in self.chair.state.board.alarms.values()
            if a.alarm_class is AlarmClass.PHYSIOLOGICAL
            and a.condition_ongoing
            and a.kind not in _NOT_BLOCKING_RECOVERY
        ]

    def recovery_events(self, updates: list[RecoveryUpdate], ts: float) -> list[Event]:
        chair, board = self.chair, self.chair.state.board
        events: list[Event] = []
        for update in updates:
            events.append(update)
            if update.status == RecoveryStatus.OVERDUE and not board.ongoing(
                AlarmKind.RECOVERY_OVERDUE
            ):
                finding = overdue_finding(update.minutes_since_stop, chair.limits.recovery_window_s)
                events += board.present(finding, ts=update.ts, session=chair.session_ref)
            elif update.status == RecoveryStatus.RECOVERED_LATE:
                events += board.absent(AlarmKind.RECOVERY_OVERDUE, ts=update.ts)
        return events

    # Stale data --------------------------------------------------------------------------

    def stale(self, wall: float, now: float) -> list[Event]:
        """One alarm per vital with no valid value for too long (wall time) in a session."""
        chair, state, board = self.chair, self.chair.state, self.chair.state.board
        session = chair.session
        events: list[Event] = [*board.absent(AlarmKind.VITALS_STALE, ts=now)]  # v1's single alarm
        if session is None or not session.phase.open or self._offline_says_why():
            return events
        since = state.session_wall if state.session_wall is not None else wall
        for vital, kind in STALE_KINDS.items():
            seen = max(state.valid_wall.get(v, since) for v in _SOURCES_OF[vital])
            finding = stale_finding(vital, wall - max(seen, since), chair.limits)
            if finding:
                events += board.present(finding, ts=now, session=chair.session_ref)
            else:
                events += board.absent(kind, ts=now)
        return events

    def _offline_says_why(self) -> bool:
        offline = self.chair.state.board.alarms.get(AlarmKind.MONITOR_OFFLINE)
        return (
            offline is not None
            and offline.condition_ongoing
            and offline.priority.rank >= AlarmPriority.MEDIUM.rank
        )


# Which valid values keep a stale alarm away: the oximeter's pulse rate counts as a pulse.
_SOURCES_OF: dict[Vital, tuple[Vital, ...]] = {
    Vital.HR: (Vital.HR, Vital.PR),
    Vital.SPO2: (Vital.SPO2,),
    Vital.SBP: (Vital.SBP,),
}

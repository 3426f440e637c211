"""One chair's whole story: readings, device reports and commands in, events out.

How this works: `Chair.handle` takes one validated input and the wall time it arrived, and returns
the events it caused; `Chair.tick` lets wall time act (a recovery window that passes with no
reading, a vital that went stale). Nothing here reads a clock: the chair's clinical clock is its
newest event time, carried on by wall time when the inputs stop (`clinical_now`). Clinical timing
(alarm delays, the recovery window) follows that clock, so a recorded session replays with the
same alarms at any speed; liveness (stale vitals) follows wall time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from monitor.domain import course
from monitor.domain.alarms import AlarmBoard, AlarmKind, AlarmNotFound, AlarmPriority, AlarmState
from monitor.domain.alarms import IllegalTransition as IllegalAlarmTransition
from monitor.domain.commands import (
    MAX_AUDIO_PAUSE_S,
    Acknowledge,
    Admit,
    DeviceReport,
    Discharge,
    InfusionEvent,
    Input,
    PauseAudio,
    TimedInput,
)
from monitor.domain.events import (
    AlarmTransition,
    ArtefactRecorded,
    CommandAccepted,
    CommandRejected,
    Event,
    ReadingRejected,
    RecoveryUpdate,
)
from monitor.domain.limits import DEFAULT_LIMITS, Limits, LimitsError
from monitor.domain.recovery import RecoveryStatus
from monitor.domain.rules import RULES, Verdict, evaluate, preinfusion_finding
from monitor.domain.session import IllegalStep, Phase, Session, Step, next_phase
from monitor.domain.technical import (
    device_conditions,
    offline_finding,
    overdue_finding,
    stale_finding,
)
from monitor.domain.vitals import (
    Reading,
    Screened,
    Vital,
    screen,
)


@dataclass(slots=True)
class ChairState:
    """Everything a chair remembers; plain data, so the shell can snapshot and restore it."""

    name: str
    board: AlarmBoard
    session: Session | None = None
    sessions_opened: int = 0
    session_wall: float | None = None
    device_online: bool | None = None
    device_name: str | None = None
    device_since: float | None = None
    device_in_use: bool = False
    clock_ts: float | None = None
    clock_wall: float | None = None
    last_reading_ts: float | None = None
    recent_readings: list[str] = field(default_factory=list)
    latest: dict[Vital, tuple[float, float]] = field(default_factory=dict)
    valid_wall: dict[Vital, float] = field(default_factory=dict)
    audio_paused_until: float | None = None
    audio_paused_by: str | None = None
    audio_pause_rank: int = 0


class Chair:
    def __init__(
        self, name: str, *, limits: Limits = DEFAULT_LIMITS, state: ChairState | None = None
    ) -> None:
        self.state = state or ChairState(name=name, board=AlarmBoard(chair=name))
        self.clinic_limits = limits

    @property
    def name(self) -> str:
        return self.state.name

    @property
    def session(self) -> Session | None:
        return self.state.session

    @property
    def phase(self) -> Phase:
        return self.state.session.phase if self.state.session else Phase.EMPTY

    @property
    def limits(self) -> Limits:
        return self.state.session.limits if self.state.session else self.clinic_limits

    @property
    def session_ref(self) -> str | None:
        session = self.state.session
        return session.id if session and session.phase.open else None

    def clinical_now(self, wall: float) -> float:
        """The chair's clinical clock: its newest event time, carried on by wall time."""
        if self.state.clock_ts is None or self.state.clock_wall is None:
            return wall
        return self.state.clock_ts + max(0.0, wall - self.state.clock_wall)

    def handle(self, item: Input, *, wall: float) -> list[Event]:
        """Apply one input that arrived at wall time `wall`; return the events it caused."""
        if isinstance(item, DeviceReport):
            events = self._device(item, wall)
        else:
            self._advance(item.ts, wall)
            events = self._dispatch(item, wall)
        self._audio_breakthrough(events)
        return events

    def tick(self, wall: float) -> list[Event]:
        """Let time act: the recovery window, stale vitals, the end of an audio pause."""
        now = self.clinical_now(wall)
        events: list[Event] = []
        tracker = self.state.session.recovery if self.state.session else None
        if tracker is not None and self.phase is Phase.RECOVERY:
            events += self._recovery_events([u for u in [tracker.clock(now)] if u], now)
        events += self._stale(wall, now)
        if self.state.audio_paused_until is not None and now >= self.state.audio_paused_until:
            self._end_audio_pause()
        self._audio_breakthrough(events)
        return events

    @property
    def audible(self) -> bool:
        """An active medium or high alarm sounds unless the chair's audio is paused."""
        sounding = any(
            a.state is AlarmState.ACTIVE and a.priority is not AlarmPriority.LOW
            for a in self.state.board.alarms.values()
        )
        return sounding and self.state.audio_paused_until is None

    # Inputs ------------------------------------------------------------------------------

    def _dispatch(self, item: TimedInput, wall: float) -> list[Event]:
        try:
            if isinstance(item, Reading):
                return self._reading(item, wall)
            if isinstance(item, Admit):
                return self._admit(item, wall)
            if isinstance(item, InfusionEvent):
                return self._infusion(item)
            if isinstance(item, Discharge):
                return self._discharge(item.ts)
            if isinstance(item, Acknowledge):
                return self._acknowledge(item)
            if isinstance(item, PauseAudio):
                return self._pause_audio(item)
        except (IllegalStep, IllegalAlarmTransition, AlarmNotFound, LimitsError) as exc:
            return [CommandRejected(item.ts, _command_name(item), str(exc), self.session_ref)]
        raise TypeError(f"Chair.handle got {type(item).__name__}; pass a domain input")

    def _advance(self, ts: float, wall: float) -> None:
        if self.state.clock_ts is None or ts > self.state.clock_ts:
            self.state.clock_ts, self.state.clock_wall = ts, wall

    def _device(self, report: DeviceReport, wall: float) -> list[Event]:
        ts = report.ts if report.ts is not None else self.clinical_now(wall)
        self._advance(ts, wall)
        was_online = self.state.device_online
        self.state.device_online, self.state.device_name = report.online, report.device
        if was_online is not report.online:
            self.state.device_since = ts
        if report.online:
            self.state.device_in_use = True
            return [*self.state.board.absent(AlarmKind.MONITOR_OFFLINE, ts=ts)]
        if not (self.phase.open or (self.phase is Phase.EMPTY and self.state.device_in_use)):
            return []
        finding = offline_finding(report.device, in_session=self.phase.open)
        return [*self.state.board.present(finding, ts=ts, session=self.session_ref)]

    def _reading(self, reading: Reading, wall: float) -> list[Event]:
        refused = self._clock_jump(reading, wall) or self._out_of_order(reading)
        if refused:
            return [ReadingRejected(reading.ts, refused, self.session_ref)]
        events: list[Event] = []
        if self.state.device_online is not True:
            events += self._device(DeviceReport(reading.ts, True, self.state.device_name), wall)
        screened = screen(reading)
        events += [
            ArtefactRecorded(reading.ts, a.vital.value, a.value, a.reason, self.session_ref)
            for a in screened.artefacts
        ]
        for vital, value in screened.values.items():
            if reading.ts >= self.state.latest.get(vital, (reading.ts, 0.0))[0]:
                self.state.latest[vital] = (reading.ts, value)
            self.state.valid_wall[vital] = wall
        events += self._physiological(screened)
        if self.phase.open:
            events += self._technical(screened)
        events += self._recovery(screened)
        events += self._stale(wall, self.clinical_now(wall))
        return events

    def _clock_jump(self, reading: Reading, wall: float) -> str | None:
        """A reading far ahead of both the chair's last one and the wall clock is a device clock
        glitch: taking it would move the chair's clock ahead and refuse every correct reading
        after it. (A monitor switched on after a night, or a replay at speed, is not refused:
        the first is not ahead of wall time, the second does not jump.)"""
        newest = self.state.last_reading_ts
        if newest is None or reading.ts - newest <= CLOCK_JUMP_S:
            return None
        if reading.ts - wall <= CLOCK_AHEAD_S:
            return None
        return (
            f"device clock {reading.ts - wall:.0f} s ahead of the service and "
            f"{reading.ts - newest:.0f} s after the chair's last reading: a clock glitch"
        )

    def _out_of_order(self, reading: Reading) -> str | None:
        """Why a reading cannot be taken (a redelivered duplicate, or too late), else None.

        A reading a little older than the newest one is taken: a monitor may stamp a cuff
        reading with the time the measurement started and send it after later HR and SpO2.
        """
        key = _reading_key(reading)
        if key in self.state.recent_readings:
            return "duplicate of a recent reading (redelivered)"
        newest = self.state.last_reading_ts
        if newest is not None and reading.ts < newest - REORDER_WINDOW_S:
            return (
                f"{newest - reading.ts:.0f} s older than the newest reading: out of order by more "
                f"than {REORDER_WINDOW_S:g} s, or the device clock went back"
            )
        self.state.recent_readings = [*self.state.recent_readings[-(RECENT_READINGS - 1) :], key]
        self.state.last_reading_ts = max(reading.ts, newest if newest is not None else reading.ts)
        return None

    def _physiological(self, screened: Screened) -> list[Event]:
        session, board, ts = self.state.session, self.state.board, screened.ts
        frozen = session.baseline if session and session.phase in _AFTER_START else None
        events: list[Event] = []
        for rule in RULES:
            value = screened.values.get(rule.vital)
            if value is None:
                continue
            evaluation = evaluate(
                rule, value, limits=self.limits, baseline=frozen, ongoing=board.ongoing(rule.kind)
            )
            if evaluation is None or evaluation.verdict is Verdict.HOLDING:
                continue
            if evaluation.verdict is Verdict.PRESENT and evaluation.finding:
                events += board.present(
                    evaluation.finding, ts=ts, delay_s=evaluation.delay_s, session=self.session_ref
                )
            else:
                events += board.absent(rule.kind, ts=ts)
        if session and session.phase is Phase.BASELINE and screened.has_nibp:
            session.samples.add(screened)
            sbp, dbp = screened.values[Vital.SBP], screened.values[Vital.DBP]
            finding = preinfusion_finding(sbp, dbp, self.limits)
            if finding:
                events += board.present(finding, ts=ts, session=self.session_ref)
            else:
                events += board.absent(AlarmKind.PREINFUSION_BP_HIGH, ts=ts)
        elif session and session.phase is Phase.BASELINE:
            session.samples.add(screened)
        return events

    def _technical(self, screened: Screened) -> list[Event]:
        events: list[Event] = []
        for kind, present, finding in device_conditions(screened):
            if present and finding:
                events += self.state.board.present(
                    finding, ts=screened.ts, session=self.session_ref
                )
            elif not present:
                events += self.state.board.absent(kind, ts=screened.ts)
        return events

    def _recovery(self, screened: Screened) -> list[Event]:
        session = self.state.session
        if session is None or session.recovery is None or self.phase is not Phase.RECOVERY:
            return []
        tracker = session.recovery
        if screened.has_nibp:
            updates = tracker.cuff_reading(
                screened.ts,
                sbp=screened.values[Vital.SBP],
                dbp=screened.values[Vital.DBP],
                continuous=self.state.latest,
            )
        else:
            updates = [u for u in [tracker.clock(screened.ts)] if u]
        return self._recovery_events(updates, screened.ts)

    def _recovery_events(self, updates: list[RecoveryUpdate], ts: float) -> list[Event]:
        events: list[Event] = []
        board = self.state.board
        for update in updates:
            events.append(update)
            if update.status == RecoveryStatus.OVERDUE and not board.ongoing(
                AlarmKind.RECOVERY_OVERDUE
            ):
                finding = overdue_finding(update.minutes_since_stop, self.limits.recovery_window_s)
                events += board.present(finding, ts=update.ts, session=self.session_ref)
            elif update.status == RecoveryStatus.RECOVERED_LATE:
                events += board.absent(AlarmKind.RECOVERY_OVERDUE, ts=update.ts)
        return events

    def _stale(self, wall: float, now: float) -> list[Event]:
        session = self.state.session
        board = self.state.board
        if session is None or not session.phase.open or board.ongoing(AlarmKind.MONITOR_OFFLINE):
            return []
        since = self.state.session_wall if self.state.session_wall is not None else wall
        silent = {
            vital: wall - max(self.state.valid_wall.get(vital, since), since)
            for vital in (Vital.HR, Vital.SPO2, Vital.SBP)
        }
        finding = stale_finding(silent, self.limits)
        if finding:
            return [*board.present(finding, ts=now, session=self.session_ref)]
        return [*board.absent(AlarmKind.VITALS_STALE, ts=now)]

    # Session commands --------------------------------------------------------------------

    def _admit(self, command: Admit, wall: float) -> list[Event]:
        session, events = course.admit(
            command,
            chair=self.name,
            phase=self.phase,
            serial=self.state.sessions_opened + 1,
            clinic_limits=self.clinic_limits,
        )
        self.state.sessions_opened += 1
        self.state.session, self.state.session_wall = session, wall
        return events

    def _infusion(self, event: InfusionEvent) -> list[Event]:
        session = self.state.session
        if session is None:
            next_phase(Phase.EMPTY, event.step)  # raises IllegalStep with the reason
            raise AssertionError("unreachable: no infusion step is legal without a session")
        events = course.infusion_step(session, event)
        if event.step is Step.START:
            events += self.state.board.absent(AlarmKind.PREINFUSION_BP_HIGH, ts=event.ts)
        return events

    def _discharge(self, ts: float) -> list[Event]:
        session = self.state.session
        if session is None:
            next_phase(Phase.EMPTY, Step.DISCHARGE)
            raise AssertionError("unreachable: discharge is not legal without a session")
        next_phase(session.phase, Step.DISCHARGE)  # check before clearing anything
        events: list[Event] = list(self.state.board.clear_all(ts))
        self._end_audio_pause()
        return events + course.discharge(session, ts)

    def _acknowledge(self, ack: Acknowledge) -> list[Event]:
        transition = self.state.board.acknowledge(ack.alarm, by=ack.by, ts=ack.ts)
        return [transition, CommandAccepted(ack.ts, "acknowledge", ack.by, self.session_ref)]

    def _pause_audio(self, pause: PauseAudio) -> list[Event]:
        if not 0 < pause.seconds <= MAX_AUDIO_PAUSE_S:
            raise LimitsError(f"audio pause is 1-{MAX_AUDIO_PAUSE_S:g} s, not {pause.seconds:g}")
        ranks = [
            a.priority.rank
            for a in self.state.board.alarms.values()
            if a.state is AlarmState.ACTIVE
        ]
        self.state.audio_paused_until = pause.ts + pause.seconds
        self.state.audio_paused_by = pause.by
        self.state.audio_pause_rank = max([AlarmPriority.MEDIUM.rank, *ranks])
        return [CommandAccepted(pause.ts, "pause_audio", pause.by, self.session_ref)]

    def _audio_breakthrough(self, events: list[Event]) -> None:
        """A new alarm above what was paused, or any new high one, ends the audio pause."""
        if self.state.audio_paused_until is None:
            return
        for event in events:
            if isinstance(event, AlarmTransition) and event.state == AlarmState.ACTIVE.value:
                rank = AlarmPriority(event.priority).rank
                if rank > self.state.audio_pause_rank or rank == AlarmPriority.HIGH.rank:
                    self._end_audio_pause()
                    return

    def _end_audio_pause(self) -> None:
        self.state.audio_paused_until = None
        self.state.audio_paused_by = None
        self.state.audio_pause_rank = 0


_AFTER_START = (Phase.INFUSING, Phase.PAUSED, Phase.RECOVERY)
# How much older than the newest reading a reading may be and still be taken (s), and how many
# recent readings are remembered to recognise a redelivered one.
REORDER_WINDOW_S = 120.0
# A reading jumping this far past the last one while this far ahead of wall time is refused.
CLOCK_JUMP_S = 3600.0
CLOCK_AHEAD_S = 300.0
RECENT_READINGS = 32


def _reading_key(reading: Reading) -> str:
    """What makes a reading the same as another (a redelivered message)."""
    values = (
        reading.ts,
        reading.seq,
        reading.hr,
        reading.spo2,
        reading.sbp,
        reading.dbp,
        reading.map,
    )
    return f"{values}{sorted(reading.technical)}"


def _command_name(item: TimedInput) -> str:
    if isinstance(item, InfusionEvent):
        return item.step.value
    return type(item).__name__.lower().replace("pauseaudio", "pause_audio")

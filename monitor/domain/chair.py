"""One chair's whole story: readings, device reports and commands in, events out.

How this works: `Chair.handle` takes one validated input and the wall time it arrived, and returns
the events it caused; `Chair.tick` lets wall time act (a recovery window that passes with no
reading, a vital that went stale). Nothing here reads a clock. Every timed input is first placed
on the chair's own timeline (`clock.Timeline`: one offset per source, steps detected and
re-anchored, safety rule 2), so clinical timing (alarm delays, the recovery window) follows the
readings' own times and a recorded session replays with the same alarms at any speed, while no
device clock can stop the evaluation of current readings. Liveness (stale vitals) follows wall
time. The vitals side of a reading (limits, no pulse, device conditions, stale data) is
`vigil.Vigil`'s; this module holds the session and the nurse's commands.
"""

from __future__ import annotations

from dataclasses import replace

from monitor.domain import course
from monitor.domain.alarms import (
    AlarmBoard,
    AlarmKind,
    AlarmNotFound,
    AlarmPriority,
    AlarmState,
    breaks_audio_pause,
)
from monitor.domain.alarms import IllegalTransition as IllegalAlarmTransition
from monitor.domain.clock import Placement, Source
from monitor.domain.commands import (
    MAX_AUDIO_PAUSE_S,
    Acknowledge,
    AddNote,
    Admit,
    DeviceReport,
    Discharge,
    InfusionEvent,
    Input,
    PauseAudio,
    SetLimits,
    TimedInput,
)
from monitor.domain.events import (
    AlarmTransition,
    CommandAccepted,
    CommandName,
    CommandRejected,
    Event,
    LimitsChanged,
    NoteAdded,
    ReadingRejected,
)
from monitor.domain.limits import (
    DEFAULT_LIMITS,
    DEFAULT_REMINDERS,
    Limit,
    Limits,
    LimitsError,
    Reminders,
)
from monitor.domain.session import IllegalStep, Phase, Session, Step, next_phase
from monitor.domain.state import ChairState as ChairState
from monitor.domain.technical import (
    CLOCK_STEP_SHOWN_S,
    baseline_incomplete_finding,
    clock_step_finding,
    offline_finding,
)
from monitor.domain.vigil import Vigil
from monitor.domain.vitals import Reading


class DischargeRefused(Exception):
    """A discharge over an unacknowledged high-priority alarm that did not say so."""


class NoOpenSession(Exception):
    """A command about the patient's session (a note, a limit change) on a chair without one."""


class Chair:
    def __init__(
        self,
        name: str,
        *,
        limits: Limits = DEFAULT_LIMITS,
        reminders: Reminders = DEFAULT_REMINDERS,
        state: ChairState | None = None,
    ) -> None:
        self.state = state or ChairState(name=name, board=AlarmBoard(chair=name))
        self.clinic_limits = limits
        self.reminders = reminders
        self.vigil = Vigil(self)

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
        """The patient's limits while a session is open; a patient's overrides end with the
        patient's discharge (safety rule 6)."""
        session = self.state.session
        return session.limits if session and session.phase.open else self.clinic_limits

    @property
    def session_ref(self) -> str | None:
        session = self.state.session
        return session.id if session and session.phase.open else None

    def clinical_now(self, wall: float) -> float:
        """The chair's clinical clock: its newest reading's time, carried on by wall time."""
        return self.state.timeline.now(wall)

    def handle(self, item: Input, *, wall: float) -> list[Event]:
        """Apply one input that arrived at wall time `wall`; return the events it caused."""
        if isinstance(item, DeviceReport):
            at = self.state.timeline.place_report(item.ts, wall=wall)
            events = self.device_at(item.online, item.device, ts=at)
        else:
            events = self._timed(item, wall)
        self._audio_breakthrough(events)
        return events

    def tick(self, wall: float) -> list[Event]:
        """Let time act: the recovery window, stale vitals, reminders of acknowledged alarms,
        the end of an audio pause."""
        now = self.clinical_now(wall)
        events: list[Event] = []
        tracker = self.state.session.recovery if self.state.session else None
        if tracker is not None and self.phase is Phase.RECOVERY:
            events += self.vigil.recovery_events([u for u in [tracker.clock(now)] if u], now)
        events += self.vigil.stale(wall, now)
        events += self._clock_step_shown(now)
        events += self.state.board.remind(now, self.reminders)
        if self.state.audio_paused_until is not None and now >= self.state.audio_paused_until:
            self._end_audio_pause()
        self._audio_breakthrough(events)
        return events

    @property
    def audible(self) -> bool:
        """An active, shown medium or high alarm sounds unless the chair's audio is paused."""
        sounding = any(a.sounding for a in self.state.board.alarms.values())
        return sounding and self.state.audio_paused_until is None

    # Time --------------------------------------------------------------------------------

    def _timed(self, item: TimedInput, wall: float) -> list[Event]:
        """Place a timed input on the chair's timeline, apply it, and commit the placement
        only when it was accepted (a refused input moves no clock)."""
        if isinstance(item, Reading) and (why := self._duplicate(item)):
            return [ReadingRejected(item.ts, why, self.session_ref)]
        placement = self.state.timeline.place(_source(item), item.ts, wall=wall)
        placed = item if placement.ts == item.ts else replace(item, ts=placement.ts)
        if isinstance(placed, Reading):
            self.state.timeline.commit(placement, wall=wall, advances=True)
            self.state.placed_ts = placement.ts
            return self._clock_step(placement) + self.vigil.reading(placed, wall)
        events = self._dispatch(placed, wall)
        if not any(isinstance(e, CommandRejected) for e in events):
            self.state.timeline.commit(placement, wall=wall, advances=False)
            events += self._clock_step(placement)
        return events

    def _duplicate(self, reading: Reading) -> str | None:
        """A redelivered message (QoS 1 redelivers after a reconnection) is refused once seen."""
        key = _reading_key(reading)
        if key in self.state.recent_readings:
            return "duplicate of a recent reading (redelivered)"
        self.state.recent_readings = [*self.state.recent_readings[-(RECENT_READINGS - 1) :], key]
        return None

    def _clock_step(self, placement: Placement) -> list[Event]:
        if placement.step_s is None or placement.source is Source.STATION:
            return []
        self.state.clock_step_at = placement.ts
        finding = clock_step_finding(
            placement.source.value, placement.step_s, first=placement.first
        )
        return [*self.state.board.present(finding, ts=placement.ts, session=self.session_ref)]

    def _clock_step_shown(self, now: float) -> list[Event]:
        since = self.state.clock_step_at
        if since is None or now - since < CLOCK_STEP_SHOWN_S:
            return []
        self.state.clock_step_at = None
        return [*self.state.board.absent(AlarmKind.CLOCK_STEP, ts=now)]

    # Device ------------------------------------------------------------------------------

    def device_at(self, online: bool, device: str | None, *, ts: float) -> list[Event]:
        """The monitor said it is online or offline at `ts` (chair time)."""
        was_online = self.state.device_online
        self.state.device_online, self.state.device_name = online, device
        if was_online is not online:
            self.state.device_since = ts
        if online:
            self.state.device_in_use = True
            return [*self.state.board.absent(AlarmKind.MONITOR_OFFLINE, ts=ts)]
        if not (self.phase.open or (self.phase is Phase.EMPTY and self.state.device_in_use)):
            return []
        finding = offline_finding(device, in_session=self.phase.open)
        return [*self.state.board.present(finding, ts=ts, session=self.session_ref)]

    # Commands ----------------------------------------------------------------------------

    def _dispatch(self, item: TimedInput, wall: float) -> list[Event]:
        try:
            if isinstance(item, Admit):
                return self._admit(item, wall)
            if isinstance(item, InfusionEvent):
                return self._infusion(item)
            if isinstance(item, Discharge):
                return self._discharge(item)
            if isinstance(item, Acknowledge):
                return self._acknowledge(item)
            if isinstance(item, PauseAudio):
                return self._pause_audio(item)
            if isinstance(item, AddNote):
                return self._note(item)
            if isinstance(item, SetLimits):
                return self._set_limits(item)
        except (
            IllegalStep,
            IllegalAlarmTransition,
            AlarmNotFound,
            LimitsError,
            DischargeRefused,
            NoOpenSession,
        ) as exc:
            return [CommandRejected(item.ts, _command_name(item), str(exc), self.session_ref)]
        raise TypeError(f"Chair.handle got {type(item).__name__}; pass a domain input")

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
        self.state.latest.clear()  # the tile shows this patient's values only
        return events + self._empty_chair_problems(command.ts)

    def _empty_chair_problems(self, ts: float) -> list[Event]:
        """Safety rule 7: an empty chair's problems follow the patient, at session priority."""
        if self.state.device_online is False:
            finding = offline_finding(self.state.device_name, in_session=True)
            return [*self.state.board.present(finding, ts=ts, session=self.session_ref)]
        return []

    def _infusion(self, event: InfusionEvent) -> list[Event]:
        session = self.state.session
        if session is None:
            next_phase(Phase.EMPTY, event.step)  # raises IllegalStep with the reason
            raise AssertionError("unreachable: no infusion step is legal without a session")
        events = course.infusion_step(session, event)
        if event.step is Step.START:
            events += self.state.board.absent(AlarmKind.PREINFUSION_BP_HIGH, ts=event.ts)
            events += self._baseline_at_start(session, event.ts)
        if event.by is not None:  # a step taken at the station: the record says by whom
            events.append(CommandAccepted(event.ts, CommandName(event.step), event.by, session.id))
        return events

    def _baseline_at_start(self, session: Session, ts: float) -> list[Event]:
        """Rule 10: a start without a BP baseline says so instead of staying silent."""
        board, baseline = self.state.board, session.baseline
        if baseline is None or baseline.missing is None:
            return [*board.absent(AlarmKind.BASELINE_INCOMPLETE, ts=ts)]
        finding = baseline_incomplete_finding(baseline.missing, started=True)
        return [*board.present(finding, ts=ts, session=session.id)]

    def _discharge(self, command: Discharge) -> list[Event]:
        session = self.state.session
        if session is None:
            next_phase(Phase.EMPTY, Step.DISCHARGE)
            raise AssertionError("unreachable: discharge is not legal without a session")
        next_phase(session.phase, Step.DISCHARGE)  # check before clearing anything
        over = tuple(
            a.kind.value for a in self.state.board.alarms.values() if a.unacknowledged_high
        )
        if over and not (command.over_alarms and command.by):
            raise DischargeRefused(
                f"unacknowledged high-priority alarm {', '.join(over)}: acknowledge it first, "
                "or discharge over it (over_alarms: true, with by naming who)"
            )
        events: list[Event] = list(self.state.board.clear_all(command.ts, by=command.by))
        self._end_audio_pause()
        closing = course.discharge(session, command.ts, by=command.by, over_alarms=over)
        accepted = CommandAccepted(command.ts, CommandName.DISCHARGE, command.by, session.id)
        return [*events, *closing, accepted]

    def _acknowledge(self, ack: Acknowledge) -> list[Event]:
        """Acknowledge one alarm, and with it those shown under it: the nurse cannot see them
        apart, so they must not be left unacknowledged behind it."""
        board = self.state.board
        kind = board.find(ack.alarm).kind
        events: list[Event] = [board.acknowledge(ack.alarm, by=ack.by, ts=ack.ts)]
        for under in [a for a in board.alarms.values() if a.suppressed_by is kind]:
            if under.state in (AlarmState.ACTIVE, AlarmState.LATCHED):
                events.append(board.acknowledge(under.id, by=ack.by, ts=ack.ts))
        return [*events, CommandAccepted(ack.ts, CommandName.ACKNOWLEDGE, ack.by, self.session_ref)]

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
        return [CommandAccepted(pause.ts, CommandName.PAUSE_AUDIO, pause.by, self.session_ref)]

    def _note(self, note: AddNote) -> list[Event]:
        session = self._open_session("a note")
        accepted = CommandAccepted(note.ts, CommandName.NOTE, note.by, session.id)
        return [NoteAdded(note.ts, session.id, note.text, note.by), accepted]

    def _set_limits(self, command: SetLimits) -> list[Event]:
        """New limits for the patient, from now on: checked like an admission's overrides, and
        applied through the rules at the next reading (an alarm whose condition no longer holds
        ends there as any other does: a high one latches until acknowledged)."""
        session = self._open_session("alarm limits")
        old, new = session.limits, session.limits.with_overrides(command.limits)
        changes = {
            name: (old.value(Limit(name)), new.value(Limit(name)))
            for name in sorted(command.limits)
            if old.value(Limit(name)) != new.value(Limit(name))
        }
        if not changes:
            named = ", ".join(f"{n} {old.value(Limit(n)):g}" for n in sorted(command.limits))
            raise LimitsError(f"no limit changes: already {named}")
        session.limits = new
        session.limit_overrides.update({name: to for name, (_, to) in changes.items()})
        if session.recovery is not None:  # the recovery check's tolerance and window too
            session.recovery.limits = new
        accepted = CommandAccepted(command.ts, CommandName.SET_LIMITS, command.by, session.id)
        return [LimitsChanged(command.ts, session.id, changes, command.by), accepted]

    def _open_session(self, what: str) -> Session:
        session = self.state.session
        if session is None or not session.phase.open:
            raise NoOpenSession(
                f"{what} needs an open session: admit a patient to chair {self.name} first"
            )
        return session

    # Audio -------------------------------------------------------------------------------

    def _audio_breakthrough(self, events: list[Event]) -> None:
        """A new alarm above what was paused, or any new high one, ends the audio pause."""
        if self.state.audio_paused_until is None:
            return
        for event in events:
            if (
                isinstance(event, AlarmTransition)
                and event.state is AlarmState.ACTIVE
                and event.suppressed_by is None
                and breaks_audio_pause(event.priority, paused_rank=self.state.audio_pause_rank)
            ):
                self._end_audio_pause()
                return

    def _end_audio_pause(self) -> None:
        self.state.audio_paused_until = None
        self.state.audio_paused_by = None
        self.state.audio_pause_rank = 0


# How many recent readings are remembered to recognise a redelivered one.
RECENT_READINGS = 32


def _source(item: TimedInput) -> Source:
    if isinstance(item, Reading):
        return Source.MONITOR
    if isinstance(item, InfusionEvent):
        return Source.PUMP
    return Source.STATION


def _reading_key(reading: Reading) -> str:
    """What makes a reading the same as another (a redelivered message)."""
    values = (
        reading.ts,
        reading.seq,
        reading.hr,
        reading.pr,
        reading.spo2,
        reading.sbp,
        reading.dbp,
        reading.map,
    )
    return f"{values}{sorted(reading.technical)}"


_COMMAND_NAMES: dict[type, CommandName] = {
    Admit: CommandName.ADMIT,
    Discharge: CommandName.DISCHARGE,
    Acknowledge: CommandName.ACKNOWLEDGE,
    PauseAudio: CommandName.PAUSE_AUDIO,
    AddNote: CommandName.NOTE,
    SetLimits: CommandName.SET_LIMITS,
}


def _command_name(item: TimedInput) -> CommandName:
    if isinstance(item, InfusionEvent):
        return CommandName(item.step)
    return _COMMAND_NAMES[type(item)]

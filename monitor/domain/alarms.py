"""Alarms of one chair: their states, the transition table, and the board that applies it.

How this works (after IEC 60601-1-8):

- A chair has at most one alarm per kind. A condition that persists updates its alarm; it never
  raises a second one. An alarm leaves the board when it is cleared.
- A condition must persist for its delay (on event time) before the alarm is raised; NIBP and
  technical conditions have no delay. While an alarm's condition is ongoing, the value must come
  back past the limit by a hysteresis margin before the condition ends, so a value hovering at a
  limit does not flap.
- States: ACTIVE (condition present, nobody acknowledged), ACKNOWLEDGED (present, a named person
  acknowledged), LATCHED (condition over, but it was a high-priority physiological alarm nobody
  acknowledged: it stays until someone does), CLEARED (over; it leaves the board).
- Worse is new (safety rule 3): an acknowledged alarm becomes ACTIVE again when its priority
  rises (a pre-infusion BP warning that reaches the stop level) or its value moves a further
  step beyond the value that was acknowledged (SBP 184 acknowledged, 204 sounds again).
- Delays measure persistence (rule 9): a condition waiting out its delay keeps its onset through
  samples inside the hysteresis band; only a value clearly past the band, or a data gap (readings
  without a valid value of the vital) longer than the delay, starts the wait again. Samples that
  simply come seldom (a gateway sending one a minute) are not a gap. Late readings (rule 8) may raise an
  immediate alarm but never clear, reset or restart one.
- Reminders: an acknowledged alarm whose condition persists sounds again (ACTIVE, reason
  `reminder`, the words in its note) once its priority's reminder time (`limits.Reminders`:
  180 s high, 600 s medium, never low) has passed since the acknowledgement, as bedside monitors
  re-announce; the next acknowledgement starts the time again.
- A relative alarm (`sbp_rise`) whose absolute alarm (`sbp_high`) is ongoing adds nothing for the
  nurse: it stays in the record, marked `suppressed_by`, and neither shows nor sounds.

`TRANSITIONS` is the whole state machine; a move that is not in it raises `IllegalTransition`
and leaves the alarm as it was.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum

from monitor.domain.events import AlarmTransition, alarm_id
from monitor.domain.limits import DEFAULT_REMINDERS, Reminders
from monitor.domain.vocabulary import AlarmClass as AlarmClass
from monitor.domain.vocabulary import AlarmKind as AlarmKind
from monitor.domain.vocabulary import AlarmPriority as AlarmPriority
from monitor.domain.vocabulary import AlarmState as AlarmState


class Trigger(StrEnum):
    CONDITION_ENDS = "condition_ends"
    CONDITION_ENDS_LATCHING = "condition_ends_latching"
    CONDITION_RETURNS = "condition_returns"
    PRIORITY_RISES = "priority_rises"
    WORSENS = "worsens"
    SUPPRESS = "suppress"
    UNSUPPRESS = "unsuppress"
    ACKNOWLEDGE = "acknowledge"
    SESSION_ENDS = "session_ends"
    DISCHARGED_OVER = "discharged_over"
    REMINDER = "reminder"


TRANSITIONS: dict[tuple[AlarmState, Trigger], AlarmState] = {
    (AlarmState.ACTIVE, Trigger.ACKNOWLEDGE): AlarmState.ACKNOWLEDGED,
    (AlarmState.ACTIVE, Trigger.CONDITION_ENDS): AlarmState.CLEARED,
    (AlarmState.ACTIVE, Trigger.CONDITION_ENDS_LATCHING): AlarmState.LATCHED,
    (AlarmState.ACTIVE, Trigger.PRIORITY_RISES): AlarmState.ACTIVE,
    (AlarmState.ACTIVE, Trigger.SUPPRESS): AlarmState.ACTIVE,
    (AlarmState.ACTIVE, Trigger.UNSUPPRESS): AlarmState.ACTIVE,
    (AlarmState.ACTIVE, Trigger.SESSION_ENDS): AlarmState.CLEARED,
    (AlarmState.ACTIVE, Trigger.DISCHARGED_OVER): AlarmState.CLEARED,
    (AlarmState.ACKNOWLEDGED, Trigger.CONDITION_ENDS): AlarmState.CLEARED,
    (AlarmState.ACKNOWLEDGED, Trigger.CONDITION_ENDS_LATCHING): AlarmState.CLEARED,
    (AlarmState.ACKNOWLEDGED, Trigger.PRIORITY_RISES): AlarmState.ACTIVE,
    (AlarmState.ACKNOWLEDGED, Trigger.WORSENS): AlarmState.ACTIVE,
    (AlarmState.ACKNOWLEDGED, Trigger.REMINDER): AlarmState.ACTIVE,
    (AlarmState.ACKNOWLEDGED, Trigger.SUPPRESS): AlarmState.ACKNOWLEDGED,
    (AlarmState.ACKNOWLEDGED, Trigger.UNSUPPRESS): AlarmState.ACKNOWLEDGED,
    (AlarmState.ACKNOWLEDGED, Trigger.SESSION_ENDS): AlarmState.CLEARED,
    (AlarmState.LATCHED, Trigger.ACKNOWLEDGE): AlarmState.CLEARED,
    (AlarmState.LATCHED, Trigger.CONDITION_RETURNS): AlarmState.ACTIVE,
    (AlarmState.LATCHED, Trigger.UNSUPPRESS): AlarmState.LATCHED,
    (AlarmState.LATCHED, Trigger.SESSION_ENDS): AlarmState.CLEARED,
    (AlarmState.LATCHED, Trigger.DISCHARGED_OVER): AlarmState.CLEARED,
}


def breaks_audio_pause(priority: AlarmPriority, *, paused_rank: int) -> bool:
    """Whether a newly raised alarm of `priority` ends an audio pause taken over alarms of rank
    `paused_rank`: one above what was paused does, and any high one does."""
    return priority.rank > paused_rank or priority is AlarmPriority.HIGH


class IllegalTransition(Exception):
    def __init__(self, state: AlarmState, trigger: Trigger) -> None:
        allowed = sorted(t.value for s, t in TRANSITIONS if s is state)
        super().__init__(
            f"an alarm that is {state.value} cannot take {trigger.value}; "
            f"it can take: {', '.join(allowed) or 'nothing'}"
        )
        self.state = state
        self.trigger = trigger


def next_state(state: AlarmState, trigger: Trigger) -> AlarmState:
    try:
        return TRANSITIONS[(state, trigger)]
    except KeyError:
        raise IllegalTransition(state, trigger) from None


@dataclass(frozen=True, slots=True)
class Finding:
    """A condition as one measurement shows it, ready to become or update an alarm."""

    kind: AlarmKind
    alarm_class: AlarmClass
    priority: AlarmPriority
    value: float | None
    limit: float | None
    text: str
    latching: bool = False
    note: str | None = None
    # Worse is new: +1 when a higher value is worse, -1 when a lower one is, and the step.
    worse_sign: int = 0
    worse_step: float | None = None

    def worse_than(self, acknowledged: float | None) -> bool:
        """Has the value moved a full step past `acknowledged` in the worse direction?"""
        if self.worse_step is None or acknowledged is None or self.value is None:
            return False
        return self.worse_sign * (self.value - acknowledged) >= self.worse_step


@dataclass(frozen=True, slots=True)
class Alarm:
    id: str
    kind: AlarmKind
    alarm_class: AlarmClass
    priority: AlarmPriority
    state: AlarmState
    value: float | None
    limit: float | None
    text: str
    raised_at: float
    updated_at: float
    latching: bool = False
    session: str | None = None
    acknowledged_by: str | None = None
    acknowledged_at: float | None = None
    acknowledged_value: float | None = None
    note: str | None = None
    suppressed_by: AlarmKind | None = None

    @property
    def sounding(self) -> bool:
        """Active, above low priority and not suppressed: what the station must hear."""
        return (
            self.state is AlarmState.ACTIVE
            and self.priority is not AlarmPriority.LOW
            and self.suppressed_by is None
        )

    @property
    def unacknowledged_high(self) -> bool:
        return self.priority is AlarmPriority.HIGH and self.state in (
            AlarmState.ACTIVE,
            AlarmState.LATCHED,
        )

    @property
    def condition_ongoing(self) -> bool:
        return self.state in (AlarmState.ACTIVE, AlarmState.ACKNOWLEDGED)


class AlarmNotFound(LookupError):
    """An acknowledgement named an alarm this chair does not have."""


@dataclass(slots=True)
class AlarmBoard:
    """Alarms of one chair that are not cleared yet, and conditions waiting out their delay."""

    chair: str
    alarms: dict[AlarmKind, Alarm] = field(default_factory=dict)
    onsets: dict[AlarmKind, float] = field(default_factory=dict)
    raised_count: int = 0

    def present(
        self,
        finding: Finding,
        *,
        ts: float,
        delay_s: float = 0.0,
        session: str | None,
        late: bool = False,
        shown_under: AlarmKind | None = None,
        gap_s: float = 0.0,
    ) -> list[AlarmTransition]:
        """The condition is present at `ts`: raise its alarm once it has lasted `delay_s`.

        A `late` sample (older than the newest of its vital) may raise an alarm with no delay,
        or worsen one, but starts no wait of its own. `shown_under`: the alarm adds nothing
        while that one is ongoing, so it is raised suppressed. `gap_s`: how long the vital had
        no valid value just before this sample; longer than the delay, the wait starts again.
        """
        alarm = self.alarms.get(finding.kind)
        if alarm is not None and alarm.condition_ongoing:
            return self._update(alarm, finding, ts)
        if late and delay_s > 0:
            return []
        if not late and (finding.kind not in self.onsets or 0 < delay_s < gap_s):
            self.onsets[finding.kind] = ts
        onset = self.onsets.get(finding.kind, ts)
        if ts - onset < delay_s:
            return []
        if alarm is not None:
            return [self._move(alarm, Trigger.CONDITION_RETURNS, ts, finding)]
        under = shown_under if shown_under is not None and self.ongoing(shown_under) else None
        return [self._raise(finding, ts, session, suppressed_by=under)]

    def absent(self, kind: AlarmKind, *, ts: float, late: bool = False) -> list[AlarmTransition]:
        """The condition is not present at `ts` (past its hysteresis when one applies)."""
        if late or (kind not in self.onsets and kind not in self.alarms):
            return []
        self.onsets.pop(kind, None)
        alarm = self.alarms.get(kind)
        if alarm is None or not alarm.condition_ongoing:
            return []
        trigger = Trigger.CONDITION_ENDS_LATCHING if alarm.latching else Trigger.CONDITION_ENDS
        return [self._move(alarm, trigger, ts)]

    def ongoing(self, kind: AlarmKind) -> bool:
        alarm = self.alarms.get(kind)
        return alarm is not None and alarm.condition_ongoing

    def pending(self, kind: AlarmKind) -> bool:
        """The condition is ongoing, or waiting out its delay."""
        return kind in self.onsets or self.ongoing(kind)

    def find(self, ref: str) -> Alarm:
        """The alarm with id `ref`, or the chair's alarm of kind `ref`."""
        for alarm in self.alarms.values():
            if ref in (alarm.id, alarm.kind.value):
                return alarm
        raise AlarmNotFound(f"no open alarm {ref!r} on chair {self.chair}")

    def acknowledge(self, ref: str, *, by: str, ts: float) -> AlarmTransition:
        alarm = self.find(ref)
        acknowledged = replace(
            alarm, acknowledged_by=by, acknowledged_at=ts, acknowledged_value=alarm.value
        )
        return self._move(acknowledged, Trigger.ACKNOWLEDGE, ts)

    def remind(self, ts: float, reminders: Reminders = DEFAULT_REMINDERS) -> list[AlarmTransition]:
        """Sound again every acknowledged alarm whose condition still persists `reminders`
        after its acknowledgement (a suppressed one follows the alarm it is shown under)."""
        transitions = []
        for alarm in list(self.alarms.values()):
            after = reminders.after(alarm.priority)
            since = alarm.acknowledged_at
            if (
                alarm.state is not AlarmState.ACKNOWLEDGED
                or alarm.suppressed_by is not None
                or after is None
                or since is None
                or ts - since < after
            ):
                continue
            note = f"reminder: still {alarm.text} after {_duration(after)} acknowledged"
            transitions.append(self._move(replace(alarm, note=note), Trigger.REMINDER, ts))
        return transitions

    def suppress(
        self, kind: AlarmKind, *, by: AlarmKind | None, ts: float
    ) -> list[AlarmTransition]:
        """Mark `kind` as adding nothing while `by` is ongoing (None: it shows again)."""
        alarm = self.alarms.get(kind)
        if alarm is None or alarm.suppressed_by is by:
            return []
        if not alarm.condition_ongoing and by is not None:
            return []  # a latched alarm is never hidden: nobody has acknowledged it
        trigger = Trigger.SUPPRESS if by is not None else Trigger.UNSUPPRESS
        return [self._move(replace(alarm, suppressed_by=by), trigger, ts)]

    def clear_all(self, ts: float, *, by: str | None = None) -> list[AlarmTransition]:
        """The session ends: every alarm clears; an unacknowledged high one is recorded as
        discharged over, by `by`."""
        self.onsets.clear()
        transitions = []
        for alarm in list(self.alarms.values()):
            if alarm.unacknowledged_high:
                over = replace(alarm, acknowledged_by=by, acknowledged_at=ts)
                transitions.append(self._move(over, Trigger.DISCHARGED_OVER, ts))
            else:
                transitions.append(self._move(alarm, Trigger.SESSION_ENDS, ts))
        return transitions

    def _raise(
        self,
        finding: Finding,
        ts: float,
        session: str | None,
        *,
        suppressed_by: AlarmKind | None = None,
    ) -> AlarmTransition:
        self.raised_count += 1
        alarm = Alarm(
            id=alarm_id(self.chair, finding.kind.value, ts, self.raised_count),
            kind=finding.kind,
            alarm_class=finding.alarm_class,
            priority=finding.priority,
            state=AlarmState.ACTIVE,
            value=finding.value,
            limit=finding.limit,
            text=finding.text,
            raised_at=ts,
            updated_at=ts,
            latching=finding.latching,
            session=session,
            note=finding.note,
            suppressed_by=suppressed_by,
        )
        self.alarms[alarm.kind] = alarm
        return as_transition(alarm, previous=None)

    def _update(self, alarm: Alarm, finding: Finding, ts: float) -> list[AlarmTransition]:
        if finding.priority.rank > alarm.priority.rank:
            return [self._move(alarm, Trigger.PRIORITY_RISES, ts, finding)]
        if alarm.state is AlarmState.ACKNOWLEDGED and finding.worse_than(alarm.acknowledged_value):
            return [self._move(alarm, Trigger.WORSENS, ts, finding)]
        # The condition persists: the alarm follows the value without a new transition.
        self.alarms[alarm.kind] = replace(
            alarm,
            value=finding.value,
            limit=finding.limit,
            text=finding.text,
            note=finding.note,
            updated_at=ts,
        )
        return []

    def _move(
        self, alarm: Alarm, trigger: Trigger, ts: float, finding: Finding | None = None
    ) -> AlarmTransition:
        state = next_state(alarm.state, trigger)
        moved = replace(alarm, state=state, updated_at=ts)
        if finding is not None:
            moved = replace(
                moved,
                priority=finding.priority,
                value=finding.value,
                limit=finding.limit,
                text=finding.text,
                latching=finding.latching,
                note=finding.note,
            )
        if state is AlarmState.CLEARED:
            self.alarms.pop(alarm.kind, None)
        else:
            self.alarms[alarm.kind] = moved
        return as_transition(moved, previous=alarm.state, trigger=trigger)


def _duration(seconds: float) -> str:
    return f"{seconds / 60:g} min" if seconds % 60 == 0 else f"{seconds:g} s"


def as_transition(
    alarm: Alarm, *, previous: AlarmState | None = None, trigger: Trigger | None = None
) -> AlarmTransition:
    """The alarm as a transition event (also how a chair's current alarms are shown)."""
    return AlarmTransition(
        alarm=alarm.id,
        ts=alarm.updated_at,
        session=alarm.session,
        kind=alarm.kind,
        alarm_class=alarm.alarm_class,
        priority=alarm.priority,
        state=alarm.state,
        previous_state=previous,
        reason=trigger.value if trigger else "raised",
        value=alarm.value,
        limit=alarm.limit,
        text=alarm.text,
        raised_at=alarm.raised_at,
        acknowledged_by=alarm.acknowledged_by,
        acknowledged_at=alarm.acknowledged_at,
        note=alarm.note,
        suppressed_by=alarm.suppressed_by,
    )

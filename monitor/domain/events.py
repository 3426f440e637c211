"""What the core says happened: the events a chair returns for the shell to publish and store,
and the paging events the site's paging policy returns (in reports whose chair is None).

Identifiers are derived from the event itself (chair, kind, event time, a counter), never from a
random source or a clock, so that replaying the same inputs gives the same identifiers.

Closed sets of values are StrEnums, so an event serialises to the same JSON as its plain strings.
The alarm, phase and recovery vocabularies come from `vocabulary`, which imports nothing, so the
modules that build these events can import this one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum

from monitor.domain.baseline import BaselineSource
from monitor.domain.vitals import Vital
from monitor.domain.vocabulary import (
    AlarmClass,
    AlarmKind,
    AlarmPriority,
    AlarmState,
    Phase,
    RecoveryStatus,
)

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _ulid_like(ts: float, *parts: object) -> str:
    """A ULID-shaped id: 48 bits of event time in ms, 80 bits of a hash of `parts`."""
    millis = max(0, round(ts * 1000)) & ((1 << 48) - 1)
    digest = hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=10).digest()
    number = (millis << 80) | int.from_bytes(digest, "big")
    return "".join(_CROCKFORD[(number >> shift) & 31] for shift in range(125, -1, -5))


class CommandName(StrEnum):
    """The command an accepted or rejected event answers: a session or infusion step, or a
    nurse's action on the chair."""

    ADMIT = "admit"
    START = "start"
    PAUSE = "pause"
    RESUME = "resume"
    STOP = "stop"
    DISCHARGE = "discharge"
    ACKNOWLEDGE = "acknowledge"
    PAUSE_AUDIO = "pause_audio"
    NOTE = "note"
    SET_LIMITS = "set_limits"


def alarm_id(chair: str, kind: str, ts: float, serial: int) -> str:
    return _ulid_like(ts, "alarm", chair, kind, f"{ts:.3f}", serial)


def session_id(chair: str, ts: float, serial: int) -> str:
    return _ulid_like(ts, "session", chair, f"{ts:.3f}", serial)


@dataclass(frozen=True, slots=True)
class AlarmTransition:
    alarm: str
    ts: float
    session: str | None
    kind: AlarmKind
    alarm_class: AlarmClass
    priority: AlarmPriority
    state: AlarmState
    previous_state: AlarmState | None
    reason: str
    value: float | None
    limit: float | None
    text: str
    raised_at: float
    acknowledged_by: str | None = None
    acknowledged_at: float | None = None
    note: str | None = None
    suppressed_by: AlarmKind | None = None


@dataclass(frozen=True, slots=True)
class RecoveryUpdate:
    ts: float
    session: str
    status: RecoveryStatus
    infusion_stopped_at: float
    minutes_since_stop: float
    baseline: dict[str, float]
    latest: dict[str, float]
    off_baseline: dict[str, float]
    consecutive_in_tolerance: int
    recovered_at: float | None = None
    reason: str | None = None
    discharged_by: str | None = None


@dataclass(frozen=True, slots=True)
class PhaseChanged:
    ts: float
    session: str
    phase: Phase
    previous: Phase
    cause: str


@dataclass(frozen=True, slots=True)
class SessionOpened:
    ts: float
    session: str
    patient: str
    weight_kg: float | None
    entered_baseline: dict[str, float]
    limit_overrides: dict[str, float]
    by: str | None = None


@dataclass(frozen=True, slots=True)
class SessionClosed:
    ts: float
    session: str
    recovery_status: RecoveryStatus | None
    outcome: RecoveryStatus | None = None  # a final status (`final`); None: no infusion
    by: str | None = None
    over_alarms: tuple[str, ...] = ()  # unacknowledged high alarms it was discharged over


@dataclass(frozen=True, slots=True)
class BaselineSet:
    ts: float
    session: str
    baseline: dict[str, float]
    source: BaselineSource
    nibp_readings: int
    complete: bool


@dataclass(frozen=True, slots=True)
class NoteAdded:
    """A note on the session, in the words and the name of whoever wrote it."""

    ts: float
    session: str
    text: str
    by: str


@dataclass(frozen=True, slots=True)
class LimitsChanged:
    """Alarm limits changed during the session: each changed limit's old and new value."""

    ts: float
    session: str
    changes: dict[str, tuple[float, float]]
    by: str


@dataclass(frozen=True, slots=True)
class CommandRejected:
    ts: float
    command: CommandName
    reason: str
    session: str | None = None


@dataclass(frozen=True, slots=True)
class CommandAccepted:
    ts: float
    command: CommandName
    by: str | None = None
    session: str | None = None


@dataclass(frozen=True, slots=True)
class ArtefactRecorded:
    ts: float
    vital: Vital
    value: float
    reason: str
    session: str | None = None


@dataclass(frozen=True, slots=True)
class ReadingRejected:
    ts: float
    reason: str
    session: str | None = None


# Paging (site events: a page's chair is a field, the report's chair is None) -----------------


class PageKind(StrEnum):
    """What a page is for: an alarm to answer, or the all-clear for one answered or over."""

    PAGE = "page"
    ALL_CLEAR = "all_clear"


class Target(StrEnum):
    """Whom an escalation step pages: the chair's primary nurse, the charge nurse, or every
    member of the fail-safe group."""

    PRIMARY = "primary"
    CHARGE = "charge"
    FAILSAFE = "failsafe"


@dataclass(frozen=True, slots=True)
class PageSent:
    """A page to send to one pager: chair, alarm, priority and text only, never a patient.
    `route_hint` "failsafe": deliver it by the fail-safe route (another route failed)."""

    ts: float
    page: str
    pager: str
    pager_name: str
    chair: str
    alarm: str
    priority: AlarmPriority
    text: str
    step: int  # the escalation step (1-based) that sent it; 0 for an all-clear
    kind: PageKind = PageKind.PAGE
    route_hint: str | None = None


@dataclass(frozen=True, slots=True)
class PageAnswered:
    """A pager holder's reply to one of our pages (`note`: what it changed, or why nothing)."""

    ts: float
    page: str
    pager: str
    accept: bool
    by: str
    alarm: str
    chair: str
    note: str | None = None


@dataclass(frozen=True, slots=True)
class EscalationStepped:
    """An escalation moved to its step `step` (1-based) and paged `to`, for `reason`."""

    ts: float
    alarm: str
    chair: str
    step: int
    to: Target
    reason: str


@dataclass(frozen=True, slots=True)
class EscalationEnded:
    """An escalation stopped: accepted, acknowledged at the station, or the alarm is over."""

    ts: float
    alarm: str
    chair: str
    reason: str


@dataclass(frozen=True, slots=True)
class CoverageChanged:
    """A hand-over: `chairs` (and the roles named in `roles`) went from one pager to another."""

    ts: float
    from_pager: str
    to_pager: str
    chairs: tuple[str, ...]
    roles: tuple[str, ...]
    by: str


PagingEvent = PageSent | PageAnswered | EscalationStepped | EscalationEnded | CoverageChanged


Event = (
    AlarmTransition
    | RecoveryUpdate
    | PhaseChanged
    | SessionOpened
    | SessionClosed
    | BaselineSet
    | NoteAdded
    | LimitsChanged
    | CommandRejected
    | CommandAccepted
    | ArtefactRecorded
    | ReadingRejected
    | PagingEvent
)

"""One session's whole record, read once for `show` and `export`: its summary, readings (in
the chair's time order), alarm transitions and other events (in the order recorded)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from monitor.audit import SessionNotFound
from monitor.record import AlarmEntry, EventEntry, ReadingEntry, Recorder, SessionEntry

__all__ = ["AuditedSession", "last_moment", "read_session"]


@dataclass(frozen=True, slots=True)
class AuditedSession:
    session: SessionEntry
    readings: list[ReadingEntry]
    alarms: list[AlarmEntry]
    events: list[EventEntry]

    @property
    def last_at(self) -> float:
        return last_moment(self.session, self.readings, self.alarms, self.events)


def last_moment(
    session: SessionEntry,
    readings: Sequence[ReadingEntry],
    alarms: Sequence[AlarmEntry],
    events: Sequence[EventEntry],
) -> float:
    """The last moment a session covers: its close, else (still open) the latest time the
    record holds of it (a reading on the chair's timeline, an alarm transition, an event)."""
    if session.closed_at is not None:
        return session.closed_at
    times = [r.chair_ts for r in readings] + [a.ts for a in alarms] + [e.ts for e in events]
    return max([session.admitted_at, *times])


def read_session(recorder: Recorder, session: str) -> AuditedSession:
    """Everything the record holds of `session`.

    Raises:
        SessionNotFound: the record holds no session `session`.
        RecordError: the record cannot be read.
    """
    record = recorder.session(session)
    if record.session is None:
        raise SessionNotFound(f"no session {session!r} in the record")
    return AuditedSession(
        record.session, record.readings, record.alarms, recorder.events(session=session)
    )

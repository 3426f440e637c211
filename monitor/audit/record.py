"""One session's whole record, read once for `show` and `export`: its summary, readings (in
the chair's time order), alarm transitions and other events (in the order recorded)."""

from __future__ import annotations

from dataclasses import dataclass

from monitor.audit import SessionNotFound
from monitor.record import AlarmEntry, EventEntry, ReadingEntry, Recorder, SessionEntry

__all__ = ["AuditedSession", "read_session"]


@dataclass(frozen=True, slots=True)
class AuditedSession:
    session: SessionEntry
    readings: list[ReadingEntry]
    alarms: list[AlarmEntry]
    events: list[EventEntry]


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

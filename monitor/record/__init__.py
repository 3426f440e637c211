"""The record: what the service keeps (entries), the `Recorder` interface, its backends, and the
`Writer` that feeds one from the event loop. `open_recorder(url)` picks the backend a setting
names."""

from __future__ import annotations

from monitor.record.base import (
    AlarmEntry,
    Entry,
    EventEntry,
    LoginEnded,
    LoginEntry,
    MessageEntry,
    ReadingEntry,
    Recorder,
    RecordError,
    SessionEntry,
    SessionRecord,
    SnapshotEntry,
)
from monitor.record.memory import MemoryRecorder

__all__ = [
    "AlarmEntry",
    "Entry",
    "EventEntry",
    "LoginEnded",
    "LoginEntry",
    "MemoryRecorder",
    "MessageEntry",
    "ReadingEntry",
    "RecordError",
    "Recorder",
    "SessionEntry",
    "SessionRecord",
    "SnapshotEntry",
]

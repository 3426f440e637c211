"""What the record holds, and the one interface every backend offers (`Recorder`).

The record is the service's memory and the clinic's evidence: every inbound message with its
outcome (the journal), the readings taken, every alarm transition, every other event the core
returned, a row per session, each chair's latest snapshot (so a restart carries on), and the
dashboard's login sessions (so a restart leaves every station logged in).

Entries are plain frozen values made by the pure shell (`monitor.pipeline`); a backend only
stores and reads them, and links the evidence among them into hash chains as it stores it
(`monitor.record.chain`). Two backends now: `MemoryRecorder` (tests, replay) and `SqliteRecorder`
(a clinic's single machine); both pass the same suite (`tests/unit/record_suite.py`), and a new
backend joins by passing it too. Reads return entries in the order they were appended.

What a backend can hold is checked before anything is stored (`check_batch`), the same way for
every backend, so a batch one backend refuses every backend refuses: an object that is not an
entry, a NaN (SQLite keeps it as NULL), a sequence number over 64 bits, a technical condition that
is empty or holds a comma (kept as comma-joined text), event data that JSON cannot hold. Event data is read back as JSON gives it
(tuples as lists, keys as strings).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Protocol


class RecordError(RuntimeError):
    """The record cannot be opened, written or read; the message says which and why."""


@dataclass(frozen=True, slots=True)
class MessageEntry:
    """One inbound message as it arrived, with what became of it (the journal)."""

    received_at: float
    topic: str
    payload: str  # the payload as received, decoded as UTF-8 (invalid bytes replaced)
    outcome: str  # accepted, rejected, malformed, unknown_chair, oversized, ...
    site: str | None = None
    chair: str | None = None
    kind: str | None = None  # the contract's inbound kind, when the topic named one
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class ReadingEntry:
    """One accepted monitor reading."""

    site: str
    chair: str
    session: str | None
    ts: float  # the device's own time
    chair_ts: float  # the same moment on the chair's timeline (what charts use)
    received_at: float
    seq: int | None = None
    hr: float | None = None
    pr: float | None = None
    spo2: float | None = None
    sbp: float | None = None
    dbp: float | None = None
    map: float | None = None
    technical: tuple[str, ...] = ()  # sorted technical conditions the device reported


@dataclass(frozen=True, slots=True)
class AlarmEntry:
    """One alarm transition (raised, latched, acknowledged, cleared, ...)."""

    alarm: str
    site: str
    chair: str
    session: str | None
    ts: float
    kind: str
    alarm_class: str
    priority: str
    state: str
    text: str
    value: float | None = None
    limit: float | None = None
    acknowledged_by: str | None = None
    acknowledged_at: float | None = None
    note: str | None = None
    suppressed_by: str | None = None


@dataclass(frozen=True, slots=True)
class EventEntry:
    """Any other event of the core (phase changes, baselines, commands, artefacts, ...)."""

    site: str
    chair: str
    session: str | None
    ts: float
    type: str  # the event's class name
    data: dict[str, Any] = field(default_factory=dict)  # its fields, JSON-ready


@dataclass(frozen=True, slots=True)
class SessionEntry:
    """A session's summary; appending one with the same id replaces the previous one."""

    id: str
    site: str
    chair: str
    patient: str
    admitted_at: float
    phase: str
    closed_at: float | None = None
    recovery_status: str | None = None


@dataclass(frozen=True, slots=True)
class SnapshotEntry:
    """A chair's saved state (see `monitor.wire.snapshot`); one per site and chair, the latest."""

    site: str
    chair: str
    saved_at: float
    state: str  # JSON


@dataclass(frozen=True, slots=True)
class LoginEntry:
    """A dashboard login session; one per token digest, the latest (a longer expiry, say)."""

    token_digest: str  # SHA-256 of the cookie's token: the record never holds a usable token
    user: str
    role: str
    expires_at: float


@dataclass(frozen=True, slots=True)
class LoginEnded:
    """A logout: the login with this digest no longer exists."""

    token_digest: str


Entry = (
    MessageEntry
    | ReadingEntry
    | AlarmEntry
    | EventEntry
    | SessionEntry
    | SnapshotEntry
    | LoginEntry
    | LoginEnded
)


@dataclass(frozen=True, slots=True)
class Link:
    """An entry's place in its hash chain (see `monitor.record.chain`)."""

    chain: str
    seq: int
    prev: str
    hash: str


@dataclass(frozen=True, slots=True)
class ChainRow:
    """A stored entry of evidence with its link, as a backend reads it back; `table` and `row`
    say where it is stored (to name it), `link` is None for a row that has none."""

    table: str
    row: int
    entry: Entry
    link: Link | None


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """A session's readings and alarm transitions, each in time order (chair timeline)."""

    session: SessionEntry | None
    readings: list[ReadingEntry]
    alarms: list[AlarmEntry]


class Recorder(Protocol):
    """The record, whatever holds it. `append` is all-or-nothing and may block (a backend on
    disk is called from a worker thread, see `monitor.record.writer`); reads may run beside it."""

    def append(self, entries: Sequence[Entry]) -> None:
        """Store `entries` in order, all or none; raise RecordError when that cannot be done."""
        ...

    def session(self, session: str) -> SessionRecord:
        """A session's summary (None when never seen), readings and alarms."""
        ...

    def sessions(self, site: str | None = None) -> list[SessionEntry]:
        """Every session (of `site`), by admission time."""
        ...

    def snapshots(self, site: str) -> list[SnapshotEntry]:
        """Each chair's latest snapshot at `site`, by chair name."""
        ...

    def journal(
        self, site: str | None = None, *, since: float | None = None
    ) -> Iterator[MessageEntry]:
        """Inbound messages (of `site`; received after `since`) in arrival order, as `replay`
        runs them again; read in pages, so a long journal streams, and a message appended
        meanwhile may appear."""
        ...

    def messages(
        self, *, chair: str | None = None, outcome: str | None = None
    ) -> list[MessageEntry]:
        """Inbound messages, in arrival order, of `chair` and/or with `outcome`."""
        ...

    def readings(
        self, *, chair: str | None = None, session: str | None = None
    ) -> list[ReadingEntry]:
        """Readings in the order they were appended."""
        ...

    def alarms(
        self, *, chair: str | None = None, session: str | None = None, kind: str | None = None
    ) -> list[AlarmEntry]:
        """Alarm transitions in the order they were appended."""
        ...

    def events(self, *, session: str | None = None, type: str | None = None) -> list[EventEntry]:
        """Other events in the order they were appended."""
        ...

    def login(self, token_digest: str, now: float) -> LoginEntry | None:
        """The login with this digest, when it exists and has not expired by `now`."""
        ...

    def chained(self, chain: str | None = None) -> Iterator[ChainRow]:
        """The evidence with its links, for verification: the rows with no link first, then
        chain by chain, each in link order (of `chain` alone when named); streamed."""
        ...

    def head(self, chain: str) -> tuple[int, str] | None:
        """The last link of `chain` (its seq and hash); None when it has none."""
        ...

    def purge(self, sessions: Sequence[str], record: EventEntry) -> None:
        """Delete every row of `sessions` (closed ones: their readings, alarm transitions,
        events and summaries) and append `record`, which says so, in one transaction; raise
        RecordError when that cannot be done (then nothing changed)."""
        ...

    def close(self) -> None:
        """Release the backend; appending or reading after this raises RecordError. Closing
        twice does nothing."""
        ...


ENTRY_TYPES: tuple[type[Entry], ...] = (
    MessageEntry,
    ReadingEntry,
    AlarmEntry,
    EventEntry,
    SessionEntry,
    SnapshotEntry,
    LoginEntry,
    LoginEnded,
)
# The fields of each entry type that hold a float (annotations are strings here).
_FLOAT_FIELDS = {t: tuple(f.name for f in fields(t) if "float" in str(f.type)) for t in ENTRY_TYPES}


def check_batch(entries: Sequence[object]) -> None:
    """Raise RecordError, naming the first entry that no backend can hold faithfully and why;
    a backend calls this before it stores anything, which makes `append` all-or-nothing."""
    for index, entry in enumerate(entries):
        problem = entry_problem(entry)
        if problem:
            raise RecordError(f"entry {index} of the batch cannot be recorded: {problem}")


def event_data_json(data: dict[str, Any]) -> str:
    """`EventEntry.data` as the JSON text a backend keeps; RecordError when JSON cannot hold it."""
    try:
        return json.dumps(data, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise RecordError(f"event data is not JSON-ready: {exc}") from exc


def entry_problem(entry: object) -> str | None:
    """Why no backend can hold `entry` faithfully, or None when any can."""
    kind = type(entry)
    if kind not in _FLOAT_FIELDS:
        return f"a {kind.__name__} is not an entry (one of {', '.join(t.__name__ for t in ENTRY_TYPES)})"
    for name in _FLOAT_FIELDS[kind]:
        value = getattr(entry, name)
        if isinstance(value, float) and math.isnan(value):
            return f"{kind.__name__}.{name} is NaN"
    if isinstance(entry, ReadingEntry):
        if entry.seq is not None and not -(2**63) <= entry.seq < 2**63:
            return f"ReadingEntry.seq {entry.seq} does not fit in 64 bits"
        return _technical_problem(entry.technical)
    if isinstance(entry, EventEntry):
        return _data_problem(entry.data)
    return None


def _technical_problem(technical: object) -> str | None:
    if not isinstance(technical, tuple) or not all(isinstance(t, str) for t in technical):
        return f"ReadingEntry.technical must be a tuple of str, not {technical!r}"
    if any(not t or "," in t for t in technical):
        return f"ReadingEntry.technical {technical!r} holds an empty name or a comma"
    return None


def _data_problem(data: object) -> str | None:
    if not isinstance(data, dict):
        return f"EventEntry.data must be a dict, not {type(data).__name__}"
    try:
        event_data_json(data)
    except RecordError as exc:
        return str(exc)
    return None

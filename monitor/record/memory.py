"""The record in memory (`MemoryRecorder`): lists and dicts, for tests and replays.

It holds exactly what `SqliteRecorder` would read back (event data goes through JSON), so a test
written against one backend says the same of the other. One lock makes it safe to append from a
worker thread while the loop reads.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from typing import TypeVar

from monitor.record.base import (
    AlarmEntry,
    ChainRow,
    Entry,
    EventEntry,
    Link,
    LoginEntry,
    MessageEntry,
    ReadingEntry,
    RecordError,
    SessionEntry,
    SessionRecord,
    SnapshotEntry,
    check_batch,
    event_data_json,
)
from monitor.record.chain import Linker

E = TypeVar("E")


class MemoryRecorder:
    """A `Recorder` that keeps everything in this process, until it ends."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._closed = False
        self._messages: list[MessageEntry] = []
        self._readings: list[ReadingEntry] = []
        self._alarms: list[AlarmEntry] = []
        self._events: list[EventEntry] = []
        self._sessions: dict[str, SessionEntry] = {}
        self._snapshots: dict[tuple[str, str], SnapshotEntry] = {}
        self._logins: dict[str, LoginEntry] = {}
        self._evidence: list[ChainRow] = []  # every chained entry with its link, as appended
        self._rows: dict[str, int] = {}  # rows so far, per table
        self._linker = Linker()

    def append(self, entries: Sequence[Entry]) -> None:
        check_batch(entries)
        with self._lock:
            self._check_open()
            linked = self._linker.links(entries, self.head_unlocked)
            for entry, link in zip(entries, linked.links, strict=True):
                self._store(entry, link)
            self._linker.commit(linked)

    def purge(self, sessions: Sequence[str], record: EventEntry) -> None:
        check_batch([record])
        gone = set(sessions)
        with self._lock:
            self._check_open()
            linked = self._linker.links([record], self.head_unlocked)
            self._readings = [r for r in self._readings if r.session not in gone]
            self._alarms = [a for a in self._alarms if a.session not in gone]
            self._events = [e for e in self._events if e.session not in gone]
            self._evidence = [
                r for r in self._evidence if getattr(r.entry, "session", None) not in gone
            ]
            for session in gone:
                self._sessions.pop(session, None)
            self._store(record, linked.links[0])
            self._linker.commit(linked)

    def _store(self, entry: Entry, link: Link | None) -> None:
        if isinstance(entry, MessageEntry):
            self._messages.append(entry)
            self._chained("messages", entry, link)
        elif isinstance(entry, ReadingEntry):
            self._readings.append(entry)
            self._chained("readings", entry, link)
        elif isinstance(entry, AlarmEntry):
            self._alarms.append(entry)
            self._chained("alarm_transitions", entry, link)
        elif isinstance(entry, EventEntry):
            stored = replace(entry, data=json.loads(event_data_json(entry.data)))
            self._events.append(stored)
            self._chained("events", stored, link)
        elif isinstance(entry, SessionEntry):
            self._sessions[entry.id] = entry
        elif isinstance(entry, SnapshotEntry):
            self._snapshots[entry.site, entry.chair] = entry
        elif isinstance(entry, LoginEntry):
            self._logins[entry.token_digest] = entry
        else:
            self._logins.pop(entry.token_digest, None)

    def _chained(self, table: str, entry: Entry, link: Link | None) -> None:
        row = self._rows[table] = self._rows.get(table, 0) + 1
        self._evidence.append(ChainRow(table, row, entry, link))

    def chained(self, chain: str | None = None) -> Iterator[ChainRow]:
        rows = self._select(self._evidence, lambda r: chain in (None, r.link and r.link.chain))
        return iter(sorted(rows, key=lambda r: (r.link.chain, r.link.seq) if r.link else ("", 0)))

    def head(self, chain: str) -> tuple[int, str] | None:
        with self._lock:
            self._check_open()
            return self.head_unlocked(chain)

    def head_unlocked(self, chain: str) -> tuple[int, str] | None:
        """`head`, for a caller that holds the lock (the linker, inside `append`)."""
        for row in reversed(self._evidence):
            if row.link is not None and row.link.chain == chain:
                return row.link.seq, row.link.hash
        return None

    def session(self, session: str) -> SessionRecord:
        with self._lock:
            self._check_open()
            readings = [r for r in self._readings if r.session == session]
            alarms = [a for a in self._alarms if a.session == session]
            summary = self._sessions.get(session)
        readings.sort(key=lambda r: r.chair_ts)  # stable: ties stay in append order
        return SessionRecord(session=summary, readings=readings, alarms=alarms)

    def sessions(self, site: str | None = None) -> list[SessionEntry]:
        found = self._select(self._sessions.values(), lambda s: site in (None, s.site))
        return sorted(found, key=lambda s: s.admitted_at)

    def snapshots(self, site: str) -> list[SnapshotEntry]:
        found = self._select(self._snapshots.values(), lambda s: s.site == site)
        return sorted(found, key=lambda s: s.chair)

    def journal(
        self, site: str | None = None, *, since: float | None = None
    ) -> Iterator[MessageEntry]:
        return iter(
            self._select(
                self._messages,
                lambda m: site in (None, m.site) and (since is None or m.received_at > since),
            )
        )

    def messages(
        self, *, chair: str | None = None, outcome: str | None = None
    ) -> list[MessageEntry]:
        return self._select(
            self._messages, lambda m: chair in (None, m.chair) and outcome in (None, m.outcome)
        )

    def readings(
        self, *, chair: str | None = None, session: str | None = None
    ) -> list[ReadingEntry]:
        return self._select(
            self._readings, lambda r: chair in (None, r.chair) and session in (None, r.session)
        )

    def alarms(
        self, *, chair: str | None = None, session: str | None = None, kind: str | None = None
    ) -> list[AlarmEntry]:
        return self._select(
            self._alarms,
            lambda a: (
                chair in (None, a.chair) and session in (None, a.session) and kind in (None, a.kind)
            ),
        )

    def events(self, *, session: str | None = None, type: str | None = None) -> list[EventEntry]:
        return self._select(
            self._events, lambda e: session in (None, e.session) and type in (None, e.type)
        )

    def login(self, token_digest: str, now: float) -> LoginEntry | None:
        with self._lock:
            self._check_open()
            found = self._logins.get(token_digest)
        return found if found is not None and now < found.expires_at else None

    def close(self) -> None:
        with self._lock:
            self._closed = True

    def _select(self, entries: Iterable[E], keep: Callable[[E], bool]) -> list[E]:
        with self._lock:
            self._check_open()
            return [e for e in entries if keep(e)]

    def _check_open(self) -> None:
        if self._closed:
            raise RecordError("the record in memory is closed; open a new MemoryRecorder")

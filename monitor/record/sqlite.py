"""The record in one SQLite file (`SqliteRecorder`): a clinic's single machine.

How it works: the tables and columns are those of the store before it (`monitor/store.py`), so a
database that store wrote opens and reads. `PRAGMA user_version` says which of `MIGRATIONS` the
file has had; opening runs the rest, in order, in one transaction (a store's file is version 0).
The file is in WAL mode, so reads, each on a connection of its own, run beside the writer. One
`append` is one transaction; within it each table gets one `executemany` per run of the same
statement, which keeps the order within a table and is far faster than a statement per row.
Every sqlite3 failure leaves this module as a RecordError naming the file and the reason.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from operator import attrgetter
from pathlib import Path
from typing import Any

from monitor.record.base import (
    AlarmEntry,
    Entry,
    EventEntry,
    LoginEnded,
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
from monitor.record.schema import MIGRATIONS, SCHEMA_VERSION

JOURNAL_PAGE = 1_000  # messages read at a time: a long journal streams
# What sqlite3 raises for a value it cannot bind (a str with a lone surrogate, an int over 64 bits).
_FAILURES = (sqlite3.Error, UnicodeError, OverflowError)

Params = tuple[Any, ...]

MESSAGE_COLUMNS = ("received_at", "topic", "payload", "outcome", "site", "chair", "kind", "reason")
READING_COLUMNS = (
    "site", "chair", "session", "ts", "chair_ts", "received_at", "seq",
    "hr", "pr", "spo2", "sbp", "dbp", "map", "technical",
)  # fmt: skip
ALARM_COLUMNS = (
    "alarm", "site", "chair", "session", "ts", "kind", "class", "priority", "state", "text",
    "value", "limit", "acknowledged_by", "acknowledged_at", "note", "suppressed_by",
)  # fmt: skip
EVENT_COLUMNS = ("site", "chair", "session", "ts", "type", "data")
SESSION_COLUMNS = (
    "id", "site", "chair", "patient", "admitted_at", "phase", "closed_at", "recovery_status",
)  # fmt: skip
SNAPSHOT_COLUMNS = ("site", "chair", "saved_at", "state")
LOGIN_COLUMNS = ("token_digest", "user", "role", "expires_at")


def _insert(table: str, columns: Sequence[str], key: Sequence[str] = ()) -> str:
    sql = f"INSERT INTO {table} ({_names(columns)}) VALUES ({', '.join('?' * len(columns))})"
    if key:
        updates = ", ".join(f'"{c}" = excluded."{c}"' for c in columns if c not in key)
        sql += f" ON CONFLICT ({_names(key)}) DO UPDATE SET {updates}"
    return sql


def _select(table: str, columns: Sequence[str]) -> str:
    return f"SELECT {_names(columns)} FROM {table}"


def _names(columns: Sequence[str]) -> str:
    return ", ".join(f'"{c}"' for c in columns)


def _reading_params(entry: ReadingEntry) -> Params:
    return (*_READING_FIELDS(entry), ",".join(entry.technical) or None)


def _event_params(entry: EventEntry) -> Params:
    return (*_EVENT_FIELDS(entry), event_data_json(entry.data))


_READING_FIELDS = attrgetter(*READING_COLUMNS[:-1])
_EVENT_FIELDS = attrgetter(*EVENT_COLUMNS[:-1])
_ALARM_FIELDS = ["alarm_class" if c == "class" else c for c in ALARM_COLUMNS]

# Each entry type: the table it goes to, the statement, and its parameters from the entry.
WRITES: dict[type[Any], tuple[str, str, Callable[[Any], Params]]] = {
    MessageEntry: ("messages", _insert("messages", MESSAGE_COLUMNS), attrgetter(*MESSAGE_COLUMNS)),
    ReadingEntry: ("readings", _insert("readings", READING_COLUMNS), _reading_params),
    AlarmEntry: (
        "alarm_transitions",
        _insert("alarm_transitions", ALARM_COLUMNS),
        attrgetter(*_ALARM_FIELDS),
    ),
    EventEntry: ("events", _insert("events", EVENT_COLUMNS), _event_params),
    SessionEntry: (
        "sessions",
        _insert("sessions", SESSION_COLUMNS, key=("id",)),
        attrgetter(*SESSION_COLUMNS),
    ),
    SnapshotEntry: (
        "chair_snapshots",
        _insert("chair_snapshots", SNAPSHOT_COLUMNS, key=("site", "chair")),
        attrgetter(*SNAPSHOT_COLUMNS),
    ),
    LoginEntry: (
        "logins",
        _insert("logins", LOGIN_COLUMNS, key=("token_digest",)),
        attrgetter(*LOGIN_COLUMNS),
    ),
    LoginEnded: (
        "logins",
        "DELETE FROM logins WHERE token_digest = ?",
        lambda e: (e.token_digest,),
    ),
}

# Read back: chair_ts is NULL in rows a store wrote before it had the column.
_READING_SELECT = _select("readings", READING_COLUMNS).replace(
    '"chair_ts"', 'coalesce("chair_ts", "ts")'
)


# Rows come back in the fields' order; the last column of these two is decoded.
_READING: Callable[..., ReadingEntry] = ReadingEntry
_EVENT: Callable[..., EventEntry] = EventEntry


def _reading(row: Params) -> ReadingEntry:
    *values, technical = row
    return _READING(*values, technical=tuple(technical.split(",")) if technical else ())


def _event(row: Params) -> EventEntry:
    *values, data = row
    return _EVENT(*values, data=json.loads(data))


def statements(entries: Sequence[Entry]) -> list[tuple[str, list[Params]]]:
    """The statements that store `entries`, each with its rows: per table, one per run of the
    same statement, so the order within each table is the order of `entries`."""
    tables: dict[str, list[tuple[str, list[Params]]]] = {}
    for entry in entries:
        table, sql, params = WRITES[type(entry)]
        runs = tables.setdefault(table, [])
        if not runs or runs[-1][0] != sql:
            runs.append((sql, []))
        runs[-1][1].append(params(entry))
    return [run for runs in tables.values() for run in runs]


class SqliteRecorder:
    """A `Recorder` in the SQLite file at `path` (or ":memory:", gone when closed).

    Args:
        path: the database file; its folder is made when missing.
        timeout_s: how long a write waits for another connection's lock before it fails.
    """

    def __init__(self, path: str | os.PathLike[str], *, timeout_s: float = 5.0) -> None:
        self.path = os.fspath(path)
        self.timeout_s = timeout_s
        self._in_memory = self.path == ":memory:"
        self._lock = threading.Lock()  # one writer on the connection at a time
        self._closed = False
        self._db = _open(self.path, timeout_s)

    def append(self, entries: Sequence[Entry]) -> None:
        check_batch(entries)
        runs = statements(entries)
        with self._lock:
            self._check_open()
            try:
                _transaction(self._db, runs)
            except _FAILURES as exc:
                raise RecordError(f"cannot write to the record {self.path}: {exc}") from exc

    def session(self, session: str) -> SessionRecord:
        summary = self._rows(f"{_select('sessions', SESSION_COLUMNS)} WHERE id = ?", session)
        readings = self._rows(
            f"{_READING_SELECT} WHERE session = ? ORDER BY coalesce(chair_ts, ts), id", session
        )
        alarms = self._rows(
            f"{_select('alarm_transitions', ALARM_COLUMNS)} WHERE session = ? ORDER BY id", session
        )
        return SessionRecord(
            session=SessionEntry(*summary[0]) if summary else None,
            readings=[_reading(row) for row in readings],
            alarms=[AlarmEntry(*row) for row in alarms],
        )

    def sessions(self, site: str | None = None) -> list[SessionEntry]:
        where, params = _where(site=site)
        sql = f"{_select('sessions', SESSION_COLUMNS)}{where} ORDER BY admitted_at, rowid"
        return [SessionEntry(*row) for row in self._rows(sql, *params)]

    def snapshots(self, site: str) -> list[SnapshotEntry]:
        sql = f"{_select('chair_snapshots', SNAPSHOT_COLUMNS)} WHERE site = ? ORDER BY chair"
        return [SnapshotEntry(*row) for row in self._rows(sql, site)]

    def journal(self, site: str | None = None) -> Iterator[MessageEntry]:
        self._check_open()
        return self._journal(site)

    def _journal(self, site: str | None) -> Iterator[MessageEntry]:
        where, params = _where(site=site)
        where = f"{where} AND id > ?" if where else " WHERE id > ?"
        sql = f"SELECT id, {_names(MESSAGE_COLUMNS)} FROM messages{where} ORDER BY id LIMIT ?"
        after = 0
        while page := self._rows(sql, *params, after, JOURNAL_PAGE):
            yield from (MessageEntry(*row[1:]) for row in page)
            after = page[-1][0]

    def messages(
        self, *, chair: str | None = None, outcome: str | None = None
    ) -> list[MessageEntry]:
        rows = self._read(MESSAGE_COLUMNS, "messages", chair=chair, outcome=outcome)
        return [MessageEntry(*row) for row in rows]

    def readings(
        self, *, chair: str | None = None, session: str | None = None
    ) -> list[ReadingEntry]:
        where, params = _where(chair=chair, session=session)
        rows = self._rows(f"{_READING_SELECT}{where} ORDER BY id", *params)
        return [_reading(row) for row in rows]

    def alarms(
        self, *, chair: str | None = None, session: str | None = None, kind: str | None = None
    ) -> list[AlarmEntry]:
        rows = self._read(
            ALARM_COLUMNS, "alarm_transitions", chair=chair, session=session, kind=kind
        )
        return [AlarmEntry(*row) for row in rows]

    def events(self, *, session: str | None = None, type: str | None = None) -> list[EventEntry]:
        rows = self._read(EVENT_COLUMNS, "events", session=session, type=type)
        return [_event(row) for row in rows]

    def login(self, token_digest: str, now: float) -> LoginEntry | None:
        sql = f"{_select('logins', LOGIN_COLUMNS)} WHERE token_digest = ? AND expires_at > ?"
        rows = self._rows(sql, token_digest, now)
        return LoginEntry(*rows[0]) if rows else None

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._db.close()

    def _read(self, columns: Sequence[str], table: str, **filters: str | None) -> list[Params]:
        where, params = _where(**filters)
        return self._rows(f"{_select(table, columns)}{where} ORDER BY id", *params)

    def _rows(self, sql: str, *params: Any) -> list[Params]:
        """The rows of a query: on a connection of its own (safe beside the writer thread), or
        for ":memory:", which has only the one, under the writer's lock."""
        self._check_open()
        try:
            if self._in_memory:
                with self._lock:
                    self._check_open()
                    return self._db.execute(sql, params).fetchall()
            with contextlib.closing(self._reader()) as db:
                return db.execute(sql, params).fetchall()
        except _FAILURES as exc:
            raise RecordError(f"cannot read the record {self.path}: {exc}") from exc

    def _reader(self) -> sqlite3.Connection:
        uri = f"{Path(self.path).absolute().as_uri()}?mode=ro"
        return sqlite3.connect(uri, uri=True, timeout=self.timeout_s)

    def _check_open(self) -> None:
        if self._closed:
            raise RecordError(f"the record {self.path} is closed; open a new SqliteRecorder")


def _where(**filters: str | None) -> tuple[str, list[str]]:
    """A WHERE clause for the filters that are set (their names are columns, from this module)."""
    named = {column: value for column, value in filters.items() if value is not None}
    if not named:
        return "", []
    return " WHERE " + " AND ".join(f'"{c}" = ?' for c in named), list(named.values())


def _transaction(db: sqlite3.Connection, runs: list[tuple[str, list[Params]]]) -> None:
    db.execute("BEGIN IMMEDIATE")
    try:
        for sql, rows in runs:
            db.executemany(sql, rows)
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


def _open(path: str, timeout_s: float) -> sqlite3.Connection:
    try:
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, timeout=timeout_s, isolation_level=None, check_same_thread=False)
    except (OSError, *_FAILURES) as exc:
        raise RecordError(f"cannot open the record {path}: {exc}") from exc
    try:
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")
        _migrate(db, path)
    except BaseException as exc:
        db.close()
        if isinstance(exc, _FAILURES):
            raise RecordError(f"cannot open the record {path}: {exc}") from exc
        raise
    return db


def _migrate(db: sqlite3.Connection, path: str) -> None:
    """Run the migrations the file has not had yet, all in one transaction."""
    if _version(db, path) == SCHEMA_VERSION:
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        # Read again under the lock: another process may have migrated meanwhile.
        for migration in MIGRATIONS[_version(db, path) :]:
            for statement in migration(db):
                db.execute(statement)
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


def _version(db: sqlite3.Connection, path: str) -> int:
    version: int = db.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise RecordError(
            f"the record {path} is at schema version {version}, newer than this program's"
            f" {SCHEMA_VERSION}: open it with the infusion-monitor that wrote it, or a newer one"
        )
    return version

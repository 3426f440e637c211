"""How entries become rows of the record and come back: the columns of each table, in the order
of the entry's fields, and the statement each entry is written with. SQLite and PostgreSQL share
them: the statements are written with `?` placeholders (PostgreSQL's driver takes `%s`, see
`postgres.py`) and SQL both understand.

The table and column names are those of the store before (`monitor/store.py`), so its files read;
`technical` is kept as comma-joined text (NULL for none), event data as JSON, and an alarm's
`alarm_class` in the column `class`.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Callable, Iterator, Sequence
from operator import attrgetter
from typing import Any

from monitor.record.base import (
    AlarmEntry,
    ChainRow,
    Entry,
    EventEntry,
    Link,
    LoginEnded,
    LoginEntry,
    MessageEntry,
    ReadingEntry,
    SessionEntry,
    SessionRecord,
    SnapshotEntry,
    event_data_json,
)

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


# The hash chain's columns, on each table of evidence (see `monitor.record.chain`).
CHAIN_COLUMNS = ("chain", "chain_seq", "prev_hash", "hash")
CHAINED_TABLES = ("messages", "readings", "alarm_transitions", "events")
_UNLINKED: Params = (None, None, None, None)


def _insert(table: str, columns: Sequence[str], key: Sequence[str] = ()) -> str:
    sql = f"INSERT INTO {table} ({quoted(columns)}) VALUES ({', '.join('?' * len(columns))})"
    if key:
        updates = ", ".join(f'"{c}" = excluded."{c}"' for c in columns if c not in key)
        sql += f" ON CONFLICT ({quoted(key)}) DO UPDATE SET {updates}"
    return sql


def select(table: str, columns: Sequence[str]) -> str:
    return f"SELECT {quoted(columns)} FROM {table}"


def quoted(columns: Sequence[str]) -> str:
    return ", ".join(f'"{c}"' for c in columns)


def where_clause(**filters: str | None) -> tuple[str, list[str]]:
    """A WHERE clause for the filters that are set (their names are columns, from this package)."""
    named = {column: value for column, value in filters.items() if value is not None}
    if not named:
        return "", []
    return " WHERE " + " AND ".join(f'"{c}" = ?' for c in named), list(named.values())


def _chain_key(row: ChainRow) -> tuple[bytes, int]:
    assert row.link is not None
    return row.link.chain.encode(), row.link.seq


def _reading_params(entry: ReadingEntry) -> Params:
    return (*_READING_FIELDS(entry), ",".join(entry.technical) or None)


def _event_params(entry: EventEntry) -> Params:
    return (*_EVENT_FIELDS(entry), event_data_json(entry.data))


_READING_FIELDS = attrgetter(*READING_COLUMNS[:-1])
_EVENT_FIELDS = attrgetter(*EVENT_COLUMNS[:-1])
_ALARM_FIELDS = ["alarm_class" if c == "class" else c for c in ALARM_COLUMNS]

# Each entry type: the table it goes to, the statement, and its parameters from the entry.
WRITES: dict[type[Any], tuple[str, str, Callable[[Any], Params]]] = {
    MessageEntry: (
        "messages",
        _insert("messages", (*MESSAGE_COLUMNS, *CHAIN_COLUMNS)),
        attrgetter(*MESSAGE_COLUMNS),
    ),
    ReadingEntry: (
        "readings",
        _insert("readings", (*READING_COLUMNS, *CHAIN_COLUMNS)),
        _reading_params,
    ),
    AlarmEntry: (
        "alarm_transitions",
        _insert("alarm_transitions", (*ALARM_COLUMNS, *CHAIN_COLUMNS)),
        attrgetter(*_ALARM_FIELDS),
    ),
    EventEntry: ("events", _insert("events", (*EVENT_COLUMNS, *CHAIN_COLUMNS)), _event_params),
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
READING_SELECT = select("readings", READING_COLUMNS).replace(
    '"chair_ts"', 'coalesce("chair_ts", "ts")'
)


# Rows come back in the fields' order; the last column of these two is decoded.
_READING: Callable[..., ReadingEntry] = ReadingEntry
_EVENT: Callable[..., EventEntry] = EventEntry


def reading_of(row: Params) -> ReadingEntry:
    *values, technical = row
    return _READING(*values, technical=tuple(technical.split(",")) if technical else ())


def event_of(row: Params) -> EventEntry:
    *values, data = row
    return _EVENT(*values, data=json.loads(data))


def statements(
    entries: Sequence[Entry], links: Sequence[Link | None] | None = None
) -> list[tuple[str, list[Params]]]:
    """The statements that store `entries` (the evidence among them with its `links`), each
    with its rows: per table, one per run of the same statement, so the order within each table
    is the order of `entries`."""
    tables: dict[str, list[tuple[str, list[Params]]]] = {}
    for n, entry in enumerate(entries):
        table, sql, params = WRITES[type(entry)]
        runs = tables.setdefault(table, [])
        if not runs or runs[-1][0] != sql:
            runs.append((sql, []))
        row = params(entry)
        if table in CHAINED_TABLES:
            link = links[n] if links is not None else None
            row = (*row, *((link.chain, link.seq, link.prev, link.hash) if link else _UNLINKED))
        runs[-1][1].append(row)
    return [run for runs in tables.values() for run in runs]


PURGED_TABLES = ("readings", "alarm_transitions", "events")  # a session's rows, with `sessions`


def purge_statements(sessions: Sequence[str]) -> list[tuple[str, list[Params]]]:
    """The statements that delete every row of `sessions`."""
    keys: list[Params] = [(session,) for session in sessions]
    deletes = [(f"DELETE FROM {table} WHERE session = ?", keys) for table in PURGED_TABLES]
    return [*deletes, ("DELETE FROM sessions WHERE id = ?", keys)]


# Reading the chains back: each table's rows as entries, with their links.
_CHAINED_READS: dict[str, tuple[str, Callable[[Params], Entry]]] = {
    "messages": (quoted(MESSAGE_COLUMNS), lambda row: MessageEntry(*row)),
    "readings": (READING_SELECT.removeprefix("SELECT ").split(" FROM ")[0], reading_of),
    "alarm_transitions": (quoted(ALARM_COLUMNS), lambda row: AlarmEntry(*row)),
    "events": (quoted(EVENT_COLUMNS), event_of),
}
CHAIN_PAGE = 1_000


def head_queries(chain: str) -> list[tuple[str, tuple[str]]]:
    """The last link of `chain` in each table of evidence (`head_of` takes the highest)."""
    return [
        (f"SELECT chain_seq, hash FROM {t} WHERE chain = ? ORDER BY chain_seq DESC LIMIT 1",
         (chain,))
        for t in CHAINED_TABLES
    ]  # fmt: skip


def head_of(found: Sequence[Sequence[Params]]) -> tuple[int, str] | None:
    heads = [(int(rows[0][0]), str(rows[0][1])) for rows in found if rows]
    return max(heads) if heads else None


JOURNAL_PAGE = 1_000  # messages read at a time: a long journal streams
Query = tuple[str, Sequence[Any]]


class SqlReads:
    """The `Recorder`'s reads as SQL on these tables, for a backend that supplies `_snapshot`
    (the rows of each query, all from one moment of the record, or RecordError) and
    `_check_open` (RecordError once closed)."""

    def _snapshot(self, queries: Sequence[Query]) -> list[list[Params]]:
        raise NotImplementedError

    def _check_open(self) -> None:
        raise NotImplementedError

    def session(self, session: str) -> SessionRecord:
        summary, readings, alarms = self._snapshot(
            [
                (f"{select('sessions', SESSION_COLUMNS)} WHERE id = ?", (session,)),
                (
                    f"{READING_SELECT} WHERE session = ? ORDER BY coalesce(chair_ts, ts), id",
                    (session,),
                ),
                (
                    f"{select('alarm_transitions', ALARM_COLUMNS)} WHERE session = ? ORDER BY id",
                    (session,),
                ),
            ]
        )
        return SessionRecord(
            session=SessionEntry(*summary[0]) if summary else None,
            readings=[reading_of(row) for row in readings],
            alarms=[AlarmEntry(*row) for row in alarms],
        )

    def sessions(self, site: str | None = None) -> list[SessionEntry]:
        where, params = where_clause(site=site)
        sql = f"{select('sessions', SESSION_COLUMNS)}{where} ORDER BY admitted_at, rowid"
        return [SessionEntry(*row) for row in self._rows(sql, *params)]

    def snapshots(self, site: str) -> list[SnapshotEntry]:
        sql = f"{select('chair_snapshots', SNAPSHOT_COLUMNS)} WHERE site = ? ORDER BY chair"
        return [SnapshotEntry(*row) for row in self._rows(sql, site)]

    def journal(
        self, site: str | None = None, *, since: float | None = None
    ) -> Iterator[MessageEntry]:
        self._check_open()
        return self._journal(site, since)

    def _journal(self, site: str | None, since: float | None) -> Iterator[MessageEntry]:
        where, params = where_clause(site=site)
        where = f"{where} AND id > ?" if where else " WHERE id > ?"
        if since is not None:
            where = f"{where} AND received_at > ?"
        sql = f"SELECT id, {quoted(MESSAGE_COLUMNS)} FROM messages{where} ORDER BY id LIMIT ?"
        after: float = 0
        late = () if since is None else (since,)
        while page := self._rows(sql, *params, after, *late, JOURNAL_PAGE):
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
        where, params = where_clause(chair=chair, session=session)
        rows = self._rows(f"{READING_SELECT}{where} ORDER BY id", *params)
        return [reading_of(row) for row in rows]

    def alarms(
        self, *, chair: str | None = None, session: str | None = None, kind: str | None = None
    ) -> list[AlarmEntry]:
        rows = self._read(
            ALARM_COLUMNS, "alarm_transitions", chair=chair, session=session, kind=kind
        )
        return [AlarmEntry(*row) for row in rows]

    def events(self, *, session: str | None = None, type: str | None = None) -> list[EventEntry]:
        rows = self._read(EVENT_COLUMNS, "events", session=session, type=type)
        return [event_of(row) for row in rows]

    def login(self, token_digest: str, now: float) -> LoginEntry | None:
        sql = f"{select('logins', LOGIN_COLUMNS)} WHERE token_digest = ? AND expires_at > ?"
        rows = self._rows(sql, token_digest, now)
        return LoginEntry(*rows[0]) if rows else None

    # Collation of chain names when ordering: byte order, as Python compares them (SQLite's
    # default; PostgreSQL's default follows the locale).
    _chain_order = "chain"

    def head(self, chain: str) -> tuple[int, str] | None:
        return head_of(self._snapshot(head_queries(chain)))

    def chained(self, chain: str | None = None) -> Iterator[ChainRow]:
        self._check_open()
        return self._chained(chain)

    def _chained(self, chain: str | None) -> Iterator[ChainRow]:
        if chain is None:
            for table in CHAINED_TABLES:
                yield from self._unlinked(table)
        streams = [self._linked(table, chain) for table in CHAINED_TABLES]
        yield from heapq.merge(*streams, key=_chain_key)

    def _unlinked(self, table: str) -> Iterator[ChainRow]:
        """Rows with no link, but those written before the record had chains (`chain_start`)."""
        columns, entry_of = _CHAINED_READS[table]
        sql = (
            f"SELECT id, {columns} FROM {table} WHERE chain IS NULL AND id > ? AND id > "
            f"coalesce((SELECT unchained_through FROM chain_start WHERE tbl = '{table}'), 0) "
            "ORDER BY id LIMIT ?"
        )
        after = 0
        while page := self._rows(sql, after, CHAIN_PAGE):
            yield from (ChainRow(table, row[0], entry_of(row[1:]), None) for row in page)
            after = page[-1][0]

    def _linked(self, table: str, chain: str | None) -> Iterator[ChainRow]:
        columns, entry_of = _CHAINED_READS[table]
        order = self._chain_order
        where = "chain = ?" if chain is not None else "chain IS NOT NULL"
        sql = (
            f"SELECT id, chain, chain_seq, prev_hash, hash, {columns} FROM {table} "
            f"WHERE {where} AND ({order}, chain_seq) > (?, ?) ORDER BY {order}, chain_seq LIMIT ?"
        )
        fixed = () if chain is None else (chain,)
        after: tuple[str, int] = ("", 0)
        while page := self._rows(sql, *fixed, *after, CHAIN_PAGE):
            for row in page:
                link = Link(row[1], int(row[2]), row[3], row[4])
                yield ChainRow(table, row[0], entry_of(row[5:]), link)
            after = (page[-1][1], int(page[-1][2]))

    def _read(self, columns: Sequence[str], table: str, **filters: str | None) -> list[Params]:
        where, params = where_clause(**filters)
        return self._rows(f"{select(table, columns)}{where} ORDER BY id", *params)

    def _rows(self, sql: str, *params: Any) -> list[Params]:
        [rows] = self._snapshot([(sql, params)])
        return rows

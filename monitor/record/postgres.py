"""The record on a PostgreSQL server (`PostgresRecorder`): a chain of clinics sharing one database.

How it works: the tables, columns and statements are the SQLite record's (`rows` maps entries to
them and reads them back; `pg_schema` builds them), written with `?` placeholders that become
psycopg's `%s` here. Opening runs the migrations the database has not had, in one transaction
under an advisory lock (`pg_schema`). One `append` is one transaction on the writer's connection,
under a lock (the writer thread's); each table gets one `executemany` per run of the same
statement, in order. Reads take a connection of their own from a few kept idle (so they run
beside the writer, from any thread); a session's summary, readings and alarms are read in one
REPEATABLE READ transaction, from one moment. Every connection has a connect timeout and a
statement timeout, so a server gone away makes a call fail rather than hang; a connection that
failed is dropped and the next call connects again, so the record writes again once the server
is back (a read whose kept connection died with a restarted server is tried once more on a new
one; an append is not, since its commit may have landed: the `Writer` tries it again). Text
with a NUL, which PostgreSQL cannot hold and SQLite can, is kept as JSON behind a mark
(`_held`). Every psycopg failure leaves this module as a RecordError naming the database (its
URL without the password) and the reason.
"""

from __future__ import annotations

import contextlib
import json
import math
import threading
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import IsolationLevel
from psycopg.conninfo import conninfo_to_dict

from monitor.record.base import Entry, EventEntry, RecordError, check_batch
from monitor.record.chain import Linker
from monitor.record.pg_schema import MIGRATION_LOCK, MIGRATIONS, SCHEMA_VERSION, VERSION_TABLE
from monitor.record.rows import (
    Params,
    Query,
    SqlReads,
    head_of,
    head_queries,
    purge_statements,
    statements,
)

SCHEMES = ("postgresql://", "postgres://")
# The mark that starts a text kept as JSON (see `_held`): a noncharacter, never in real text.
NUL_MARK = "\ufdd0"
IDLE_READERS = 4  # read connections kept open between reads; more are opened when needed
# What psycopg raises for a value it cannot send (a NUL in text, a lone surrogate) and for the rest.
_FAILURES = (psycopg.Error, UnicodeError, OverflowError)


class PostgresRecorder(SqlReads):
    """A `Recorder` in the PostgreSQL database `url` names (`postgresql://user:pass@host/db`;
    libpq's query parameters, such as `sslmode`, pass through).

    Args:
        url: the database; it must exist, the tables are made at open.
        timeout_s: how long connecting, and any one statement, may take before it fails.
    """

    def __init__(self, url: str, *, timeout_s: float = 10.0) -> None:
        self.url = redacted(url)
        self.timeout_s = timeout_s
        self._params = _connect_params(url, timeout_s)
        self._password = self._params.get("password") or None
        self._lock = threading.Lock()  # one append on the writer's connection at a time
        self._idle_lock = threading.Lock()
        self._idle: list[psycopg.Connection[Params]] = []
        self._closed = False
        self._writer: psycopg.Connection[Params] | None = None
        self._linker = Linker()
        self._chain_order = 'chain COLLATE "C"'
        with self._failing("open"):
            self._writer = self._connect()
        try:
            with self._failing("open"):
                _migrate(self._writer, self.url)
        except BaseException:
            self._writer.close()
            raise

    def append(self, entries: Sequence[Entry]) -> None:
        self._write(entries)

    def purge(self, sessions: Sequence[str], record: EventEntry) -> None:
        self._write([record], first=purge_statements(sessions), doing="purge")

    def _write(
        self,
        entries: Sequence[Entry],
        *,
        first: Sequence[tuple[str, list[Params]]] = (),
        doing: str = "write to",
    ) -> None:
        """Store `entries`, after the statements `first`, in one transaction."""
        check_batch(entries)
        with self._lock:
            self._check_open()
            with self._failing(doing):
                writer = self._writer if self._writer is not None else self._connect()
                self._writer = writer
                try:
                    with writer.transaction(), writer.cursor() as cursor:
                        # The chains' heads are read inside the transaction.
                        linked = self._linker.links(entries, lambda chain: _head(cursor, chain))
                        for sql, rows in [*first, *statements(entries, linked.links)]:
                            cursor.executemany(_driver_sql(sql), [_held(row) for row in rows])
                except BaseException:
                    self._linker.forget()
                    if writer.broken or writer.closed:
                        self._writer = None
                        writer.close()
                    raise
            self._linker.commit(linked)

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._writer is not None:
                self._writer.close()
        self._drop_idle()

    def _snapshot(self, queries: Sequence[Query]) -> list[list[Params]]:
        """The rows of each query, all from one moment of the record, on a read connection: a
        kept one, or a new one when none is kept or the kept one died with its server."""
        self._check_open()
        with self._failing("read"):
            with self._idle_lock:
                kept = self._idle.pop() if self._idle else None
            if kept is not None:
                try:
                    return self._read_on(kept, queries)
                except psycopg.OperationalError:
                    if not kept.broken:
                        raise
                    self._drop_idle()  # the server restarted: the others died with this one
            return self._read_on(self._connect_reader(), queries)

    def _read_on(
        self, db: psycopg.Connection[Params], queries: Sequence[Query]
    ) -> list[list[Params]]:
        """Run `queries` on `db`, then keep it for the next read (unless it failed)."""
        try:
            if len(queries) == 1:
                rows = [_fetch(db, *queries[0])]
            else:
                with db.transaction():
                    rows = [_fetch(db, sql, params) for sql, params in queries]
        except BaseException:
            db.close()
            raise
        with self._idle_lock:
            if not self._closed and len(self._idle) < IDLE_READERS:
                self._idle.append(db)
                return rows
        db.close()
        return rows

    def _connect_reader(self) -> psycopg.Connection[Params]:
        db = self._connect()
        db.isolation_level = IsolationLevel.REPEATABLE_READ
        db.read_only = True
        return db

    def _drop_idle(self) -> None:
        with self._idle_lock:
            idle, self._idle = self._idle, []
        for db in idle:
            db.close()

    def _connect(self) -> psycopg.Connection[Params]:
        return psycopg.connect(**self._params, autocommit=True)

    @contextlib.contextmanager
    def _failing(self, doing: str) -> Iterator[None]:
        """Turn a driver failure into a RecordError naming the database, never its password."""
        try:
            yield
        except _FAILURES as exc:
            reason = str(exc).strip()
            if self._password:
                reason = reason.replace(self._password, "***")
            raise RecordError(f"cannot {doing} the record {self.url}: {reason}") from exc

    def _check_open(self) -> None:
        if self._closed:
            raise RecordError(f"the record {self.url} is closed; open a new PostgresRecorder")


def redacted(url: str) -> str:
    """`url` with its password, if it has one, as `***`."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        host = parts.netloc.rpartition("@")[2]
        return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))
    except ValueError:
        return "a postgresql:// URL that cannot be read"


def check_postgres_url(url: str) -> None:
    """Raise ValueError, saying why, unless `url` is a PostgreSQL URL libpq can read; connects
    to nothing."""
    _libpq_params(url)


def _libpq_params(url: str) -> dict[str, Any]:
    if not url.startswith(SCHEMES) or url in SCHEMES:
        raise ValueError(f"{url!r} names no database: use postgresql://USER:PASS@HOST/DB")
    try:
        return conninfo_to_dict(url)
    except psycopg.Error as exc:
        reason = str(exc).strip().replace(url, redacted(url))
        raise ValueError(f"{redacted(url)!r} is not a URL libpq reads: {reason}") from exc


def _connect_params(url: str, timeout_s: float) -> dict[str, Any]:
    """libpq's parameters for `url`, with our timeouts unless the URL sets its own."""
    try:
        params = _libpq_params(url)
    except ValueError as exc:
        raise RecordError(f"cannot open the record: {exc}") from exc
    params.setdefault("connect_timeout", max(2, math.ceil(timeout_s)))
    timeout_ms = round(timeout_s * 1000)
    params.setdefault("options", f"-c statement_timeout={timeout_ms} -c lock_timeout={timeout_ms}")
    params.setdefault("application_name", "infusion-monitor")
    return params


def _head(cursor: psycopg.Cursor[Params], chain: str) -> tuple[int, str] | None:
    """A chain's last link, read on `cursor` (inside the append's transaction)."""
    found = []
    for sql, params in head_queries(chain):
        cursor.execute(_driver_sql(sql), params)
        found.append(cursor.fetchall())
    return head_of(found)


def _driver_sql(sql: str) -> str:
    """The shared statements' `?` placeholders as psycopg's `%s` (they hold no other `?` or %)."""
    return sql.replace("?", "%s")


def _fetch(db: psycopg.Connection[Params], sql: str, params: Sequence[Any]) -> list[Params]:
    rows = db.execute(_driver_sql(sql), _held(params)).fetchall()
    return [_read_back(row) for row in rows]


def _held(values: Sequence[Any]) -> Params:
    """`values` as PostgreSQL can hold them: text with a NUL (which SQLite keeps, and a payload
    off the wire may have) as JSON text behind `NUL_MARK`, and text starting with the mark too,
    so every text reads back as it was (`_read_back`) and equal texts are still equal."""
    return tuple(
        f"{NUL_MARK}{json.dumps(v, ensure_ascii=False)}"
        if isinstance(v, str) and ("\x00" in v or v.startswith(NUL_MARK))
        else v
        for v in values
    )


def _read_back(row: Params) -> Params:
    if not any(isinstance(v, str) and v.startswith(NUL_MARK) for v in row):
        return row
    return tuple(
        json.loads(v[1:]) if isinstance(v, str) and v.startswith(NUL_MARK) else v for v in row
    )


def _migrate(db: psycopg.Connection[Params], url: str) -> None:
    """Run the migrations the database has not had yet, all in one transaction; the advisory
    lock makes a second service opening at the same moment wait, then find nothing to do."""
    with db.transaction():
        db.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        for statement in VERSION_TABLE:
            db.execute(statement)
        version = _version(db, url)
        for migration in MIGRATIONS[version:]:
            for statement in migration:
                db.execute(statement)
        if version != SCHEMA_VERSION:
            db.execute("UPDATE schema_version SET version = %s", (SCHEMA_VERSION,))


def _version(db: psycopg.Connection[Params], url: str) -> int:
    row = db.execute("SELECT version FROM schema_version").fetchone()
    version: int = row[0] if row else 0
    if version > SCHEMA_VERSION:
        raise RecordError(
            f"the record {url} is at schema version {version}, newer than this program's"
            f" {SCHEMA_VERSION}: open it with the infusion-monitor that wrote it, or a newer one"
        )
    return version

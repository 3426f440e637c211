"""The record in one SQLite file (`SqliteRecorder`): a clinic's single machine.

How it works: the tables and columns are those of the store before it (`monitor/store.py`), so a
database that store wrote opens and reads (`rows` maps entries to them and reads them back,
`schema` builds them). `PRAGMA user_version` says which of `MIGRATIONS` the
file has had; opening runs the rest, in order, in one transaction (a store's file is version 0).
The file is in WAL mode, so reads, each on a connection of its own, run beside the writer; a
session's summary, readings and alarms are read in one transaction, from one moment. One
`append` is one transaction; within it each table gets one `executemany` per run of the same
statement, which keeps the order within a table (and was a fifth faster than an `execute` per
row: about 275,000 readings a second in batches of 500, on a file).
Every sqlite3 failure leaves this module as a RecordError naming the file and the reason.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from monitor.record.base import Entry, EventEntry, RecordError, check_batch
from monitor.record.chain import Linker
from monitor.record.rows import (
    Params,
    Query,
    SqlReads,
    head_of,
    head_queries,
    purge_statements,
    statements,
)
from monitor.record.schema import MIGRATIONS, SCHEMA_VERSION

# What sqlite3 raises for a value it cannot bind (a str with a lone surrogate, an int over 64 bits).
_FAILURES = (sqlite3.Error, UnicodeError, OverflowError)


class SqliteRecorder(SqlReads):
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
        self._linker = Linker()
        # Readers open the file by its absolute name, whatever the working folder becomes.
        self._reader_uri = f"{Path(self.path).absolute().as_uri()}?mode=ro"

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
            try:
                with _transaction(self._db):  # the heads read inside cannot move meanwhile
                    linked = self._linker.links(entries, self._head)
                    for sql, rows in [*first, *statements(entries, linked.links)]:
                        self._db.executemany(sql, rows)
            except _FAILURES as exc:
                self._linker.forget()
                raise RecordError(f"cannot {doing} the record {self.path}: {exc}") from exc
            self._linker.commit(linked)

    def _head(self, chain: str) -> tuple[int, str] | None:
        """A chain's last link, read on the writer's connection inside its transaction."""
        return head_of([self._db.execute(sql, p).fetchall() for sql, p in head_queries(chain)])

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._db.close()

    def _snapshot(self, queries: Sequence[Query]) -> list[list[Params]]:
        """The rows of each query, all from one moment of the record: on a connection of their
        own (safe beside the writer thread), or for ":memory:", which has only the one, under
        the writer's lock."""
        self._check_open()
        try:
            if self._in_memory:
                with self._lock:
                    self._check_open()
                    return _run(self._db, queries)
            with contextlib.closing(self._reader()) as db:
                return _run(db, queries)
        except _FAILURES as exc:
            raise RecordError(f"cannot read the record {self.path}: {exc}") from exc

    def _reader(self) -> sqlite3.Connection:
        return sqlite3.connect(
            self._reader_uri, uri=True, timeout=self.timeout_s, isolation_level=None
        )

    def _check_open(self) -> None:
        if self._closed:
            raise RecordError(f"the record {self.path} is closed; open a new SqliteRecorder")


def _run(
    db: sqlite3.Connection, queries: Sequence[tuple[str, Sequence[Any]]]
) -> list[list[Params]]:
    if len(queries) == 1:
        [(sql, params)] = queries
        return [db.execute(sql, params).fetchall()]
    db.execute("BEGIN")  # one read transaction: one moment for every query
    try:
        return [db.execute(sql, params).fetchall() for sql, params in queries]
    finally:
        db.execute("COMMIT")


@contextlib.contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[None]:
    """One write transaction, begun with the write lock held: committed when the block ends,
    rolled back when it raises."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


def _open(path: str, timeout_s: float) -> sqlite3.Connection:
    if not path:
        raise RecordError("cannot open the record: no path given (or ':memory:')")
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

"""The session store (SQLite): every inbound message with its outcome, readings, alarm transitions,
session events, and chair snapshots so a restart picks up open sessions and active alarms.

Writes go through one bounded queue to one writer task, in batches, on a worker thread; when the
queue is full, `submit` waits, which slows MQTT intake on purpose rather than lose records.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SCHEMA = """
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY,
    received_at REAL NOT NULL,
    topic TEXT NOT NULL,
    site TEXT, chair TEXT, kind TEXT,
    outcome TEXT NOT NULL,
    reason TEXT,
    payload TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_chair ON messages (site, chair, received_at);
CREATE TABLE IF NOT EXISTS readings (
    id INTEGER PRIMARY KEY,
    site TEXT NOT NULL, chair TEXT NOT NULL, session TEXT,
    ts REAL NOT NULL, received_at REAL NOT NULL, seq INTEGER,
    hr REAL, spo2 REAL, sbp REAL, dbp REAL, map REAL, technical TEXT, pr REAL, chair_ts REAL
);
CREATE INDEX IF NOT EXISTS readings_session ON readings (session, ts);
CREATE TABLE IF NOT EXISTS alarm_transitions (
    id INTEGER PRIMARY KEY,
    alarm TEXT NOT NULL, site TEXT NOT NULL, chair TEXT NOT NULL, session TEXT,
    ts REAL NOT NULL, kind TEXT NOT NULL, class TEXT NOT NULL, priority TEXT NOT NULL,
    state TEXT NOT NULL, value REAL, "limit" REAL, text TEXT NOT NULL,
    acknowledged_by TEXT, acknowledged_at REAL, note TEXT, suppressed_by TEXT
);
CREATE INDEX IF NOT EXISTS alarm_transitions_session ON alarm_transitions (session, ts);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    site TEXT NOT NULL, chair TEXT NOT NULL, session TEXT,
    ts REAL NOT NULL, type TEXT NOT NULL, data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_session ON events (session, ts);
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    site TEXT NOT NULL, chair TEXT NOT NULL, patient TEXT NOT NULL,
    admitted_at REAL NOT NULL, phase TEXT NOT NULL, closed_at REAL, recovery_status TEXT
);
CREATE TABLE IF NOT EXISTS chair_snapshots (
    site TEXT NOT NULL, chair TEXT NOT NULL, saved_at REAL NOT NULL, state TEXT NOT NULL,
    PRIMARY KEY (site, chair)
);
"""
# Columns added since the first schema, for stores created before them (contract v1.1).
ADDED_COLUMNS = (
    ("readings", "pr", "REAL"),
    ("readings", "chair_ts", "REAL"),  # the reading's time on the chair's timeline
    ("alarm_transitions", "note", "TEXT"),
    ("alarm_transitions", "suppressed_by", "TEXT"),
)


@dataclass(frozen=True, slots=True)
class Row:
    """One row for one table; `values` maps column to value."""

    table: str
    values: dict[str, Any]
    upsert_key: tuple[str, ...] = ()


class StoreError(RuntimeError):
    """The store cannot be opened or written."""


class Store:
    """SQLite store with a bounded write queue drained by `run`."""

    def __init__(self, path: str, *, queue_size: int = 20_000, batch: int = 500) -> None:
        self.path = path
        self.queue: asyncio.Queue[Row] = asyncio.Queue(maxsize=queue_size)
        self.batch = batch
        self.written = 0
        self.failed_batches = 0
        self._db = self._open(path)
        self._lock = threading.Lock()

    @staticmethod
    def _open(path: str) -> sqlite3.Connection:
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        try:
            db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            db.executescript(SCHEMA)
            _add_columns(db)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open SQLite database {path}: {exc}") from exc
        return db

    async def submit(self, rows: Iterable[Row]) -> None:
        for row in rows:
            await self.queue.put(row)

    async def run(self) -> None:
        """Write queued rows until cancelled; on cancellation, let the batch being written
        finish on its thread, write what is left, then stop."""
        try:
            while True:
                rows = [await self.queue.get()]
                while len(rows) < self.batch and not self.queue.empty():
                    rows.append(self.queue.get_nowait())
                writing = asyncio.ensure_future(asyncio.to_thread(self._write, rows))
                try:
                    await asyncio.shield(writing)
                except asyncio.CancelledError:
                    await asyncio.wait({writing})  # never two writers on one connection
                    raise
        finally:
            self.flush()

    def flush(self) -> None:
        """Write what is queued, now, on this thread (at shutdown)."""
        rows = []
        while not self.queue.empty():
            rows.append(self.queue.get_nowait())
        self.write_now(rows)

    def write_now(self, rows: list[Row]) -> None:
        if rows:
            self._write(rows)

    def close(self) -> None:
        self.flush()
        self._db.close()

    def _write(self, rows: list[Row]) -> None:
        with self._lock:  # the writer thread and a shutdown flush must take turns
            self._write_batch(rows)

    def _write_batch(self, rows: list[Row]) -> None:
        try:
            self._db.execute("BEGIN")
            for row in rows:
                self._db.execute(*_insert(row))
            self._db.execute("COMMIT")
            self.written += len(rows)
        except sqlite3.Error:
            self.failed_batches += 1
            log.exception("store: a batch of %d rows could not be written", len(rows))
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")

    # Reading back ------------------------------------------------------------------------

    def query(self, sql: str, *params: Any) -> list[dict[str, Any]]:
        cursor = self._db.execute(sql, params)
        names = [c[0] for c in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def read(self, sql: str, *params: Any) -> list[dict[str, Any]]:
        """A query on a connection of its own, safe beside the writer thread."""
        if self.path == ":memory:":
            return self.query(sql, *params)
        with contextlib.closing(sqlite3.connect(self.path)) as db:
            cursor = db.execute(sql, params)
            names = [c[0] for c in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def session_record(self, session: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """A session's readings and alarm transitions, in time order."""
        readings = self.read(
            "SELECT coalesce(chair_ts, ts) AS ts, seq, hr, pr, spo2, sbp, dbp, map, technical"
            " FROM readings"
            " WHERE session = ? ORDER BY coalesce(chair_ts, ts), id", session
        )  # fmt: skip
        alarms = self.read("SELECT * FROM alarm_transitions WHERE session = ? ORDER BY id", session)
        return readings, alarms

    def snapshots(self, site: str) -> Iterator[tuple[str, str]]:
        for row in self.query("SELECT chair, state FROM chair_snapshots WHERE site = ?", site):
            yield row["chair"], row["state"]

    def journal(self, site: str | None = None) -> Iterator[dict[str, Any]]:
        """Inbound messages in arrival order, as replayed by `infusion-monitor replay`."""
        sql = "SELECT received_at, topic, payload FROM messages"
        params: tuple[Any, ...] = ()
        if site:
            sql, params = sql + " WHERE site = ?", (site,)
        for row in self.query(sql + " ORDER BY id", *params):
            yield {"received": row["received_at"], "topic": row["topic"], "payload": row["payload"]}


def _insert(row: Row) -> tuple[str, tuple[Any, ...]]:
    columns = list(row.values)
    quoted = ", ".join(f'"{c}"' for c in columns)
    marks = ", ".join("?" for _ in columns)
    sql = f"INSERT INTO {row.table} ({quoted}) VALUES ({marks})"
    if row.upsert_key:
        updates = ", ".join(f'"{c}" = excluded."{c}"' for c in columns if c not in row.upsert_key)
        sql += f" ON CONFLICT ({', '.join(row.upsert_key)}) DO UPDATE SET {updates}"
    values = tuple(json.dumps(v) if isinstance(v, dict | list) else v for v in row.values.values())
    return sql, values


def _add_columns(db: sqlite3.Connection) -> None:
    for table, column, kind in ADDED_COLUMNS:
        present = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
        if column not in present:
            db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")

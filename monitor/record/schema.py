"""The SQLite record's schema, as the ordered migrations that build it.

`MIGRATIONS[n]` takes a file at `PRAGMA user_version` n to n + 1; a migration is a function of the
open connection (so it can look at what is there) that returns the statements to run. Version 0
is a new file or one the previous store (`monitor/store.py`) wrote: same tables, same columns, no
version. A change to the schema is a new migration at the end, never an edit of one before it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from monitor.record.rows import CHAINED_TABLES

STORE_TABLES = (
    """CREATE TABLE IF NOT EXISTS messages (
        id INTEGER PRIMARY KEY,
        received_at REAL NOT NULL,
        topic TEXT NOT NULL,
        site TEXT, chair TEXT, kind TEXT,
        outcome TEXT NOT NULL,
        reason TEXT,
        payload TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS messages_chair ON messages (site, chair, received_at)",
    """CREATE TABLE IF NOT EXISTS readings (
        id INTEGER PRIMARY KEY,
        site TEXT NOT NULL, chair TEXT NOT NULL, session TEXT,
        ts REAL NOT NULL, received_at REAL NOT NULL, seq INTEGER,
        hr REAL, spo2 REAL, sbp REAL, dbp REAL, map REAL, technical TEXT, pr REAL, chair_ts REAL
    )""",
    "CREATE INDEX IF NOT EXISTS readings_session ON readings (session, ts)",
    """CREATE TABLE IF NOT EXISTS alarm_transitions (
        id INTEGER PRIMARY KEY,
        alarm TEXT NOT NULL, site TEXT NOT NULL, chair TEXT NOT NULL, session TEXT,
        ts REAL NOT NULL, kind TEXT NOT NULL, class TEXT NOT NULL, priority TEXT NOT NULL,
        state TEXT NOT NULL, value REAL, "limit" REAL, text TEXT NOT NULL,
        acknowledged_by TEXT, acknowledged_at REAL, note TEXT, suppressed_by TEXT
    )""",
    "CREATE INDEX IF NOT EXISTS alarm_transitions_session ON alarm_transitions (session, ts)",
    """CREATE TABLE IF NOT EXISTS events (
        id INTEGER PRIMARY KEY,
        site TEXT NOT NULL, chair TEXT NOT NULL, session TEXT,
        ts REAL NOT NULL, type TEXT NOT NULL, data TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS events_session ON events (session, ts)",
    """CREATE TABLE IF NOT EXISTS sessions (
        id TEXT PRIMARY KEY,
        site TEXT NOT NULL, chair TEXT NOT NULL, patient TEXT NOT NULL,
        admitted_at REAL NOT NULL, phase TEXT NOT NULL, closed_at REAL, recovery_status TEXT
    )""",
    """CREATE TABLE IF NOT EXISTS chair_snapshots (
        site TEXT NOT NULL, chair TEXT NOT NULL, saved_at REAL NOT NULL, state TEXT NOT NULL,
        PRIMARY KEY (site, chair)
    )""",
)
# Columns the store added after its first schema (contract v1.1), for files made before them.
STORE_ADDED_COLUMNS = (
    ("readings", "pr", "REAL"),
    ("readings", "chair_ts", "REAL"),  # the reading's time on the chair's timeline
    ("alarm_transitions", "note", "TEXT"),
    ("alarm_transitions", "suppressed_by", "TEXT"),
)


def store_schema(db: sqlite3.Connection) -> list[str]:
    """0 -> 1: the store's tables where missing, and the columns it added since its first."""
    statements = list(STORE_TABLES)
    for table, column, kind in STORE_ADDED_COLUMNS:
        present = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
        if present and column not in present:
            statements.append(f'ALTER TABLE {table} ADD COLUMN "{column}" {kind}')
    return statements


def logins(db: sqlite3.Connection) -> list[str]:
    """1 -> 2: the dashboard's login sessions, so a restart leaves every station logged in."""
    return [
        """CREATE TABLE logins (
            token_digest TEXT PRIMARY KEY,
            "user" TEXT NOT NULL, role TEXT NOT NULL, expires_at REAL NOT NULL
        )"""
    ]


def chains(db: sqlite3.Connection) -> list[str]:
    """2 -> 3: the hash chain's columns on each table of evidence (`monitor.record.chain`), and
    `chain_start`: the rows written before, which have no link and are not verified."""
    return chain_statements(integer="INTEGER", order="chain")


def chain_statements(*, integer: str, order: str) -> list[str]:
    """The statements that add the chains, in SQL both backends speak (`order`: the chain column
    as it is indexed, with the collation the reads order by)."""
    statements = ["CREATE TABLE chain_start (tbl TEXT PRIMARY KEY, unchained_through "
                  f"{integer} NOT NULL)"]  # fmt: skip
    for table in CHAINED_TABLES:
        statements += [
            f"ALTER TABLE {table} ADD COLUMN chain TEXT",
            f"ALTER TABLE {table} ADD COLUMN chain_seq {integer}",
            f"ALTER TABLE {table} ADD COLUMN prev_hash TEXT",
            f"ALTER TABLE {table} ADD COLUMN hash TEXT",
            f"CREATE INDEX {table}_chain ON {table} ({order}, chain_seq)",
            f"INSERT INTO chain_start SELECT '{table}', coalesce(max(id), 0) FROM {table}",
        ]
    return statements


MIGRATIONS: tuple[Callable[[sqlite3.Connection], list[str]], ...] = (
    store_schema,
    logins,
    chains,
)
SCHEMA_VERSION = len(MIGRATIONS)

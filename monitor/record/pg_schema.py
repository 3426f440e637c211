"""The PostgreSQL record's schema, as the ordered migrations that build it.

The tables and columns are the SQLite record's (`schema.py`), so `rows` maps entries to both:
`double precision` for its REAL, `bigint` for `seq`, `text` for TEXT, and a `bigserial` id where
SQLite has its INTEGER PRIMARY KEY (the order of appending). Sessions get a `rowid` of their own,
named after SQLite's implicit one, so both order ties by admission the same way.

`MIGRATIONS[n]` takes a database at version n to n + 1 (a tuple of statements); the version is
the one row of `schema_version`, and a database without that table is at 0. A change to the
schema is a new migration at the end, never an edit of one before it. `PostgresRecorder` runs
the missing ones at open, in one transaction under an advisory lock, so two services opening one
database at once do not both migrate.
"""

from __future__ import annotations

from monitor.record.schema import chain_statements

# The advisory lock the migrating transaction holds (any fixed bigint: "infusion").
MIGRATION_LOCK = 0x696E667573696F6E

VERSION_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL)",
    "INSERT INTO schema_version (version) SELECT 0 WHERE NOT EXISTS (SELECT FROM schema_version)",
)

RECORD_TABLES = (
    """CREATE TABLE messages (
        id bigserial PRIMARY KEY,
        received_at double precision NOT NULL,
        topic text NOT NULL,
        site text, chair text, kind text,
        outcome text NOT NULL,
        reason text,
        payload text NOT NULL
    )""",
    "CREATE INDEX messages_chair ON messages (site, chair, received_at)",
    """CREATE TABLE readings (
        id bigserial PRIMARY KEY,
        site text NOT NULL, chair text NOT NULL, session text,
        ts double precision NOT NULL, chair_ts double precision,
        received_at double precision NOT NULL, seq bigint,
        hr double precision, pr double precision, spo2 double precision,
        sbp double precision, dbp double precision, map double precision, technical text
    )""",
    "CREATE INDEX readings_session ON readings (session, ts)",
    """CREATE TABLE alarm_transitions (
        id bigserial PRIMARY KEY,
        alarm text NOT NULL, site text NOT NULL, chair text NOT NULL, session text,
        ts double precision NOT NULL, kind text NOT NULL, class text NOT NULL,
        priority text NOT NULL, state text NOT NULL, value double precision,
        "limit" double precision, text text NOT NULL,
        acknowledged_by text, acknowledged_at double precision, note text, suppressed_by text
    )""",
    "CREATE INDEX alarm_transitions_session ON alarm_transitions (session, ts)",
    """CREATE TABLE events (
        id bigserial PRIMARY KEY,
        site text NOT NULL, chair text NOT NULL, session text,
        ts double precision NOT NULL, type text NOT NULL, data text NOT NULL
    )""",
    "CREATE INDEX events_session ON events (session, ts)",
    """CREATE TABLE sessions (
        id text PRIMARY KEY,
        rowid bigserial NOT NULL,
        site text NOT NULL, chair text NOT NULL, patient text NOT NULL,
        admitted_at double precision NOT NULL, phase text NOT NULL,
        closed_at double precision, recovery_status text
    )""",
    "CREATE INDEX sessions_admitted ON sessions (admitted_at, rowid)",
    """CREATE TABLE chair_snapshots (
        site text NOT NULL, chair text NOT NULL, saved_at double precision NOT NULL,
        state text NOT NULL,
        PRIMARY KEY (site, chair)
    )""",
    """CREATE TABLE logins (
        token_digest text PRIMARY KEY,
        "user" text NOT NULL, role text NOT NULL, expires_at double precision NOT NULL
    )""",
)

# 0 -> 1: every table of the record as the SQLite record has it at its version 2.
# 1 -> 2: the hash chains (SQLite's version 3), indexed in byte order as the reads order them.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    RECORD_TABLES,
    tuple(chain_statements(integer="bigint", order='chain COLLATE "C"')),
)
SCHEMA_VERSION = len(MIGRATIONS)

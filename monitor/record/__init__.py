"""The record: what the service keeps (entries), the `Recorder` interface, its backends, and the
`Writer` that feeds one from the event loop. `open_recorder(url)` picks the backend a setting
names."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

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
from monitor.record.postgres import SCHEMES, PostgresRecorder, check_postgres_url
from monitor.record.sqlite import SqliteRecorder
from monitor.record.writer import Writer

__all__ = [
    "AlarmEntry",
    "Entry",
    "EventEntry",
    "LoginEnded",
    "LoginEntry",
    "MemoryRecorder",
    "MessageEntry",
    "PostgresRecorder",
    "ReadingEntry",
    "RecordError",
    "Recorder",
    "SessionEntry",
    "SessionRecord",
    "SnapshotEntry",
    "SqliteRecorder",
    "Writer",
    "beside",
    "check_url",
    "open_recorder",
]

SQLITE = "sqlite:///"
MEMORY = "memory://"
ACCEPTED = "sqlite:///PATH, sqlite:///:memory:, postgresql://USER:PASS@HOST/DB or memory://"


def open_recorder(url: str) -> Recorder:
    """The record `url` names: `sqlite:///PATH` (a relative PATH, or `sqlite:////abs/path`),
    `sqlite:///:memory:`, `postgresql://USER:PASS@HOST[:PORT]/DB` (or `postgres://`), or
    `memory://`.

    Raises:
        RecordError: the URL names no backend this program has, or the record cannot be opened.
    """
    try:
        check_url(url)
    except ValueError as exc:
        raise RecordError(str(exc)) from exc
    if url == MEMORY:
        return MemoryRecorder()
    if url.startswith(SCHEMES):
        return PostgresRecorder(url)
    return SqliteRecorder(url.removeprefix(SQLITE))


def beside(url: str, site: str | None = None) -> tuple[str | None, str | None]:
    """The files a record keeps outside its database: the spill (per site: where entries wait
    when the record cannot take them) and the seal log (`monitor.record.chain`). Next to a
    SQLite file; for PostgreSQL, in the working folder, named after the database; none for a
    record in memory."""
    if url.startswith(SQLITE):
        path = url.removeprefix(SQLITE)
        if path in ("", ":memory:"):
            return None, None
        return f"{path}.spill.jsonl", f"{path}.seals.jsonl"
    if url.startswith(("postgresql://", "postgres://")):
        name = urlsplit(url).path.strip("/") or "postgres"
        base = "infusion-monitor-" + re.sub(r"[^A-Za-z0-9_.-]", "_", name)
        spill = f"{base}-{site}.spill.jsonl" if site else None
        return spill, f"{base}.seals.jsonl"
    return None, None


def check_url(url: str) -> None:
    """Raise ValueError, saying what to write instead, unless `open_recorder` accepts `url`;
    opens nothing (for validating settings)."""
    if url.startswith(SCHEMES):
        check_postgres_url(url)
    elif url != MEMORY and (not url.startswith(SQLITE) or url == SQLITE):
        raise ValueError(f"{url!r} names no record: use {ACCEPTED}")

"""The audit's tests read one clinic's record (`audit_day`), held by each backend in turn
(memory, SQLite, PostgreSQL), with the local time zone set to UTC so the terminal's times are
known."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from audit_day import Day, clinic_day, recorded

from monitor.record import MemoryRecorder, Recorder, SqliteRecorder
from monitor.record.postgres import PostgresRecorder


@pytest.fixture(scope="session")
def day() -> Day:
    return clinic_day()


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def recorder(request: pytest.FixtureRequest, day: Day, tmp_path: Path) -> Iterator[Recorder]:
    backend: Recorder
    if request.param == "memory":
        backend = MemoryRecorder()
    elif request.param == "sqlite":
        backend = SqliteRecorder(str(tmp_path / "audit.db"))
    else:
        backend = PostgresRecorder(request.getfixturevalue("postgres_url"))
    yield recorded(backend, day)
    backend.close()


@pytest.fixture(autouse=True)
def utc_zone(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()

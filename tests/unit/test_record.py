"""Every test of the record's shared suite (`record_suite.py`), on each backend."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from record_suite import RecorderSuite

from monitor.record import (
    MemoryRecorder,
    PostgresRecorder,
    Recorder,
    RecordError,
    SqliteRecorder,
    check_url,
    open_recorder,
)


def _open(backend: str, request: pytest.FixtureRequest, folder: Path) -> Recorder:
    if backend == "memory":
        return MemoryRecorder()
    if backend == "sqlite":
        return SqliteRecorder(folder / "record" / "audit.db")
    if backend == "postgres":
        return PostgresRecorder(request.getfixturevalue("postgres_url"))
    return SqliteRecorder(":memory:")


@pytest.fixture(params=["memory", "sqlite", "sqlite-memory", "postgres"])
def recorder(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Recorder]:
    backend = _open(request.param, request, tmp_path)
    yield backend
    backend.close()


class TestRecorder(RecorderSuite):
    """The suite, run once per backend: `[memory]`, `[sqlite]` (a file), `[sqlite-memory]`,
    `[postgres]` (a database of its own on the tests' PostgreSQL, `tests/pg.py`)."""


# Which backend a setting names ----------------------------------------------------------------


def test_a_url_names_its_backend(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    opened = [
        open_recorder("memory://"),
        open_recorder("sqlite:///:memory:"),
        open_recorder(f"sqlite:///{path}"),
    ]

    assert [type(r) for r in opened] == [MemoryRecorder, SqliteRecorder, SqliteRecorder]
    assert [getattr(r, "path", None) for r in opened] == [None, ":memory:", str(path)]
    assert path.exists()
    for recorder in opened:
        recorder.close()


NO_RECORD = (
    "names no record: use sqlite:///PATH, sqlite:///:memory:,"
    " postgresql://USER:PASS@HOST/DB or memory://"
)
NO_DATABASE = "names no database: use postgresql://USER:PASS@HOST/DB"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgresql://", NO_DATABASE),
        ("postgres://", NO_DATABASE),
        ("postgresql://db/audit?nonsense=1", 'invalid URI query parameter: "nonsense"'),
        ("mysql://db/audit", NO_RECORD),
        ("sqlite:///", NO_RECORD),  # no path: never an in-memory record by accident
        ("sqlite://audit.db", NO_RECORD),
        ("memory://anything", NO_RECORD),
        ("audit.db", NO_RECORD),
        ("", NO_RECORD),
    ],
)
def test_a_url_that_names_no_backend_says_what_would(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        check_url(url)
    with pytest.raises(RecordError, match=re.escape(message)):
        open_recorder(url)


def test_checking_a_url_opens_nothing(tmp_path: Path) -> None:
    check_url(f"sqlite:///{tmp_path}/not/made/audit.db")
    check_url("postgresql://monitor:secret@db.invalid:5432/audit")  # no server is asked
    check_url("postgres://db.invalid/audit")

    assert not (tmp_path / "not").exists()

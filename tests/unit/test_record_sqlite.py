"""What only the SQLite record does: open a file the previous store wrote and migrate it, keep the
record over a restart, and fail as a RecordError (naming the file) when the file will not do."""

from __future__ import annotations

import contextlib
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from record_suite import ALARM, EVENT, LOGIN, MESSAGE, READING, SESSION, SNAPSHOT, T0

from monitor.record import (
    AlarmEntry,
    EventEntry,
    MessageEntry,
    ReadingEntry,
    RecordError,
    SessionEntry,
    SnapshotEntry,
    SqliteRecorder,
    open_recorder,
)
from monitor.record.chain import verify
from monitor.record.schema import SCHEMA_VERSION

# The store's first schema (before contract v1.1 added readings.pr and chair_ts, and the
# alarms' note and suppressed_by), as the service wrote it with no user_version.
FIRST_STORE_SCHEMA = """
CREATE TABLE messages (
    id INTEGER PRIMARY KEY, received_at REAL NOT NULL, topic TEXT NOT NULL,
    site TEXT, chair TEXT, kind TEXT, outcome TEXT NOT NULL, reason TEXT, payload TEXT NOT NULL
);
CREATE INDEX messages_chair ON messages (site, chair, received_at);
CREATE TABLE readings (
    id INTEGER PRIMARY KEY, site TEXT NOT NULL, chair TEXT NOT NULL, session TEXT,
    ts REAL NOT NULL, received_at REAL NOT NULL, seq INTEGER,
    hr REAL, spo2 REAL, sbp REAL, dbp REAL, map REAL, technical TEXT
);
CREATE INDEX readings_session ON readings (session, ts);
CREATE TABLE alarm_transitions (
    id INTEGER PRIMARY KEY, alarm TEXT NOT NULL, site TEXT NOT NULL, chair TEXT NOT NULL,
    session TEXT, ts REAL NOT NULL, kind TEXT NOT NULL, class TEXT NOT NULL,
    priority TEXT NOT NULL, state TEXT NOT NULL, value REAL, "limit" REAL, text TEXT NOT NULL,
    acknowledged_by TEXT, acknowledged_at REAL
);
CREATE INDEX alarm_transitions_session ON alarm_transitions (session, ts);
CREATE TABLE events (
    id INTEGER PRIMARY KEY, site TEXT NOT NULL, chair TEXT NOT NULL, session TEXT,
    ts REAL NOT NULL, type TEXT NOT NULL, data TEXT NOT NULL
);
CREATE INDEX events_session ON events (session, ts);
CREATE TABLE sessions (
    id TEXT PRIMARY KEY, site TEXT NOT NULL, chair TEXT NOT NULL, patient TEXT NOT NULL,
    admitted_at REAL NOT NULL, phase TEXT NOT NULL, closed_at REAL, recovery_status TEXT
);
CREATE TABLE chair_snapshots (
    site TEXT NOT NULL, chair TEXT NOT NULL, saved_at REAL NOT NULL, state TEXT NOT NULL,
    PRIMARY KEY (site, chair)
);
INSERT INTO messages (received_at, topic, site, chair, kind, outcome, reason, payload)
    VALUES (1795000000.5, 'clinic/north/chair/c01/vitals', 'north', 'c01', 'vitals',
            'accepted', NULL, '{"hr": 72}');
INSERT INTO readings (site, chair, session, ts, received_at, seq, hr, spo2, sbp, dbp, map,
                      technical)
    VALUES ('north', 'c01', 's0', 1795000002.0, 1795000002.5, 2, 72.0, 97.0, NULL, NULL, NULL,
            'leads_off,spo2_motion'),
           ('north', 'c01', 's0', 1795000001.0, 1795000001.5, 1, 71.0, NULL, 120.0, 80.0, 93.0,
            NULL);
INSERT INTO alarm_transitions (alarm, site, chair, session, ts, kind, class, priority, state,
                               value, "limit", text, acknowledged_by, acknowledged_at)
    VALUES ('a0', 'north', 'c01', 's0', 1795000003.0, 'hr_high', 'physiological', 'high',
            'acknowledged', 131.0, 130.0, 'HR 131 > 130 /min', 'Sam', 1795000004.0);
INSERT INTO events (site, chair, session, ts, type, data)
    VALUES ('north', 'c01', 's0', 1795000000.0, 'PhaseChanged', '{"phase": "infusing"}');
INSERT INTO sessions VALUES ('s0', 'north', 'c01', 'P-0001', 1795000000.0, 'infusing', NULL, NULL);
INSERT INTO chair_snapshots VALUES ('north', 'c01', 1795000005.0, '{"phase": "infusing"}');
"""


@pytest.fixture
def first_store(tmp_path: Path) -> Path:
    """A file the store wrote with its first schema: old columns, no logins, user_version 0."""
    path = tmp_path / "store.db"
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.executescript(FIRST_STORE_SCHEMA)
    return path


@pytest.fixture
def recorder(tmp_path: Path) -> Iterator[SqliteRecorder]:
    backend = SqliteRecorder(tmp_path / "audit.db", timeout_s=0.05)
    yield backend
    backend.close()


def _user_version(path: Path) -> int:
    with contextlib.closing(sqlite3.connect(path)) as db:
        version: int = db.execute("PRAGMA user_version").fetchone()[0]
        return version


# Opening what the store wrote ---------------------------------------------------------------


def test_a_first_store_file_opens_with_every_row_read_back(first_store: Path) -> None:
    recorder = SqliteRecorder(first_store)

    assert recorder.messages() == [
        MessageEntry(
            received_at=1795000000.5,
            topic="clinic/north/chair/c01/vitals",
            payload='{"hr": 72}',
            outcome="accepted",
            site="north",
            chair="c01",
            kind="vitals",
        )
    ]
    no_chair_time = ReadingEntry(
        site="north", chair="c01", session="s0", ts=1795000001.0, chair_ts=1795000001.0,
        received_at=1795000001.5, seq=1, hr=71.0, sbp=120.0, dbp=80.0, map=93.0,
    )  # fmt: skip
    record = recorder.session("s0")
    assert [r.seq for r in record.readings] == [1, 2]  # by device time, the only time it has
    assert record.readings[0] == no_chair_time
    assert record.readings[1].technical == ("leads_off", "spo2_motion")
    assert record.readings[1].chair_ts == 1795000002.0
    assert record.alarms == [
        AlarmEntry(
            alarm="a0", site="north", chair="c01", session="s0", ts=1795000003.0,
            kind="hr_high", alarm_class="physiological", priority="high", state="acknowledged",
            text="HR 131 > 130 /min", value=131.0, limit=130.0, acknowledged_by="Sam",
            acknowledged_at=1795000004.0,
        )
    ]  # fmt: skip
    assert record.session == SessionEntry(
        id="s0", site="north", chair="c01", patient="P-0001", admitted_at=1795000000.0,
        phase="infusing",
    )  # fmt: skip
    assert recorder.events() == [
        EventEntry(
            site="north", chair="c01", session="s0", ts=1795000000.0, type="PhaseChanged",
            data={"phase": "infusing"},
        )
    ]  # fmt: skip
    assert recorder.snapshots("north") == [
        SnapshotEntry(
            site="north", chair="c01", saved_at=1795000005.0, state='{"phase": "infusing"}'
        )
    ]
    recorder.close()


def test_a_first_store_file_takes_new_entries_and_logins(first_store: Path) -> None:
    recorder = SqliteRecorder(first_store)
    recorder.append([replace(MESSAGE, received_at=T0 + 9), READING, ALARM, EVENT, LOGIN])
    recorder.close()

    reopened = SqliteRecorder(first_store)

    assert len(reopened.messages()) == 2
    assert reopened.readings()[-1] == READING  # pr and chair_ts, in the columns added
    assert reopened.alarms()[-1] == ALARM  # note and suppressed_by, likewise
    assert reopened.events()[-1] == EVENT
    assert reopened.login(LOGIN.token_digest, T0) == LOGIN
    reopened.close()


def test_opening_migrates_a_store_file_once_to_the_latest_version(first_store: Path) -> None:
    assert _user_version(first_store) == 0

    SqliteRecorder(first_store).close()
    SqliteRecorder(first_store).close()  # a second open finds nothing left to do

    assert _user_version(first_store) == SCHEMA_VERSION == 3
    recorder = SqliteRecorder(first_store)
    assert len(recorder.readings()) == 2
    recorder.close()


def test_rows_from_before_the_chains_are_left_out_and_new_ones_are_linked(
    first_store: Path,
) -> None:
    recorder = SqliteRecorder(first_store)
    old = recorder.readings()[0]
    recorder.append([replace(old, seq=99)])

    rows = list(recorder.chained())
    recorder.close()

    assert [(r.table, r.link.seq if r.link else None) for r in rows] == [("readings", 1)]
    assert list(verify(rows)) == []


def test_a_new_file_starts_at_the_latest_version(tmp_path: Path) -> None:
    SqliteRecorder(tmp_path / "new.db").close()

    assert _user_version(tmp_path / "new.db") == SCHEMA_VERSION


def test_a_file_from_a_newer_version_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "newer.db"
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute("PRAGMA user_version = 99")

    with pytest.raises(RecordError, match=rf"{re.escape(str(path))}.*schema version 99.*newer"):
        SqliteRecorder(path)
    assert _user_version(path) == 99


# A restart ----------------------------------------------------------------------------------


def test_the_record_outlasts_its_recorder(tmp_path: Path) -> None:
    first = open_recorder(f"sqlite:///{tmp_path}/audit.db")
    first.append([MESSAGE, READING, ALARM, EVENT, SESSION, SNAPSHOT, LOGIN])
    first.close()

    again = open_recorder(f"sqlite:///{tmp_path}/audit.db")

    assert again.messages() == [MESSAGE]
    assert again.session("s1").readings == [READING]
    assert again.session("s1").alarms == [ALARM]
    assert again.sessions() == [SESSION]
    assert again.snapshots("north") == [SNAPSHOT]
    assert again.login(LOGIN.token_digest, T0) == LOGIN
    again.close()


def test_a_relative_path_reads_the_same_file_after_a_change_of_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    recorder = SqliteRecorder("record/audit.db")
    recorder.append([MESSAGE])
    monkeypatch.chdir(tmp_path / "record")

    assert recorder.messages() == [MESSAGE]
    recorder.close()


# Files that will not do ---------------------------------------------------------------------


def test_a_path_under_a_file_is_a_record_error_naming_it(tmp_path: Path) -> None:
    (tmp_path / "plain").write_text("not a folder")
    path = tmp_path / "plain" / "audit.db"

    with pytest.raises(RecordError, match=f"cannot open the record {re.escape(str(path))}: "):
        SqliteRecorder(path)


def test_no_path_is_a_record_error() -> None:
    with pytest.raises(RecordError, match="no path given"):
        SqliteRecorder("")


def test_a_folder_is_a_record_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(
        RecordError, match=f"cannot open the record {re.escape(str(tmp_path))}: .*unable to open"
    ):
        SqliteRecorder(tmp_path)


def test_a_file_that_is_not_a_database_is_a_record_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"these are not the pages of a database\n" * 200)

    with pytest.raises(RecordError, match=f"{re.escape(str(path))}: file is not a database"):
        SqliteRecorder(path)


def test_a_write_while_another_holds_the_lock_fails_and_stores_nothing(
    recorder: SqliteRecorder,
) -> None:
    with contextlib.closing(sqlite3.connect(recorder.path, isolation_level=None)) as other:
        other.execute("BEGIN EXCLUSIVE")
        with pytest.raises(
            RecordError, match=f"cannot write to the record {re.escape(recorder.path)}: .*locked"
        ):
            recorder.append([MESSAGE, READING])
        assert recorder.messages() == []  # reads go on beside the lock (WAL)
        other.execute("ROLLBACK")

    recorder.append([MESSAGE])  # and the record is usable once the lock is gone
    assert recorder.messages() == [MESSAGE]


def test_a_batch_that_fails_halfway_leaves_nothing_behind(recorder: SqliteRecorder) -> None:
    # A string SQLite cannot encode fails as the readings go in, after the messages went in.
    with pytest.raises(RecordError, match="cannot write to the record"):
        recorder.append([MESSAGE, replace(READING, site="north\udcff")])

    assert recorder.messages() == []
    recorder.append([MESSAGE])  # no transaction left open
    assert recorder.messages() == [MESSAGE]


def test_opening_a_file_another_holds_locked_is_a_record_error(first_store: Path) -> None:
    with contextlib.closing(sqlite3.connect(first_store, isolation_level=None)) as other:
        other.execute("BEGIN EXCLUSIVE")

        with pytest.raises(
            RecordError, match=f"cannot open the record {re.escape(str(first_store))}: .*locked"
        ):
            SqliteRecorder(first_store, timeout_s=0.05)

    assert _user_version(first_store) == 0  # nothing half-migrated

"""`audit verify` on both real backends: a clinic's sessions written by the service's writer
(which seals each session at discharge), verified; then tampered with by hand in the database,
as someone with the database's password would: one reading changed, one row deleted, two rows
swapped, a whole chain rewritten consistently (every hash recomputed). Each is caught and
named; the last only by the seal log outside the database."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from audit_day import DAY_S, T0, Day, clinic_day

from monitor.audit.verify import verify_record
from monitor.record import SqliteRecorder, Writer, open_recorder
from monitor.record.chain import SealLog, digest
from monitor.record.postgres import PostgresRecorder

Execute = Callable[[str, tuple[Any, ...]], list[tuple[Any, ...]]]


@pytest.fixture(scope="module")
def day_of_sessions() -> Day:
    return clinic_day()


@pytest.fixture(params=["sqlite", "postgres"])
def record(
    request: pytest.FixtureRequest, tmp_path: Path, day_of_sessions: Day
) -> tuple[str, SealLog, Execute]:
    """The record's URL, its seal log, and a way to run SQL on it by hand."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'audit.db'}"
        backend: Any = SqliteRecorder(tmp_path / "audit.db")
    else:
        url = request.getfixturevalue("postgres_url")
        backend = PostgresRecorder(url)
    seals = SealLog(tmp_path / "audit.seals.jsonl")
    writer = Writer(backend, seals=seals, batch=200)
    for start in range(0, len(day_of_sessions.entries), 200):  # in batches, as the service does
        writer.write_now(day_of_sessions.entries[start : start + 200])
    backend.close()
    return url, seals, _by_hand(url)


def _by_hand(url: str) -> Execute:
    def execute(sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        if url.startswith("sqlite:///"):
            with sqlite3.connect(url.removeprefix("sqlite:///")) as db:
                return db.execute(sql, params).fetchall()
        with psycopg.connect(url, autocommit=True) as db:
            cursor = db.execute(sql.replace("?", "%s"), params)
            return cursor.fetchall() if cursor.description else []

    return execute


def verified(url: str, seals: SealLog, session: str | None = None) -> tuple[bool, list[str]]:
    recorder = open_recorder(url)
    try:
        result = verify_record(recorder, seals, session)
    finally:
        recorder.close()
    return result.ok, [str(f) for f in result.faults]


def _reading_ids(execute: Execute, session: str) -> list[int]:
    return [
        r[0] for r in execute("SELECT id FROM readings WHERE session = ? ORDER BY id", (session,))
    ]


def test_a_record_written_by_the_service_verifies_and_is_sealed(
    record: tuple[str, SealLog, Execute], day_of_sessions: Day
) -> None:
    url, seals, _ = record
    assert verified(url, seals) == (True, [])
    sealed = {s.chain for s in seals.read()}
    assert f"session:{day_of_sessions.first}" in sealed
    assert f"session:{day_of_sessions.second}" in sealed
    assert f"session:{day_of_sessions.third}" not in sealed  # still open


def test_one_reading_changed_by_hand_is_named(
    record: tuple[str, SealLog, Execute], day_of_sessions: Day
) -> None:
    url, seals, execute = record
    target = _reading_ids(execute, day_of_sessions.first)[5]
    execute("UPDATE readings SET hr = 140 WHERE id = ?", (target,))

    ok, faults = verified(url, seals)
    assert not ok
    assert faults == [
        f"session:{day_of_sessions.first}: changed at link {_seq(execute, 'readings', target)} "
        f"(readings row {target}): its content does not match its hash"
    ]


def test_one_row_deleted_by_hand_is_named(
    record: tuple[str, SealLog, Execute], day_of_sessions: Day
) -> None:
    url, seals, execute = record
    [(target, seq)] = execute(
        "SELECT id, chain_seq FROM alarm_transitions WHERE session = ? ORDER BY id LIMIT 1",
        (day_of_sessions.first,),
    )
    execute("DELETE FROM alarm_transitions WHERE id = ?", (target,))

    ok, faults = verified(url, seals, day_of_sessions.first)
    assert not ok
    assert len(faults) == 1
    assert faults[0].startswith(f"session:{day_of_sessions.first}: removed at link {seq} ")


def test_two_rows_swapped_by_hand_are_named(
    record: tuple[str, SealLog, Execute], day_of_sessions: Day
) -> None:
    url, seals, execute = record
    a, b = _reading_ids(execute, day_of_sessions.second)[3:5]
    columns = (
        "hr, pr, spo2, sbp, dbp, map, ts, chair_ts, received_at, seq, chain_seq, prev_hash, hash"
    )
    row_a = execute(f"SELECT {columns} FROM readings WHERE id = ?", (a,))[0]
    row_b = execute(f"SELECT {columns} FROM readings WHERE id = ?", (b,))[0]
    sets = ", ".join(f"{c.strip()} = ?" for c in columns.split(","))
    execute(f"UPDATE readings SET {sets} WHERE id = ?", (*row_b, a))
    execute(f"UPDATE readings SET {sets} WHERE id = ?", (*row_a, b))

    ok, faults = verified(url, seals)
    assert not ok
    assert len(faults) == 1
    assert faults[0].startswith(f"session:{day_of_sessions.second}: reordered at link ")
    assert f"(readings row {a})" in faults[0]


def test_a_whole_chain_rewritten_consistently_is_caught_by_its_seal(
    record: tuple[str, SealLog, Execute], day_of_sessions: Day
) -> None:
    url, seals, execute = record
    chain = f"session:{day_of_sessions.first}"
    target = _reading_ids(execute, day_of_sessions.first)[20]
    execute("UPDATE readings SET sbp = 118 WHERE id = ?", (target,))
    _rehash(url, execute, chain)

    # The forger also moves the seal the record keeps, and rewrites the site chain to match.
    [(event, data)] = execute(
        "SELECT id, data FROM events WHERE type = 'ChainSealed' AND data LIKE ?", (f"%{chain}%",)
    )
    newest = _head_hash(url, chain)
    execute(
        "UPDATE events SET data = ? WHERE id = ?",
        (data.replace(_sealed_hash(seals, chain), newest), event),
    )
    _rehash(url, execute, "site:north")
    ok, faults = verified(url, seals, day_of_sessions.first)
    assert not ok
    assert faults[0].startswith(f"{chain}: rewritten at link {_sealed_seq(seals, chain)} (seal of ")


def _seq(execute: Execute, table: str, row: int) -> int:
    return int(execute(f"SELECT chain_seq FROM {table} WHERE id = ?", (row,))[0][0])


def _sealed_hash(seals: SealLog, chain: str) -> str:
    return next(s.hash for s in seals.read() if s.chain == chain)


def _head_hash(url: str, chain: str) -> str:
    recorder = open_recorder(url)
    try:
        head = recorder.head(chain)
    finally:
        recorder.close()
    assert head is not None
    return head[1]


def _sealed_seq(seals: SealLog, chain: str) -> int:
    return next(s.seq for s in seals.read() if s.chain == chain)


def _rehash(url: str, execute: Execute, chain: str) -> None:
    """Every link of `chain` recomputed in order, as a forger with the code would."""
    recorder = open_recorder(url)
    try:
        rows = list(recorder.chained(chain))
    finally:
        recorder.close()
    prev = "0" * 64
    for row in rows:
        assert row.link is not None
        new = digest(chain, row.link.seq, prev, row.entry)
        execute(
            f"UPDATE {row.table} SET prev_hash = ?, hash = ? WHERE id = ?", (prev, new, row.row)
        )
        prev = new


def test_audit_verify_on_the_command_line_exits_3_and_names_the_record(
    tmp_path: Path, day_of_sessions: Day
) -> None:
    db = tmp_path / "audit.db"
    writer = Writer(SqliteRecorder(db), seals=SealLog(f"{db}.seals.jsonl"))
    writer.write_now(day_of_sessions.entries)
    writer.recorder.close()

    def audit(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "monitor.cli", "audit", "verify", "--db", f"sqlite:///{db}", *args],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip

    good = audit()
    assert (good.returncode, good.stdout.split(":")[0]) == (0, "verified"), good.stderr
    assert f"seal log {db}.seals.jsonl" in good.stdout
    target = _reading_ids(_by_hand(f"sqlite:///{db}"), day_of_sessions.first)[2]
    _by_hand(f"sqlite:///{db}")("UPDATE readings SET spo2 = 88 WHERE id = ?", (target,))

    bad = audit(day_of_sessions.first)
    assert bad.returncode == 3, bad.stderr
    assert "changed at link" in bad.stdout
    assert f"(readings row {target})" in bad.stdout
    unknown = audit("no-such-session")
    assert unknown.returncode == 2


# Retention: sessions purged by the policy, and sessions deleted by hand ------------------------


def _purge_by_policy(url: str, seals: SealLog, before: float) -> list[str]:
    recorder = open_recorder(url)
    try:
        return Writer(recorder, seals=seals).purge_closed(
            "north", before=before, by="retention policy: test", now=before + 1
        )
    finally:
        recorder.close()


def _delete_session_by_hand(execute: Execute, session: str) -> None:
    for table in ("readings", "alarm_transitions", "events"):
        execute(f"DELETE FROM {table} WHERE session = ?", (session,))
    execute("DELETE FROM sessions WHERE id = ?", (session,))


def test_sessions_purged_by_the_retention_policy_still_verify_and_keep_their_seals(
    record: tuple[str, SealLog, Execute], day_of_sessions: Day
) -> None:
    url, seals, execute = record
    sealed_before = list(seals.read())
    purged = _purge_by_policy(url, seals, before=T0 + 1.5 * DAY_S)  # both closed sessions

    assert purged == [day_of_sessions.first, day_of_sessions.second]
    assert list(seals.read()) == sealed_before
    assert execute("SELECT count(*) FROM readings WHERE session = ?", (day_of_sessions.first,)) == [
        (0,)
    ]
    recorder = open_recorder(url)
    try:
        result = verify_record(recorder, seals)
        assert (result.ok, result.purged) == (True, 2), [str(f) for f in result.faults]
        assert "2 sessions purged by the retention policy" in result.text()
        assert [s.id for s in recorder.sessions()] == [day_of_sessions.third]  # open: kept
        [purge] = recorder.events(type="RecordPurged")
        assert purge.session is None  # in the site chain
        assert purge.data["by"] == "retention policy: test"
        assert "P-0042" not in str(purge.data)  # names no patient
    finally:
        recorder.close()
    assert verified(url, seals, day_of_sessions.first) == (True, [])


def test_a_session_deleted_by_hand_beside_a_purge_is_still_caught(
    record: tuple[str, SealLog, Execute], day_of_sessions: Day
) -> None:
    url, seals, execute = record
    assert _purge_by_policy(url, seals, before=T0 + 0.5 * DAY_S) == [day_of_sessions.first]
    _delete_session_by_hand(execute, day_of_sessions.second)

    ok, faults = verified(url, seals)
    assert not ok
    assert len(faults) == 1
    assert faults[0].startswith(f"session:{day_of_sessions.second}: ")

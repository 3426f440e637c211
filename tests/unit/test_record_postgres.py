"""What only the PostgreSQL record does: migrate an empty database (once, even when two open it
at once), keep the record over a reopening, refuse a newer schema, and fail as a RecordError
(naming the database, never its password) when the server is wrong, away or gone mid-life, then
write again once it is back."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from dataclasses import replace

import psycopg
import pytest
from record_suite import (
    ALARM,
    BARE_MESSAGE,
    EVENT,
    LOGIN,
    MESSAGE,
    READING,
    SESSION,
    SNAPSHOT,
    T0,
    message,
)

from monitor.record import PostgresRecorder, RecordError, open_recorder
from monitor.record.pg_schema import SCHEMA_VERSION
from tests.pg import PostgresServer, fresh_database, with_database

TABLES = {
    "alarm_transitions", "chain_start", "chair_snapshots", "events", "logins", "messages", "readings",
    "schema_version", "sessions",
}  # fmt: skip


def _version(url: str) -> list[int]:
    with psycopg.connect(url) as db:
        return [row[0] for row in db.execute("SELECT version FROM schema_version")]


def _tables(url: str) -> set[str]:
    with psycopg.connect(url) as db:
        sql = "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        return {row[0] for row in db.execute(sql)}


@pytest.fixture
def recorder(postgres_url: str) -> Iterator[PostgresRecorder]:
    backend = PostgresRecorder(postgres_url)
    yield backend
    backend.close()


# Schema versions ------------------------------------------------------------------------------


def test_an_empty_database_gets_every_table_at_the_current_version(postgres_url: str) -> None:
    assert _tables(postgres_url) == set()

    PostgresRecorder(postgres_url).close()

    assert _tables(postgres_url) == TABLES
    assert _version(postgres_url) == [SCHEMA_VERSION]


def test_reopening_keeps_every_row_and_migrates_nothing_again(postgres_url: str) -> None:
    entries = [MESSAGE, READING, ALARM, EVENT, SESSION, SNAPSHOT, LOGIN]
    first = PostgresRecorder(postgres_url)
    first.append(entries)
    first.close()

    again = PostgresRecorder(postgres_url)  # the tables' CREATE would fail if it ran again

    assert again.messages() == [MESSAGE]
    assert again.session("s1").readings == [READING]
    assert again.session("s1").alarms == [ALARM]
    assert (again.events(), again.sessions()) == ([EVENT], [SESSION])
    assert again.snapshots("north") == [SNAPSHOT]
    assert again.login(LOGIN.token_digest, T0) == LOGIN
    assert _version(postgres_url) == [SCHEMA_VERSION]
    again.close()


def test_services_opening_an_empty_database_at_once_migrate_it_once(postgres_url: str) -> None:
    start = threading.Barrier(4)
    opened: list[PostgresRecorder] = []
    failed: list[BaseException] = []

    def open_it() -> None:
        start.wait()
        try:
            opened.append(PostgresRecorder(postgres_url))
        except BaseException as exc:
            failed.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for recorder in opened:
        recorder.close()

    assert (failed, len(opened)) == ([], 4)
    assert _version(postgres_url) == [SCHEMA_VERSION]


def test_a_database_at_a_newer_version_is_refused_and_left_as_it_is(postgres_url: str) -> None:
    PostgresRecorder(postgres_url).close()
    with psycopg.connect(postgres_url) as db:
        db.execute("UPDATE schema_version SET version = %s", (SCHEMA_VERSION + 1,))

    with pytest.raises(RecordError, match="newer than this program's") as refused:
        PostgresRecorder(postgres_url)

    assert f"schema version {SCHEMA_VERSION + 1}" in str(refused.value)
    assert _version(postgres_url) == [SCHEMA_VERSION + 1]


# Text PostgreSQL cannot hold as it is ------------------------------------------------------------


def test_text_with_a_nul_reads_back_as_it_went_in(recorder: PostgresRecorder) -> None:
    # A payload off the wire may hold a NUL, which PostgreSQL's text refuses and SQLite keeps.
    nul = replace(MESSAGE, payload='{"hr": 7\x002}', reason="bad \x00", chair="c\x00")
    marked = replace(MESSAGE, payload="\ufdd0 starts like a kept NUL", chair="c\ufdd0")
    recorder.append([nul, marked, replace(SESSION, patient="P-\x00"), BARE_MESSAGE])

    assert recorder.messages() == [nul, marked, BARE_MESSAGE]
    assert recorder.messages(chair="c\x00") == [nul]
    assert recorder.messages(chair="c\ufdd0") == [marked]
    assert list(recorder.journal()) == [nul, marked, BARE_MESSAGE]
    assert recorder.sessions() == [replace(SESSION, patient="P-\x00")]


# A URL names it --------------------------------------------------------------------------------


def test_open_recorder_opens_a_postgresql_url(postgres_url: str) -> None:
    for url in (postgres_url, postgres_url.replace("postgresql://", "postgres://", 1)):
        recorder = open_recorder(url)
        recorder.append([MESSAGE])

        assert isinstance(recorder, PostgresRecorder)
        assert recorder.messages()[-1] == MESSAGE
        recorder.close()


# A server that will not do ---------------------------------------------------------------------


def test_a_server_nobody_listens_on_is_a_record_error_without_the_password() -> None:
    url = "postgresql://monitor:s3cret-pw@127.0.0.1:1/audit"

    with pytest.raises(RecordError) as refused:
        PostgresRecorder(url, timeout_s=2)

    said = str(refused.value)
    assert "s3cret-pw" not in said
    assert "postgresql://monitor:***@127.0.0.1:1/audit" in said
    assert re.search("connection (failed|refused)", said, re.IGNORECASE), said


def test_a_database_that_does_not_exist_is_a_record_error_naming_it(postgres_server: str) -> None:
    url = with_database(postgres_server, "no_such_record")

    with pytest.raises(RecordError, match='database "no_such_record" does not exist') as refused:
        PostgresRecorder(url)

    password = psycopg.conninfo.conninfo_to_dict(postgres_server).get("password")
    assert not password or password not in str(refused.value)


@pytest.fixture(scope="module")
def own_server() -> Iterator[PostgresServer]:
    """A server of this module's own, since a test stops it."""
    server = PostgresServer()
    server.start()
    yield server
    server.remove()


def test_a_wrong_password_is_a_record_error_without_either_password(
    own_server: PostgresServer,
) -> None:
    url = own_server.url.replace(own_server.password, "not-the-password")

    with pytest.raises(RecordError, match="password authentication failed") as refused:
        PostgresRecorder(url)

    assert own_server.password not in str(refused.value)
    assert "not-the-password" not in str(refused.value)


def test_a_server_stopped_mid_life_fails_appends_until_it_is_back(
    own_server: PostgresServer,
) -> None:
    with fresh_database(own_server.url) as url:
        recorder = PostgresRecorder(url, timeout_s=3)
        recorder.append([message(1)])
        own_server.stop()
        try:
            began = time.monotonic()
            for n in (2, 3):  # the connection the server dropped, then no server at all
                with pytest.raises(RecordError, match="cannot write to the record") as failed:
                    recorder.append([message(n)])
                assert own_server.password not in str(failed.value)
            with pytest.raises(RecordError, match="cannot read the record"):
                recorder.messages()
            took = time.monotonic() - began
        finally:
            own_server.start()

        recorder.append([message(4), replace(READING, seq=4)])

        assert took < 10
        assert [m.payload for m in recorder.messages()] == ["#1", "#4"]
        assert [m.payload for m in recorder.journal()] == ["#1", "#4"]
        assert [r.seq for r in recorder.readings()] == [4]
        recorder.close()


def test_reads_answer_at_once_after_the_server_restarted(own_server: PostgresServer) -> None:
    with fresh_database(own_server.url) as url:
        recorder = PostgresRecorder(url, timeout_s=3)
        recorder.append([message(1)])
        beside = threading.Thread(target=recorder.messages)
        beside.start()  # two reads at once: two connections kept for the next reads
        assert recorder.messages() == [message(1)]
        beside.join()

        own_server.stop()
        own_server.start()

        assert recorder.messages() == [message(1)]
        assert recorder.session("s1").session is None
        recorder.close()

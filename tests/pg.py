"""A private PostgreSQL for the tests, so a fresh machine needs nothing set up by hand.

How it works: `postgres_server` (once per test run) uses the server `INFUSION_TEST_POSTGRES_URL`
names when it is set; otherwise it finds `initdb` and `pg_ctl` (on PATH or under
/usr/lib/postgresql/*/bin), makes a cluster in a temporary folder and starts it on a free port,
listening on 127.0.0.1 only (its unix socket inside that folder, fsync off: a test server), with
a password for TCP. PostgreSQL refuses to run as root, so as root the folder is given to the
`postgres` system user (Debian's package makes it; otherwise `nobody`) and every command runs as
that user. `postgres_url` gives each test a database of its own, made empty and dropped after.
With no PostgreSQL binaries the fixture fails saying how to install them (`scripts/test` does);
it never skips, since a skipped test proves nothing.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

URL_VARIABLE = "INFUSION_TEST_POSTGRES_URL"
START_TIMEOUT_S = 60


def postgres_binaries() -> Path:
    """The folder that holds `initdb` and `pg_ctl`; fails the test when there is none."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(os.path.realpath(found)).parent
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(folder) / "initdb").exists():
            return Path(folder)
    pytest.fail(
        "no PostgreSQL binaries (initdb, pg_ctl) on PATH or in /usr/lib/postgresql/*/bin: "
        f"install Debian's postgresql package (scripts/test does), or set {URL_VARIABLE}",
        pytrace=False,
    )


class PostgresServer:
    """A PostgreSQL cluster of its own in a temporary folder; `start`, `stop`, `remove`."""

    def __init__(self) -> None:
        self.bin = postgres_binaries()
        self.user = _server_user()
        self.folder = Path(tempfile.mkdtemp(prefix="infusion-pg-"))
        self.data = self.folder / "data"
        self.port = _free_port()
        self.password = secrets.token_hex(8)
        self.url = f"postgresql://postgres:{self.password}@127.0.0.1:{self.port}/postgres"
        if self.user is not None:
            os.chown(self.folder, self.user.pw_uid, self.user.pw_gid)
        secret = self.folder / "password"
        secret.write_text(self.password)
        if self.user is not None:
            os.chown(secret, self.user.pw_uid, self.user.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--pwfile", str(secret),
                  "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync",
                  "--encoding=UTF8", "--locale=C")  # fmt: skip

    def start(self) -> None:
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port}"
            f" -c unix_socket_directories={self.folder} -c fsync=off"
            " -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.folder / "log"), "-o", options,
                  "-w", "-t", str(START_TIMEOUT_S), "start")  # fmt: skip

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def remove(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)

    def _run(self, program: str, *args: str) -> None:
        command = [str(self.bin / program), *args]
        if self.user is not None:
            command = ["runuser", "-u", self.user.pw_name, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, cwd=self.folder)
        if done.returncode != 0:
            log = self.folder / "log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise subprocess.CalledProcessError(
                done.returncode, command, done.stdout, f"{done.stderr}\n{tail}"
            )


def _server_user() -> pwd.struct_passwd | None:
    """Who runs the server: None for whoever we are, unless we are root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    pytest.fail("running as root with neither a postgres nor a nobody user to run PostgreSQL")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def with_database(url: str, database: str) -> str:
    """`url` naming `database` instead of the one it names."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{database}"))


@contextlib.contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """A new empty database on the server, its URL, dropped afterwards."""
    name = f"infusion_test_{secrets.token_hex(6)}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield with_database(server_url, name)
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The URL of a PostgreSQL server for this test run (of its maintenance database)."""
    given = os.environ.get(URL_VARIABLE)
    if given:
        yield given
        return
    server = PostgresServer()
    try:
        server.start()
        yield server.url
    finally:
        server.remove()


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """The URL of an empty database of this test's own."""
    with fresh_database(postgres_server) as url:
        yield url

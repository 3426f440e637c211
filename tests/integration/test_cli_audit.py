"""`infusion-monitor audit` as an auditor runs it: the installed console script on a SQLite
record made by running sessions through the real core, real exit codes, real output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fhir.resources.R4B.bundle import Bundle

from monitor.audit.export import Format, export
from monitor.record import SqliteRecorder
from tests.unit.audit.audit_day import Day, clinic_day, recorded

pytestmark = pytest.mark.integration

SCRIPT = str(Path(sys.executable).parent / "infusion-monitor")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Day]:
    path = tmp_path_factory.mktemp("audit") / "audit.db"
    day = clinic_day()
    recorded(SqliteRecorder(str(path)), day).close()
    return f"sqlite:///{path}", day


def _audit(
    *args: str, db: str | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """The console script, in UTC, with no INFUSION_MONITOR_* but the record given as `db`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INFUSION_MONITOR_")}
    env["TZ"] = "UTC"
    if db is not None:
        env["INFUSION_MONITOR_DB"] = db
    return subprocess.run(
        [SCRIPT, "audit", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_sessions_lists_and_filters_reading_the_db_as_serve_does(store: tuple[str, Day]) -> None:
    url, day = store

    table = _audit("sessions", "--db", url)
    picked = _audit(
        "sessions", "--outcome", "not recovered", "--json", db=url
    )  # the environment's record

    assert (table.returncode, table.stderr) == (0, "")
    assert [line.split()[0] for line in table.stdout.splitlines()[1:4]] == [
        day.first,
        day.second,
        day.third,
    ]
    assert table.stdout.splitlines()[-1] == "3 sessions; times in UTC (UTC+00:00)"
    assert picked.returncode == 0
    assert [(s["id"], s["outcome"], s["alarms"]) for s in json.loads(picked.stdout)] == [
        (day.second, "overdue", 4)
    ]


def test_show_names_who_acknowledged_and_how_fast(store: tuple[str, Day]) -> None:
    url, day = store

    shown = _audit("show", day.first, "--db", url)

    assert shown.returncode == 0
    [row] = [line for line in shown.stdout.splitlines() if "sbp_high" in line and "/ 180" in line]
    assert row.split()[7:11] == ["nurse.ana", "at", "10:16:00", "60"]


def test_export_writes_each_format_as_the_library_does(
    store: tuple[str, Day], tmp_path: Path
) -> None:
    url, day = store
    recorder = SqliteRecorder(url.removeprefix("sqlite:///"))

    jsonl = _audit("export", day.first, "--db", url)
    csv = _audit(
        "export",
        day.first,
        "--format",
        "csv",
        "--table",
        "alarms",
        "--out",
        str(tmp_path / "alarms.csv"),
        "--db",
        url,
    )
    fhir = _audit(
        "export", day.first, "--format", "fhir", "--out", str(tmp_path / "bundle.json"), "--db", url
    )

    assert (jsonl.returncode, csv.returncode, fhir.returncode) == (0, 0, 0)
    assert jsonl.stdout == export(recorder, day.first, format=Format.JSONL)
    assert (
        (tmp_path / "alarms.csv")
        .read_text()
        .splitlines()[0]
        .startswith("time,alarm,kind,class,priority,state")
    )
    written = (tmp_path / "bundle.json").read_bytes()
    assert written.decode() == export(recorder, day.first, format=Format.FHIR)
    assert Bundle.model_validate_json(written).type == "collection"
    recorder.close()


@pytest.mark.parametrize("command", [("show", "NOPE"), ("export", "NOPE", "--format", "fhir")])
def test_an_unknown_session_is_a_bad_argument(
    store: tuple[str, Day], command: tuple[str, ...]
) -> None:
    url, _ = store

    result = _audit(*command, "--db", url)

    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == "infusion-monitor: no session 'NOPE' in the record\n"


def test_a_record_that_cannot_be_read_fails_with_its_reason(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(
        b"this is no database, only some text that is long enough to look like a file\n" * 4
    )

    unreadable = _audit("sessions", "--db", f"sqlite:///{junk}")
    missing = _audit("show", "S1", "--db", f"sqlite:///{tmp_path}/nothing.db", cwd=tmp_path)

    assert unreadable.returncode == 1
    assert "file is not a database" in unreadable.stderr
    assert "Traceback" not in unreadable.stderr
    assert missing.returncode == 1
    assert missing.stderr.startswith(f"infusion-monitor: no record at {tmp_path}/nothing.db")
    assert not (tmp_path / "nothing.db").exists()  # an auditor's typo leaves no empty record behind


def test_bad_arguments_exit_2_with_the_usage(store: tuple[str, Day]) -> None:
    url, _ = store

    no_command = _audit("--db", url)
    bad_date = _audit("sessions", "--from", "yesterday", "--db", url)

    assert no_command.returncode == 2
    assert bad_date.returncode == 2
    assert "is not an ISO date (2026-11-18)" in bad_date.stderr

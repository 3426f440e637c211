"""Retention in the running service: with `retention_days`, the service purges the sessions
closed longer ago than that, in its record's writer, records the purge in the site chain, keeps
the seals, and the record still verifies. Against a real Mosquitto and a SQLite record that
holds a clinic's days (`audit_day`, weeks before today), while the service runs."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from audit_day import SITE, Day

from monitor.audit.verify import verify_record
from monitor.record import SqliteRecorder, Writer
from monitor.record.chain import SealLog
from tests.integration.conftest import StartService, mosquitto, start_service

pytestmark = pytest.mark.integration
__all__ = ["mosquitto", "start_service"]  # fixtures, shared with the integration tests


async def test_the_service_purges_sessions_past_retention_and_the_record_still_verifies(
    start_service: StartService, tmp_path: Path, day: Day
) -> None:
    db = tmp_path / "audit.db"
    seals = SealLog(f"{db}.seals.jsonl")
    writer = Writer(SqliteRecorder(db), seals=seals)
    writer.write_now(day.entries)
    writer.recorder.close()
    assert len(list(seals.read())) == 4  # each closed session and its site, at discharge

    service = await start_service(site=SITE, db=f"sqlite:///{db}", retention_days=1,
                                  retention_check_s=0.2)  # fmt: skip
    deadline = time.monotonic() + 15
    while [s.id for s in service.recorder.sessions()] != [day.third]:
        assert time.monotonic() < deadline, "the closed sessions were not purged"
        await asyncio.sleep(0.1)

    [purge] = service.recorder.events(type="RecordPurged")
    assert [p["session"] for p in purge.data["sessions"]] == [day.first, day.second]
    assert purge.data["by"] == "retention policy: sessions closed more than 1 day ago"
    assert service.recorder.readings(session=day.first) == []
    assert service.recorder.readings(session=day.third) != []  # still open: never purged
    result = verify_record(service.recorder, seals)
    assert (result.ok, result.purged) == (True, 2), [str(f) for f in result.faults]

"""A service whose record holds snapshots of the previous format carries on from them: the
latched alarm and the open recovery window of a chair come back, on its retained state too;
a snapshot it cannot read leaves that chair empty, is kept in the record, and stops nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from monitor.record import SnapshotEntry, open_recorder
from tests.integration.conftest import SITE, Bus, StartService

pytestmark = pytest.mark.integration

FORMAT_1 = (
    Path(__file__).resolve().parents[1] / "unit" / "data" / "snapshot_v1_latched_recovery.json"
)


def _seed(db: Path, *snapshots: SnapshotEntry) -> None:
    recorder = open_recorder(f"sqlite:///{db}")
    try:
        recorder.append(list(snapshots))
    finally:
        recorder.close()


async def test_a_format_1_snapshot_in_the_record_is_carried_on_after_an_upgrade(
    start_service: StartService, bus: Bus, tmp_path: Path
) -> None:
    _seed(
        tmp_path / "audit.db",
        SnapshotEntry(SITE, "c01", 1_795_000_000.0, FORMAT_1.read_text(encoding="utf-8")),
        SnapshotEntry(SITE, "c02", 1_795_000_000.0, '{"format": 1, "name": "c02", "board": 7}'),
    )

    service = await start_service()

    chair = service.clinic.chair("c01")
    alarm = chair.state.board.alarms["spo2_low"]  # (days later: stale vitals are alarmed too)
    assert (alarm.state, alarm.id) == ("latched", "01M7Q82AR8NV1ACFSH8WZ341CB")
    assert chair.session is not None
    assert chair.session.recovery is not None
    stopped_at = json.loads(FORMAT_1.read_text())["session"]["recovery"]["stopped_at"]
    assert chair.session.recovery.stopped_at == stopped_at
    # The snapshot is weeks old: the window it held ran out while the service was away, and
    # the restored chair says so rather than forget the window.
    assert chair.session.recovery.status == "overdue"
    assert chair.state.board.alarms["recovery_overdue"].state == "active"
    state = await bus.wait_for(lambda: bus.on("/state", "c01"), what="c01's state")
    shown = state[-1]
    assert shown["phase"] == "recovery"
    assert shown["recovery"]["status"] == "overdue"
    assert ("spo2_low", "latched") in [(a["kind"], a["state"]) for a in shown["alarms"]]
    assert service.clinic.chair("c02").session is None
    kept = [e for e in service.recorder.events() if e.type == "SnapshotUnreadable"]
    assert [(e.chair, e.data["snapshot"]) for e in kept] == [
        ("c02", '{"format": 1, "name": "c02", "board": 7}')
    ]

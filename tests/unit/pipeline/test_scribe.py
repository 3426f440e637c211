"""The scribe: what the record keeps of each message and each report."""

from __future__ import annotations

import json

from monitor.domain.clinic import Clinic
from monitor.domain.commands import Admit
from monitor.domain.vitals import Reading
from monitor.pipeline.intake import Intake
from monitor.pipeline.router import Outcome
from monitor.pipeline.scribe import Scribe
from monitor.record.base import (
    AlarmEntry,
    EventEntry,
    MessageEntry,
    ReadingEntry,
    SessionEntry,
    SnapshotEntry,
)
from monitor.wire.topics import Inbound

T0 = 1_795_000_000.0
TOPIC = "clinic/north/chair/c01/vitals"


def _reading(ts: float, seq: int, **vitals: float) -> bytes:
    return json.dumps({"ts": ts, "seq": seq, **vitals}).encode()


def test_a_reading_entry_keeps_the_device_time_and_the_chair_time() -> None:
    intake = Intake(Clinic(), site="north", root="clinic")
    intake.message(TOPIC, _reading(T0, 1, hr=72, pr=71), T0)

    stepped = intake.message(TOPIC, _reading(T0 + 1 - 3600, 2, hr=72, pr=70), T0 + 1)

    [reading] = [e for e in stepped.entries if isinstance(e, ReadingEntry)]
    assert (reading.ts, reading.chair_ts, reading.pr) == (T0 + 1 - 3600, T0 + 1, 70)
    [clock] = [e for e in stepped.entries if isinstance(e, AlarmEntry)]
    assert clock.kind == "clock_step"
    assert "stepped back 60 min" in clock.text


def test_every_message_is_journalled_whole_with_its_outcome() -> None:
    scribe = Scribe(Clinic(), site="north")
    payload = "é".encode() + b"\xff" + b"x" * 10_000

    entry = scribe.message(TOPIC, payload, T0, outcome=Outcome.MALFORMED, kind=Inbound.VITALS,
                           chair="c01", reasons=["ts: missing", "hr: bad"])  # fmt: skip

    assert entry == MessageEntry(
        received_at=T0, topic=TOPIC, payload="é\ufffd" + "x" * 10_000, outcome="malformed",
        site="north", chair="c01", kind="vitals", reason="ts: missing; hr: bad",
    )  # fmt: skip


def test_a_chair_where_something_happened_is_snapshotted_with_its_session_at_once() -> None:
    clinic = Clinic()
    scribe = Scribe(clinic, site="north", dump=lambda state: f"snapshot of {state.name}")

    entries = scribe.reports(clinic.handle("c01", Admit(T0, "P-7", by="kim"), wall=T0), T0)

    types = [type(e) for e in entries]
    assert EventEntry in types
    [snapshot] = [e for e in entries if isinstance(e, SnapshotEntry)]
    assert snapshot == SnapshotEntry("north", "c01", T0, "snapshot of c01")
    [session] = [e for e in entries if isinstance(e, SessionEntry)]
    assert (session.patient, session.phase, session.chair) == ("P-7", "baseline", "c01")
    [opened] = [e for e in entries if isinstance(e, EventEntry) and e.type == "SessionOpened"]
    assert opened.data["by"] == "kim"
    assert opened.session == session.id


def test_a_chair_that_only_took_values_is_snapshotted_once_within_the_interval() -> None:
    clinic = Clinic()
    scribe = Scribe(clinic, site="north", snapshot_s=5, dump=lambda state: "s")
    scribe.reports(clinic.handle("c01", Reading(ts=T0, seq=1, hr=70), wall=T0), T0)
    scribe.reports(clinic.handle("c01", Reading(ts=T0 + 1, seq=2, hr=71), wall=T0 + 1), T0 + 1)

    early, due, after = scribe.due(T0 + 4), scribe.due(T0 + 5), scribe.due(T0 + 10)

    assert early == []
    assert due == [SnapshotEntry("north", "c01", T0 + 5, "s")]
    assert after == []


def test_a_site_refusal_leaves_only_its_journal_entry() -> None:
    intake = Intake(Clinic(chairs=["c01"]), site="north", root="clinic")

    result = intake.message("clinic/north/chair/c09/vitals", _reading(T0, 1, hr=70), T0)

    [entry] = result.entries
    assert isinstance(entry, MessageEntry)
    assert (entry.outcome, entry.chair) == ("unknown_chair", "c09")
    assert result.outcome is Outcome.UNKNOWN_CHAIR
    assert result.outgoing == []

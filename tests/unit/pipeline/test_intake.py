"""The intake: one message or tick through router, clinic, projector and scribe."""

from __future__ import annotations

import json

import pytest

from monitor.domain.clinic import Clinic
from monitor.pipeline.intake import STORED_OVERSIZED_BYTES, Intake
from monitor.pipeline.router import Outcome
from monitor.record.base import AlarmEntry, MessageEntry, ReadingEntry
from monitor.wire.payloads import MAX_PAYLOAD_BYTES
from monitor.wire.topics import Inbound

T0 = 1_795_000_000.0


def _intake() -> Intake:
    return Intake(Clinic(), site="north", root="clinic")


def _send(intake: Intake, leaf: str, body: dict[str, object], wall: float = T0):  # type: ignore[no-untyped-def]
    return intake.message(f"clinic/north/chair/c01/{leaf}", json.dumps(body).encode(), wall)


def test_an_accepted_reading_is_journalled_recorded_and_its_alarm_published() -> None:
    result = _send(_intake(), "vitals", {"ts": T0, "seq": 1, "nibp": {"sys": 195, "dia": 100}})

    assert (result.outcome, result.kind, result.reasons) == (Outcome.ACCEPTED, Inbound.VITALS, [])
    assert [type(e) for e in result.entries[:2]] == [MessageEntry, ReadingEntry]
    assert any(isinstance(e, AlarmEntry) and e.kind == "sbp_high" for e in result.entries)
    assert [m.topic.rsplit("/", 1)[1] for m in result.outgoing] == ["alarm", "state"]


def test_a_command_the_core_refuses_is_rejected_with_its_reason_and_shown() -> None:
    result = _send(_intake(), "infusion", {"ts": T0, "event": "stop"})

    assert result.outcome is Outcome.REJECTED
    assert result.reasons
    assert "stop" in result.reasons[0]
    journal = result.entries[0]
    assert isinstance(journal, MessageEntry)
    assert (journal.outcome, journal.reason) == ("rejected", result.reasons[0])
    assert [m.topic.rsplit("/", 1)[1] for m in result.outgoing] == ["state"]


def test_a_rejected_reading_is_journalled_but_not_recorded_as_a_reading() -> None:
    intake = _intake()
    _send(intake, "vitals", {"ts": T0, "seq": 1, "hr": 70})

    again = _send(intake, "vitals", {"ts": T0, "seq": 1, "hr": 70}, wall=T0 + 1)

    assert again.outcome is Outcome.REJECTED
    assert not any(isinstance(e, ReadingEntry) for e in again.entries)


@pytest.mark.parametrize(
    ("size", "kept"), [(100, 100), (MAX_PAYLOAD_BYTES + 1, STORED_OVERSIZED_BYTES)]
)
def test_the_journal_keeps_a_payload_whole_unless_it_was_refused_for_its_size(
    size: int, kept: int
) -> None:
    result = _intake().message("clinic/north/chair/c01/vitals", b"x" * size, T0)

    [entry] = result.entries
    assert isinstance(entry, MessageEntry)
    assert len(entry.payload) == kept


def test_a_tick_publishes_what_changed_and_takes_the_snapshots_due() -> None:
    intake = _intake()
    _send(intake, "vitals", {"ts": T0, "seq": 1, "hr": 70})

    first = intake.tick(T0 + 0.5)
    later = intake.tick(T0 + 6)

    assert [m.topic.rsplit("/", 1)[1] for m in first.outgoing] == ["state"]
    assert first.entries == []
    assert [type(e).__name__ for e in later.entries] == ["SnapshotEntry"]

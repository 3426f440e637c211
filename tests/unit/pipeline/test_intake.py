"""The intake: one message or tick through router, clinic, projector and scribe."""

from __future__ import annotations

import json

import pytest

from monitor.domain.clinic import Clinic
from monitor.pipeline.intake import Intake
from monitor.pipeline.router import Outcome
from monitor.pipeline.scribe import REFUSED_PAYLOAD_BYTES
from monitor.record.base import AlarmEntry, MessageEntry, ReadingEntry, entry_problem
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
    ("size", "kept"), [(100, 100), (MAX_PAYLOAD_BYTES + 1, REFUSED_PAYLOAD_BYTES)]
)
def test_the_journal_keeps_a_refused_payload_whole_unless_it_is_long(size: int, kept: int) -> None:
    result = _intake().message("clinic/north/chair/c01/vitals", b"x" * size, T0)

    [entry] = result.entries
    assert isinstance(entry, MessageEntry)
    assert entry.payload.startswith("x" * kept)
    assert entry.payload.count("x") == kept


def test_a_tick_publishes_what_changed_and_takes_the_snapshots_due() -> None:
    intake = _intake()
    _send(intake, "vitals", {"ts": T0, "seq": 1, "hr": 70})

    first = intake.tick(T0 + 0.5)
    later = intake.tick(T0 + 6)

    assert [m.topic.rsplit("/", 1)[1] for m in first.outgoing] == ["state"]
    assert first.entries == []
    assert [type(e).__name__ for e in later.entries] == ["SnapshotEntry"]


def test_a_new_chair_beyond_the_cap_is_refused_journalled_and_gets_no_tile() -> None:
    intake = Intake(Clinic(max_chairs=2), site="north", root="clinic")
    for chair in ("c01", "c02"):
        intake.message(f"clinic/north/chair/{chair}/vitals", b'{"ts": 1795000000, "hr": 70}', T0)

    result = intake.message("clinic/north/chair/junk/vitals", b'{"ts": 1795000000, "hr": 70}', T0)

    assert result.outcome is Outcome.TOO_MANY_CHAIRS
    assert "max_chairs" in result.reasons[0]
    [entry] = result.entries
    assert isinstance(entry, MessageEntry)
    assert (entry.outcome, entry.chair) == ("too_many_chairs", "junk")
    assert result.outgoing == []
    assert [c.name for c in intake.clinic] == ["c01", "c02"]


def test_a_sequence_number_beyond_64_bits_is_refused_at_the_edge_not_lost_by_the_record() -> None:
    result = _send(_intake(), "vitals", {"ts": T0, "seq": 2**63, "hr": 70})

    assert result.outcome is Outcome.MALFORMED
    assert "seq" in result.reasons[0]
    assert [type(e) for e in result.entries] == [MessageEntry]
    assert all(entry_problem(e) is None for e in result.entries)


def test_junk_on_a_huge_chair_name_costs_the_journal_a_short_line_a_message() -> None:
    intake = _intake()
    topic = "clinic/north/chair/" + "x" * 60_000 + "/vitals"
    junk = b"j" * 60_000

    journal = [intake.message(topic, junk, T0 + i / 10).entries[0] for i in range(200)]

    assert all(isinstance(e, MessageEntry) for e in journal)
    sizes = [len(e.topic) + len(e.payload) + len(e.reason or "") for e in journal]  # type: ignore[union-attr]
    assert max(sizes) < 2_000
    assert sum(sizes) < 200 * 600
    assert list(intake.clinic) == []


def test_an_accepted_message_is_never_cut() -> None:
    body = {"ts": T0, "seq": 1, "hr": 70, "note": "n" * 60_000}

    result = _send(_intake(), "vitals", body)

    assert result.outcome is Outcome.ACCEPTED
    entry = result.entries[0]
    assert isinstance(entry, MessageEntry)
    assert json.loads(entry.payload) == body


def test_chairs_refused_are_tallied_for_the_status_by_name_and_message() -> None:
    intake = Intake(Clinic(chairs=["c01"]), site="north", root="clinic")
    body = json.dumps({"ts": T0, "seq": 1, "hr": 70}).encode()
    for n, chair in enumerate(["c07", "c08", "c07", "c01"]):
        intake.message(f"clinic/north/chair/{chair}/vitals", body, T0 + n)

    tally = intake.refused_chairs.latest
    assert tally is not None
    assert (tally.chairs, tally.messages, tally.latest, tally.at) == (2, 3, "c07", T0 + 2)
    assert tally.reason == "unknown_chair"


def test_the_tally_of_refused_chairs_stops_growing_at_its_cap_and_still_counts_messages(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("monitor.pipeline.intake.MAX_TALLIED", 3)
    intake = Intake(Clinic(max_chairs=1), site="north", root="clinic")
    body = json.dumps({"ts": T0, "seq": 1, "hr": 70}).encode()
    for n in range(6):
        intake.message(f"clinic/north/chair/j{n}/vitals", body, T0)

    tally = intake.refused_chairs.latest
    assert tally is not None
    assert (tally.chairs, tally.messages, tally.reason) == (3, 5, "too_many_chairs")
    assert len(intake.refused_chairs.names) == 3


def _paging_intake() -> Intake:
    from monitor.domain.paging import PagingPolicy
    from monitor.domain.paging_config import PagingConfig

    config = PagingConfig.from_mapping({
        "pagers": [{"id": "p01", "name": "Kim"}, {"id": "p02", "name": "Lee"},
                   {"id": "p03", "name": "Sam", "role": "charge"}],
        "coverage": {"charge": "p03", "failsafe": ["p03"], "primary": {"c01": "p01"},
                     "default": "p02"},
    })  # fmt: skip
    policy = PagingPolicy(config)
    return Intake(Clinic(policies=[policy]), site="north", root="clinic", paging=policy)


def test_a_hand_over_moves_the_chairs_and_publishes_the_new_coverage_retained() -> None:
    intake = _paging_intake()
    first = json.loads(intake.states(T0)[0].payload)
    body = json.dumps({"ts": T0, "to": "p02", "by": "nurse.kim"}).encode()

    result = intake.message("clinic/north/pager/p01/handover", body, T0 + 1)

    assert (result.outcome, result.kind) == (Outcome.ACCEPTED, Inbound.HANDOVER)
    [coverage] = [m for m in result.outgoing if m.topic == "clinic/north/monitor/coverage"]
    assert coverage.retain
    assert first["primary"] == {"c01": "p01"}
    assert json.loads(coverage.payload)["primary"] == {"c01": "p02"}
    assert [e.type for e in result.entries if getattr(e, "type", None)] == ["CoverageChanged"]


def test_a_hand_over_to_a_pager_the_site_does_not_have_is_refused_with_its_reason() -> None:
    intake = _paging_intake()
    body = json.dumps({"ts": T0, "to": "p99", "by": "nurse.kim"}).encode()

    result = intake.message("clinic/north/pager/p01/handover", body, T0)

    assert result.outcome is Outcome.UNMATCHED
    assert "p99" in result.reasons[0]
    assert not [m for m in result.outgoing if m.topic.endswith("/coverage")]

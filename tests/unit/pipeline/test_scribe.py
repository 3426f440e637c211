"""The scribe: what the record keeps of each message and each report."""

from __future__ import annotations

import json

import pytest

from monitor.domain.clinic import Clinic
from monitor.domain.commands import Admit
from monitor.domain.vitals import Reading
from monitor.pipeline.intake import Intake
from monitor.pipeline.router import Outcome
from monitor.pipeline.scribe import (
    BUDGET_WINDOW_S,
    REFUSED_GLIMPSE_BYTES,
    REFUSED_PAYLOAD_BYTES,
    REFUSED_REASON_CHARS,
    REFUSED_TOPIC_CHARS,
    REFUSED_WHOLE_PER_MINUTE,
    RefusalBudget,
    Scribe,
)
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


@pytest.mark.parametrize("outcome", [Outcome.ACCEPTED, Outcome.REJECTED])
def test_a_message_a_chair_took_is_journalled_whole_for_replay(outcome: Outcome) -> None:
    scribe = Scribe(Clinic(), site="north")
    payload = "é".encode() + b"\xff" + b"x" * 60_000

    entry = scribe.message(TOPIC, payload, T0, outcome=outcome, kind=Inbound.VITALS,
                           chair="c01", reasons=["ts: missing", "hr: bad"])  # fmt: skip

    assert entry == MessageEntry(
        received_at=T0, topic=TOPIC, payload="é\ufffd" + "x" * 60_000, outcome=outcome.value,
        site="north", chair="c01", kind="vitals", reason="ts: missing; hr: bad",
    )  # fmt: skip


def test_a_refused_message_is_journalled_with_its_outcome_and_its_payload_cut() -> None:
    scribe = Scribe(Clinic(), site="north")
    payload = b"x" * 60_000

    entry = _refused(scribe, payload, T0)

    assert (entry.outcome, entry.reason, entry.chair) == ("malformed", "ts: missing", "c01")
    assert entry.payload == "x" * REFUSED_PAYLOAD_BYTES + "...[1024 of 60,000 bytes kept]"


def test_beyond_the_budget_a_refused_message_keeps_a_glimpse_and_its_size() -> None:
    scribe = Scribe(Clinic(), site="north")
    payload = b"y" * 5_000

    kept = [_refused(scribe, payload, T0 + i).payload for i in range(REFUSED_WHOLE_PER_MINUTE + 2)]

    assert [len(p) > 1000 for p in kept] == [True] * REFUSED_WHOLE_PER_MINUTE + [False] * 2
    assert kept[-1] == "y" * REFUSED_GLIMPSE_BYTES + "...[16 of 5,000 bytes kept]"


def test_the_budget_is_per_chair_and_outcome_and_opens_again_a_minute_later() -> None:
    scribe = Scribe(Clinic(), site="north")
    payload = b"z" * 2_000
    for i in range(REFUSED_WHOLE_PER_MINUTE):
        _refused(scribe, payload, T0 + i)

    spent = _refused(scribe, payload, T0 + 10)
    other_chair = _refused(scribe, payload, T0 + 10, chair="c02")
    other_outcome = _refused(scribe, payload, T0 + 10, outcome=Outcome.OVERSIZED)
    next_minute = _refused(scribe, payload, T0 + BUDGET_WINDOW_S)

    assert len(spent.payload) < 100
    assert all(len(e.payload) > 1000 for e in (other_chair, other_outcome, next_minute))


def test_a_clock_stepped_back_opens_a_new_window() -> None:
    budget = RefusalBudget(per_window=1)
    assert budget.spend("c01", Outcome.MALFORMED, T0)
    assert not budget.spend("c01", Outcome.MALFORMED, T0 + 1)

    assert budget.spend("c01", Outcome.MALFORMED, T0 - 3600)


def test_the_budget_counts_a_bounded_number_of_sources_then_shares_one() -> None:
    budget = RefusalBudget(per_window=1, sources=3)
    assert all(budget.spend(f"c{i}", Outcome.BAD_TOPIC, T0) for i in range(3))

    beyond = [budget.spend(f"junk{i}", Outcome.BAD_TOPIC, T0 + 1) for i in range(5)]
    later = budget.spend("junk9", Outcome.BAD_TOPIC, T0 + BUDGET_WINDOW_S)

    assert beyond == [True, False, False, False, False]
    assert len(budget) <= 4
    assert later


def test_a_refused_message_s_long_topic_and_reason_are_cut() -> None:
    scribe = Scribe(Clinic(), site="north")
    topic = "clinic/north/chair/" + "c" * 60_000 + "/vitals"

    entry = scribe.message(topic, b"{}", T0, outcome=Outcome.BAD_TOPIC, kind=None,
                           chair="c" * 64, reasons=["r" * 70_000])  # fmt: skip

    assert entry.topic == topic[:REFUSED_TOPIC_CHARS] + "...[256 of 60,026 characters kept]"
    assert entry.reason is not None
    assert entry.reason.startswith("r" * REFUSED_REASON_CHARS)
    assert len(entry.reason) < REFUSED_REASON_CHARS + 50


def test_a_lone_surrogate_in_a_topic_is_journalled_as_utf8_can_hold_it() -> None:
    scribe = Scribe(Clinic(), site="north")

    entry = scribe.message("clinic/north/chair/c\ud800/vitals", b"{}", T0,
                           outcome=Outcome.BAD_TOPIC, kind=None, chair="c\ud800",
                           reasons=["chair 'c\ud800' must match"])  # fmt: skip

    assert (entry.topic, entry.chair) == ("clinic/north/chair/c?/vitals", "c?")
    assert entry.reason == "chair 'c?' must match"


def _refused(
    scribe: Scribe,
    payload: bytes,
    wall: float,
    *,
    chair: str = "c01",
    outcome: Outcome = Outcome.MALFORMED,
) -> MessageEntry:
    topic = f"clinic/north/chair/{chair}/vitals"
    return scribe.message(topic, payload, wall, outcome=outcome, kind=Inbound.VITALS,
                          chair=chair, reasons=["ts: missing"])  # fmt: skip


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

"""The tests every Recorder backend passes, written once against a `recorder` fixture.

`test_record.py` runs them on each backend; a new backend joins there. The tests read the record
only through the Recorder's methods, so they say what a backend must do, not how.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from monitor.record import (
    AlarmEntry,
    Entry,
    EventEntry,
    LoginEnded,
    LoginEntry,
    MessageEntry,
    ReadingEntry,
    Recorder,
    RecordError,
    SessionEntry,
    SessionRecord,
    SnapshotEntry,
)
from monitor.record.chain import verify

T0 = 1_795_000_000.0

MESSAGE = MessageEntry(
    received_at=T0 + 0.125,
    topic="clinic/north/chair/c01/vitals",
    payload='{"ts": 1795000000, "hr": 72, "note": "Blutdruck \u2191 \ufffd"}',
    outcome="rejected",
    site="north",
    chair="c01",
    kind="vitals",
    reason="hr: 0 is an artefact; spo2: probe off",
)
BARE_MESSAGE = MessageEntry(received_at=T0, topic="clinic/x", payload="", outcome="malformed")

READING = ReadingEntry(
    site="north",
    chair="c01",
    session="s1",
    ts=T0 - 3600.5,
    chair_ts=T0 + 0.1 + 0.2,
    received_at=T0 + 1 / 3,
    seq=2**40,
    hr=72.5,
    pr=71.0,
    spo2=97.25,
    sbp=134.0,
    dbp=86.0,
    map=102.333333333,
    technical=("leads_off", "spo2_motion"),
)
BARE_READING = ReadingEntry(
    site="north", chair="c02", session=None, ts=T0, chair_ts=T0, received_at=T0
)

ALARM = AlarmEntry(
    alarm="01JD4ALARM",
    site="north",
    chair="c01",
    session="s1",
    ts=T0 + 5,
    kind="sbp_high",
    alarm_class="physiological",
    priority="high",
    state="acknowledged",
    text="SBP 186 > 180 mmHg (+ rise over baseline)",
    value=186.0,
    limit=180.0,
    acknowledged_by="Nurse Zoë",
    acknowledged_at=T0 + 9.75,
    note="cuff re-sited",
    suppressed_by="01JD4OTHER",
)
BARE_ALARM = AlarmEntry(
    alarm="01JD4BARE",
    site="north",
    chair="c02",
    session=None,
    ts=T0,
    kind="monitor_offline",
    alarm_class="technical",
    priority="medium",
    state="active",
    text="monitor offline",
)

EVENT = EventEntry(
    site="north",
    chair="c01",
    session="s1",
    ts=T0 + 7,
    type="BaselineSet",
    data={
        "baseline": {"sbp": 120.5, "dbp": None, "spo2": [97, 98.5]},
        "by": "Zoë \u2603 \U0001f489",
        "flags": [True, False, None],
        "depth": {"a": {"b": {"c": [{"d": "e"}]}}},
        "n": 3,
    },
)
BARE_EVENT = EventEntry(site="north", chair="c02", session=None, ts=T0, type="DeviceOnline")

SESSION = SessionEntry(
    id="s1",
    site="north",
    chair="c01",
    patient="P-0042",
    admitted_at=T0,
    phase="discharged",
    closed_at=T0 + 4200.5,
    recovery_status="recovered_late",
)
BARE_SESSION = SessionEntry(
    id="s2", site="north", chair="c02", patient="P-0043", admitted_at=T0 + 60, phase="admitted"
)

SNAPSHOT = SnapshotEntry(site="north", chair="c01", saved_at=T0, state='{"phase": "infusing"}')
LOGIN = LoginEntry(token_digest="ab" * 32, user="zoë", role="nurse", expires_at=T0 + 3600)


def message(n: int, **fields: Any) -> MessageEntry:
    """The n-th message (payload "#n"), arrived n seconds after T0."""
    return replace(MESSAGE, **{"received_at": T0 + n, "payload": f"#{n}", **fields})


def reading(n: int, **fields: Any) -> ReadingEntry:
    """The n-th reading (seq n), taken n seconds after T0."""
    return replace(READING, **{"seq": n, "ts": T0 + n, "chair_ts": T0 + n, **fields})


def alarm(n: int, **fields: Any) -> AlarmEntry:
    """The n-th alarm transition (alarm "an")."""
    return replace(ALARM, **{"alarm": f"a{n}", "ts": T0 + n, **fields})


def event(n: int, **fields: Any) -> EventEntry:
    """The n-th event (data {"n": n})."""
    return replace(EVENT, **{"ts": T0 + n, "data": {"n": n}, **fields})


class RecorderSuite:
    """What every backend does; subclassed in `test_record.py`, which supplies `recorder`."""

    # Each kind of entry, every field back as it went in -----------------------------------

    def test_messages_come_back_with_every_field(self, recorder: Recorder) -> None:
        recorder.append([MESSAGE, BARE_MESSAGE])

        assert recorder.messages() == [MESSAGE, BARE_MESSAGE]

    def test_readings_come_back_with_every_field(self, recorder: Recorder) -> None:
        recorder.append([READING, BARE_READING])

        assert recorder.readings() == [READING, BARE_READING]
        assert recorder.readings()[0].technical == ("leads_off", "spo2_motion")
        assert recorder.readings()[1].technical == ()

    def test_reading_values_keep_every_bit_of_a_float(self, recorder: Recorder) -> None:
        values = (0.1 + 0.2, 1e-300, 1e300, math.inf, -math.inf, 5e-324)
        recorder.append([replace(READING, hr=v, seq=n) for n, v in enumerate(values)])

        assert tuple(r.hr for r in recorder.readings()) == values

    def test_a_sequence_number_keeps_all_64_bits(self, recorder: Recorder) -> None:
        recorder.append([replace(READING, seq=n) for n in (2**63 - 1, -(2**63), 0)])

        assert [r.seq for r in recorder.readings()] == [2**63 - 1, -(2**63), 0]

    def test_alarms_come_back_with_every_field(self, recorder: Recorder) -> None:
        recorder.append([ALARM, BARE_ALARM])

        assert recorder.alarms() == [ALARM, BARE_ALARM]

    def test_events_come_back_with_nested_unicode_data(self, recorder: Recorder) -> None:
        recorder.append([EVENT, BARE_EVENT])

        assert recorder.events() == [EVENT, BARE_EVENT]
        assert recorder.events()[0].data["depth"]["a"]["b"]["c"][0] == {"d": "e"}

    def test_event_data_reads_back_as_json_gives_it(self, recorder: Recorder) -> None:
        recorder.append([replace(EVENT, data={"pair": (1, 2), "by_seq": {3: "x"}})])

        assert recorder.events()[0].data == {"pair": [1, 2], "by_seq": {"3": "x"}}

    def test_event_data_held_by_the_record_is_its_own(self, recorder: Recorder) -> None:
        data: dict[str, Any] = {"limits": {"sbp": 180}}
        recorder.append([replace(EVENT, data=data)])
        data["limits"]["sbp"] = 999

        assert recorder.events()[0].data == {"limits": {"sbp": 180}}

    def test_sessions_come_back_with_every_field(self, recorder: Recorder) -> None:
        recorder.append([SESSION, BARE_SESSION])

        assert recorder.sessions() == [SESSION, BARE_SESSION]
        assert recorder.session("s1").session == SESSION
        assert recorder.session("s2").session == BARE_SESSION

    def test_a_snapshot_comes_back_with_every_field(self, recorder: Recorder) -> None:
        recorder.append([SNAPSHOT])

        assert recorder.snapshots("north") == [SNAPSHOT]

    def test_a_login_comes_back_with_every_field(self, recorder: Recorder) -> None:
        recorder.append([LOGIN])

        assert recorder.login(LOGIN.token_digest, T0) == LOGIN

    def test_an_empty_batch_stores_nothing(self, recorder: Recorder) -> None:
        recorder.append([])

        assert (recorder.messages(), recorder.sessions(), list(recorder.journal())) == ([], [], [])

    # Order and filters ------------------------------------------------------------------

    def test_reads_keep_the_order_of_appending_over_batches(self, recorder: Recorder) -> None:
        late_first = [10, 3, 7, 1]  # timestamps out of order: the order kept is the appending
        for n in late_first:
            recorder.append([message(n), reading(n), alarm(n), event(n)])
        recorder.append([message(n) for n in (2, 9)] + [reading(n) for n in (2, 9)])

        order = [*late_first, 2, 9]
        assert [m.received_at - T0 for m in recorder.messages()] == order
        assert [r.seq for r in recorder.readings()] == order
        assert [a.alarm for a in recorder.alarms()] == [f"a{n}" for n in late_first]
        assert [e.data["n"] for e in recorder.events()] == late_first

    def test_messages_by_chair_and_by_outcome(self, recorder: Recorder) -> None:
        recorder.append(
            [
                message(1, chair="c01", outcome="accepted"),
                message(2, chair="c02", outcome="rejected"),
                message(3, chair="c01", outcome="rejected"),
                message(4, chair=None, outcome="unknown_chair"),
            ]
        )

        def seen(found: list[MessageEntry]) -> list[str]:
            return [m.payload for m in found]

        assert seen(recorder.messages(chair="c01")) == ["#1", "#3"]
        assert seen(recorder.messages(outcome="rejected")) == ["#2", "#3"]
        assert seen(recorder.messages(chair="c01", outcome="rejected")) == ["#3"]
        assert seen(recorder.messages(outcome="unknown_chair")) == ["#4"]
        assert seen(recorder.messages()) == ["#1", "#2", "#3", "#4"]
        assert recorder.messages(chair="c09") == []

    def test_readings_by_chair_and_by_session(self, recorder: Recorder) -> None:
        recorder.append(
            [
                reading(1, chair="c01", session="s1"),
                reading(2, chair="c02", session="s2"),
                reading(3, chair="c01", session=None),
                reading(4, chair="c01", session="s1"),
            ]
        )

        def seqs(found: list[ReadingEntry]) -> list[int | None]:
            return [r.seq for r in found]

        assert seqs(recorder.readings(chair="c01")) == [1, 3, 4]
        assert seqs(recorder.readings(session="s1")) == [1, 4]
        assert seqs(recorder.readings(chair="c02", session="s2")) == [2]
        assert seqs(recorder.readings(chair="c02", session="s1")) == []

    def test_alarms_by_chair_session_and_kind(self, recorder: Recorder) -> None:
        recorder.append(
            [
                alarm(1, chair="c01", session="s1", kind="sbp_high"),
                alarm(2, chair="c01", session="s1", kind="hr_low"),
                alarm(3, chair="c02", session="s2", kind="sbp_high"),
                alarm(4, chair="c01", session=None, kind="monitor_offline"),
            ]
        )

        def ids(found: list[AlarmEntry]) -> list[str]:
            return [a.alarm for a in found]

        assert ids(recorder.alarms(chair="c01")) == ["a1", "a2", "a4"]
        assert ids(recorder.alarms(session="s1")) == ["a1", "a2"]
        assert ids(recorder.alarms(kind="sbp_high")) == ["a1", "a3"]
        assert ids(recorder.alarms(chair="c01", session="s1", kind="sbp_high")) == ["a1"]
        assert ids(recorder.alarms(chair="c02", kind="hr_low")) == []

    def test_events_by_session_and_type(self, recorder: Recorder) -> None:
        recorder.append(
            [
                event(1, session="s1", type="PhaseChanged"),
                event(2, session="s2", type="PhaseChanged"),
                event(3, session="s1", type="BaselineSet"),
            ]
        )

        def ns(found: list[EventEntry]) -> list[int]:
            return [e.data["n"] for e in found]

        assert ns(recorder.events(session="s1")) == [1, 3]
        assert ns(recorder.events(type="PhaseChanged")) == [1, 2]
        assert ns(recorder.events(session="s1", type="PhaseChanged")) == [1]

    def test_sessions_by_admission_time_and_site(self, recorder: Recorder) -> None:
        recorder.append(
            [
                replace(SESSION, id="late", admitted_at=T0 + 50),
                replace(SESSION, id="south", site="south", admitted_at=T0 + 10),
                replace(SESSION, id="early", admitted_at=T0 + 20),
                replace(SESSION, id="tie", admitted_at=T0 + 50),
            ]
        )

        assert [s.id for s in recorder.sessions()] == ["south", "early", "late", "tie"]
        assert [s.id for s in recorder.sessions("north")] == ["early", "late", "tie"]
        assert recorder.sessions("west") == []

    # A session's record -----------------------------------------------------------------

    def test_a_session_record_orders_readings_by_chair_time(self, recorder: Recorder) -> None:
        # A monitor's clock stepped back an hour: device time says otherwise, chair time holds.
        stepped = [
            reading(1, ts=T0 + 1, chair_ts=T0 + 1),
            reading(2, ts=T0 + 2 - 3600, chair_ts=T0 + 3),
            reading(3, ts=T0 + 3 - 3600, chair_ts=T0 + 2),
            reading(4, ts=T0 + 4 - 3600, chair_ts=T0 + 2),  # a tie: appending order
            reading(5, session="other", chair_ts=T0),
        ]
        recorder.append([SESSION, *stepped, alarm(2), alarm(1), alarm(3, session="other")])

        record = recorder.session("s1")

        assert record.session == SESSION
        assert [r.seq for r in record.readings] == [1, 3, 4, 2]
        assert [a.alarm for a in record.alarms] == ["a2", "a1"]

    def test_a_session_record_holds_readings_before_its_summary(self, recorder: Recorder) -> None:
        recorder.append([reading(1), alarm(1)])

        record = recorder.session("s1")

        assert (record.session, len(record.readings), len(record.alarms)) == (None, 1, 1)

    def test_an_unknown_session_has_an_empty_record(self, recorder: Recorder) -> None:
        recorder.append([SESSION, reading(1)])

        assert recorder.session("nobody") == SessionRecord(session=None, readings=[], alarms=[])

    # Upserts ----------------------------------------------------------------------------

    def test_a_session_appended_again_replaces_the_previous(self, recorder: Recorder) -> None:
        admitted = replace(SESSION, phase="admitted", closed_at=None, recovery_status=None)
        recorder.append([admitted, BARE_SESSION])
        recorder.append([replace(admitted, phase="infusing")])
        recorder.append([SESSION])

        assert recorder.sessions() == [SESSION, BARE_SESSION]
        assert recorder.session("s1").session == SESSION

    def test_the_latest_of_a_session_in_one_batch_wins(self, recorder: Recorder) -> None:
        recorder.append([replace(SESSION, phase=p) for p in ("admitted", "infusing", "recovery")])

        assert [s.phase for s in recorder.sessions()] == ["recovery"]

    def test_a_session_readmitted_later_moves_in_admission_order(self, recorder: Recorder) -> None:
        recorder.append([SESSION, BARE_SESSION])
        recorder.append([replace(SESSION, admitted_at=T0 + 120)])

        assert [s.id for s in recorder.sessions()] == ["s2", "s1"]

    def test_snapshots_one_per_chair_the_latest_by_chair(self, recorder: Recorder) -> None:
        def snap(site: str, chair: str, n: int) -> SnapshotEntry:
            return SnapshotEntry(site=site, chair=chair, saved_at=T0 + n, state=f'{{"n": {n}}}')

        recorder.append([snap("north", "c10", 1), snap("north", "c02", 1), snap("south", "c02", 1)])
        recorder.append([snap("north", "c02", 2), snap("north", "c02", 3)])

        assert recorder.snapshots("north") == [snap("north", "c02", 3), snap("north", "c10", 1)]
        assert recorder.snapshots("south") == [snap("south", "c02", 1)]
        assert recorder.snapshots("west") == []

    def test_a_login_appended_again_replaces_the_previous(self, recorder: Recorder) -> None:
        recorder.append([LOGIN])
        recorder.append([replace(LOGIN, expires_at=T0 + 7200, role="admin")])

        assert recorder.login(LOGIN.token_digest, T0 + 3600) == replace(
            LOGIN, expires_at=T0 + 7200, role="admin"
        )

    # Logins -----------------------------------------------------------------------------

    def test_a_login_lasts_until_it_expires(self, recorder: Recorder) -> None:
        recorder.append([LOGIN])

        assert recorder.login(LOGIN.token_digest, LOGIN.expires_at - 0.001) == LOGIN
        assert recorder.login(LOGIN.token_digest, LOGIN.expires_at) is None
        assert recorder.login(LOGIN.token_digest, LOGIN.expires_at + 1) is None

    def test_an_unknown_digest_is_no_login(self, recorder: Recorder) -> None:
        recorder.append([LOGIN])

        assert recorder.login("cd" * 32, T0) is None

    def test_a_logout_ends_only_its_login(self, recorder: Recorder) -> None:
        other = replace(LOGIN, token_digest="ef" * 32, user="sam")
        recorder.append([LOGIN, other])
        recorder.append([LoginEnded(LOGIN.token_digest), LoginEnded("never-logged-in")])

        assert recorder.login(LOGIN.token_digest, T0) is None
        assert recorder.login(other.token_digest, T0) == other

    def test_a_batch_logs_in_and_out_in_its_own_order(self, recorder: Recorder) -> None:
        again = replace(LOGIN, token_digest="ef" * 32)
        recorder.append(
            [LOGIN, LoginEnded(LOGIN.token_digest), LoginEnded(again.token_digest), again]
        )

        assert recorder.login(LOGIN.token_digest, T0) is None
        assert recorder.login(again.token_digest, T0) == again

    # All or nothing ---------------------------------------------------------------------

    @pytest.mark.parametrize(
        "bad",
        [
            pytest.param(object(), id="not-an-entry"),
            pytest.param({"topic": "x"}, id="a-dict"),
            pytest.param(replace(READING, hr=math.nan), id="nan"),
            pytest.param(replace(ALARM, value=math.nan), id="nan-alarm-value"),
            pytest.param(replace(READING, seq=2**63), id="seq-over-64-bits"),
            pytest.param(replace(READING, technical=("nibp_failed,x",)), id="comma"),
            pytest.param(replace(READING, technical=("",)), id="empty-technical"),
            pytest.param(replace(READING, technical=["leads_off"]), id="technical-list"),
            pytest.param(replace(EVENT, data={"at": {1, 2}}), id="data-not-json"),
            pytest.param(replace(EVENT, data=["not", "a", "dict"]), id="data-not-dict"),
        ],
    )
    def test_a_batch_with_a_bad_entry_stores_nothing(self, recorder: Recorder, bad: Any) -> None:
        good: list[Entry] = [MESSAGE, READING, ALARM, EVENT, SESSION, SNAPSHOT, LOGIN]
        recorder.append([replace(LOGIN, token_digest="kept")])

        with pytest.raises(RecordError, match="entry 4 of the batch"):
            recorder.append([*good[:4], bad, *good[4:], LoginEnded("kept")])

        assert nothing_but_the_login(recorder)
        assert recorder.login("kept", T0) is not None

    def test_a_refused_batch_leaves_the_record_usable(self, recorder: Recorder) -> None:
        with pytest.raises(RecordError):
            recorder.append([MESSAGE, object()])  # type: ignore[list-item]
        recorder.append([BARE_MESSAGE])

        assert recorder.messages() == [BARE_MESSAGE]

    # Closing ----------------------------------------------------------------------------

    def test_appending_after_close_is_an_error(self, recorder: Recorder) -> None:
        recorder.append([MESSAGE])
        recorder.close()

        with pytest.raises(RecordError, match="closed"):
            recorder.append([BARE_MESSAGE])

    def test_reading_after_close_is_an_error(self, recorder: Recorder) -> None:
        recorder.close()
        recorder.close()  # a second close does nothing

        with pytest.raises(RecordError, match="closed"):
            recorder.messages()
        with pytest.raises(RecordError, match="closed"):
            recorder.journal()
        with pytest.raises(RecordError, match="closed"):
            recorder.login(LOGIN.token_digest, T0)

    # Per site ---------------------------------------------------------------------------

    def test_the_journal_of_a_site_in_arrival_order(self, recorder: Recorder) -> None:
        recorder.append([message(3, site="north"), message(1, site="south"), BARE_MESSAGE])
        recorder.append([message(2, site="north")])

        north = recorder.journal("north")

        assert isinstance(north, Iterator)
        assert [m.payload for m in north] == ["#3", "#2"]
        assert [m.payload for m in recorder.journal("south")] == ["#1"]
        assert list(recorder.journal()) == [
            message(3, site="north"),
            message(1, site="south"),
            BARE_MESSAGE,
            message(2, site="north"),
        ]

    def test_a_long_journal_comes_back_whole_and_in_order(self, recorder: Recorder) -> None:
        for start in range(0, 5_000, 500):
            recorder.append([message(n) for n in range(start, start + 500)])

        assert [m.payload for m in recorder.journal("north")] == [f"#{n}" for n in range(5_000)]

    # Beside a writer thread -------------------------------------------------------------

    def test_reads_run_beside_a_thread_that_appends(self, recorder: Recorder) -> None:
        def write() -> None:
            for n in range(100):
                recorder.append([message(n), reading(n), replace(SNAPSHOT, saved_at=T0 + n)])

        writer = threading.Thread(target=write)
        writer.start()
        seen = [len(recorder.readings()) + len(recorder.snapshots("north")) for _ in range(50)]
        writer.join()

        assert seen == sorted(seen)
        assert len(recorder.messages()) == len(recorder.readings()) == 100
        assert [r.seq for r in recorder.readings()] == list(range(100))

    def test_the_journal_since_a_time_leaves_out_what_came_before(self, recorder: Recorder) -> None:
        recorder.append([message(n) for n in range(10)])

        assert [m.payload for m in recorder.journal("north", since=T0 + 6)] == ["#7", "#8", "#9"]
        assert [m.payload for m in recorder.journal(since=T0 + 8.5)] == ["#9"]

    # Hash chains ------------------------------------------------------------------------

    def test_the_evidence_is_linked_into_chains_that_verify(self, recorder: Recorder) -> None:
        recorder.append([message(1), reading(1), alarm(1), event(1), SESSION, SNAPSHOT, LOGIN])
        recorder.append([message(2, site=None), reading(2, session=None), event(2)])

        rows = list(recorder.chained())

        assert list(verify(rows)) == []
        chains = {(r.table, r.link.chain if r.link else None) for r in rows}
        assert chains == {
            ("messages", "site:north"),
            ("messages", "site:-"),
            ("readings", "session:s1"),
            ("readings", "site:north"),
            ("alarm_transitions", "session:s1"),
            ("events", "session:s1"),
        }
        s1 = [r for r in rows if r.link and r.link.chain == "session:s1"]
        assert [r.link.seq for r in s1 if r.link] == [1, 2, 3, 4]
        assert [type(r.entry).__name__ for r in s1] == [
            "ReadingEntry", "AlarmEntry", "EventEntry", "EventEntry"
        ]  # fmt: skip
        assert s1[0].entry == reading(1)

    def test_the_head_of_a_chain_is_its_last_link(self, recorder: Recorder) -> None:
        assert recorder.head("session:s1") is None
        recorder.append([reading(1), reading(2)])
        recorder.append([reading(3)])

        last = [r.link for r in recorder.chained("session:s1")][-1]
        assert last is not None
        assert recorder.head("session:s1") == (3, last.hash)
        assert [r.link.seq for r in recorder.chained("session:s1") if r.link] == [1, 2, 3]

    def test_a_refused_batch_leaves_no_gap_in_a_chain(self, recorder: Recorder) -> None:
        recorder.append([reading(1)])
        with pytest.raises(RecordError):
            recorder.append([reading(2), replace(READING, seq=2**64)])
        recorder.append([reading(3)])

        rows = list(recorder.chained("session:s1"))
        assert [r.link.seq for r in rows if r.link] == [1, 2]
        assert list(verify(rows)) == []

    def test_chains_come_back_chain_by_chain_in_link_order(self, recorder: Recorder) -> None:
        for n in range(1, 40):
            recorder.append([reading(n, session=f"s{n % 3}"), message(n)])

        rows = list(recorder.chained())
        keys = [(r.link.chain, r.link.seq) for r in rows if r.link]
        assert keys == sorted(keys, key=lambda k: (k[0], k[1]))
        assert len(keys) == 78
        assert list(verify(rows)) == []

    # Retention ---------------------------------------------------------------------------

    def test_a_purge_deletes_whole_sessions_and_records_itself_in_the_site_chain(
        self, recorder: Recorder
    ) -> None:
        recorder.append([message(1), reading(1), alarm(1), event(1), SESSION, BARE_SESSION])
        recorder.append([reading(2, session="s2", chair="c02"), message(2)])
        head = recorder.head("session:s1")
        purged = replace(BARE_EVENT, chair="", ts=T0 + 9, type="RecordPurged",
                         data={"sessions": [{"chain": "session:s1", "seq": 3}]})  # fmt: skip

        recorder.purge(["s1"], purged)

        assert head is not None
        assert recorder.session("s1") == SessionRecord(session=None, readings=[], alarms=[])
        assert [s.id for s in recorder.sessions()] == ["s2"]
        assert recorder.events(session="s1") == []
        assert [r.seq for r in recorder.readings()] == [2]  # s2's reading stays
        assert [m.payload for m in recorder.journal()] == ["#1", "#2"]  # the site chain stays
        assert [e.type for e in recorder.events()] == ["RecordPurged"]
        rows = list(recorder.chained())
        assert list(verify(rows)) == []
        assert {r.link.chain for r in rows if r.link} == {"site:north", "session:s2"}
        assert recorder.head("site:north") == (3, [r.link for r in rows if r.link][-1].hash)

    def test_a_purge_that_cannot_be_recorded_deletes_nothing(self, recorder: Recorder) -> None:
        recorder.append([reading(1), SESSION])
        with pytest.raises(RecordError):
            recorder.purge(["s1"], replace(BARE_EVENT, data={"at": {1, 2}}))
        assert recorder.session("s1").session == SESSION
        assert len(recorder.readings(session="s1")) == 1


def nothing_but_the_login(recorder: Recorder) -> bool:
    """Whether the record holds nothing but the login the test made first."""
    found: list[Any] = [
        recorder.messages(),
        recorder.readings(),
        recorder.alarms(),
        recorder.events(),
        recorder.sessions(),
        recorder.snapshots("north"),
        list(recorder.journal()),
        recorder.session("s1"),
        recorder.login(LOGIN.token_digest, T0),
    ]
    empty = SessionRecord(session=None, readings=[], alarms=[])
    return found == [[], [], [], [], [], [], [], empty, None]

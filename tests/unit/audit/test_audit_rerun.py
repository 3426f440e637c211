"""A stored session run again through the core: the day's record (its journal included, as the
scribe keeps it) gives each session's alarms and recovery again, and a record or journal that
was changed is named."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from audit_day import SITE, T0, Day, recorded

from monitor.audit import SessionNotFound
from monitor.audit.rerun import differences, rerun_session
from monitor.audit.times import utc
from monitor.cli import main
from monitor.domain.clinic import Clinic
from monitor.pipeline.intake import Intake
from monitor.record import (
    AlarmEntry,
    Entry,
    EventEntry,
    MemoryRecorder,
    MessageEntry,
    Recorder,
    SessionEntry,
    SqliteRecorder,
)
from monitor.settings import Settings

SETTINGS = Settings(site=SITE)
TICK_S = SETTINGS.tick_s


def _record(entries: list[Entry]) -> Recorder:
    recorder = MemoryRecorder()
    recorder.append(entries)
    return recorder


def _changed(entries: list[Entry], pick: Callable[[Entry], bool], **values: Any) -> list[Entry]:
    """`entries` with the first one `pick` chooses changed to `values`."""
    index = next(i for i, e in enumerate(entries) if pick(e))
    return [*entries[:index], dataclasses.replace(entries[index], **values), *entries[index + 1 :]]


@pytest.mark.parametrize("which", ["first", "second", "third"])
def test_the_rerun_reproduces_each_session_of_the_day(
    recorder: Recorder, day: Day, which: str
) -> None:
    rerun = rerun_session(recorder, getattr(day, which), SETTINGS)

    assert differences(rerun) == []
    assert [r.entry for r in rerun.alarms] == list(rerun.recorded_alarms)
    assert [r.entry for r in rerun.recovery] == list(rerun.recorded_recovery)
    if which != "third":  # the third is still open, with no alarm and no recovery yet
        assert rerun.recorded_alarms
        assert rerun.recorded_recovery


def test_the_journal_of_the_day_is_in_the_record(recorder: Recorder, day: Day) -> None:
    journal = list(recorder.journal(SITE))

    assert len(journal) > 100
    assert all(m.outcome == "accepted" for m in journal)


def test_an_alarm_transition_changed_in_the_record_is_named(day: Day) -> None:
    def acknowledgement(entry: Entry) -> bool:
        return (
            isinstance(entry, AlarmEntry)
            and entry.alarm == day.acknowledged_sbp
            and entry.state == "acknowledged"
        )

    entries = _changed(day.entries, acknowledgement, acknowledged_by="nurse.bob")

    found = differences(rerun_session(_record(entries), day.first, SETTINGS))

    assert len(found) == 1, found
    assert "sbp_high acknowledged" in found[0]
    assert "acknowledged_by recorded 'nurse.bob', rerun 'nurse.ana'" in found[0]


def test_an_alarm_transition_missing_from_the_record_is_named(day: Day) -> None:
    cleared = next(
        e
        for e in day.entries
        if isinstance(e, AlarmEntry) and e.alarm == day.acknowledged_sbp and e.state == "cleared"
    )
    entries = [e for e in day.entries if e is not cleared]

    found = differences(rerun_session(_record(entries), day.first, SETTINGS))

    assert found == [f"the rerun made sbp_high cleared at {utc(cleared.ts)}, not in the record"]


def test_a_message_dropped_from_the_journal_is_named(day: Day) -> None:
    def acknowledge(entry: Entry) -> bool:
        return isinstance(entry, MessageEntry) and entry.topic.endswith("c01/command")

    dropped = next(e for e in day.entries if acknowledge(e))
    entries = [e for e in day.entries if e is not dropped]

    found = differences(rerun_session(_record(entries), day.first, SETTINGS))

    acknowledged = [line for line in found if "(sbp_high acknowledged at" in line]
    assert any("acknowledged_by recorded 'nurse.ana', rerun None" in line for line in acknowledged)
    # Unacknowledged, the high alarm latched, and the discharge over it was refused.
    assert any("sbp_high cleared" in line and "not made by the rerun" in line for line in found)


def test_a_recovery_update_changed_in_the_record_is_named(day: Day) -> None:
    def recovered(entry: Entry) -> bool:
        return (
            isinstance(entry, EventEntry)
            and entry.session == day.first
            and entry.type == "RecoveryUpdate"
            and entry.data["status"] == "recovered"
        )

    original = next(e for e in day.entries if recovered(e))
    assert isinstance(original, EventEntry)
    data = {**original.data, "recovered_at": original.data["recovered_at"] - 300}
    entries = _changed(day.entries, recovered, data=data)

    found = differences(rerun_session(_record(entries), day.first, SETTINGS))

    assert len(found) == 1, found
    assert found[0].startswith("recovery update")
    assert "recovered_at recorded" in found[0]


def test_an_unknown_session_is_refused(recorder: Recorder) -> None:
    with pytest.raises(SessionNotFound, match="nope"):
        rerun_session(recorder, "nope", SETTINGS)


# Transitions a clock tick makes ---------------------------------------------------------


class LiveWard:
    """A service's core driven by a fake clock whose ticks fall `phase` s after each half
    second (the rerun's ticks fall on them): messages at whole seconds, as a live service with
    its own tick schedule would take them."""

    def __init__(self, phase: float = 0.3) -> None:
        self.intake = Intake(Clinic(), site=SITE, root="clinic")
        self.entries: list[Entry] = []
        self.wall, self.next_tick, self.seq = T0, T0 + phase, 0

    def send(self, leaf: str, body: dict[str, Any]) -> None:
        topic = f"clinic/{SITE}/chair/c01/{leaf}"
        result = self.intake.message(
            topic, json.dumps({"ts": self.wall, **body}).encode(), self.wall
        )
        assert result.outcome.value == "accepted", result.reasons
        self.entries += result.entries

    def reading(self, **vitals: Any) -> None:
        self.seq += 1
        self.send("vitals", {"seq": self.seq, "hr": 72, **vitals})

    def wait(self, seconds: float) -> None:
        """Wall time passes; the service ticks every half second."""
        until = self.wall + seconds
        while self.next_tick <= until:
            self.entries += self.intake.tick(self.next_tick).entries
            self.next_tick += TICK_S
        self.wall = until


def _stale_spo2_session(ward: LiveWard, *, acknowledge_by_id: bool = False) -> str:
    """Admitted; HR and SpO2 every 5 s; then 90 s with HR only (spo2_stale at a tick); SpO2
    back (spo2_stale cleared at a tick); discharged."""
    ward.send("session", {"command": "admit", "patient": "P-7", "by": "nurse.kim"})
    for _ in range(12):
        ward.reading(spo2=98, nibp={"sys": 120, "dia": 80})
        ward.wait(5)
    for _ in range(18):
        ward.reading()
        ward.wait(5)
    if acknowledge_by_id:
        stale = next(e for e in ward.entries if isinstance(e, AlarmEntry))
        ward.send("command", {"command": "acknowledge", "alarm": stale.alarm, "by": "nurse.ana"})
    for _ in range(4):
        ward.reading(spo2=98)
        ward.wait(5)
    ward.send("session", {"command": "discharge", "by": "nurse.kim"})
    return next(e.id for e in ward.entries if isinstance(e, SessionEntry))


def test_transitions_made_at_a_tick_are_reproduced_within_the_ticks_window() -> None:
    ward = LiveWard()
    session = _stale_spo2_session(ward)

    rerun = rerun_session(_record(ward.entries), session, SETTINGS)

    assert [(a.kind, a.state) for a in rerun.recorded_alarms] == [
        ("spo2_stale", "active"),
        ("spo2_stale", "cleared"),
    ]
    raised, cleared = rerun.alarms
    assert raised.tick is not None  # at the tick after 60 s with no SpO2
    assert cleared.tick is None  # by the reading with SpO2 again, exactly
    assert cleared.entry.ts == rerun.recorded_alarms[1].ts
    # The tick's time is in the id: the live service's and the rerun's are not the same.
    assert raised.entry.alarm != rerun.recorded_alarms[0].alarm
    assert raised.entry.ts != rerun.recorded_alarms[0].ts
    assert differences(rerun) == []


def test_a_tick_made_transition_moved_beyond_its_window_is_named() -> None:
    ward = LiveWard()
    session = _stale_spo2_session(ward)
    entries = _changed(
        ward.entries,
        lambda e: isinstance(e, AlarmEntry) and e.state == "active",
        ts=T0 + 30,
    )

    found = differences(rerun_session(_record(entries), session, SETTINGS))

    assert len(found) == 1, found
    assert "spo2_stale active" in found[0]
    assert "outside the rerun's tick window" in found[0]


def test_an_acknowledgement_naming_a_tick_raised_alarm_by_id_is_named() -> None:
    """The rerun's id of an alarm raised at a tick is not the live one, so its core rejects the
    acknowledgement the journal holds: a limit of the record (it keeps no tick times), shown."""
    ward = LiveWard()
    session = _stale_spo2_session(ward, acknowledge_by_id=True)

    rerun = rerun_session(_record(ward.entries), session, SETTINGS)

    assert ("spo2_stale", "acknowledged") in [(a.kind, a.state) for a in rerun.recorded_alarms]
    assert any("spo2_stale acknowledged" in line for line in differences(rerun))


def test_the_command_says_reproduced_or_names_each_difference_and_exits_3(
    day: Day, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "audit.db"
    recorded(SqliteRecorder(db), day).close()
    url = f"sqlite:///{db}"

    assert main(["audit", "rerun", day.first, "--db", url]) == 0
    assert capsys.readouterr().out.startswith("reproduced: the core makes the session's ")
    with sqlite3.connect(db) as by_hand:
        by_hand.execute(
            "UPDATE alarm_transitions SET acknowledged_by = 'nurse.bob' WHERE acknowledged_by = ?",
            ("nurse.ana",),
        )
    assert main(["audit", "rerun", day.first, "--db", url]) == 3
    said = capsys.readouterr().out
    assert said.startswith("DIFFERENT: ")
    assert "acknowledged_by recorded 'nurse.bob', rerun 'nurse.ana'" in said

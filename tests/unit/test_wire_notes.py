"""The contract's `note` and `set_limits` commands (v1.4): what the wire accepts and refuses,
and how the record keeps what a chair made of them."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from monitor.domain.clinic import Clinic
from monitor.domain.commands import AddNote, Admit, SetLimits
from monitor.pipeline.router import Outcome, Refused, Routed, Router
from monitor.pipeline.scribe import Scribe
from monitor.record.base import EventEntry
from monitor.record.memory import MemoryRecorder
from monitor.wire.payloads import MAX_NOTE_CHARS, PayloadError, decode
from monitor.wire.topics import Inbound

T0 = 1_795_000_000.0
TS = "2026-11-21T10:20:00.000Z"


def _command(**fields: Any) -> bytes:
    return json.dumps({"ts": TS, **fields}).encode()


def test_a_note_decodes_to_the_domain_with_its_writer() -> None:
    item = decode(Inbound.COMMAND, _command(command="note", text="BP re-cuffed on left arm",
                                            by="nurse.kim"))  # fmt: skip

    assert isinstance(item, AddNote)
    assert (item.text, item.by) == ("BP re-cuffed on left arm", "nurse.kim")


def test_a_note_may_be_a_thousand_characters_and_no_more() -> None:
    longest = "é" * MAX_NOTE_CHARS
    item = decode(Inbound.COMMAND, _command(command="note", text=longest, by="kim"))
    assert isinstance(item, AddNote)
    assert item.text == longest

    with pytest.raises(PayloadError, match="at most 1000 characters"):
        decode(Inbound.COMMAND, _command(command="note", text=longest + "x", by="kim"))


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("patient \u202eanxious", "RIGHT-TO-LEFT OVERRIDE"),
        ("dimmed\u200blights", "ZERO WIDTH SPACE"),
        ("line one\nline two", "U+000A"),
        ("bell \x07", "U+0007"),
        ("   ", "is blank"),
        ("", "at least 1 character"),
    ],
)
def test_a_note_with_unprintable_or_no_text_is_refused(text: str, why: str) -> None:
    with pytest.raises(PayloadError, match=re.escape(why)):
        decode(Inbound.COMMAND, _command(command="note", text=text, by="kim"))


@pytest.mark.parametrize(
    "fields",
    [
        {"command": "note", "text": "fine"},  # no by
        {"command": "note", "text": 42, "by": "kim"},
        {"command": "set_limits", "limits": {"sbp_high": 170}},  # no by
        {"command": "set_limits", "limits": {}, "by": "kim"},
        {"command": "set_limits", "limits": {"sbp_high": "170"}, "by": "kim"},
        {"command": "set_limits", "limits": {"SBP High": 170}, "by": "kim"},
        {"command": "set_limits", "limits": [170], "by": "kim"},
    ],
)
def test_a_command_without_its_person_or_with_bad_fields_is_malformed(
    fields: dict[str, Any],
) -> None:
    with pytest.raises(PayloadError):
        decode(Inbound.COMMAND, _command(**fields))


def test_set_limits_decodes_to_the_domain_by_name() -> None:
    item = decode(Inbound.COMMAND, _command(command="set_limits", by="dr.lee",
                                            limits={"sbp_high": 170, "hr_high": 110.5}))  # fmt: skip

    assert item == SetLimits(ts=item.ts, limits={"sbp_high": 170.0, "hr_high": 110.5}, by="dr.lee")


def test_both_come_in_on_the_command_topic() -> None:
    router = Router(site="north", root="clinic")
    topic = "clinic/north/chair/c01/command"

    note = router.route(topic, _command(command="note", text="ok", by="kim"))
    bad = router.route(topic, _command(command="note", text="ok"))

    assert isinstance(note, Routed)
    assert isinstance(note.item, AddNote)
    assert isinstance(bad, Refused)
    assert bad.outcome is Outcome.MALFORMED
    assert "by" in bad.reason


def test_the_record_keeps_the_note_and_the_change_by_their_names() -> None:
    clinic, recorder = Clinic(), MemoryRecorder()
    scribe = Scribe(clinic, site="north")
    reports = clinic.handle("c01", Admit(T0, "P-0042", by="nurse.kim"), wall=T0)
    reports += clinic.handle("c01", AddNote(T0 + 10, "anxious", "nurse.kim"), wall=T0 + 10)
    reports += clinic.handle("c01", SetLimits(T0 + 20, {"sbp_high": 170}, "dr.lee"), wall=T0 + 20)
    recorder.append(scribe.reports(reports, T0 + 20))
    session = clinic.chair("c01").session_ref

    (note,) = recorder.events(type="NoteAdded")
    (change,) = recorder.events(session=session, type="LimitsChanged")

    assert isinstance(note, EventEntry)
    assert note.session == session
    assert (note.data["text"], note.data["by"]) == ("anxious", "nurse.kim")
    assert json.loads(json.dumps(change.data["changes"])) == {"sbp_high": [180.0, 170.0]}
    assert change.data["by"] == "dr.lee"

"""The router: topic and payload to a domain input, or a refusal with an outcome and a reason."""

from __future__ import annotations

import json

import pytest

from monitor.domain.clinic import PagerAnswer
from monitor.domain.commands import Acknowledge, Admit, DeviceReport
from monitor.domain.vitals import Reading
from monitor.pipeline.router import Outcome, Refused, Routed, Router, chair_of
from monitor.wire.payloads import MAX_PAYLOAD_BYTES
from monitor.wire.topics import Inbound

T0 = 1_795_000_000.0
ROUTER = Router(site="north", root="clinic")


def _json(body: dict[str, object]) -> bytes:
    return json.dumps(body).encode()


@pytest.mark.parametrize(
    ("topic", "payload", "kind", "chair", "item"),
    [
        ("clinic/north/chair/c01/vitals", {"ts": T0, "hr": 72}, Inbound.VITALS, "c01", Reading),
        ("clinic/north/chair/c02/device", {"state": "offline"}, Inbound.DEVICE, "c02",
         DeviceReport),
        ("clinic/north/chair/c03/session", {"ts": T0, "command": "admit", "patient": "P-1"},
         Inbound.SESSION, "c03", Admit),
        ("clinic/north/chair/c04/command",
         {"ts": T0, "command": "acknowledge", "alarm": "sbp_high", "by": "kim"},
         Inbound.COMMAND, "c04", Acknowledge),
    ],
)  # fmt: skip
def test_a_chair_message_is_routed_to_its_chair_as_a_domain_input(
    topic: str, payload: dict[str, object], kind: Inbound, chair: str, item: type
) -> None:
    routed = ROUTER.route(topic, _json(payload))

    assert isinstance(routed, Routed)
    assert (routed.kind, routed.chair) == (kind, chair)
    assert isinstance(routed.item, item)


def test_a_pager_reply_is_routed_to_the_site_with_its_pager() -> None:
    body = {"ts": T0, "page": "P1", "reply": "decline"}

    routed = ROUTER.route("clinic/north/pager/kim/reply", _json(body))

    assert routed == Routed(Inbound.PAGER_REPLY, None, PagerAnswer(T0, "kim", "P1", False))


@pytest.mark.parametrize(
    ("topic", "payload", "outcome", "reason"),
    [
        ("clinic/north/chair/c01/vitals", b"x" * (MAX_PAYLOAD_BYTES + 1), Outcome.OVERSIZED,
         "exceeds"),
        ("clinic/north/chair/c01/blood", b"{}", Outcome.BAD_TOPIC, "no inbound message"),
        ("other/north/chair/c01/vitals", b"{}", Outcome.BAD_TOPIC, "is not under"),
        ("clinic/south/chair/c01/vitals", b'{"ts": 1, "hr": 70}', Outcome.OTHER_SITE,
         "not site north"),
        ("clinic/north/chair/c01/vitals", b"{not json", Outcome.MALFORMED, "JSON"),
        ("clinic/north/chair/c01/vitals", b'{"ts": "soon", "hr": 70}', Outcome.MALFORMED, "ts"),
        ("clinic/north/pager/kim/reply", b'{"ts": 1, "page": "P1", "reply": "maybe"}',
         Outcome.MALFORMED, "reply"),
    ],
)  # fmt: skip
def test_a_bad_message_is_refused_with_its_outcome_and_reason(
    topic: str, payload: bytes, outcome: Outcome, reason: str
) -> None:
    refused = ROUTER.route(topic, payload)

    assert isinstance(refused, Refused)
    assert refused.outcome is outcome
    assert reason in refused.reason


def test_a_refusal_names_the_kind_when_the_topic_said_it() -> None:
    refused = ROUTER.route("clinic/north/chair/c01/session", b"[]")

    assert isinstance(refused, Refused)
    assert refused.kind is Inbound.SESSION


@pytest.mark.parametrize(
    ("topic", "chair"),
    [
        ("clinic/north/chair/c01/vitals", "c01"),
        ("clinic/north/chair/" + "x" * 100 + "/vitals", "x" * 64),
        ("clinic/north/pager/kim/reply", None),
        ("elsewhere", None),
    ],
)
def test_the_journal_names_the_chair_even_of_a_bad_topic(topic: str, chair: str | None) -> None:
    assert chair_of(topic, "clinic") == chair


@pytest.mark.parametrize("leaf", ["vitals", "infusion", "session", "command"])
def test_a_retained_reading_or_command_is_refused_as_retained(leaf: str) -> None:
    refused = ROUTER.route(f"clinic/north/chair/c01/{leaf}", b"{}", retained=True)

    assert isinstance(refused, Refused)
    assert refused.outcome is Outcome.RETAINED
    assert "only device status is retained" in refused.reason


def test_a_retained_pager_reply_is_refused_and_a_retained_device_status_taken() -> None:
    reply = ROUTER.route("clinic/north/pager/kim/reply", b"{}", retained=True)
    device = ROUTER.route("clinic/north/chair/c01/device", b'{"state": "online"}', retained=True)

    assert isinstance(reply, Refused)
    assert reply.outcome is Outcome.RETAINED
    assert isinstance(device, Routed)


ADMIT = {"ts": T0, "command": "admit", "patient": "P-1"}


@pytest.mark.parametrize(
    ("leaf", "body", "why"),
    [
        ("vitals", {"ts": T0, "seq": 2**63, "hr": 70}, "seq: Input should be less than or equal"),
        ("vitals", {"ts": T0, "seq": -1, "hr": 70}, "seq: Input should be greater than or equal"),
        ("vitals", {"ts": T0, "technical": ["spo2_motion,leads_off"]}, "holds a comma"),
        ("vitals", {"ts": T0, "technical": ["leads\u200boff"]}, "U+200B ZERO WIDTH SPACE"),
        ("session", {**ADMIT, "patient": "P-1\u202e2-P"}, "U+202E RIGHT-TO-LEFT OVERRIDE (Cf)"),
        ("session", {**ADMIT, "patient": "P\u200d1"}, "U+200D ZERO WIDTH JOINER"),
        ("session", {**ADMIT, "patient": "P\x851"}, "(Cc)"),
        ("session", {**ADMIT, "patient": "P\u20281"}, "LINE SEPARATOR (Zl)"),
        ("session", {**ADMIT, "patient": "P\u20291"}, "PARAGRAPH SEPARATOR (Zp)"),
        ("session", {**ADMIT, "patient": "P\ue0001"}, "(Co)"),
        ("session", {**ADMIT, "patient": "   "}, "is blank"),
        ("session", {**ADMIT, "patient": "P" * 65}, "at most 64 characters"),
        ("session", {**ADMIT, "by": "kim\u2066"}, "U+2066"),
        ("session", {**ADMIT, "limits": {"Sbp High": 170}}, "String should match pattern"),
        ("session", {**ADMIT, "limits": {f"l{i}": 1 for i in range(31)}}, "at most 30 items"),
        ("session", {"ts": T0, "command": "discharge", "by": "\ufeffkim"}, "U+FEFF"),
        ("command", {"ts": T0, "command": "acknowledge", "alarm": "A1", "by": "k\u200fim"},
         "RIGHT-TO-LEFT MARK"),
        ("command", {"ts": T0, "command": "acknowledge", "alarm": "A\u00ad1", "by": "kim"},
         "SOFT HYPHEN"),
        ("device", {"state": "online", "device": "bm\u202d12"}, "U+202D"),
        ("infusion", {"ts": T0, "event": "start", "drug": "keta\u200cmine"}, "U+200C"),
    ],
)  # fmt: skip
def test_a_value_the_record_cannot_hold_or_a_label_that_can_show_as_another_is_malformed(
    leaf: str, body: dict[str, object], why: str
) -> None:
    refused = ROUTER.route(f"clinic/north/chair/c01/{leaf}", _json(body))

    assert isinstance(refused, Refused)
    assert refused.outcome is Outcome.MALFORMED
    assert why in refused.reason


@pytest.mark.parametrize(
    "patient", ["P-0042", "Zoë Ångström", "患者 7", "P 42 (2nd)", "x" * 64, "Ω-1 ½"]
)
def test_printable_labels_in_any_script_are_taken(patient: str) -> None:
    routed = ROUTER.route("clinic/north/chair/c01/session", _json({**ADMIT, "patient": patient}))

    assert isinstance(routed, Routed)
    assert isinstance(routed.item, Admit)
    assert routed.item.patient == patient


def test_the_largest_sequence_number_the_record_holds_is_taken() -> None:
    routed = ROUTER.route("clinic/north/chair/c01/vitals", _json({"ts": T0, "seq": 2**63 - 1,
                                                                   "hr": 70}))  # fmt: skip

    assert isinstance(routed, Routed)
    assert isinstance(routed.item, Reading)
    assert routed.item.seq == 2**63 - 1


def test_a_refusal_of_a_huge_topic_shows_only_its_start_and_length() -> None:
    topic = "clinic/north/chair/" + "c" * 60_000 + "/vitals"

    refused = ROUTER.route(topic, _json({"ts": T0, "hr": 70}))

    assert isinstance(refused, Refused)
    assert refused.outcome is Outcome.BAD_TOPIC
    assert len(refused.reason) < 300
    assert "60,000 characters" in refused.reason


def test_a_refusal_of_a_huge_key_shows_only_its_start() -> None:
    body = {**ADMIT, "limits": {"k" * 50_000: 1}}

    refused = ROUTER.route("clinic/north/chair/c01/session", _json(body))

    assert isinstance(refused, Refused)
    assert len(refused.reason) < 300

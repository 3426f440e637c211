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

"""The wire layer of contract v1 (monitor.wire): topics, times, inbound payloads, outbound models.

Table-driven: each table row is one message as a device, a dashboard or a pager would send it,
with what the service must make of it. Inbound payloads go through `decode`/`validate` exactly as
the MQTT adapter calls them; outbound messages are built from a real chair driven by decoded
inputs, so a test here covers the whole way from bytes in to bytes out.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

import pytest

from monitor.domain.alarms import AlarmKind
from monitor.domain.chair import Chair
from monitor.domain.clinic import Clinic, InputRefused
from monitor.domain.commands import (
    Acknowledge,
    Admit,
    DeviceReport,
    Discharge,
    InfusionEvent,
    Input,
    PauseAudio,
)
from monitor.domain.events import AlarmTransition, Event, RecoveryUpdate
from monitor.domain.limits import Limits
from monitor.domain.session import Step
from monitor.domain.vitals import Reading, Vital
from monitor.wire.outbound import (
    AlarmOut,
    ChairStateOut,
    PageOut,
    RecoveryOut,
    ServiceStatusOut,
    alarm_out,
    chair_state,
    recovery_out,
)
from monitor.wire.payloads import (
    MAX_PAYLOAD_BYTES,
    PagerReplyIn,
    PayloadError,
    decode,
    format_event_time,
    parse_event_time,
    validate,
)
from monitor.wire.topics import (
    CHAIR_INBOUND,
    Inbound,
    InboundTopic,
    Outbound,
    TopicError,
    chair_topic,
    check_name,
    check_root,
    pager_topic,
    parse_inbound,
    status_topic,
    subscriptions,
)

T0 = 1_795_256_102.0  # 2026-11-21T10:15:02Z: the time of DESIGN.md's example reading
ISO0 = "2026-11-21T10:15:02.000Z"
ALARM_ID = "01M7YSTEDGWR1S9RZS7XK7W18Q"
DESIGN_READING = {
    "ts": ISO0,
    "seq": 1234,
    "hr": 78,
    "spo2": 97,
    "nibp": {"sys": 134, "dia": 86, "map": 102},
    "technical": ["spo2_motion"],
}


def raw(payload: Any) -> bytes:
    """A payload as MQTT bytes: bytes as they are, anything else as JSON."""
    return payload if isinstance(payload, bytes) else json.dumps(payload).encode()


def typed(value: Any) -> Any:
    """`value` with the type of every part spelled out, so 78 != 78.0 and "sbp" != Vital.SBP."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return (
            type(value),
            [(f.name, typed(getattr(value, f.name))) for f in dataclasses.fields(value)],
        )
    if isinstance(value, dict):
        return (dict, sorted(((typed(k), typed(v)) for k, v in value.items()), key=repr))
    if isinstance(value, frozenset | set):
        return (type(value), sorted((typed(v) for v in value), key=repr))
    return (type(value), value)


# Topics ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("topic", "root", "expected"),
    [
        ("clinic/north/chair/c03/vitals", "clinic", InboundTopic("north", Inbound.VITALS, "c03")),
        ("clinic/north/chair/c03/device", "clinic", InboundTopic("north", Inbound.DEVICE, "c03")),
        (
            "clinic/north/chair/c03/infusion",
            "clinic",
            InboundTopic("north", Inbound.INFUSION, "c03"),
        ),
        ("clinic/north/chair/c03/session", "clinic", InboundTopic("north", Inbound.SESSION, "c03")),
        ("clinic/north/chair/c03/command", "clinic", InboundTopic("north", Inbound.COMMAND, "c03")),
        (
            "clinic/north/pager/nurse-a/reply",
            "clinic",
            InboundTopic("north", Inbound.PAGER_REPLY, pager="nurse-a"),
        ),
        (
            "acme/clinics/Site_2/chair/C-12/vitals",
            "acme/clinics",
            InboundTopic("Site_2", Inbound.VITALS, "C-12"),
        ),
        (
            f"clinic/{'s' * 32}/chair/{'c' * 32}/vitals",
            "clinic",
            InboundTopic("s" * 32, Inbound.VITALS, "c" * 32),
        ),
        ("clinic/1/chair/-/session", "clinic", InboundTopic("1", Inbound.SESSION, "-")),
    ],
)
def test_parse_inbound_accepts_every_contract_topic(
    topic: str, root: str, expected: InboundTopic
) -> None:
    assert parse_inbound(topic, root=root) == expected


@pytest.mark.parametrize(
    ("topic", "message"),
    [
        # Wrong root
        ("hospital/north/chair/c03/vitals", r"is not under 'clinic'"),
        ("clinicx/north/chair/c03/vitals", r"is not under 'clinic'"),
        ("/clinic/north/chair/c03/vitals", r"is not under 'clinic'"),
        ("Clinic/north/chair/c03/vitals", r"is not under 'clinic'"),
        ("clinic", r"is not under 'clinic'"),
        ("", r"is not under 'clinic'"),
        # Wrong depth
        ("clinic/north/chair/c03", r"does not have the form clinic/SITE/chair/CHAIR/KIND"),
        ("clinic/north/chair/c03/vitals/extra", r"does not have the form"),
        ("clinic/north/chair/c03/vitals/", r"does not have the form"),
        ("clinic/north/monitor/status", r"does not have the form"),
        ("clinic/north/pager/nurse-a", r"does not have the form"),
        ("clinic/", r"does not have the form"),
        # Invalid site, chair or pager names
        ("clinic//chair/c03/vitals", r"site '' must match \[A-Za-z0-9_-\]\{1,32\}"),
        ("clinic/no.rth/chair/c03/vitals", r"site 'no\.rth' must match"),
        (f"clinic/{'s' * 33}/chair/c03/vitals", r"site 's{33}' must match"),
        ("clinic/+/chair/c03/vitals", r"site '\+' must match"),
        ("clinic/north/chair/#/vitals", r"chair '#' must match"),
        ("clinic/north/chair/+/vitals", r"chair '\+' must match"),
        ("clinic/north/chair//vitals", r"chair '' must match"),
        ("clinic/north/chair/c 03/vitals", r"chair 'c 03' must match"),
        ("clinic/north/chair/c\u00e903/vitals", r"chair 'c\u00e903' must match"),
        (f"clinic/north/chair/{'c' * 33}/vitals", r"chair 'c{33}' must match"),
        ("clinic/north/pager/nurse.a/reply", r"pager 'nurse\.a' must match"),
        # Unknown leaf or group
        ("clinic/north/chair/c03/state", r"no inbound message chair/\.\.\./state in contract v1"),
        ("clinic/north/chair/c03/alarm", r"no inbound message chair/\.\.\./alarm"),
        ("clinic/north/chair/c03/recovery", r"no inbound message chair/\.\.\./recovery"),
        ("clinic/north/chair/c03/reply", r"no inbound message chair/\.\.\./reply"),
        ("clinic/north/chair/c03/VITALS", r"no inbound message chair/\.\.\./VITALS"),
        ("clinic/north/pager/nurse-a/vitals", r"no inbound message pager/\.\.\./vitals"),
        ("clinic/north/bed/c03/vitals", r"no inbound message bed/\.\.\./vitals"),
    ],
)
def test_parse_inbound_refuses_with_the_reason(topic: str, message: str) -> None:
    with pytest.raises(TopicError, match=message):
        parse_inbound(topic, root="clinic")


def test_parse_inbound_honours_a_multi_level_root() -> None:
    with pytest.raises(TopicError, match="is not under 'acme/clinics'"):
        parse_inbound("clinic/north/chair/c03/vitals", root="acme/clinics")


def test_topic_error_is_a_value_error_naming_the_topic() -> None:
    with pytest.raises(ValueError, match=r"topic 'clinic/north/chair/c03/state'"):
        parse_inbound("clinic/north/chair/c03/state", root="clinic")


def test_subscriptions_are_one_filter_per_inbound_kind() -> None:
    assert subscriptions("clinic", "north") == [
        "clinic/north/chair/+/vitals",
        "clinic/north/chair/+/device",
        "clinic/north/chair/+/infusion",
        "clinic/north/chair/+/session",
        "clinic/north/chair/+/command",
        "clinic/north/pager/+/reply",
        "clinic/north/pager/+/handover",
    ]
    assert subscriptions("acme/clinics", "s1")[0] == "acme/clinics/s1/chair/+/vitals"


def test_every_subscription_matches_topics_parse_inbound_accepts() -> None:
    kinds = [
        parse_inbound(f.replace("+", "x1"), root="clinic").kind
        for f in subscriptions("clinic", "north")
    ]
    assert sorted(kinds) == sorted(Inbound)


def test_outbound_topic_builders() -> None:
    assert chair_topic("clinic", "north", "c03", Outbound.STATE) == "clinic/north/chair/c03/state"
    assert chair_topic("clinic", "north", "c03", Outbound.ALARM) == "clinic/north/chair/c03/alarm"
    assert (
        chair_topic("clinic", "north", "c03", Outbound.RECOVERY)
        == "clinic/north/chair/c03/recovery"
    )
    assert pager_topic("clinic", "north", "nurse-a") == "clinic/north/pager/nurse-a"
    assert status_topic("acme/clinics", "north") == "acme/clinics/north/monitor/status"


@pytest.mark.parametrize("kind", CHAIR_INBOUND)
def test_chair_topic_of_an_inbound_kind_parses_back(kind: Inbound) -> None:
    topic = chair_topic("clinic", "north", "c03", kind)
    assert parse_inbound(topic, root="clinic") == InboundTopic("north", kind, "c03")


@pytest.mark.parametrize("kind", list(Outbound))
def test_outbound_topics_are_not_inbound(kind: Outbound) -> None:
    with pytest.raises(TopicError):
        parse_inbound(chair_topic("clinic", "north", "c03", kind), root="clinic")


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("a", True),
        ("c03", True),
        ("A-Z_09", True),
        ("x" * 32, True),
        ("", False),
        ("x" * 33, False),
        ("c03\n", False),
        ("c/3", False),
        ("+", False),
        ("#", False),
        ("c\u00e9", False),
        (" c03", False),
    ],
)
def test_check_name(name: str, ok: bool) -> None:
    if ok:
        assert check_name(name, "chair") == name
    else:
        with pytest.raises(ValueError, match=r"chair .* must match \[A-Za-z0-9_-\]\{1,32\}"):
            check_name(name, "chair")


@pytest.mark.parametrize(
    ("root", "ok"),
    [
        ("clinic", True),
        ("acme/clinics", True),
        ("a/b/c", True),
        ("", False),
        ("/clinic", False),
        ("clinic/", False),
        ("clinic//x", False),
        ("clinic/+", False),
        ("clinic/#", False),
        ("cl inic", False),
    ],
)
def test_check_root(root: str, ok: bool) -> None:
    if ok:
        assert check_root(root) == root
    else:
        with pytest.raises(ValueError, match="topic root"):
            check_root(root)


# Time -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("2026-11-21T10:15:02.000Z", T0),
        ("2026-11-21T10:15:02Z", T0),
        ("2026-11-21T10:15:02+00:00", T0),
        ("2026-11-21T11:15:02+01:00", T0),
        ("2026-11-21T04:45:02-05:30", T0),
        ("2026-11-22T00:15:02+14:00", T0),
        ("2026-11-21T10:15:02.5Z", T0 + 0.5),
        ("2026-11-21T10:15:02.250Z", T0 + 0.25),
        ("2026-11-21T10:15:02.123456Z", T0 + 0.123456),
        ("2026-11-21T11:15:02.75+01:00", T0 + 0.75),
        ("1970-01-01T00:00:00Z", 0.0),
        (1795256102, T0),
        (1795256102.25, T0 + 0.25),
        (0, 0.0),
        (7_258_118_400, 7_258_118_400.0),
    ],
)
def test_parse_event_time_accepts(value: object, seconds: float) -> None:
    parsed = parse_event_time(value)
    assert type(parsed) is float
    assert parsed == pytest.approx(seconds, abs=1e-6)


@pytest.mark.parametrize(
    "value",
    ["2026-11-21t10:15:02z", "2026-11-21T10:15:02z", "2026-11-21t10:15:02.000Z"],
)
def test_parse_event_time_accepts_rfc3339_lower_case_t_and_z(value: str) -> None:
    # RFC 3339 section 5.6: "T" and "Z" may alternatively be lower case.
    assert parse_event_time(value) == T0


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2026-11-21T10:15:02", r"has no zone: add Z or \+hh:mm"),
        ("2026-11-21T10:15:02.000", r"has no zone"),
        ("2026-11-21", r"is not RFC 3339"),
        ("yesterday", r"'yesterday' is not RFC 3339"),
        ("", r"is not RFC 3339"),
        ("1795256102", r"'1795256102' is not RFC 3339"),
        ("2026-11-21T25:00:00Z", r"is not RFC 3339"),
        ("2026-02-30T10:00:00Z", r"is not RFC 3339"),
        (1_795_256_102_000, r"not epoch seconds \(milliseconds\? divide by 1000\)"),
        (7_258_118_400.5, r"not epoch seconds"),
        (-1, r"not epoch seconds"),
        (float("nan"), r"not epoch seconds"),
        (float("inf"), r"not epoch seconds"),
        (True, r"not a boolean"),
        (False, r"not a boolean"),
        (None, r"RFC 3339 time with a zone or epoch seconds"),
        ([T0], r"RFC 3339 time with a zone or epoch seconds"),
        ({"ts": T0}, r"RFC 3339 time with a zone or epoch seconds"),
        # An integer too large for a float: valid JSON, must be refused like any other.
        pytest.param(10**400, r"not epoch seconds", id="int-1e400"),
    ],
)
def test_parse_event_time_refuses_with_the_reason(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_event_time(value)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (T0, "2026-11-21T10:15:02.000Z"),
        (T0 + 0.5, "2026-11-21T10:15:02.500Z"),
        (T0 + 0.001, "2026-11-21T10:15:02.001Z"),
        (0.0, "1970-01-01T00:00:00.000Z"),
        (7_258_118_400.0, "2200-01-01T00:00:00.000Z"),
    ],
)
def test_format_event_time_is_utc_with_milliseconds(seconds: float, text: str) -> None:
    assert format_event_time(seconds) == text


@pytest.mark.parametrize(
    "seconds", [T0, T0 + 0.001, T0 + 0.999, T0 + 59.5, 0.0, 1.0, 951_782_400.123, 4_102_444_800.0]
)
def test_event_times_round_trip_at_millisecond_precision(seconds: float) -> None:
    text = format_event_time(seconds)
    assert text.endswith("Z")
    assert parse_event_time(text) == seconds
    assert format_event_time(parse_event_time(text)) == text


# Inbound payloads: good ones ------------------------------------------------------------------

GOOD: list[tuple[str, Inbound, Any, Input]] = [
    (
        "design-reading",
        Inbound.VITALS,
        DESIGN_READING,
        Reading(
            ts=T0,
            seq=1234,
            hr=78.0,
            spo2=97.0,
            sbp=134.0,
            dbp=86.0,
            map=102.0,
            technical=frozenset({"spo2_motion"}),
        ),
    ),
    (
        "hr-only-epoch-float",
        Inbound.VITALS,
        {"ts": T0 + 0.25, "hr": 61.5},
        Reading(T0 + 0.25, hr=61.5),
    ),
    (
        "spo2-only-offset",
        Inbound.VITALS,
        {"ts": "2026-11-21T11:15:02+01:00", "spo2": 95},
        Reading(T0, spo2=95.0),
    ),
    (
        "cuff-without-map",
        Inbound.VITALS,
        {"ts": 1795256102, "nibp": {"sys": 120, "dia": 80}},
        Reading(T0, sbp=120.0, dbp=80.0),
    ),
    (
        "technical-only",
        Inbound.VITALS,
        {"ts": ISO0, "technical": ["spo2_probe_off", "leads_off"]},
        Reading(T0, technical=frozenset({"spo2_probe_off", "leads_off"})),
    ),
    # Impossible but well-formed values pass the wire: the domain records them as artefacts.
    ("artefact-zero", Inbound.VITALS, {"ts": ISO0, "hr": 0, "seq": 0}, Reading(T0, seq=0, hr=0.0)),
    ("artefact-negative", Inbound.VITALS, {"ts": ISO0, "hr": -5}, Reading(T0, hr=-5.0)),
    ("explicit-nulls", Inbound.VITALS, {"ts": ISO0, "hr": 70, "spo2": None}, Reading(T0, hr=70.0)),
    (
        "device-online",
        Inbound.DEVICE,
        {"ts": ISO0, "state": "online", "device": "bm-12"},
        DeviceReport(T0, online=True, device="bm-12"),
    ),
    ("device-will-json", Inbound.DEVICE, {"state": "offline"}, DeviceReport(None, online=False)),
    ("device-bare-offline", Inbound.DEVICE, b"offline", DeviceReport(None, online=False)),
    ("device-bare-online", Inbound.DEVICE, b"online", DeviceReport(None, online=True)),
    ("device-bare-padded", Inbound.DEVICE, b" offline\r\n", DeviceReport(None, online=False)),
    ("device-json-string", Inbound.DEVICE, b'"offline"', DeviceReport(None, online=False)),
    (
        "infusion-start",
        Inbound.INFUSION,
        {
            "ts": ISO0,
            "event": "start",
            "drug": "ketamine",
            "dose_mg_per_kg": 0.5,
            "planned_minutes": 40,
        },
        InfusionEvent(T0, Step.START, drug="ketamine", dose_mg_per_kg=0.5, planned_minutes=40.0),
    ),
    (
        "infusion-pause",
        Inbound.INFUSION,
        {"ts": ISO0, "event": "pause"},
        InfusionEvent(T0, Step.PAUSE),
    ),
    (
        "infusion-resume",
        Inbound.INFUSION,
        {"ts": ISO0, "event": "resume"},
        InfusionEvent(T0, Step.RESUME),
    ),
    ("infusion-stop", Inbound.INFUSION, {"ts": T0, "event": "stop"}, InfusionEvent(T0, Step.STOP)),
    (
        "admit-full",
        Inbound.SESSION,
        {
            "ts": ISO0,
            "command": "admit",
            "patient": "P-0042",
            "weight_kg": 72.5,
            "baseline": {"sbp": 128, "dbp": 82, "hr": 70, "spo2": 98},
            "limits": {"sbp_high": 170, "recovery_readings": 3},
        },
        Admit(
            T0,
            patient="P-0042",
            weight_kg=72.5,
            baseline={Vital.SBP: 128.0, Vital.DBP: 82.0, Vital.HR: 70.0, Vital.SPO2: 98.0},
            limits={"sbp_high": 170.0, "recovery_readings": 3.0},
        ),
    ),
    (
        "admit-cuff-aliases",
        Inbound.SESSION,
        {"ts": ISO0, "command": "admit", "patient": "P-0042", "baseline": {"sys": 128, "dia": 82}},
        Admit(T0, patient="P-0042", baseline={Vital.SBP: 128.0, Vital.DBP: 82.0}),
    ),
    (
        "admit-minimal",
        Inbound.SESSION,
        {"ts": ISO0, "command": "admit", "patient": "P-0042"},
        Admit(T0, patient="P-0042"),
    ),
    ("discharge", Inbound.SESSION, {"ts": ISO0, "command": "discharge"}, Discharge(T0)),
    (
        "acknowledge-by-id",
        Inbound.COMMAND,
        {"ts": ISO0, "command": "acknowledge", "alarm": ALARM_ID, "by": "nurse.a"},
        Acknowledge(T0, alarm=ALARM_ID, by="nurse.a"),
    ),
    (
        "acknowledge-by-kind",
        Inbound.COMMAND,
        {"ts": ISO0, "command": "acknowledge", "alarm": "sbp_high", "by": "Nurse Ann"},
        Acknowledge(T0, alarm="sbp_high", by="Nurse Ann"),
    ),
    (
        "pause-audio",
        Inbound.COMMAND,
        {"ts": ISO0, "command": "pause_audio", "seconds": 120, "by": "nurse.a"},
        PauseAudio(T0, seconds=120.0, by="nurse.a"),
    ),
]


@pytest.mark.parametrize(
    ("kind", "payload", "expected"), [g[1:] for g in GOOD], ids=[g[0] for g in GOOD]
)
def test_decode_good_payloads(kind: Inbound, payload: Any, expected: Input) -> None:
    assert typed(decode(kind, raw(payload))) == typed(expected)


EXTRAS = {"firmware": "2.1", "vendor": {"model": "X", "channels": [1, 2, [3]]}, "ts_local": None}


@pytest.mark.parametrize(
    ("kind", "payload", "expected"),
    [g[1:] for g in GOOD if isinstance(g[2], dict)],
    ids=[g[0] for g in GOOD if isinstance(g[2], dict)],
)
def test_unknown_extra_fields_are_ignored(kind: Inbound, payload: Any, expected: Input) -> None:
    with_extras = {**EXTRAS, **payload}
    for nested in ("nibp", "baseline"):
        if isinstance(with_extras.get(nested), dict):
            with_extras[nested] = {**with_extras[nested], "cuff": "adult"}
    assert typed(decode(kind, raw(with_extras))) == typed(expected)


def test_pager_reply_validates_but_does_not_go_to_a_chair() -> None:
    payload = raw({"ts": ISO0, "page": "PG-1", "reply": "decline", "battery": 80})
    model = validate(Inbound.PAGER_REPLY, payload)
    assert model == PagerReplyIn(ts=T0, page="PG-1", reply="decline")
    with pytest.raises(PayloadError, match="reply messages do not go to a chair"):
        decode(Inbound.PAGER_REPLY, payload)


# Inbound payloads: bad ones --------------------------------------------------------------------

NAN_HR = b'{"ts": 1795256102, "hr": NaN}'
DROP = object()  # a field left out of a payload


def reading(**fields: Any) -> dict[str, Any]:
    return {"ts": ISO0, **fields}


def infusion(event: str, **fields: Any) -> dict[str, Any]:
    return {"ts": ISO0, "event": event, **fields}


def admit(**fields: Any) -> dict[str, Any]:
    return {"ts": ISO0, "command": "admit", "patient": "P-0042", **fields}


def ack(**fields: Any) -> dict[str, Any]:
    body = {"ts": ISO0, "command": "acknowledge", "alarm": "sbp_high", "by": "nurse.a", **fields}
    return {k: v for k, v in body.items() if v is not DROP}


def pause(seconds: Any) -> dict[str, Any]:
    body = {"ts": ISO0, "command": "pause_audio", "seconds": seconds, "by": "nurse.a"}
    return {k: v for k, v in body.items() if v is not DROP}


V, D, INF, S, C, R = (
    Inbound.VITALS,
    Inbound.DEVICE,
    Inbound.INFUSION,
    Inbound.SESSION,
    Inbound.COMMAND,
    Inbound.PAGER_REPLY,
)
BAD: list[tuple[str, Inbound, Any, str]] = [
    # Wrong types in a reading
    ("hr-fast", V, reading(hr="fast"), r"^hr: Input should be a valid number"),
    ("hr-numeric-string", V, reading(hr="78"), r"^hr: "),
    ("hr-true", V, reading(hr=True), r"^hr: Input should be a valid number"),
    ("hr-nan", V, NAN_HR, r"^hr: Input should be a finite number"),
    ("hr-inf", V, b'{"ts": 1795256102, "hr": Infinity}', r"^hr: .*finite"),
    ("hr-minus-inf", V, b'{"ts": 1795256102, "hr": -Infinity}', r"^hr: .*finite"),
    ("hr-1e400", V, b'{"ts": 1795256102, "hr": 1e400}', r"^hr: .*finite"),
    ("hr-list", V, reading(hr=[78]), r"^hr: "),
    ("spo2-object", V, reading(spo2={"value": 97}), r"^spo2: "),
    ("nibp-text", V, reading(nibp="134/86"), r"^nibp: "),
    ("nibp-sys-text", V, reading(nibp={"sys": "134", "dia": 86}), r"^nibp\.sys: "),
    ("seq-float", V, reading(hr=70, seq=1.5), r"^seq: .*integer"),
    ("seq-negative", V, reading(hr=70, seq=-1), r"^seq: .*greater than"),
    ("seq-text", V, reading(hr=70, seq="1"), r"^seq: "),
    ("technical-text", V, reading(technical="leads_off"), r"^technical: "),
    ("technical-number", V, reading(technical=[1]), r"^technical\.0: "),
    ("technical-17", V, reading(technical=["x"] * 17), r"^technical: .*16"),
    ("technical-long", V, reading(technical=["x" * 65]), r"^technical\.0: "),
    # Time
    ("ts-missing", V, {"hr": 70}, r"^ts: Field required"),
    ("ts-null", V, reading(ts=None, hr=70), r"^ts: "),
    ("ts-no-zone", V, reading(ts="2026-11-21T10:15:02", hr=70), r"^ts: .*has no zone"),
    ("ts-millis", V, reading(ts=1_795_256_102_000, hr=70), r"^ts: .*milliseconds"),
    ("ts-bool", V, reading(ts=True, hr=70), r"^ts: .*boolean"),
    ("ts-garbage", V, reading(ts="soon", hr=70), r"^ts: .*not RFC 3339"),
    ("ts-nan", V, b'{"ts": NaN, "hr": 70}', r"^ts: .*not epoch seconds"),
    # A JSON integer too large for a float must be refused like any other bad ts.
    ("ts-huge-int", V, b'{"ts": 1' + b"0" * 400 + b', "hr": 70}', r"^ts: "),
    # Readings with nothing in them
    ("empty-reading", V, reading(), r"at least one of hr, pr, spo2, nibp, technical"),
    ("empty-technical", V, reading(technical=[]), r"at least one of"),
    ("all-null", V, reading(hr=None, spo2=None), r"at least one of"),
    ("empty-nibp", V, reading(nibp={}), r"at least one"),
    ("null-nibp-values", V, reading(nibp={"sys": None, "dia": None}), r"at least one"),
    # Not an object, not JSON
    ("empty-object", V, {}, r"^ts: Field required"),
    ("array", V, [DESIGN_READING], r"^payload: Input should be an object"),
    ("null", V, None, r"^payload: Input should be an object"),
    ("number", V, 42, r"^payload: Input should be an object"),
    ("empty-bytes", V, b"", r"^payload: Invalid JSON"),
    ("whitespace", V, b" \n", r"^payload: Invalid JSON"),
    ("truncated", V, b'{"ts": 1795256102, "hr": 70', r"^payload: Invalid JSON"),
    ("trailing", V, b'{"ts": 1795256102, "hr": 70} x', r"^payload: Invalid JSON"),
    ("bare-offline-on-vitals", V, b"offline", r"^payload: Invalid JSON"),
    ("bom", V, b'\xef\xbb\xbf{"ts": 1795256102, "hr": 70}', r"^payload: Invalid JSON"),
    # Device
    ("device-unknown-state", D, {"state": "unknown"}, r"^state: "),
    ("device-state-bool", D, {"state": True}, r"^state: "),
    ("device-no-state", D, {"online": True}, r"^state: Field required"),
    ("device-empty-name", D, {"state": "online", "device": ""}, r"^device: "),
    ("device-control-char", D, {"state": "online", "device": "bm\n12"}, r"^device: "),
    ("device-long-name", D, {"state": "online", "device": "b" * 65}, r"^device: "),
    ("device-bad-ts", D, {"state": "offline", "ts": "later"}, r"^ts: "),
    ("device-bare-upper", D, b"OFFLINE", r"^payload: Invalid JSON"),
    ("device-bare-other", D, b"off", r"^payload: Invalid JSON"),
    ("device-bare-two", D, b"online offline", r"^payload: Invalid JSON"),
    ("device-json-other", D, b'"gone"', r"^payload: Input should be an object"),
    # Infusion
    ("infusion-unknown-event", INF, infusion("restart"), r"^event: "),
    ("infusion-no-event", INF, {"ts": ISO0}, r"^event: Field required"),
    ("infusion-dose-0", INF, infusion("start", dose_mg_per_kg=0), r"^dose_mg_per_kg: .*than 0"),
    ("infusion-dose-11", INF, infusion("start", dose_mg_per_kg=11), r"^dose_mg_per_kg: .*to 10"),
    ("infusion-dose-text", INF, infusion("start", dose_mg_per_kg="0.5"), r"^dose_mg_per_kg: "),
    (
        "infusion-dose-nan",
        INF,
        b'{"ts": 1795256102, "event": "start", "dose_mg_per_kg": NaN}',
        r"^dose_mg_per_kg: ",
    ),
    ("infusion-minutes-0", INF, infusion("start", planned_minutes=0), r"^planned_minutes: "),
    ("infusion-minutes-601", INF, infusion("start", planned_minutes=601), r"^planned_minutes: "),
    ("infusion-empty-drug", INF, infusion("start", drug=""), r"^drug: "),
    ("infusion-no-ts", INF, {"event": "stop"}, r"^ts: Field required"),
    # Session commands
    ("session-unknown", S, admit(command="transfer"), r"'transfer' .* 'admit', 'discharge'"),
    ("session-no-command", S, {"ts": ISO0, "patient": "P-1"}, r"discriminator 'command'"),
    ("session-acknowledge", S, ack(), r"'acknowledge' .* 'admit', 'discharge'"),
    ("admit-no-patient", S, {"ts": ISO0, "command": "admit"}, r"^admit\.patient: Field required"),
    ("admit-empty-patient", S, admit(patient=""), r"^admit\.patient: "),
    ("admit-nul-patient", S, admit(patient="P\x00"), r"^admit\.patient: "),
    ("admit-long-patient", S, admit(patient="P" * 65), r"^admit\.patient: "),
    ("admit-weight-0", S, admit(weight_kg=0), r"^admit\.weight_kg: "),
    ("admit-weight-401", S, admit(weight_kg=401), r"^admit\.weight_kg: "),
    ("admit-weight-text", S, admit(weight_kg="72"), r"^admit\.weight_kg: "),
    ("admit-baseline-text", S, admit(baseline={"sbp": "128"}), r"^admit\.baseline\.sbp: "),
    ("admit-limit-text", S, admit(limits={"sbp_high": "170"}), r"^admit\.limits\.sbp_high: "),
    ("admit-limits-list", S, admit(limits=[170]), r"^admit\.limits: "),
    ("discharge-no-ts", S, {"command": "discharge"}, r"^discharge\.ts: Field required"),
    # Chair commands
    ("command-unknown", C, ack(command="silence"), r"'silence' .* 'acknowledge', 'pause_audio'"),
    ("command-admit", C, admit(), r"'admit' .* 'acknowledge', 'pause_audio'"),
    ("ack-no-by", C, ack(by=DROP), r"^acknowledge\.by: Field required"),
    ("ack-no-alarm", C, ack(alarm=DROP), r"^acknowledge\.alarm: Field required"),
    ("ack-empty-alarm", C, ack(alarm=""), r"^acknowledge\.alarm: "),
    ("ack-number-alarm", C, ack(alarm=42), r"^acknowledge\.alarm: "),
    ("ack-long-alarm", C, ack(alarm="a" * 65), r"^acknowledge\.alarm: "),
    ("ack-empty-by", C, ack(by=""), r"^acknowledge\.by: "),
    ("pause-text-seconds", C, pause("120"), r"^pause_audio\.seconds: "),
    ("pause-bool-seconds", C, pause(True), r"^pause_audio\.seconds: "),
    ("pause-no-seconds", C, pause(DROP), r"^pause_audio\.seconds: Field required"),
    ("pause-null-seconds", C, pause(None), r"^pause_audio\.seconds: "),
    (
        "pause-nan-seconds",
        C,
        b'{"ts": 1795256102, "command": "pause_audio", "seconds": NaN, "by": "n"}',
        r"^pause_audio\.seconds: .*finite",
    ),
    # Pager replies
    ("reply-maybe", R, {"ts": ISO0, "page": "PG-1", "reply": "maybe"}, r"^reply: "),
    ("reply-empty-page", R, {"ts": ISO0, "page": "", "reply": "accept"}, r"^page: "),
    ("reply-no-ts", R, {"page": "PG-1", "reply": "accept"}, r"^ts: Field required"),
]


@pytest.mark.parametrize(
    ("kind", "payload", "message"), [b[1:] for b in BAD], ids=[b[0] for b in BAD]
)
def test_bad_payloads_raise_payload_error_with_the_reason(
    kind: Inbound, payload: Any, message: str
) -> None:
    with pytest.raises(PayloadError, match=message):
        validate(kind, raw(payload))
    with pytest.raises(PayloadError, match=message):
        decode(kind, raw(payload))


def test_payload_error_is_a_value_error_and_names_at_most_three_problems() -> None:
    payload = {"ts": "soon", "hr": "x", "spo2": "y", "seq": "z", "technical": 5}
    with pytest.raises(ValueError, match=r"\(\+2 more\)$") as caught:
        decode(Inbound.VITALS, raw(payload))
    assert isinstance(caught.value, PayloadError)
    assert str(caught.value).count(": ") == 3


@pytest.mark.parametrize("kind", list(Inbound))
def test_payload_over_64_kib_is_refused(kind: Inbound) -> None:
    payload = b"offline" + b" " * MAX_PAYLOAD_BYTES
    with pytest.raises(
        PayloadError, match=rf"payload of {MAX_PAYLOAD_BYTES + 7} bytes exceeds 65536"
    ):
        decode(kind, payload)


def test_payload_of_exactly_64_kib_is_accepted() -> None:
    body = json.dumps({"ts": ISO0, "hr": 70}).encode()
    payload = body + b" " * (MAX_PAYLOAD_BYTES - len(body))
    assert len(payload) == MAX_PAYLOAD_BYTES == 65536
    assert decode(Inbound.VITALS, payload) == Reading(T0, hr=70.0)
    with pytest.raises(PayloadError, match="exceeds"):
        decode(Inbound.VITALS, payload + b" ")


DEEP = [
    ("arrays", b"[" * 10_000 + b"]" * 10_000),
    ("objects", b'{"a":' * 10_000 + b"1" + b"}" * 10_000),
    (
        "in-extra-field",
        b'{"ts": 1795256102, "hr": 70, "x": ' + b"[" * 10_000 + b"]" * 10_000 + b"}",
    ),
    ("in-technical", b'{"ts": 1795256102, "technical": ' + b"[" * 10_000 + b"]" * 10_000 + b"}"),
    ("unclosed", b"[" * 30_000),
]


@pytest.mark.parametrize("kind", list(Inbound))
@pytest.mark.parametrize("payload", [d[1] for d in DEEP], ids=[d[0] for d in DEEP])
def test_deeply_nested_json_is_a_payload_error_not_a_recursion_error(
    kind: Inbound, payload: bytes
) -> None:
    assert len(payload) <= MAX_PAYLOAD_BYTES
    with pytest.raises(PayloadError, match="payload: Invalid JSON: recursion limit exceeded"):
        decode(kind, payload)


@pytest.mark.parametrize(
    "payload",
    [
        b'{"ts": 1795256102, "hr": 70, "note": "\xff"}',
        b'{"ts": 1795256102, "hr": 70, "note": "\xc0\xaf"}',  # overlong encoding of "/"
        b'{"ts": 1795256102, "hr": 70, "note": "\xe2\x82"}',  # truncated sequence
        b'{"ts": 1795256102, "hr": 70, "note": "\xed\xa0\x80"}',  # encoded surrogate
        b'{"ts": 1795256102, "technical": ["leads\xffoff"]}',
        b'{"ts": 1795256102, "hr": 70, "note": "\\ud800"}',  # lone surrogate escape
        b"\xff\xfe{}",
    ],
)
def test_invalid_utf8_is_a_payload_error(payload: bytes) -> None:
    with pytest.raises(PayloadError, match=r"^payload: Invalid JSON"):
        decode(Inbound.VITALS, payload)


def test_invalid_utf8_in_a_bare_device_payload_is_a_payload_error() -> None:
    with pytest.raises(PayloadError, match=r"^payload: Invalid JSON"):
        decode(Inbound.DEVICE, b"offline\xff")


# Outbound: from a real chair to JSON and back --------------------------------------------------

SITE, CHAIR = "north", "c03"
SCRIPT: list[tuple[Inbound, dict[str, Any]]] = [
    (Inbound.SESSION, {"ts": T0, "command": "admit", "patient": "P-0042", "weight_kg": 72.5}),
    (Inbound.DEVICE, {"ts": T0 + 1, "state": "online", "device": "bm-12"}),
    (
        Inbound.VITALS,
        {"ts": T0 + 10, "hr": 80, "spo2": 98, "nibp": {"sys": 120, "dia": 80, "map": 93}},
    ),
    (Inbound.VITALS, {"ts": T0 + 70, "hr": 82, "spo2": 97, "nibp": {"sys": 122, "dia": 78}}),
    (
        Inbound.INFUSION,
        {
            "ts": T0 + 100,
            "event": "start",
            "drug": "ketamine",
            "dose_mg_per_kg": 0.5,
            "planned_minutes": 40,
        },
    ),
    (Inbound.VITALS, {"ts": T0 + 200.5, "hr": 130, "spo2": 97, "nibp": {"sys": 186, "dia": 95}}),
    (Inbound.VITALS, {"ts": T0 + 211, "hr": 131, "spo2": 96}),
    (
        Inbound.COMMAND,
        {"ts": T0 + 220, "command": "acknowledge", "alarm": "sbp_high", "by": "nurse.a"},
    ),
    (Inbound.COMMAND, {"ts": T0 + 225, "command": "pause_audio", "seconds": 120, "by": "nurse.a"}),
    (Inbound.INFUSION, {"ts": T0 + 300, "event": "stop"}),
]


@pytest.fixture
def clinic_and_events() -> tuple[Clinic, list[Event]]:
    """A chair through admission, baseline, an infusion with alarms, an acknowledgement and the
    stop; every input decoded from its wire payload and arriving when it happened."""
    clinic = Clinic()
    events: list[Event] = []
    for kind, body in SCRIPT:
        for report in clinic.handle(CHAIR, decode(kind, raw(body)), wall=body["ts"]):
            events += [e for e in report.events if not isinstance(e, InputRefused)]
    return clinic, events


def _alarms(events: list[Event]) -> list[AlarmTransition]:
    return [e for e in events if isinstance(e, AlarmTransition)]


def _ends_in_z(document: Any, path: str = "") -> list[str]:
    """Paths of every value that looks like a time (ts, *_at, since, ...) and is not a Z string."""
    bad: list[str] = []
    if isinstance(document, dict):
        for key, value in document.items():
            where = f"{path}.{key}"
            if key in {"ts", "since", "phase_since", "paused_until"} or key.endswith("_at"):
                if value is not None and not (isinstance(value, str) and value.endswith("Z")):
                    bad.append(where)
            else:
                bad += _ends_in_z(value, where)
    elif isinstance(document, list):
        for i, item in enumerate(document):
            bad += _ends_in_z(item, f"{path}[{i}]")
    return bad


def test_the_script_raises_the_alarms_the_outbound_tests_rely_on(
    clinic_and_events: tuple[Clinic, list[Event]],
) -> None:
    _, events = clinic_and_events
    moves = [(a.kind, a.state) for a in _alarms(events)]
    assert moves == [
        ("sbp_high", "active"),
        ("sbp_rise", "active"),
        ("hr_high", "active"),
        ("sbp_high", "acknowledged"),
        ("sbp_rise", "acknowledged"),  # shown under sbp_high: acknowledged with it
    ]


def test_alarm_transitions_go_out_with_class_and_z_times(
    clinic_and_events: tuple[Clinic, list[Event]],
) -> None:
    clinic, events = clinic_and_events
    patient = clinic.chair(CHAIR).session.patient  # type: ignore[union-attr]
    for transition in _alarms(events):
        out = alarm_out(transition, site=SITE, chair=CHAIR, patient=patient)
        dumped = out.to_json()
        document = json.loads(dumped)
        assert "class" in document
        assert "alarm_class" not in document
        assert document["class"] == transition.alarm_class == "physiological"
        assert set(document) == {f.alias or n for n, f in AlarmOut.model_fields.items()}
        assert _ends_in_z(document) == []
        assert AlarmOut.model_validate_json(dumped) == out
        assert document["alarm"] == transition.alarm
        assert (document["site"], document["chair"], document["patient"]) == (SITE, CHAIR, "P-0042")
        assert parse_event_time(document["ts"]) == transition.ts
        assert parse_event_time(document["raised_at"]) == transition.raised_at


def test_alarm_transition_json_carries_the_design_fields(
    clinic_and_events: tuple[Clinic, list[Event]],
) -> None:
    _, events = clinic_and_events
    raised = _alarms(events)[0]
    document = json.loads(alarm_out(raised, site=SITE, chair=CHAIR, patient="P-0042").to_json())
    assert document | {"alarm": "", "session": ""} == {
        "alarm": "",
        "ts": "2026-11-21T10:18:22.500Z",
        "site": "north",
        "chair": "c03",
        "session": "",
        "patient": "P-0042",
        "kind": "sbp_high",
        "class": "physiological",
        "priority": "high",
        "state": "active",
        "value": 186.0,
        "limit": 180.0,
        "text": "SBP 186 > 180 mmHg",
        "raised_at": "2026-11-21T10:18:22.500Z",
        "previous_state": None,
        "reason": "raised",
        "acknowledged_by": None,
        "acknowledged_at": None,
        "note": "questionable: repeat the cuff (SBP jumped from 122 to 186)",
        "suppressed_by": None,
    }
    acknowledged = json.loads(
        alarm_out(_alarms(events)[-2], site=SITE, chair=CHAIR, patient="P-0042").to_json()
    )
    assert acknowledged["alarm"] == document["alarm"]
    assert (acknowledged["state"], acknowledged["previous_state"]) == ("acknowledged", "active")
    assert acknowledged["acknowledged_by"] == "nurse.a"
    assert acknowledged["acknowledged_at"] == "2026-11-21T10:18:42.000Z"


def test_chair_state_goes_out_whole_and_reads_back_equal(
    clinic_and_events: tuple[Clinic, list[Event]],
) -> None:
    clinic, _ = clinic_and_events
    chair = clinic.chair(CHAIR)
    state = chair_state(chair, site=SITE, wall=T0 + 310)
    dumped = state.to_json()
    document = json.loads(dumped)

    assert ChairStateOut.model_validate_json(dumped) == state
    assert set(document) == {f.alias or n for n, f in ChairStateOut.model_fields.items()}
    assert _ends_in_z(document) == []
    assert document["ts"] == "2026-11-21T10:20:12.000Z"
    assert (document["site"], document["chair"], document["patient"]) == (SITE, CHAIR, "P-0042")
    assert document["session"] == chair.session.id  # type: ignore[union-attr]
    assert (document["phase"], document["phase_since"]) == ("recovery", "2026-11-21T10:20:02.000Z")
    assert document["device"] == {
        "state": "online",
        "device": "bm-12",
        "since": "2026-11-21T10:15:03.000Z",
    }
    # Latest valid vitals with their age at the state's ts.
    assert document["vitals"]["sbp"] == {
        "value": 186.0,
        "ts": "2026-11-21T10:18:22.500Z",
        "age_s": 109.5,
        "stale": False,
    }
    assert document["vitals"]["hr"] == {
        "value": 131.0,
        "ts": "2026-11-21T10:18:33.000Z",
        "age_s": 99.0,
        "stale": False,
    }
    assert set(document["vitals"]) == {v.value for v in Vital} - {"pr"}  # the script sends no pr
    # Active alarms, most urgent first, each with its wire name for the class.
    assert [(a["kind"], a["state"], a["suppressed_by"]) for a in document["alarms"]] == [
        ("sbp_high", "acknowledged", None),
        ("sbp_rise", "acknowledged", "sbp_high"),  # under sbp_high: neither shown nor heard
        ("hr_high", "active", None),
    ]
    assert all("class" in a and "alarm_class" not in a for a in document["alarms"])
    # Recovery status, baseline, infusion, audio, limits.
    assert document["recovery"]["status"] == "watching"
    assert document["recovery"]["infusion_stopped_at"] == "2026-11-21T10:20:02.000Z"
    assert document["recovery"]["minutes_since_stop"] == pytest.approx(10 / 60, abs=0.01)
    assert document["baseline"]["frozen"] is True
    assert (document["baseline"]["sbp"], document["baseline"]["dbp"]) == (121.0, 79.0)
    assert document["infusion"]["started_at"] == "2026-11-21T10:16:42.000Z"
    assert document["infusion"]["drug"] == "ketamine"
    assert document["audio"] == {
        "audible": False,
        "paused_until": "2026-11-21T10:20:47.000Z",
        "paused_by": "nurse.a",
    }
    assert document["limits"] == Limits().as_dict()


def test_state_of_an_untouched_chair_is_empty_and_reads_back_equal() -> None:
    state = chair_state(Chair("c04"), site=SITE, wall=T0)
    dumped = state.to_json()
    document = json.loads(dumped)
    assert ChairStateOut.model_validate_json(dumped) == state
    assert document["ts"] == ISO0
    assert document["phase"] == "empty"
    assert document["device"] == {"state": "unknown", "device": None, "since": None}
    for empty in ("session", "patient", "phase_since", "baseline", "infusion", "recovery"):
        assert document[empty] is None
    assert (document["vitals"], document["alarms"]) == ({}, [])


def test_recovery_update_goes_out_and_reads_back_equal(
    clinic_and_events: tuple[Clinic, list[Event]],
) -> None:
    clinic, events = clinic_and_events
    chair = clinic.chair(CHAIR)
    (update,) = [e for e in events if isinstance(e, RecoveryUpdate)]
    out = recovery_out(update, site=SITE, chair=CHAIR, session=chair.session)
    dumped = out.to_json()
    document = json.loads(dumped)
    assert RecoveryOut.model_validate_json(dumped) == out
    assert _ends_in_z(document) == []
    assert document["status"] == "watching"
    assert document["infusion_stopped_at"] == "2026-11-21T10:20:02.000Z"
    assert (document["window_minutes"], document["tolerance"]) == (20.0, 0.2)
    assert document["baseline"] == {"sbp": 121.0, "dbp": 79.0, "hr": 81.0, "spo2": 97.5}
    assert document["session"] == chair.session.id  # type: ignore[union-attr]
    assert document["recovered_at"] is None


def test_outbound_models_read_the_wire_name_class() -> None:
    document = json.loads(
        alarm_out(
            AlarmTransition(
                alarm=ALARM_ID,
                ts=T0,
                session=None,
                kind=AlarmKind.MONITOR_OFFLINE.value,
                alarm_class="technical",
                priority="low",
                state="active",
                previous_state=None,
                reason="raised",
                value=None,
                limit=None,
                text="Monitor bm-12 offline: no vitals",
                raised_at=T0,
            ),
            site=SITE,
            chair=CHAIR,
            patient=None,
        ).to_json()
    )
    assert document["class"] == "technical"
    read = AlarmOut.model_validate(document)
    assert read.alarm_class == "technical"
    assert read.ts == T0
    with pytest.raises(ValueError, match="class"):
        AlarmOut.model_validate({**document, "class": "clinical"})


def test_service_status_and_its_last_will() -> None:
    online = ServiceStatusOut(ts=T0, state="online", site=SITE)
    will = ServiceStatusOut(state="offline", site=SITE)
    assert json.loads(online.to_json()) == {
        "ts": ISO0,
        "state": "online",
        "service": "infusion-monitor",
        "version": online.version,
        "site": "north",
        "record": None,
        "refused_chairs": None,
        "paging": None,
    }
    assert json.loads(will.to_json())["ts"] is None
    for status in (online, will):
        assert ServiceStatusOut.model_validate_json(status.to_json()) == status


def test_page_carries_no_patient_and_reads_back_equal() -> None:
    page = PageOut(
        page="PG-1", ts=T0 + 0.25, alarm=ALARM_ID, chair=CHAIR, priority="high", text="c03: SBP 186"
    )
    dumped = page.to_json()
    document = json.loads(dumped)
    assert set(document) == {"page", "ts", "alarm", "chair", "priority", "text", "kind"}
    assert document["kind"] == "page"
    assert document["ts"] == "2026-11-21T10:15:02.250Z"
    assert PageOut.model_validate_json(dumped) == page


@pytest.mark.parametrize("ts", [T0, T0 + 0.001, T0 + 0.5, T0 + 1234.567])
def test_outbound_times_read_back_exactly_at_millisecond_precision(ts: float) -> None:
    status = ServiceStatusOut(ts=ts, state="online", site=SITE)
    assert math.isclose(
        ServiceStatusOut.model_validate_json(status.to_json()).ts or 0, ts, abs_tol=0
    )

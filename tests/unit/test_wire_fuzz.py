"""Whatever arrives on an inbound topic, `decode` returns a domain input or raises PayloadError.

The MQTT adapter catches PayloadError and drops the message with its reason; any other exception
would escape the adapter. So: arbitrary bytes, arbitrary JSON, and JSON shaped like the contract's
messages with arbitrary values in their fields, for every inbound kind.
"""

from __future__ import annotations

import json
import unicodedata
from typing import Any, get_args

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.domain.commands import Admit, Input
from monitor.wire.payloads import (
    MAX_PAYLOAD_BYTES,
    MAX_TEXT_CHARS,
    UNPRINTABLE,
    PayloadError,
    decode,
    parse_event_time,
)
from monitor.wire.payloads import format_event_time as fmt
from monitor.wire.topics import Inbound

FUZZ = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
INPUT_TYPES = get_args(Input)

# Every field name of every inbound message, and values that stress their validation.
FIELDS = [
    "ts", "seq", "hr", "spo2", "nibp", "sys", "dia", "map", "technical", "state", "device",
    "event", "drug", "dose_mg_per_kg", "planned_minutes", "command", "patient", "weight_kg",
    "baseline", "sbp", "dbp", "limits", "alarm", "by", "seconds", "page", "reply",
]  # fmt: skip
WORDS = [
    "online", "offline", "start", "pause", "resume", "stop", "admit", "discharge", "acknowledge",
    "pause_audio", "accept", "decline", "sbp_high", "spo2_probe_off", "leads_off",
    "2026-11-21T10:15:02.000Z", "2026-11-21T10:15:02", "2026-11-21t10:15:02z", "",
]  # fmt: skip
NUMBERS = st.one_of(
    st.integers(),
    st.integers(min_value=2**1024, max_value=2**1100),  # valid JSON, beyond float range
    st.integers(min_value=-(2**1100), max_value=-(2**1024)),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, -1, 1_795_256_102, 1_795_256_102_000, 7_258_118_400, 1e308]),
)
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, st.sampled_from(WORDS), st.text(max_size=70))
JSON = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=25,
)
FIELD_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(FIELDS), inner, max_size=6)
    ),
    max_leaves=20,
)
MESSAGES = st.dictionaries(st.sampled_from(FIELDS), FIELD_VALUES, max_size=8)


# One valid message per kind: the fuzz below breaks one field at a time.
VALID: dict[Inbound, dict[str, Any]] = {
    Inbound.VITALS: {
        "ts": "2026-11-21T10:15:02.000Z",
        "seq": 1,
        "hr": 78,
        "spo2": 97,
        "nibp": {"sys": 134, "dia": 86, "map": 102},
        "technical": ["spo2_motion"],
    },
    Inbound.DEVICE: {"ts": 1795256102, "state": "online", "device": "bm-12"},
    Inbound.INFUSION: {
        "ts": 1795256102,
        "event": "start",
        "drug": "ketamine",
        "dose_mg_per_kg": 0.5,
        "planned_minutes": 40,
    },
    Inbound.SESSION: {
        "ts": 1795256102,
        "command": "admit",
        "patient": "P-0042",
        "weight_kg": 72.5,
        "baseline": {"sbp": 128, "dbp": 82, "hr": 70, "spo2": 98},
        "limits": {"sbp_high": 170},
    },
    Inbound.COMMAND: {"ts": 1795256102, "command": "pause_audio", "seconds": 120, "by": "n"},
    Inbound.PAGER_REPLY: {"ts": 1795256102, "page": "PG-1", "reply": "accept"},
    Inbound.HANDOVER: {"ts": 1795256102, "to": "p02", "by": "n"},
}


def _dumps(value: Any) -> bytes:
    return json.dumps(value, allow_nan=True).encode()


def _decode_or_refuse(kind: Inbound, payload: bytes) -> None:
    """Any exception but PayloadError fails the test by escaping from here."""
    try:
        result: Input | PayloadError = decode(kind, payload)
    except PayloadError as exc:
        result = exc
    if isinstance(result, PayloadError):
        assert str(result), "a PayloadError must say why"
    else:
        assert isinstance(result, INPUT_TYPES)
        assert len(payload) <= MAX_PAYLOAD_BYTES


@FUZZ
@given(kind=st.sampled_from(Inbound), payload=st.binary(max_size=300))
def test_arbitrary_bytes(kind: Inbound, payload: bytes) -> None:
    _decode_or_refuse(kind, payload)


@FUZZ
@given(kind=st.sampled_from(Inbound), value=JSON)
def test_arbitrary_json(kind: Inbound, value: Any) -> None:
    _decode_or_refuse(kind, _dumps(value))


@FUZZ
@given(kind=st.sampled_from(Inbound), message=MESSAGES)
def test_contract_shaped_json_with_arbitrary_values(kind: Inbound, message: dict[str, Any]) -> None:
    _decode_or_refuse(kind, _dumps(message))


@settings(FUZZ, max_examples=400)
@given(kind=st.sampled_from(Inbound), data=st.data())
def test_valid_messages_with_one_field_broken(kind: Inbound, data: st.DataObject) -> None:
    message = json.loads(json.dumps(VALID[kind]))
    target = message
    nested = [k for k, v in message.items() if isinstance(v, dict)]
    if nested and data.draw(st.booleans()):
        target = message[data.draw(st.sampled_from(nested))]
    field = data.draw(st.sampled_from(sorted(target)))
    target[field] = data.draw(st.one_of(NUMBERS, FIELD_VALUES))
    _decode_or_refuse(kind, _dumps(message))


@FUZZ
@given(
    kind=st.sampled_from(Inbound),
    prefix=st.sampled_from([b"", b" ", b"\n", b"\xef\xbb\xbf", b'"', b"\xff"]),
    word=st.sampled_from([b"online", b"offline", b"ONLINE", b"on line", b"nul\x00l"]),
    suffix=st.sampled_from([b"", b" ", b"\r\n", b'"', b"\x00", b"\xff"]),
)
def test_bare_words(kind: Inbound, prefix: bytes, word: bytes, suffix: bytes) -> None:
    _decode_or_refuse(kind, prefix + word + suffix)


@FUZZ
@given(millis=st.integers(min_value=0, max_value=7_258_118_400_000))
def test_event_times_round_trip_through_rfc3339(millis: int) -> None:
    seconds = millis / 1000
    text = fmt(seconds)
    assert text.endswith("Z")
    assert parse_event_time(text) == seconds
    assert parse_event_time(seconds) == seconds


@settings(FUZZ, max_examples=400)
@given(
    label=st.text(
        st.characters(categories=["L", "N", "P", "S", "Zs", "Cc", "Cf", "Co", "Cs", "Zl", "Zp"]),
        max_size=70,
    ),
    field=st.sampled_from(["patient", "by"]),
)
def test_a_label_is_taken_exactly_when_it_is_short_printable_text(label: str, field: str) -> None:
    body = {"ts": 1795256102, "command": "admit", "patient": "P-1", field: label}
    payload = json.dumps(body).encode()  # ASCII: a lone surrogate travels as an escape
    printable = all(unicodedata.category(c) not in UNPRINTABLE for c in label)
    expected = printable and bool(label.strip()) and len(label) <= MAX_TEXT_CHARS

    try:
        admit = decode(Inbound.SESSION, payload)
    except PayloadError:
        assert not expected
    else:
        assert expected
        assert isinstance(admit, Admit)
        assert getattr(admit, field) == label

"""The whole pure intake fuzzed: any topic, any payload, retained or not, and clock ticks, through
`Intake.message` and `Intake.tick`.

Properties:
- nothing raises;
- every message gets its journal entry first, with the result's outcome and the wall time;
  every refusal has an outcome and a non-empty reason;
- a message a chair took is journalled whole (replay needs it); a refused one is cut short;
- every entry is one the record can hold (`check_batch`, and UTF-8 for every text);
- the site never holds more chairs than its cap;
- good traffic interleaved with junk (refused messages, other chairs, other sites, pager replies
  nobody sent a page for) raises exactly the alarms it raises alone, ids included.

A fast subset runs in the normal suite. The long run is `pytest -m fuzz` (docs/testing.md):
100,000 streams by default and a tenth as many sessions among junk (each plays a whole session
twice), `INFUSION_FUZZ_CASES` to change it.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from monitor.domain.clinic import Clinic
from monitor.domain.events import AlarmTransition
from monitor.pipeline.intake import Intake, Result
from monitor.pipeline.router import Outcome, Routed, Router
from monitor.pipeline.scribe import (
    KEPT_WHOLE,
    REFUSED_PAYLOAD_BYTES,
    REFUSED_REASON_CHARS,
    REFUSED_TOPIC_CHARS,
)
from monitor.record.base import MessageEntry, check_batch, event_data_json
from monitor.wire.payloads import MAX_PAYLOAD_BYTES
from monitor.wire.topics import PAGER_INBOUND, Inbound

T0 = 1_795_000_000.0
SITE, ROOT, GOOD_CHAIR = "north", "clinic", "c01"
LONG_CASES = int(os.environ.get("INFUSION_FUZZ_CASES", "100000"))


LONG_CHUNK = 10_000  # cases a Hypothesis run of the long run: its memory grows with each case
# Run only when `-m` names fuzz: another `-m` (say `-m "not integration"`) replaces the default.
LONG = [
    pytest.mark.fuzz,
    pytest.mark.timeout(0),  # minutes long
    pytest.mark.skipif(
        "'fuzz' not in config.getoption('markexpr')", reason="the long fuzz run: -m fuzz"
    ),
]


def _chunks(cases: int) -> list[tuple[int, int]]:
    """The long run's cases in runs of at most LONG_CHUNK, each with a seed of its own."""
    return [(seed, min(LONG_CHUNK, cases - start)) for seed, start in
            enumerate(range(0, max(1, cases), LONG_CHUNK))]  # fmt: skip


def _settings(cases: int, seed: int | None = None) -> Callable[..., Any]:
    def apply(test: Callable[..., None]) -> Callable[..., None]:
        configured: Callable[..., None] = _hypothesis(cases)(test)
        return configured if seed is None else hypothesis_seed(seed)(configured)

    return apply


def _hypothesis(cases: int) -> settings:
    return settings(
        max_examples=cases,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


# Topics --------------------------------------------------------------------------------------

GOOD_NAMES = st.sampled_from(["c01", "c02", "c03", "c-04", "C_5", "kim", "P1"])
VALID_NAMES = st.from_regex(r"[A-Za-z0-9_-]{1,32}", fullmatch=True)
BAD_NAMES = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", "+", "#", "c 01", "c/01", "c01\x00", "ç01", "c" * 33]),
    st.sampled_from([1_000, 60_000]).map(lambda n: "x" * n),  # the 60,000-character chair
)
NAMES = st.one_of(GOOD_NAMES, VALID_NAMES, BAD_NAMES)
SITES = st.one_of(st.just(SITE), st.just(SITE), st.sampled_from(["south", "North", ""]))
LEAVES = st.one_of(
    st.sampled_from([k.value for k in Inbound]),
    st.sampled_from(["state", "alarm", "recovery", "VITALS", "", "vitals/x"]),
)
SHAPED_TOPICS = st.builds(
    lambda root, site, group, name, leaf: f"{root}/{site}/{group}/{name}/{leaf}",
    st.sampled_from([ROOT, ROOT, ROOT, "clinic/x", "other", ""]),
    SITES,
    st.sampled_from(["chair", "chair", "pager", "bed", ""]),
    NAMES,
    LEAVES,
)
TOPICS = st.one_of(
    SHAPED_TOPICS,
    SHAPED_TOPICS,
    SHAPED_TOPICS,
    st.text(max_size=80),
    st.text(
        st.characters(categories=["Cs", "Cc", "Cf", "Co", "Zl", "Zp", "Ll", "Nd"]), max_size=20
    ).map(
        lambda t: f"{ROOT}/{SITE}/chair/{t}/vitals"  # lone surrogates, controls, anything
    ),
)

# Payloads ------------------------------------------------------------------------------------

WORDS = [
    "online", "offline", "start", "pause", "resume", "stop", "admit", "discharge", "acknowledge",
    "pause_audio", "accept", "decline", "spo2_motion", "spo2_probe_off", "leads_off", "ketamine",
    "2026-11-21T10:15:02.000Z", "2026-11-21T10:15:02", "P-0042", "kim", "\u202e", "\u200b",
    "a,b", "", " ", "\ufeff", "\ud800",
]  # fmt: skip
NUMBERS = st.one_of(
    st.integers(min_value=-5, max_value=300),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([T0, T0 * 1000, 2**63 - 1, 2**63, 2**64, -(2**63) - 1, 10**400, 1e308]),
)
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, st.sampled_from(WORDS), st.text(max_size=70))
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
EVENT_TIMES = st.one_of(
    st.floats(T0 - 60, T0 + 7200), st.sampled_from([T0, "2026-11-18T11:06:40Z"])
)
VITALS = st.one_of(st.integers(0, 250), st.floats(0, 250), NUMBERS)


def _mostly(
    usual: st.SearchStrategy[Any], other: st.SearchStrategy[Any], in_ten: int
) -> st.SearchStrategy[Any]:
    """`usual` `in_ten` times in ten, else `other`."""
    return st.integers(0, 9).flatmap(lambda i: usual if i < in_ten else other)


def _message(required: dict[str, Any], optional: dict[str, Any]) -> st.SearchStrategy[Any]:
    """A message of the contract's shape: each field right most of the time, anything else now
    and then."""
    return st.fixed_dictionaries(
        {k: _mostly(v, VALUES, 9) for k, v in required.items()},
        optional={k: _mostly(v, VALUES, 8) for k, v in optional.items() if k not in required},
    )


TEXTS = st.one_of(st.sampled_from(WORDS), st.text(max_size=70), SCALARS)
SEQS = st.one_of(st.integers(0, 10**6), st.sampled_from([2**63 - 1, 2**63, -1]), NUMBERS)
READING = {
    "seq": SEQS,
    "hr": VITALS,
    "pr": VITALS,
    "spo2": VITALS,
    "nibp": st.fixed_dictionaries({}, optional={"sys": VITALS, "dia": VITALS, "map": VITALS}),
    "technical": st.lists(TEXTS, max_size=3),
}
SHAPED: dict[Inbound, list[st.SearchStrategy[Any]]] = {
    Inbound.VITALS: [
        _message({"ts": EVENT_TIMES, "seq": SEQS, "hr": VITALS}, READING),
        _message({"ts": EVENT_TIMES, "spo2": VITALS}, READING),
        _message({"ts": EVENT_TIMES}, READING),
    ],
    Inbound.DEVICE: [_message({"state": st.sampled_from(["online", "offline"])}, {"ts": EVENT_TIMES, "device": TEXTS})],
    Inbound.INFUSION: [_message(
        {"ts": EVENT_TIMES, "event": st.sampled_from(["start", "pause", "resume", "stop"])},
        {"drug": TEXTS, "dose_mg_per_kg": NUMBERS, "planned_minutes": NUMBERS},
    )],
    Inbound.SESSION: [
        _message(
            {"ts": EVENT_TIMES, "command": st.just("admit"), "patient": TEXTS},
            {
                "weight_kg": NUMBERS,
                "by": TEXTS,
                "baseline": st.dictionaries(st.sampled_from(["sbp", "sys", "dbp", "hr", "spo2"]), VITALS),
                "limits": st.dictionaries(st.sampled_from(["sbp_high", "hr_low", "nope", "x" * 50]), NUMBERS),
            },
        ),
        _message({"ts": EVENT_TIMES, "command": st.just("discharge")}, {"by": TEXTS, "over_alarms": SCALARS}),
    ],
    Inbound.COMMAND: [
        _message({"ts": EVENT_TIMES, "command": st.just("acknowledge"), "alarm": TEXTS, "by": TEXTS}, {}),
        _message({"ts": EVENT_TIMES, "command": st.just("pause_audio"), "seconds": NUMBERS, "by": TEXTS}, {}),
    ],
    Inbound.PAGER_REPLY: [_message({"ts": EVENT_TIMES, "page": TEXTS, "reply": st.sampled_from(["accept", "decline"])}, {})],
    Inbound.HANDOVER: [_message({"ts": EVENT_TIMES, "to": st.one_of(GOOD_NAMES, TEXTS), "by": TEXTS}, {})],
}  # fmt: skip
CONTRACT_SHAPED = st.one_of([shape for shapes in SHAPED.values() for shape in shapes])


def _json(value: Any) -> bytes:
    return json.dumps(value, allow_nan=True).encode()


PAYLOADS = st.one_of(
    CONTRACT_SHAPED.map(_json),
    CONTRACT_SHAPED.map(_json),
    CONTRACT_SHAPED.map(_json),
    VALUES.map(_json),
    st.binary(max_size=200),
    st.sampled_from([b"online", b'"offline"', b" offline\n", b"", b"null", b"[]", b"{}"]),
    st.sampled_from([MAX_PAYLOAD_BYTES, MAX_PAYLOAD_BYTES + 1, 60_000]).map(lambda n: b"j" * n),
    CONTRACT_SHAPED.map(lambda m: _json(m) + b" " * 2_000),
    st.integers(1, 64).map(lambda depth: b"[" * depth * 100 + b"]" * depth * 100),
)


def _topic_for(kind: Inbound) -> st.SearchStrategy[str]:
    group = "pager" if kind in PAGER_INBOUND else "chair"
    return st.builds(lambda name: f"{ROOT}/{SITE}/{group}/{name}/{kind.value}", GOOD_NAMES)


# A message meant for its topic (broken in one place or more), or anything on anything.
MEANT = st.sampled_from(Inbound).flatmap(
    lambda kind: st.tuples(_topic_for(kind), st.one_of(SHAPED[kind]).map(_json))
)
RETAINED = st.sampled_from([False] * 9 + [True])
MESSAGES = _mostly(
    st.tuples(MEANT, RETAINED, st.floats(0, 30)).map(lambda m: (*m[0], m[1], m[2])),
    st.tuples(TOPICS, PAYLOADS, RETAINED, st.floats(0, 30)),
    6,
)
STEPS = st.lists(
    st.one_of(MESSAGES, MESSAGES, MESSAGES, st.floats(0, 120)), min_size=1, max_size=12
)


# Checks --------------------------------------------------------------------------------------


def _check_message(result: Result, topic: str, payload: bytes, wall: float) -> None:
    journal = result.entries[0]
    assert isinstance(journal, MessageEntry), "every message is journalled, first"
    assert isinstance(result.outcome, Outcome)
    assert (journal.outcome, journal.received_at) == (result.outcome.value, wall)
    if result.outcome is not Outcome.ACCEPTED:
        assert result.reasons, f"a {result.outcome.value} message needs a reason"
        assert all(isinstance(r, str) and r.strip() for r in result.reasons)
        assert journal.reason
    if result.outcome in KEPT_WHOLE:
        assert journal.payload == payload.decode("utf-8", errors="replace"), "kept whole"
        assert journal.topic == topic
    else:
        assert len(journal.payload.encode()) <= REFUSED_PAYLOAD_BYTES * 3 + 64
        assert len(journal.topic) <= REFUSED_TOPIC_CHARS + 64
        assert len(journal.reason or "") <= REFUSED_REASON_CHARS + 64
    _check_recordable(result)


def _check_recordable(result: Result) -> None:
    check_batch(result.entries)  # raises RecordError naming what no backend can hold
    for entry in result.entries:
        for field in dataclasses.fields(entry):  # type: ignore[arg-type]
            value = getattr(entry, field.name)
            if isinstance(value, str):
                value.encode("utf-8")  # SQLite refuses a lone surrogate
            elif isinstance(value, dict):
                event_data_json(value).encode("utf-8")
    for message in result.outgoing:
        json.loads(message.payload)


def _run(intake: Intake, steps: list[Any]) -> None:
    wall = T0
    for step in steps:
        if isinstance(step, float):
            wall += step
            _check_recordable(intake.tick(wall))
            continue
        topic, payload, retained, gap = step
        wall += gap
        result = intake.message(topic, payload, wall, retained=retained)
        _check_message(result, topic, payload, wall)
        assert sum(1 for _ in intake.clinic) <= intake.clinic.max_chairs


def _stream_property(cases: int, seed: int | None = None) -> Callable[..., None]:
    @_settings(cases, seed)
    @given(steps=STEPS, cap=st.sampled_from([1, 3, 64]))
    def test(steps: list[Any], cap: int) -> None:
        _run(Intake(Clinic(max_chairs=cap), site=SITE, root=ROOT), steps)

    return test


test_any_stream_of_messages_and_ticks_is_journalled_and_recordable = _stream_property(300)


@pytest.mark.parametrize(("seed", "cases"), _chunks(LONG_CASES))
def test_any_stream_of_messages_and_ticks_long(seed: int, cases: int) -> None:
    _stream_property(cases, seed)()


for _mark in LONG:
    test_any_stream_of_messages_and_ticks_long = _mark(test_any_stream_of_messages_and_ticks_long)


# Good traffic among junk ---------------------------------------------------------------------


@st.composite
def _session(draw: st.DrawFn) -> list[tuple[str, dict[str, Any], float]]:
    """One chair's session: online, admit, readings (some out of limits), start and stop of
    the infusion, an audio pause, as (leaf, body, seconds since the previous message)."""
    ts = T0
    out: list[tuple[str, dict[str, Any], float]] = [
        ("device", {"ts": ts, "state": "online", "device": "bm-1"}, 0.0),
        ("session", {"ts": ts, "command": "admit", "patient": "P-0042"}, 0.0),
    ]
    readings = draw(st.integers(5, 40))
    start, stop = sorted(draw(st.lists(st.integers(0, readings), min_size=2, max_size=2)))
    for seq in range(readings):
        gap = draw(st.sampled_from([1.0, 5.0, 15.0, 60.0]))
        ts += gap
        body: dict[str, Any] = {"ts": ts, "seq": seq, "hr": draw(st.integers(30, 170))}
        body["spo2"] = draw(st.integers(80, 100))
        if draw(st.booleans()):
            body["nibp"] = {"sys": draw(st.integers(80, 220)), "dia": draw(st.integers(40, 130))}
        out.append(("vitals", body, gap))
        if seq == start:
            out.append(("infusion", {"ts": ts, "event": "start", "drug": "ketamine"}, 0.0))
        if seq == stop:
            out.append(("infusion", {"ts": ts, "event": "stop"}, 0.0))
        if draw(st.integers(0, 20)) == 0:
            out.append(("command", {"ts": ts, "command": "pause_audio", "seconds": 60, "by": "kim"}, 0.0))  # fmt: skip
    return out


JUNK = st.lists(st.tuples(st.integers(1, 10_000), MESSAGES), max_size=25)
_ROUTER = Router(site=SITE, root=ROOT)


def _is_junk_for_the_good_chair(topic: str, payload: bytes, retained: bool) -> bool:
    routed = _ROUTER.route(topic, payload, retained=retained)
    return isinstance(routed, Routed) and routed.chair == GOOD_CHAIR


def _alarms_and_output(
    session: list[tuple[str, dict[str, Any], float]],
    junk: list[tuple[int, tuple[str, bytes, bool, float]]],
) -> tuple[list[tuple[Any, ...]], list[tuple[str, bytes]]]:
    """Play the session with the junk slotted in after the good message of its position;
    return the good chair's alarm transitions and what was published for it."""
    intake = Intake(Clinic(), site=SITE, root=ROOT)
    after: dict[int, list[tuple[str, bytes, bool, float]]] = {}
    for position, message in junk:
        after.setdefault(position % len(session), []).append(message)
    alarms: list[tuple[Any, ...]] = []
    published: list[tuple[str, bytes]] = []
    prefix = f"{ROOT}/{SITE}/chair/{GOOD_CHAIR}/"

    def note(result: Result) -> None:
        for report in result.reports:
            if report.chair == GOOD_CHAIR:
                alarms.extend(
                    (e.alarm, e.kind, e.state, e.ts)
                    for e in report.events
                    if isinstance(e, AlarmTransition)
                )
        published.extend(
            (m.topic, m.payload) for m in result.outgoing if m.topic.startswith(prefix)
        )

    wall = T0
    for index, (leaf, body, gap) in enumerate(session):
        wall += gap
        note(intake.message(prefix + leaf, json.dumps(body).encode(), wall))
        for offset, (topic, payload, retained, _gap) in enumerate(after.get(index, [])):
            intake.message(topic, payload, wall + 0.001 * (offset + 1), retained=retained)
        note(intake.tick(wall + 0.5))
    return alarms, published


def _interleaving_property(cases: int, seed: int | None = None) -> Callable[..., None]:
    @_settings(cases, seed)
    @given(session=_session(), junk=JUNK)
    def test(
        session: list[tuple[str, dict[str, Any], float]],
        junk: list[tuple[int, tuple[str, bytes, bool, float]]],
    ) -> None:
        junk = [j for j in junk if not _is_junk_for_the_good_chair(*j[1][:3])]
        alone = _alarms_and_output(session, [])
        among_junk = _alarms_and_output(session, junk)

        assert among_junk[0] == alone[0], "junk changed the good chair's alarms"
        assert among_junk[1] == alone[1], "junk changed what the good chair publishes"

    return test


test_good_traffic_among_junk_raises_the_alarms_it_raises_alone = _interleaving_property(60)


@pytest.mark.parametrize(("seed", "cases"), _chunks(max(1, LONG_CASES // 10)))
def test_good_traffic_among_junk_long(seed: int, cases: int) -> None:
    _interleaving_property(cases, seed)()


for _mark in LONG:
    test_good_traffic_among_junk_long = _mark(test_good_traffic_among_junk_long)


def test_the_sessions_raise_alarms_so_the_comparison_means_something() -> None:
    session = [
        ("device", {"ts": T0, "state": "online"}, 0.0),
        ("session", {"ts": T0, "command": "admit", "patient": "P-1"}, 0.0),
        *[("vitals", {"ts": T0 + i, "seq": i, "hr": 70, "nibp": {"sys": 210, "dia": 125}}, 1.0)
          for i in range(1, 4)],
    ]  # fmt: skip
    alarms, published = _alarms_and_output(session, [])

    assert {kind for _id, kind, _state, _ts in alarms} >= {"sbp_high"}
    assert any(topic.endswith("/alarm") for topic, _ in published)

"""Closed sets of values are enums end to end, and their JSON is the plain strings it always was."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, fields
from enum import StrEnum
from typing import Any

import pytest
from builders import Bedside, admitted, of_type, recovering

from dashboard.hub import PING, Hub, MessageKind, ServiceState, Viewer
from monitor.domain.alarms import AlarmClass, AlarmKind, AlarmPriority, AlarmState
from monitor.domain.baseline import BaselineSource
from monitor.domain.commands import Acknowledge, Discharge, InfusionEvent, PauseAudio
from monitor.domain.events import (
    AlarmTransition,
    ArtefactRecorded,
    BaselineSet,
    CommandAccepted,
    CommandName,
    CommandRejected,
    Event,
    PhaseChanged,
    RecoveryUpdate,
    SessionClosed,
)
from monitor.domain.recovery import RecoveryStatus
from monitor.domain.session import Phase, Step
from monitor.domain.vitals import Vital
from monitor.wire.address import parse_broker_url

# Event fields that hold an enum member, and the enum (None where the field may be empty).
ENUM_FIELDS: dict[type, dict[str, tuple[type, ...]]] = {
    ArtefactRecorded: {"vital": (Vital,)},
    BaselineSet: {"source": (BaselineSource,)},
    CommandAccepted: {"command": (CommandName,)},
    CommandRejected: {"command": (CommandName,)},
    SessionClosed: {
        "outcome": (RecoveryStatus, type(None)),
        "recovery_status": (RecoveryStatus, type(None)),
    },
    AlarmTransition: {
        "kind": (AlarmKind,),
        "alarm_class": (AlarmClass,),
        "priority": (AlarmPriority,),
        "state": (AlarmState,),
        "previous_state": (AlarmState, type(None)),
        "suppressed_by": (AlarmKind, type(None)),
    },
    PhaseChanged: {"phase": (Phase,), "previous": (Phase,)},
    RecoveryUpdate: {"status": (RecoveryStatus,)},
}


def _whole_session() -> list[Event]:
    """Every event type above at least once: an artefact, a refused and accepted commands, a
    frozen baseline, and a discharge after recovery."""
    side = admitted()
    side.read(hr=400, spo2=98)  # impossible HR: an artefact
    side.send(InfusionEvent(side.now, Step.PAUSE))  # refused: nothing is running
    side.start()
    side.read(bp=(190, 100))
    side.ack("sbp_high")
    side.pause_audio(60)
    side.wait(2400).stop()
    for _ in range(3):
        side.wait(200).read(hr=70, spo2=98, bp=(120, 80))
    side.discharge()
    return side.log


def test_a_whole_session_has_each_event_with_an_enum_field() -> None:
    kinds = {type(event) for event in _whole_session()}

    assert set(ENUM_FIELDS) <= kinds


def test_the_events_of_a_whole_session_carry_enum_members() -> None:
    wrong = [
        f"{type(event).__name__}.{name} is {getattr(event, name)!r}"
        for event in _whole_session()
        for name, allowed in ENUM_FIELDS.get(type(event), {}).items()
        if not isinstance(getattr(event, name), allowed)
    ]

    assert wrong == []


def _plain(value: Any) -> Any:
    """`value` with every enum member replaced by its plain string."""
    if isinstance(value, StrEnum):
        return str.__str__(value)
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def test_an_event_serialises_to_the_json_of_its_plain_strings() -> None:
    for event in _whole_session():
        data = asdict(event)

        assert json.dumps(data) == json.dumps(_plain(data)), type(event).__name__


@pytest.mark.parametrize(
    ("item", "command"),
    [
        (InfusionEvent(0.0, Step.START), CommandName.START),
        (InfusionEvent(0.0, Step.PAUSE), CommandName.PAUSE),
        (InfusionEvent(0.0, Step.RESUME), CommandName.RESUME),
        (InfusionEvent(0.0, Step.STOP), CommandName.STOP),
        (Discharge(0.0), CommandName.DISCHARGE),
        (Acknowledge(0.0, "sbp_high", "nurse-ana"), CommandName.ACKNOWLEDGE),
        (PauseAudio(0.0, 0.0, "nurse-ana"), CommandName.PAUSE_AUDIO),
    ],
    ids=lambda x: x.value if isinstance(x, CommandName) else type(x).__name__,
)
def test_a_refused_command_is_named(item: Any, command: CommandName) -> None:
    side = Bedside()

    [refused] = of_type(side.send(item), CommandRejected)

    assert refused.command is command


def test_a_second_admission_is_refused_as_admit() -> None:
    side = admitted()

    [refused] = of_type(side.admit(), CommandRejected)

    assert refused.command is CommandName.ADMIT


def test_a_closed_sessions_outcome_is_a_final_recovery_status() -> None:
    [closed] = of_type(_whole_session(), SessionClosed)

    assert closed.outcome is not None
    assert closed.outcome.final


@pytest.mark.parametrize(
    ("side", "outcome"),
    [(admitted, None), (recovering, RecoveryStatus.DISCHARGED_UNCONFIRMED)],
    ids=["no_infusion", "unconfirmed"],
)
def test_a_discharge_closes_with_its_outcome(
    side: Callable[[], Bedside], outcome: RecoveryStatus | None
) -> None:
    [closed] = of_type(side().discharge(), SessionClosed)

    assert closed.outcome is outcome


def test_a_recovered_patient_closes_as_recovered() -> None:
    [closed] = of_type(_whole_session(), SessionClosed)

    assert closed.outcome is RecoveryStatus.RECOVERED
    assert closed.recovery_status == "recovered"


def test_the_event_fields_named_here_exist() -> None:
    missing = [
        f"{cls.__name__}.{name}"
        for cls, named in ENUM_FIELDS.items()
        for name in named
        if name not in {f.name for f in fields(cls)}
    ]

    assert missing == []


# The dashboard ------------------------------------------------------------------------------


def _hub() -> Hub:
    return Hub(broker=parse_broker_url("mqtt://127.0.0.1:1"), root="clinic", site="t1")


@pytest.mark.parametrize(
    ("reported", "seen_ago", "service", "detail"),
    [
        ("online", 1.0, "online", "monitoring service running"),
        (
            "online",
            60.0,
            "silent",
            "the monitoring service has stopped reporting: alarms may not be raised",
        ),
        (
            "offline",
            60.0,
            "offline",
            "the monitoring service is not running: alarms are not being raised",
        ),
        (None, 0.0, "unknown", "no word from the monitoring service yet"),
    ],
)
def test_the_link_message_reads_as_it_always_did(
    reported: str | None, seen_ago: float, service: str, detail: str
) -> None:
    hub = _hub()
    if reported is not None:
        status = {"ts": None, "state": reported, "site": "t1"}
        hub.take("clinic/t1/monitor/status", json.dumps(status).encode(), 1000.0)

    message = json.dumps(hub.link(1000.0 + seen_ago))

    assert message == json.dumps(
        {"type": "link", "broker": False, "service": service, "detail": detail, "record": None,
         "refused_chairs": None, "paging": None, "service_now": 1000.0 + seen_ago}
    )  # fmt: skip


@pytest.mark.parametrize("state", ["rebooting", 1, None, ["online"]])
def test_a_service_state_it_does_not_have_reads_as_unknown(state: object) -> None:
    assert ServiceState.reported(state) is ServiceState.UNKNOWN


def test_the_ping_and_the_message_kinds_are_the_strings_the_browser_reads() -> None:
    assert PING == '{"type":"ping"}'
    assert [k.value for k in MessageKind] == ["alarm", "chair", "link", "ping", "coverage"]


class _Socket:
    async def send_text(self, data: str) -> None:
        raise AssertionError("not sent in this test")

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        raise AssertionError("not closed in this test")


def test_an_alarm_goes_to_the_browsers_as_it_came() -> None:
    hub = _hub()
    viewer = Viewer(_Socket(), "kim")
    hub.viewers.add(viewer)

    alarm = {"alarm": "A1", "ts": "2026-11-16T08:00:00.000Z", "site": "t1", "chair": "c01",
             "session": "S1", "patient": None, "kind": "sbp_high", "class": "physiological",
             "priority": "high", "state": "active", "value": 186, "limit": 180,
             "text": "SBP 186 > 180 mmHg", "raised_at": "2026-11-16T08:00:00.000Z",
             "unknown_later_field": 1}  # fmt: skip
    hub.take("clinic/t1/chair/c01/alarm", json.dumps(alarm).encode(), 0.0)

    assert [json.loads(e) for e in viewer.events] == [{"type": "alarm", "alarm": alarm}]

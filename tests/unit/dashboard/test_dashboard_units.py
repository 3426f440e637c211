"""The dashboard's parts without a network: accounts, login sessions, browser outboxes, actions."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from test_hub_read_back import a_state

from dashboard.auth import Accounts, AccountsError, Role, Sessions, User, hash_password
from dashboard.hub import VIEWER_EVENTS, Hub, Viewer
from dashboard.web import command_for
from monitor.quiet import MAX_REMEMBERED, QuietLog
from monitor.wire.address import parse_broker_url
from monitor.wire.payloads import validate
from monitor.wire.topics import Inbound

HASH = hash_password("correct horse")


def test_accounts_verify_the_right_password_only() -> None:
    accounts = Accounts({"kim": {"role": "nurse", "password_hash": HASH}})

    assert accounts.verify("kim", "correct horse") == User("kim", Role.NURSE)
    assert accounts.verify("kim", "wrong") is None
    assert accounts.verify("nobody", "correct horse") is None


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"role": "doctor", "password_hash": HASH}, "role"),
        ({"role": "nurse", "password_hash": "plaintext"}, "argon2"),
        ({"role": "nurse"}, "argon2"),
    ],
)
def test_a_users_table_that_cannot_work_is_refused(entry: dict[str, str], message: str) -> None:
    with pytest.raises(AccountsError, match=message):
        Accounts({"kim": entry})


def test_sessions_expire_slide_and_end() -> None:
    sessions = Sessions(ttl_s=100)
    user = User("kim", Role.NURSE)
    token = sessions.create(user, now=0)

    assert sessions.user(token, now=90) == user  # slides to 190
    assert sessions.user(token, now=180) == user
    assert sessions.user(token, now=400) is None
    other = sessions.create(user, now=500)
    sessions.end(other)
    assert sessions.user(other, now=501) is None
    assert sessions.user(None, now=0) is None


def test_expired_sessions_are_forgotten_when_someone_logs_in() -> None:
    sessions = Sessions(ttl_s=10)
    for _ in range(50):
        sessions.create(User("kim", Role.NURSE), now=0)
    sessions.create(User("kim", Role.NURSE), now=100)

    assert len(sessions._by_token) == 1


def test_only_nurses_and_admins_may_act() -> None:
    assert Role.NURSE.may_act
    assert Role.ADMIN.may_act
    assert not Role.AUDITOR.may_act


class FakeSocket:
    def __init__(self, *, stuck: bool = False) -> None:
        self.sent: list[str] = []
        self.stuck = stuck
        self.closed: int | None = None

    async def send_text(self, data: str) -> None:
        if self.stuck:
            await asyncio.sleep(3600)
        self.sent.append(data)

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        self.closed = code


async def test_a_viewer_gets_only_the_newest_state_of_each_chair() -> None:
    socket = FakeSocket()
    viewer = Viewer(socket, "kim")
    for n in range(100):
        viewer.offer_chair("c01", f"c01-{n}")
        viewer.offer_chair("c02", f"c02-{n}")
    viewer.offer_event("alarm")
    task = asyncio.create_task(viewer.run())
    await asyncio.sleep(0.01)
    task.cancel()

    assert socket.sent == ["alarm", "c01-99", "c02-99"]


async def test_a_viewer_whose_events_overflow_is_dropped_and_told(
    caplog: pytest.LogCaptureFixture,
) -> None:
    socket = FakeSocket()
    viewer = Viewer(socket, "kim")
    for n in range(VIEWER_EVENTS + 1):
        viewer.offer_event(f"e{n}")
    with caplog.at_level(logging.WARNING):
        await asyncio.wait_for(viewer.run(), 2)

    assert viewer.dropped is not None
    assert "event queue is full" in viewer.dropped
    assert socket.closed == 1013
    assert socket.sent == []


@pytest.mark.parametrize(
    ("action", "kind", "expected"),
    [
        ({"action": "acknowledge", "chair": "c01", "alarm": "A1"}, Inbound.COMMAND,
         {"command": "acknowledge", "alarm": "A1", "by": "kim"}),
        ({"action": "pause_audio", "chair": "c01"}, Inbound.COMMAND,
         {"command": "pause_audio", "seconds": 120.0, "by": "kim"}),
        ({"action": "admit", "chair": "c01", "patient": "P-1", "weight_kg": "70"}, Inbound.SESSION,
         {"command": "admit", "patient": "P-1", "weight_kg": 70.0, "by": "kim"}),
        ({"action": "discharge", "chair": "c01"}, Inbound.SESSION,
         {"command": "discharge", "by": "kim", "over_alarms": False}),
        ({"action": "discharge", "chair": "c01", "over_alarms": True}, Inbound.SESSION,
         {"command": "discharge", "by": "kim", "over_alarms": True}),
        ({"action": "infusion", "chair": "c01", "event": "start"}, Inbound.INFUSION,
         {"event": "start", "drug": "ketamine", "dose_mg_per_kg": 0.5, "planned_minutes": 40.0,
          "by": "kim"}),
        ({"action": "infusion", "chair": "c01", "event": "stop"}, Inbound.INFUSION,
         {"event": "stop", "by": "kim"}),
    ],
)  # fmt: skip
def test_each_action_becomes_its_contract_command(
    action: dict[str, str], kind: Inbound, expected: dict[str, object]
) -> None:
    chair, got_kind, payload = command_for(action, user="kim", now=1_795_000_000.0)

    assert chair == "c01"
    assert got_kind is kind
    assert {k: v for k, v in payload.items() if k != "ts"} == expected
    assert payload["ts"] == "2026-11-18T11:06:40.000Z"
    validate(kind, json.dumps(payload).encode())


def test_an_unknown_action_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown action"):
        command_for({"action": "teleport", "chair": "c01"}, user="kim", now=0.0)


@pytest.mark.parametrize("over", ["true", 1, "yes", None])
def test_a_discharge_goes_over_alarms_only_for_a_literal_true(over: object) -> None:
    action = {"action": "discharge", "chair": "c01", "over_alarms": over}

    with pytest.raises(ValueError, match="over_alarms is true or false"):
        command_for(action, user="kim", now=0.0)


def test_the_browser_cannot_name_who_discharges_or_admits() -> None:
    discharge = {"action": "discharge", "chair": "c01", "by": "someone.else"}
    admit = {"action": "admit", "chair": "c01", "patient": "P-1", "by": "someone.else"}

    assert command_for(discharge, user="kim", now=0.0)[2]["by"] == "kim"
    assert command_for(admit, user="kim", now=0.0)[2]["by"] == "kim"


def test_a_chair_message_carries_the_recovery_event_of_the_session_it_shows() -> None:
    hub = Hub(broker=parse_broker_url("mqtt://127.0.0.1:1"), root="clinic", site="t1")
    base = "clinic/t1/chair/c01"
    state = a_state(session="S2")
    recovery = {"ts": state["ts"], "site": "t1", "chair": "c01", "session": "S2",
                "patient": None, "status": "discharged_unconfirmed",
                "infusion_stopped_at": state["ts"], "minutes_since_stop": 3.0,
                "window_minutes": 20.0, "tolerance": 0.2, "baseline": {}, "latest": {},
                "off_baseline": {}, "consecutive_in_tolerance": 0,
                "discharged_by": "kim"}  # fmt: skip
    hub.take(f"{base}/state", json.dumps(state).encode(), 0.0)
    hub.take(f"{base}/recovery", json.dumps(recovery | {"session": "S1"}).encode(), 0.0)
    other_session = json.loads(hub.chair_message("c01", 0.0) or "{}")
    hub.take(f"{base}/recovery", json.dumps(recovery).encode(), 0.0)
    this_session = json.loads(hub.chair_message("c01", 0.0) or "{}")

    assert other_session["recovery"] is None
    assert this_session["recovery"] == recovery


def test_the_quiet_log_does_not_grow_for_ever_on_junk_topics(
    caplog: pytest.LogCaptureFixture,
) -> None:
    quiet = QuietLog(logging.getLogger("test"))
    with caplog.at_level(logging.WARNING):
        for n in range(MAX_REMEMBERED * 3):
            quiet.warning(float(n * 100), topic=f"junk/{n}", category="bad_topic", reason="x")

    assert len(quiet) <= MAX_REMEMBERED + 1
    assert len(caplog.records) == MAX_REMEMBERED * 3

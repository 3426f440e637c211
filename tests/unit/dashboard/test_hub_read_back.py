"""The hub keeps only what validates against the contract's outbound models, for its own site and
the chair its topic names; anything else is refused, counted and logged at most once a minute per
topic, and `take` never raises."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from dashboard.hub import REFUSAL_LOG_EVERY_S, Hub
from monitor.domain.chair import Chair
from monitor.wire.address import parse_broker_url
from monitor.wire.outbound import chair_state

WALL = 1_795_000_000.0
BASE = "clinic/t1/chair"


def a_hub() -> Hub:
    return Hub(broker=parse_broker_url("mqtt://127.0.0.1:1"), root="clinic", site="t1")


def a_state(chair: str = "c01", **changes: Any) -> dict[str, Any]:
    """A chair's state as the service publishes it, with one vital and `changes` on top."""
    state: dict[str, Any] = json.loads(chair_state(Chair(chair), site="t1", wall=WALL).to_json())
    state["vitals"] = {"hr": {"value": 72, "ts": state["ts"], "age_s": 0.0}}
    return state | changes


def a_status(**changes: Any) -> dict[str, Any]:
    return {"ts": "2026-11-16T08:00:00.000Z", "state": "online", "site": "t1"} | changes


def take(hub: Hub, topic: str, message: dict[str, Any] | bytes, wall: float = WALL) -> None:
    hub.take(topic, message if isinstance(message, bytes) else json.dumps(message).encode(), wall)


def test_a_valid_state_is_kept_as_it_came_and_its_vitals_remembered() -> None:
    hub = a_hub()
    state = a_state()

    take(hub, f"{BASE}/c01/state", state)

    assert hub.chairs["c01"].state == state
    assert [value for _, value in hub.chairs["c01"].history["hr"]] == [72.0]
    message = json.loads(hub.chair_message("c01", WALL) or "{}")
    assert message["chair"] == state
    assert hub.refusals.count == 0


def with_vital_value(value: object) -> dict[str, Any]:
    state = a_state()
    state["vitals"]["hr"]["value"] = value
    return state


MALFORMED: list[tuple[str, dict[str, Any] | bytes]] = [
    ("a vital's value a string", with_vital_value("seventy")),
    ("a vital's value a numeric string", with_vital_value("72")),
    ("a vital's value a list", with_vital_value([72])),
    ("a vital's value null", with_vital_value(None)),
    ("vitals not an object", a_state(vitals=[1, 2])),
    ("no ts", {k: v for k, v in a_state().items() if k != "ts"}),
    ("a ts that is no time", a_state(ts="yesterday")),
    ("an unknown phase", a_state(phase="dancing")),
    ("alarms not a list", a_state(alarms={"a": 1})),
    ("another chair's state", a_state("c02")),
    ("another site's state", a_state(site="t2")),
    ("not JSON", b"{not json"),
    ("a JSON list", b"[1, 2]"),
    ("deep nesting", b"[" * 100_000),
]


@pytest.mark.parametrize(("what", "message"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_a_malformed_state_is_refused_and_changes_nothing(
    what: str, message: dict[str, Any] | bytes
) -> None:
    hub = a_hub()
    take(hub, f"{BASE}/c01/state", a_state())
    before = hub.chair_message("c01", WALL)

    take(hub, f"{BASE}/c01/state", message)

    assert hub.chair_message("c01", WALL) == before
    assert hub.refusals.count == 1
    assert hub.refusals.by_topic == {f"{BASE}/c01/state": 1}


@pytest.mark.parametrize(
    ("leaf", "message"),
    [
        ("alarm", {"alarm": "A1", "chair": "c01", "site": "t1", "state": "active"}),
        ("recovery", {"session": "S1", "status": "discharged_unconfirmed"}),
        ("alarm", {"raw": "junk"}),
    ],
)
def test_a_malformed_alarm_or_recovery_event_is_refused(leaf: str, message: dict[str, Any]) -> None:
    hub = a_hub()
    take(hub, f"{BASE}/c01/state", a_state())

    take(hub, f"{BASE}/c01/{leaf}", message)

    view = hub.chairs["c01"]
    assert list(view.alarms) == []
    assert view.recovery is None
    assert hub.refusals.count == 1


@pytest.mark.parametrize(
    "status",
    [a_status(state="maybe"), a_status(site="t2"), a_status(ts="soon"), {"state": "online"}],
    ids=["unknown state", "another site", "no time for ts", "no site"],
)
def test_a_malformed_service_status_is_refused(status: dict[str, Any]) -> None:
    hub = a_hub()
    take(hub, "clinic/t1/monitor/status", a_status())

    take(hub, "clinic/t1/monitor/status", status)

    assert hub.service_state == "online"
    assert hub.refusals.count == 1


def test_a_valid_status_is_taken() -> None:
    hub = a_hub()

    take(hub, "clinic/t1/monitor/status", a_status(state="offline"))

    assert hub.service_state == "offline"
    assert hub.refusals.count == 0


def test_refusals_are_logged_at_most_once_a_minute_per_topic(
    caplog: pytest.LogCaptureFixture,
) -> None:
    hub = a_hub()
    bad = with_vital_value("seventy")
    with caplog.at_level(logging.WARNING, logger="dashboard.hub"):
        for n in range(10):
            take(hub, f"{BASE}/c01/state", bad, wall=WALL + n)
            take(hub, f"{BASE}/c02/state", a_state("c01"), wall=WALL + n)
        take(hub, f"{BASE}/c01/state", bad, wall=WALL + REFUSAL_LOG_EVERY_S + 1)

    logged = [r.getMessage() for r in caplog.records]
    assert hub.refusals.count == 21
    assert len([m for m in logged if "c01/state" in m]) == 2
    assert len([m for m in logged if "c02/state" in m]) == 1
    assert "9 more since the last report" in logged[-1]
    assert "seventy" not in " ".join(logged)  # the reason, not the payload


def test_take_never_raises_even_on_a_bug_in_keeping(monkeypatch: pytest.MonkeyPatch) -> None:
    hub = a_hub()

    def broken(*args: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(hub, "_keep", broken)

    take(hub, f"{BASE}/c01/state", a_state())

    assert hub.refusals.count == 1


def test_a_cleared_retained_coverage_tells_the_browsers_the_site_no_longer_pages() -> None:
    hub = a_hub()
    coverage = {"ts": WALL, "site": "t1", "pagers": [{"id": "p01", "name": "Kim", "role": "nurse"}],
                "primary": {}, "default": "p01", "charge": "p01", "failsafe": ["p01"]}  # fmt: skip
    take(hub, "clinic/t1/monitor/coverage", coverage, wall=WALL)
    assert hub.coverage == coverage

    hub.take("clinic/t1/monitor/coverage", b"", WALL + 1)

    assert hub.coverage is None
    assert hub.coverage_message() == {"type": "coverage", "coverage": None}
    assert hub.refusals.count == 0


def test_the_link_carries_the_services_clock_from_its_live_status_not_a_retained_one() -> None:
    hub = a_hub()
    status = {"ts": WALL + 300, "state": "online", "site": "t1"}  # its clock 5 min ahead
    hub.take("clinic/t1/monitor/status", json.dumps(status).encode(), WALL, retained=True)
    assert hub.link(WALL + 1)["service_now"] == WALL + 1  # an old retained status says nothing

    hub.take("clinic/t1/monitor/status", json.dumps(status).encode(), WALL)

    assert hub.link(WALL + 1)["service_now"] == WALL + 301


def test_a_clock_within_the_delivery_delay_of_the_services_is_not_corrected() -> None:
    hub = a_hub()
    status = {"ts": WALL - 0.8, "state": "online", "site": "t1"}  # 0.8 s on its way here

    hub.take("clinic/t1/monitor/status", json.dumps(status).encode(), WALL)

    assert hub.link(WALL + 1)["service_now"] == WALL + 1

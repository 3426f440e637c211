"""Recovery at a glance on a chair's tile, in a real browser (Debian's Chromium, driven by
Playwright) against the real service and a real Mosquitto: whole sessions are published as a
monitor and a pump send them (shifted to end now), and the tile says each recovery status with
its own mark, words and colour; a new patient's tile shows none of the previous patient's BP."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, expect

from monitor.broker import Mosquitto
from tests.integration.conftest import Bus
from tests.integration.sessions import ScriptedSession, topic
from tests.integration.test_dashboard_browser import (
    USERS,
    Running,
    Screen,
    browser,
    serving,
    station_page,
)

pytestmark = pytest.mark.integration
__all__ = ["browser"]  # a fixture, shared with the dashboard's other browser tests

COLOUR = "e => [getComputedStyle(e).color, getComputedStyle(e).backgroundColor]"
SIZE = "e => parseFloat(getComputedStyle(e).fontSize)"


@pytest.fixture
async def running(mosquitto: Mosquitto, tmp_path: Path) -> AsyncIterator[Running]:
    async with serving(mosquitto, tmp_path, users=USERS) as here:
        yield here


def bp_course(after_stop: tuple[float, float] | None) -> Callable[[float], tuple[float, float]]:
    """120/80 at the baseline, 150/92 (+25 % SBP) while infusing, then `after_stop` from
    minute 52 (None: it stays high)."""

    def bp(minute: float) -> tuple[float, float]:
        if minute < 10:
            return (120.0, 80.0)
        if minute < 52 or after_stop is None:
            return (150.0, 92.0)
        return after_stop

    return bp


async def publish_now(bus: Bus, session: ScriptedSession, *, ends_at: float | None = None) -> float:
    """Publish the whole session shifted so its last message is at `ends_at` (now); the shift."""
    messages = session.messages()
    shift = (ends_at if ends_at is not None else time.time()) - messages[-1][1]["ts"] - 1
    await bus.send(
        [(where, payload | {"ts": payload["ts"] + shift}) for where, payload in messages]
    )
    return shift


async def in_recovery(
    running: Running, browser: Browser, bus: Bus, chair: str, status: str, **script: Any
) -> Screen:
    """A session on `chair` through the real service, until its recovery says `status`."""
    await publish_now(bus, ScriptedSession(chair, discharge=False, **script))
    await bus.wait_for(
        lambda: [
            s for s in bus.on("/state", chair)
            if s["phase"] == "recovery" and (s.get("recovery") or {}).get("status") == status
        ],
        within_s=20, what=f"{chair} in recovery, {status}",
    )  # fmt: skip
    screen = await station_page(browser, running.base)
    await expect(screen.tile(chair).locator('[data-role="recovery"]')).to_be_visible(timeout=10_000)
    return screen


async def glance_of(screen: Screen, chair: str) -> dict[str, Any]:
    tile = screen.tile(chair)
    glance = tile.locator('[data-role="recovery"]')
    colour, background = await glance.evaluate(COLOUR)
    return {
        "status": await glance.get_attribute("data-status"),
        "mark": await tile.locator('[data-role="recovery-mark"]').inner_text(),
        "words": await tile.locator('[data-role="recovery-words"]').inner_text(),
        "cuffs": await tile.locator('[data-role="recovery-cuffs"]').inner_text(),
        "last_cuff": await tile.locator('[data-role="recovery-last-cuff"]').inner_text(),
        "colour": colour,
        "background": background,
        "size": await glance.evaluate(SIZE),
        "phase_size": await tile.locator('[data-role="phase"]').evaluate(SIZE),
        "border": await glance.evaluate("e => getComputedStyle(e).borderTopStyle"),
    }


def rgb(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", text)[:3])


async def test_a_chair_watching_shows_its_mark_the_minutes_left_and_one_of_two_cuffs_in_range(
    running: Running, browser: Browser, bus: Bus
) -> None:
    # Stopped at 50, one cuff back in range at 55, now 56: 14 min of the window left.
    screen = await in_recovery(
        running, browser, bus, "r01", "watching", end_min=56, bp=bp_course((124.0, 82.0))
    )
    tile = screen.tile("r01")
    await expect(tile.locator('[data-role="recovery-cuffs"]')).to_have_text(
        "1 of 2 cuffs in range", timeout=10_000
    )
    seen = await glance_of(screen, "r01")

    assert seen["status"] == "watching"
    assert seen["mark"] == "◷"
    assert re.fullmatch(r"Watching: 1[34] min left", seen["words"]), seen["words"]
    assert re.fullmatch(r"last cuff [01]:\d\d ago", seen["last_cuff"]), seen["last_cuff"]
    red, _, blue = rgb(seen["colour"])
    assert blue > 200, seen["colour"]
    assert blue > red + 40, seen["colour"]  # blue, not an alarm's colour
    assert seen["size"] >= seen["phase_size"] - 0.5  # as large as the phase it belongs to
    await expect(tile).not_to_contain_text("Back to baseline")
    assert screen.errors == []


async def test_a_recovered_chair_says_back_to_baseline_in_green_with_a_tick(
    running: Running, browser: Browser, bus: Bus
) -> None:
    # Stopped at 50, in range at 55 and 60: recovered 10 min after the stop.
    screen = await in_recovery(
        running, browser, bus, "r02", "recovered", end_min=61, bp=bp_course((124.0, 82.0))
    )
    seen = await glance_of(screen, "r02")

    assert seen["status"] == "recovered"
    assert seen["mark"] == "✓"
    assert seen["words"] == "Back to baseline 10 min after stop"
    assert seen["cuffs"] == ""
    assert seen["last_cuff"] == ""
    red, green, blue = rgb(seen["colour"])
    assert green > 200, seen["colour"]
    assert green > red + 80, seen["colour"]
    assert green > blue + 40, seen["colour"]
    assert screen.errors == []


async def test_an_overdue_chair_says_not_back_with_a_cross_in_red(
    running: Running, browser: Browser, bus: Bus
) -> None:
    # BP stays 150/92 after the stop at 50; now 72, past the 20-minute window.
    screen = await in_recovery(
        running, browser, bus, "r03", "overdue", end_min=72, bp=bp_course(None)
    )
    seen = await glance_of(screen, "r03")

    assert seen["status"] == "overdue"
    assert seen["mark"] == "✕"
    assert seen["words"] == "Not back at 20 min"
    red, green, blue = rgb(seen["background"])
    assert red >= 180, seen["background"]  # filled red
    assert max(green, blue) < 60, seen["background"]
    assert rgb(seen["colour"]) == (255, 255, 255)
    assert seen["size"] > seen["phase_size"]  # the loudest of the statuses
    assert re.fullmatch(r"last cuff \d:\d\d ago", seen["last_cuff"]), seen["last_cuff"]
    watching_like = ("◷", "✓", "?")
    assert seen["mark"] not in watching_like
    assert screen.errors == []


async def test_a_new_patient_shows_no_bp_of_the_previous_one_until_their_own_first_cuff(
    running: Running, browser: Browser, bus: Bus
) -> None:
    chair = "n01"
    now = time.time()
    first = ScriptedSession(chair, patient="P-0001", end_min=9, bp=lambda m: (152.0, 96.0))
    await publish_now(bus, first, ends_at=now - 90)
    await bus.wait_for(
        lambda: [s for s in bus.on("/state", chair) if s["phase"] == "discharged"],
        within_s=20, what=f"{chair}'s first patient discharged",
    )  # fmt: skip
    screen = await station_page(browser, running.base)
    bp = screen.tile(chair).locator('[data-vital="bp"] [data-role="value"]')
    await expect(bp).to_have_text("152/96", timeout=10_000)  # the first patient's, while theirs

    second = ScriptedSession(chair, patient="P-0002", end_min=1, discharge=False)
    shift = await publish_now(bus, second, ends_at=now)
    admitted = second.messages()[0][1]["ts"] + shift
    # The first patient's last cuff, stamped when it started (before the admission), arrives
    # after it: the service keeps it as the chair's newest BP; the tile must not show it.
    await bus.publish(
        topic(chair, "vitals"),
        {"ts": admitted - 20, "seq": 9_000, "hr": 72.0, "spo2": 98.0,
         "nibp": {"sys": 152.0, "dia": 96.0}},
    )  # fmt: skip
    await bus.wait_for(
        lambda: [s for s in bus.on("/state", chair) if s.get("patient") == "P-0002"],
        within_s=20, what=f"{chair}'s second patient admitted",
    )  # fmt: skip
    tile = screen.tile(chair)
    await expect(tile.locator('[data-role="patient"]')).to_have_text("P-0002", timeout=10_000)
    await expect(tile.locator('[data-vital="hr"] [data-role="value"]')).to_have_text("72")
    await expect(bp).to_have_text("NO DATA", timeout=10_000)
    await expect(tile.locator(".vitals")).not_to_contain_text("152")

    await bus.publish(
        topic(chair, "vitals"),
        {"ts": time.time(), "seq": 9_001, "hr": 73.0, "spo2": 98.0,
         "nibp": {"sys": 118.0, "dia": 76.0}},
    )  # fmt: skip
    await expect(bp).to_have_text("118/76", timeout=10_000)
    assert screen.errors == []

"""The station-wide alarm bar and the recent-alarms list in a real browser (Debian's Chromium,
driven by Playwright) against the real service and a real Mosquitto: every standing alarm across
the chairs, high first then oldest first, with its chair; a one-touch Acknowledge from the bar
goes out on MQTT in the nurse's name; an alarm that clears itself leaves the bar and stays in the
recent list with its end; the bar reads from 3 m at 1920x1080 and never pushes the tiles off the
screen; an auditor sees it without buttons.

Writes a 1920x1080 screenshot to test-artifacts/dashboard-alarm-bar.png for people to look at.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, expect

from monitor.broker import Mosquitto
from tests.integration.conftest import Bus, transitions
from tests.integration.sessions import topic
from tests.integration.test_dashboard_browser import (
    REPO,
    STAFF,
    STAFF_PASSWORDS,
    Running,
    Screen,
    alarm,
    browser,
    chair_state,
    high_alarm,
    infusing_chair,
    publish_state,
    serving,
    station_page,
)

pytestmark = pytest.mark.integration
__all__ = ["browser"]  # a fixture, shared with the dashboard's other browser tests

SCREENSHOT = REPO / "test-artifacts" / "dashboard-alarm-bar.png"
PASSWORDS, USERS = STAFF_PASSWORDS, STAFF
ROWS = "#alarm-bar-list > li"
READ_ROWS = """rows => rows.map(r => [
    r.dataset.chair, r.dataset.level, r.querySelector('[data-role="text"]').textContent])"""


@pytest.fixture
async def running(mosquitto: Mosquitto, tmp_path: Path) -> AsyncIterator[Running]:
    """The service with its station; a nurse and an auditor may log in."""
    async with serving(mosquitto, tmp_path, users=USERS) as here:
        yield here


def raised(old_s: float, *args: Any, **more: Any) -> Any:
    """An alarm (the station tests' own builder) raised `old_s` seconds ago."""
    made = alarm(*args, **more)
    return made.model_copy(update={"raised_at": time.time() - old_s})


async def two_chairs(bus: Bus) -> None:
    """b21 and b22, each with a high and a lower alarm, raised at different times."""
    await publish_state(bus, chair_state("b21", alarms=(
        raised(90, "b21", "sbp_high", "high", "active", "SBP 190 > 180 mmHg"),
        raised(120, "b21", "hr_high", "medium", "active", "HR 128 > 120 /min"),
    )))  # fmt: skip
    await publish_state(bus, chair_state("b22", alarms=(
        raised(30, "b22", "spo2_critical", "high", "active", "SpO2 82 % < 85 %"),
        raised(200, "b22", "hr_stale", "medium", "latched", "No valid HR for 40 s"),
        raised(300, "b22", "dbp_high", "low", "acknowledged", "DBP 96 > 95 mmHg",
               acknowledged_by="nurse.lee"),
    )))  # fmt: skip


async def test_the_bar_lists_every_chairs_alarms_high_first_then_oldest_with_the_chair(
    running: Running, browser: Browser, bus: Bus
) -> None:
    await two_chairs(bus)
    screen = await station_page(browser, running.base, passwords=PASSWORDS)
    rows = screen.page.locator(ROWS)
    await expect(rows).to_have_count(5, timeout=10_000)

    assert await rows.evaluate_all(READ_ROWS) == [
        ["b21", "high", "SBP 190 > 180 mmHg"],  # high, 90 s
        ["b22", "high", "SpO2 82 % < 85 %"],  # high, 30 s
        ["b22", "medium", "No valid HR for 40 s"],  # medium (technical), 200 s
        ["b21", "medium", "HR 128 > 120 /min"],  # medium, 120 s
        ["b22", "low", "DBP 96 > 95 mmHg"],  # low, acknowledged
    ]
    first = rows.nth(0)
    await expect(first.locator('[data-role="chair"]')).to_have_text("b21")
    await expect(first.locator('[data-role="mark"]')).to_have_text("***")
    await expect(first.locator('[data-role="age"]')).to_have_text(re.compile(r"^1:3\d$"))
    await expect(rows.nth(2).locator('[data-role="state"]')).to_have_text("LATCHED")
    quiet = rows.nth(4)
    await expect(quiet).to_have_attribute("data-state", "acknowledged")
    await expect(quiet.locator('[data-role="state"]')).to_have_text("acknowledged by nurse.lee")
    await expect(quiet.locator('[data-action="ack"]')).to_have_count(0)
    await expect(rows.locator('[data-action="ack"]')).to_have_count(4)
    colours = await rows.evaluate_all("rows => rows.map(r => getComputedStyle(r).backgroundColor)")
    assert colours[0] == "rgb(255, 45, 45)", colours  # high: red
    assert colours[3] == "rgb(255, 212, 0)", colours  # medium: yellow
    assert colours[4] not in colours[:4], colours  # acknowledged: quieter than any standing one
    await expect(screen.page.locator("#alarm-bar-none")).to_be_hidden()
    assert screen.errors == []


async def test_one_touch_acknowledge_from_the_bar_goes_out_in_the_nurses_name(
    running: Running, mosquitto: Mosquitto, browser: Browser, bus: Bus
) -> None:
    screen = await station_page(browser, running.base, passwords=PASSWORDS)
    await infusing_chair(running, mosquitto)
    none = screen.page.locator("#alarm-bar-none")
    await expect(none).to_have_text("No active alarms", timeout=10_000)
    sbp = await high_alarm(bus, "c01")
    row = screen.page.locator(f'{ROWS}[data-alarm="{sbp["alarm"]}"]')
    await expect(row).to_have_attribute("data-state", "active", timeout=5000)
    await expect(row.locator('[data-role="chair"]')).to_have_text("c01")
    await expect(none).to_be_hidden()

    await row.get_by_role("button", name=f"Acknowledge {sbp['text']} on chair c01").click()
    acknowledged = await bus.wait_for(
        lambda: transitions(bus, "c01", alarm=sbp["alarm"], state="acknowledged"),
        within_s=10, what="the acknowledged transition of c01's sbp_high",
    )  # fmt: skip
    await expect(row).to_have_attribute("data-state", "acknowledged", timeout=5000)
    await expect(row.locator('[data-role="state"]')).to_have_text("acknowledged by nurse.kim")
    await expect(row.locator('[data-action="ack"]')).to_have_count(0)

    commands = bus.on("/command", "c01")
    assert [(c["command"], c["alarm"], c["by"]) for c in commands] == [
        ("acknowledge", sbp["alarm"], "nurse.kim")
    ]
    assert acknowledged[0]["acknowledged_by"] == "nurse.kim"
    tile_line = screen.tile("c01").locator(f'[data-alarm="{sbp["alarm"]}"]')
    await expect(tile_line).to_have_attribute("data-state", "acknowledged")
    assert screen.errors == []


async def test_an_alarm_that_clears_itself_leaves_the_bar_and_stays_in_the_recent_list(
    running: Running, browser: Browser, bus: Bus
) -> None:
    hr = raised(45, "b31", "hr_high", "medium", "active", "HR 131 > 120 /min")
    await publish_state(bus, chair_state("b31", alarms=(hr,)))
    screen = await station_page(browser, running.base, passwords=PASSWORDS)
    page = screen.page
    row = page.locator(f'{ROWS}[data-alarm="{hr.alarm}"]')
    await expect(row).to_have_count(1, timeout=10_000)

    cleared_at = time.time()
    ended = hr.model_copy(update={"state": "cleared", "previous_state": "active",
                                  "reason": "condition_ends", "ts": cleared_at})  # fmt: skip
    await bus.publish(topic("b31", "alarm"), ended.to_json())
    await publish_state(bus, chair_state("b31"))
    await expect(row).to_have_count(0, timeout=5000)
    await expect(page.locator("#alarm-bar-none")).to_have_text("No active alarms")
    toggle = page.locator("#recent-toggle")
    await expect(toggle).to_have_text("Recent alarms (1)")
    await toggle.click()

    line = page.locator(f'#recent-rows tr[data-alarm="{hr.alarm}"]')
    await expect(line).to_be_visible(timeout=3000)
    cells = await line.locator("td").all_inner_texts()
    clock = await page.evaluate(
        """t => new Date(t * 1000).toLocaleTimeString([], {hour: '2-digit', minute: '2-digit',
            second: '2-digit', hour12: false})""",
        cleared_at,
    )
    assert cells[1:4] == ["b31", "** MEDIUM", "HR 131 > 120 /min"], cells
    assert cells[4] == f"cleared at {clock} (the condition ended)", cells
    await expect(line).to_have_attribute("data-state", "cleared")
    await page.locator('#recent-dialog [data-action="close"]').click()
    await expect(page.locator("#recent-dialog")).to_be_hidden()
    assert screen.errors == []


async def many_alarms(bus: Bus) -> None:
    """Six chairs, each with a high alarm and a medium one: more than the bar shows at once."""
    for n in range(1, 7):
        chair = f"m{n:02d}"
        await publish_state(bus, chair_state(chair, alarms=(
            raised(20 * n, chair, "sbp_high", "high", "active", f"SBP {180 + n} > 180 mmHg"),
            raised(300 + n, chair, "hr_high", "medium", "active", f"HR {120 + n} > 120 /min"),
        )))  # fmt: skip


async def test_at_1920x1080_the_bar_reads_from_3_m_and_never_pushes_the_tiles_off(
    running: Running, browser: Browser, bus: Bus
) -> None:
    await many_alarms(bus)
    screen: Screen = await station_page(browser, running.base, passwords=PASSWORDS)
    page = screen.page
    rows = page.locator(ROWS)
    await expect(rows).to_have_count(12, timeout=10_000)
    await expect(page.locator("[data-chair][data-priority]")).to_have_count(6)
    more = page.locator("#alarm-bar-more")
    await expect(more).to_have_text(re.compile(r"^\+\d+ more"), timeout=3000)
    await page.wait_for_timeout(1200)  # the ages and "+N more" ticked
    picture = await page.screenshot(full_page=False)
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    SCREENSHOT.write_bytes(picture)

    high = rows.nth(0)
    size = "e => parseFloat(getComputedStyle(e).fontSize)"
    text_px = await high.locator('[data-role="text"]').evaluate(size)
    chair_px = await high.locator('[data-role="chair"]').evaluate(size)
    button = await high.locator('[data-action="ack"]').bounding_box()
    bar = await page.locator("#alarm-bar").bounding_box()
    bottoms = await page.locator("[data-chair][data-priority]").evaluate_all(
        "tiles => tiles.map(t => t.getBoundingClientRect().bottom)"
    )
    levels = await rows.evaluate_all("rows => rows.map(r => r.dataset.level)")
    cut = int((await more.inner_text()).split()[0].lstrip("+"))
    whole = await page.locator("#alarm-bar-list").evaluate(
        """list => [...list.children].filter(r => r.getBoundingClientRect().bottom
            <= list.getBoundingClientRect().bottom + 1).length"""
    )

    assert text_px >= 28, text_px
    assert chair_px >= 28, chair_px
    assert button is not None
    assert button["width"] >= 44, button
    assert button["height"] >= 44, button
    assert bar is not None
    assert bar["height"] <= 1080 / 4, bar  # the tiles keep at least three quarters
    assert max(bottoms) <= 1080, bottoms
    assert levels == ["high"] * 6 + ["medium"] * 6, levels  # the high ones first
    assert whole >= 2, whole  # at least two high alarms whole, the rest scroll
    assert cut == 12 - whole, (cut, whole)  # "+N more" counts what is not shown whole
    assert SCREENSHOT.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert screen.errors == []


async def test_an_auditor_sees_the_bar_and_no_acknowledge(
    running: Running, browser: Browser, bus: Bus
) -> None:
    await two_chairs(bus)
    screen = await station_page(browser, running.base, "audit.ann", passwords=PASSWORDS)
    rows = screen.page.locator(ROWS)
    await expect(rows).to_have_count(5, timeout=10_000)

    await expect(rows.nth(0).locator('[data-role="text"]')).to_have_text("SBP 190 > 180 mmHg")
    await expect(screen.page.locator('#alarm-bar [data-action="ack"]')).to_have_count(0)
    await expect(screen.page.locator("#alarm-bar button")).to_have_count(0)
    assert screen.errors == []

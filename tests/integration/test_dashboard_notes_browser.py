"""A note and a limit change from the session view in a real browser (Debian's Chromium, driven
by Playwright) against the real service and a real Mosquitto: the note shows with its time and
writer, a limit widened past the clinic default asks first and names the risk, and both go out
on MQTT in the logged-in nurse's name."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from monitor.broker import Mosquitto
from tests.integration.conftest import Bus
from tests.integration.test_dashboard_browser import (
    STAFF,
    STAFF_PASSWORDS,
    Running,
    browser,
    infusing_chair,
    serving,
    station_page,
)

pytestmark = pytest.mark.integration
__all__ = ["browser"]  # a fixture, shared with the dashboard's other browser tests

PASSWORDS, USERS = STAFF_PASSWORDS, STAFF


@pytest.fixture
async def running(mosquitto: Mosquitto, tmp_path: Path) -> AsyncIterator[Running]:
    """The service with its station; a nurse and an auditor may log in."""
    async with serving(mosquitto, tmp_path, users=USERS) as here:
        yield here


async def test_a_note_and_a_widened_limit_from_the_session_view_go_out_in_the_nurses_name(
    running: Running, mosquitto: Mosquitto, browser: Browser, bus: Bus
) -> None:
    screen = await station_page(browser, running.base, passwords=PASSWORDS)
    await infusing_chair(running, mosquitto)
    page = screen.page
    await page.goto(f"{running.base}/session/c01")
    await expect(page.locator("#note-form")).to_be_visible(timeout=10_000)

    await page.locator("#note-text").fill("patient anxious, dimmed lights")
    await page.get_by_role("button", name="Save note").click()
    note = page.locator("#note-list li")
    await expect(note).to_contain_text("nurse.kim: patient anxious, dimmed lights", timeout=10_000)

    sbp_high = page.locator('#limit-fields input[name="sbp_high"]')
    await expect(sbp_high).to_have_value("180")
    await sbp_high.fill("200")
    await page.get_by_role("button", name="Save limits").click()
    question = page.locator("#confirm-text")
    await expect(question).to_have_text(
        "SBP high 200 mmHg is above the clinic default 180 mmHg: alarms for this patient will "
        "come later. Change?"
    )
    await page.locator('#confirm-dialog [data-action="confirm"]').click()
    await bus.wait_for(
        lambda: [s for s in bus.on("/state", "c01") if s["limits"]["sbp_high"] == 200],
        what="the new limit in c01's state",
    )
    await expect(sbp_high).to_have_value("200", timeout=10_000)

    commands = [(c["command"], c["by"]) for c in bus.on("/command", "c01")]
    assert commands == [("note", "nurse.kim"), ("set_limits", "nurse.kim")]
    assert bus.on("/command", "c01")[1]["limits"] == {"sbp_high": 200}
    assert screen.errors == []


async def test_an_auditor_sees_the_notes_but_no_way_to_add_one_or_change_a_limit(
    running: Running, mosquitto: Mosquitto, browser: Browser
) -> None:
    await infusing_chair(running, mosquitto)
    screen = await station_page(browser, running.base, "audit.ann", passwords=PASSWORDS)
    page = screen.page
    await page.goto(f"{running.base}/session/c01")

    await expect(page.locator("#notes-title")).to_be_visible(timeout=10_000)
    await expect(page.locator("#note-form")).to_be_hidden()
    await expect(page.locator("#limits")).to_be_hidden()

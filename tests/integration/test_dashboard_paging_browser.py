"""Paging at the nurses' station (contract v1.3) in a real browser (Debian's Chromium, driven by
Playwright) against the real service and a real Mosquitto: an alarm's line says who was paged,
counts down to the next step and says who accepted; the Pagers panel lists who covers which
chairs and hands a pager's chairs to another pager on MQTT under the nurse's name (an auditor
sees the panel without the hand-over); on a 1024x768 tablet with 12 chairs a red tile still
shows its paging line and its Ack.

Each test publishes chair states and the coverage itself, built with the service's own models
(ChairStateOut, PagingOut, CoverageOut) and checked as the station reads them back, for chairs
the service never hears of; the service runs (without paging) so that the station trusts its
screen. The tablet test writes test-artifacts/dashboard-paging-1024x768.png for people to look at.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from playwright.async_api import Browser, expect

from dashboard.auth import hash_password
from monitor.broker import Mosquitto
from monitor.wire.outbound import (
    AlarmOut,
    ChairStateOut,
    CoverageOut,
    PagerOut,
    PageViewOut,
    PagingOut,
)
from monitor.wire.topics import coverage_topic
from tests.integration.conftest import ROOT, SITE, Bus, until
from tests.integration.test_dashboard_browser import (
    PASSWORDS as NURSE_PASSWORDS,
)
from tests.integration.test_dashboard_browser import (
    REPO,
    VIEWPORT,
    Running,
    Screen,
    alarm,
    browser,
    chair_state,
    publish_state,
    serving,
    station_page,
)
from tests.integration.test_dashboard_browser import (
    USERS as NURSES,
)

pytestmark = pytest.mark.integration
__all__ = ["browser"]  # a fixture, shared with the dashboard's other browser tests

PASSWORDS = {**NURSE_PASSWORDS, "audit.ann": "ann-only-looks"}
USERS = {**NURSES, "audit.ann": {"role": "auditor",
                                 "password_hash": hash_password(PASSWORDS["audit.ann"])}}  # fmt: skip
TABLET = {"width": 1024, "height": 768}
SCREENSHOT = REPO / "test-artifacts" / "dashboard-paging-1024x768.png"
HANDOVER = f"{ROOT}/{SITE}/pager/p01/handover"

PAGERS = [
    PagerOut(id="p01", name="Kim", role="nurse"),
    PagerOut(id="p02", name="Lee", role="nurse"),
    PagerOut(id="p03", name="Sam", role="charge"),
    PagerOut(id="desk", name="Front desk", role="failsafe"),
]


@pytest.fixture
async def site(mosquitto: Mosquitto, tmp_path: Path) -> AsyncIterator[Running]:
    """The service with its station on a free port (a nurse and an auditor may log in)."""
    async with serving(mosquitto, tmp_path, users=USERS) as here:
        yield here


async def station_at(
    browser: Browser, base: str, *, user: str = "nurse.kim", viewport: dict[str, int] = VIEWPORT
) -> Screen:
    """Log in through the real login form (a nurse or the auditor) and land on the station."""
    return await station_page(browser, base, user, viewport=viewport, passwords=PASSWORDS)


# What the service publishes, built with its own models -----------------------------------------


def page_to(
    pager: str, name: str, *, ago_s: float, answer: str | None = None,
    answered_ago_s: float | None = None, step: int = 1,
) -> PageViewOut:  # fmt: skip
    now = time.time()
    answered = None if answered_ago_s is None else now - answered_ago_s
    return PageViewOut(pager=pager, pager_name=name, at=now - ago_s, step=step, answer=answer,
                       answered_at=answered)  # fmt: skip


def paged(state: ChairStateOut, paging: dict[str, PagingOut]) -> ChairStateOut:
    """`state` with its alarms' paging, checked as the station checks what it reads back."""
    out = state.model_copy(update={"paging": paging})
    ChairStateOut.model_validate(json.loads(out.to_json()), strict=True)
    return out


def high_alarm(chair: str, state: str = "active", **more: Any) -> AlarmOut:
    return alarm(chair, "sbp_high", "high", state, "SBP 190 > 180 mmHg", **more)


def escalating(*, next_to: str = "charge", due_in_s: float = 15.0) -> PagingOut:
    """One page to Kim 45 s ago, unanswered; the next step due in `due_in_s`."""
    return PagingOut(pages=[page_to("p01", "Kim", ago_s=45)], next_step=2, next_to=next_to,
                     next_due=time.time() + due_in_s, ended=None)  # fmt: skip


def coverage(primary: dict[str, str]) -> CoverageOut:
    return CoverageOut(ts=time.time(), site=SITE, pagers=PAGERS, primary=primary, default="p02",
                       charge="p03", failsafe=["desk"])  # fmt: skip


async def publish_coverage(bus: Bus, out: CoverageOut) -> None:
    CoverageOut.model_validate(json.loads(out.to_json()), strict=True)  # as the station reads it
    await bus.publish(coverage_topic(ROOT, SITE), out.to_json(), retain=True)


def countdown_s(text: str) -> int:
    found = re.fullmatch(r"charge nurse in (\d+):(\d\d)", text)
    assert found, f"not a countdown to the charge nurse: {text!r}"
    return int(found.group(1)) * 60 + int(found.group(2))


# The alarm's line ------------------------------------------------------------------------------


async def test_a_paged_alarm_says_who_was_paged_counts_down_to_the_next_step_and_who_accepted(
    site: Running, browser: Browser, bus: Bus
) -> None:
    screen = await station_at(browser, site.base)
    high = high_alarm("w01")
    await publish_state(bus, paged(chair_state("w01", alarms=(high,)), {high.alarm: escalating()}))
    tile = screen.tile("w01")
    line = tile.locator(f'.paging-line[data-paging-alarm="{high.alarm}"]')
    countdown = line.locator('[data-role="paging-next"]')
    await expect(line).to_be_visible(timeout=10_000)
    said = await line.locator('[data-role="paging-said"]').inner_text()
    first = await countdown.inner_text()
    await screen.page.wait_for_timeout(1200)
    second = await countdown.inner_text()

    answered = PagingOut(
        pages=[page_to("p01", "Kim", ago_s=50, answer="accepted", answered_ago_s=20)],
        next_step=None, next_to=None, next_due=None, ended="accepted by Kim (pager)",
    )  # fmt: skip
    acked = high_alarm("w01", "acknowledged", acknowledged_by="Kim")
    await publish_state(bus, paged(chair_state("w01", alarms=(acked,)), {high.alarm: answered}))
    await expect(line).to_contain_text("accepted by Kim", timeout=5000)

    assert re.fullmatch(r"paged Kim 0:[45]\d ago, no answer", said), said
    assert 0 < countdown_s(second) < countdown_s(first) <= 15, (first, second)
    assert re.fullmatch(r"accepted by Kim 0:2\d ago", await line.inner_text()), (
        await line.inner_text()
    )
    await expect(line).to_have_attribute("data-paging", "accepted")
    await expect(countdown).to_have_text("")
    await expect(tile.locator(f'[data-alarm="{high.alarm}"]')).to_have_count(1)
    await expect(screen.page.locator("#pagers-toggle")).to_be_hidden()  # this site sent no coverage
    assert screen.errors == []


async def test_the_next_step_to_the_primary_nurse_names_her_from_the_coverage(
    site: Running, browser: Browser, bus: Bus
) -> None:
    await publish_coverage(bus, coverage({"w02": "p01"}))
    screen = await station_at(browser, site.base)
    high = high_alarm("w02")
    waiting = PagingOut(pages=[], next_step=1, next_to="primary", next_due=time.time() + 25,
                        ended=None)  # fmt: skip
    declined = PagingOut(
        pages=[page_to("p01", "Kim", ago_s=40, answer="declined", answered_ago_s=12),
               page_to("p03", "Sam", ago_s=12, step=2)],
        next_step=3, next_to="failsafe", next_due=time.time() + 108, ended=None,
    )  # fmt: skip
    await publish_state(bus, paged(chair_state("w02", alarms=(high,)), {high.alarm: waiting}))
    line = screen.tile("w02").locator(f'.paging-line[data-paging-alarm="{high.alarm}"]')
    await expect(line).to_have_text(re.compile(r"^not paged yet · Kim in 0:2\d$"), timeout=10_000)

    await publish_state(bus, paged(chair_state("w02", alarms=(high,)), {high.alarm: declined}))
    await expect(line).to_have_text(
        re.compile(r"^Kim declined · paged charge nurse Sam 0:1\d ago, no answer · "
                   r"fail-safe group in 1:[45]\d$"), timeout=5000,
    )  # fmt: skip
    assert screen.errors == []


# The Pagers panel and the hand-over ------------------------------------------------------------


async def open_pagers(screen: Screen) -> Any:
    await screen.page.locator("#pagers-toggle").click()
    panel = screen.page.locator("#coverage-dialog")
    await expect(panel).to_be_visible(timeout=5000)
    return panel


async def test_the_pagers_panel_lists_who_covers_which_chairs_and_hands_kims_chairs_to_lee(
    site: Running, browser: Browser, bus: Bus
) -> None:
    await publish_coverage(bus, coverage({"c01": "p01", "c02": "p01", "c03": "p02"}))
    screen = await station_at(browser, site.base)
    toggle = screen.page.locator("#pagers-toggle")
    await expect(toggle).to_be_visible(timeout=10_000)
    panel = await open_pagers(screen)

    def row(pager: str) -> Any:
        return panel.locator(f'.coverage-pager[data-pager="{pager}"]')

    listed = {p.id: await row(p.id).locator('[data-role="covers"]').inner_text() for p in PAGERS}
    names = [await row(p.id).locator('[data-role="name"]').inner_text() for p in PAGERS]
    await row("p01").locator('[data-action="hand-over"]').click()
    await row("p01").locator('[data-role="hand-over-to"]').select_option("p02")
    await row("p01").locator('[data-action="hand-over-confirm"]').click()
    sent = await bus.wait_for(
        lambda: [r.payload for r in bus.seen if r.topic == HANDOVER], within_s=5,
        what=f"the hand-over on {HANDOVER}",
    )  # fmt: skip
    status = row("p01").locator('[data-role="hand-over-status"]')
    await expect(status).to_contain_text("waiting for the service", timeout=5000)
    # The service takes it and says so in its coverage.
    await publish_coverage(bus, coverage({"c01": "p02", "c02": "p02", "c03": "p02"}))
    await expect(status).to_have_text("Kim's chairs are now covered by Lee.", timeout=5000)

    assert names == ["Kim", "Lee", "Sam", "Front desk"]
    assert listed == {"p01": "chairs c01, c02", "p02": "chair c03 · all other chairs",
                      "p03": "charge nurse", "desk": "fail-safe"}  # fmt: skip
    assert [(m["to"], m["by"]) for m in sent] == [("p02", "nurse.kim")]
    await expect(row("p02").locator('[data-role="covers"]')).to_have_text(
        "chairs c01, c02, c03 · all other chairs"
    )
    await expect(row("p01").locator('[data-role="covers"]')).to_have_text("covers no chair now")
    assert screen.errors == []


async def test_an_auditor_sees_the_coverage_but_no_hand_over(
    site: Running, browser: Browser, bus: Bus
) -> None:
    await publish_coverage(bus, coverage({"c01": "p01"}))
    screen = await station_at(browser, site.base, user="audit.ann")
    panel = await open_pagers(screen)

    await expect(panel.locator(".coverage-pager")).to_have_count(len(PAGERS))
    await expect(panel.locator('.coverage-pager[data-pager="p01"]')).to_contain_text("chair c01")
    await expect(panel.locator('[data-action="hand-over"]')).to_have_count(0)
    assert screen.errors == []


async def test_a_hand_over_the_station_cannot_send_says_it_failed_and_kim_keeps_her_chairs(
    site: Running, mosquitto: Mosquitto, browser: Browser
) -> None:
    out = coverage({"c01": "p01"})
    async with aiomqtt.Client("127.0.0.1", mosquitto.port, identifier="service-coverage") as client:
        await client.publish(coverage_topic(ROOT, SITE), out.to_json(), qos=1, retain=True)
    screen = await station_at(browser, site.base)
    await expect(screen.page.locator("#pagers-toggle")).to_be_visible(timeout=10_000)
    panel = await open_pagers(screen)
    row = panel.locator('.coverage-pager[data-pager="p01"]')
    await row.locator('[data-action="hand-over"]').click()
    await row.locator('[data-role="hand-over-to"]').select_option("p02")

    await mosquitto.stop()
    try:
        await until(lambda: not site.hub.broker_connected, within_s=10, what="the broker gone")
        await row.locator('[data-action="hand-over-confirm"]').click()
        status = row.locator('[data-role="hand-over-status"]')
        await expect(status).to_contain_text("Hand-over failed", timeout=5000)
        text = await status.inner_text()
        retry = await row.locator('[data-action="hand-over-confirm"]').is_enabled()
    finally:
        await mosquitto.start()

    assert "cannot reach the broker" in text
    assert "Kim still covers the same chairs" in text
    assert retry  # the choice stays, to try again
    assert screen.errors == []


# A tablet --------------------------------------------------------------------------------------

# Where an element is on the page: inside its tile and its alarm list (which scrolls), on the
# screen, not cut (its text wraps), and the topmost thing at its centre (nothing covers it).
PLACED = """e => {
  const r = e.getBoundingClientRect();
  const within = (o) => r.top >= o.top - 0.5 && r.bottom <= o.bottom + 0.5
    && r.left >= o.left - 0.5 && r.right <= o.right + 0.5;
  const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
  return {
    tile: within(e.closest('.tile').getBoundingClientRect()),
    list: within(e.closest('.alarms').getBoundingClientRect()),
    screen: r.top >= 0 && r.left >= 0 && r.bottom <= innerHeight && r.right <= innerWidth,
    uncut: e.scrollWidth <= e.clientWidth + 1,
    on_top: e.contains(hit),
    px: parseFloat(getComputedStyle(e).fontSize),
  };
}"""


async def test_on_a_tablet_with_12_chairs_a_red_tile_shows_its_paging_line_and_its_ack(
    site: Running, browser: Browser, bus: Bus
) -> None:
    await publish_coverage(bus, coverage({"w01": "p01"}))
    high = high_alarm("w07")
    for n in range(1, 13):
        chair = f"w{n:02d}"
        state = chair_state(chair, alarms=(high,) if chair == "w07" else ())
        await publish_state(bus, paged(state, {high.alarm: escalating()} if chair == "w07" else {}))
    screen = await station_at(browser, site.base, viewport=TABLET)
    await expect(screen.page.locator("[data-chair][data-priority]")).to_have_count(
        12, timeout=10_000
    )
    tile = screen.tile("w07")
    await expect(tile).to_have_attribute("data-priority", "high", timeout=5000)
    line = tile.locator(f'.paging-line[data-paging-alarm="{high.alarm}"]')
    ack = tile.locator(f'[data-alarm="{high.alarm}"] [data-action="ack"]')
    text = tile.locator(f'[data-alarm="{high.alarm}"] [data-role="text"]')
    await expect(line).to_contain_text("charge nurse in", timeout=5000)
    await screen.page.wait_for_timeout(600)  # a tick, and the grid laid out for 12
    placed = {"line": await line.evaluate(PLACED), "ack": await ack.evaluate(PLACED)}
    alarm_px = await text.evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
    head = await screen.page.locator(".station-head").evaluate(
        "h => h.scrollWidth <= h.clientWidth"
    )
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    SCREENSHOT.write_bytes(await screen.page.screenshot(full_page=False))

    for what, where in placed.items():
        assert {k: v for k, v in where.items() if k != "px"} == {
            "tile": True,
            "list": True,
            "screen": True,
            "uncut": True,
            "on_top": True,
        }, (what, where)
    assert placed["line"]["px"] >= max(12.0, alarm_px), (placed, alarm_px)
    assert head, "the header runs off a 1024 px screen"
    await expect(screen.page.locator("#pagers-toggle")).to_be_visible()
    await expect(screen.banner).to_be_hidden()
    assert screen.errors == []

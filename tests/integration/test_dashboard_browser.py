"""The nurses' station in a real browser (Debian's Chromium, driven by Playwright) against the real
service, a real Mosquitto and a simulated clinic: every chair shows, a limit crossing turns its
tile red at once, an acknowledgement from the page goes out on MQTT under the nurse's name, and a
broken path behind the screen (broker, service) raises the warning banner.

The busy-clinic test writes a 1920x1080 screenshot to test-artifacts/dashboard-12-chairs.png for
people to look at (the README's docs/images/dashboard.png is a copy of one, made by hand, so a
test run never changes a tracked file).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import signal
import struct
import sys
import time
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
import uvicorn
from playwright.async_api import Browser, Page, async_playwright, expect

from dashboard.auth import Accounts, Sessions, hash_password
from dashboard.cli import create_station_app
from dashboard.hub import Hub
from dashboard.web import Dashboard
from monitor.app import Service
from monitor.broker import Mosquitto, free_port, wait_for_port
from monitor.cli import build_service
from monitor.domain.alarms import AlarmState
from monitor.settings import load_settings
from monitor.wire.outbound import (
    AlarmOut,
    AudioOut,
    BaselineOut,
    ChairStateOut,
    DeviceOut,
    InfusionOut,
    RecoveryStateOut,
    VitalOut,
)
from simulators.story import device_name
from tests.integration.conftest import ROOT, SITE, Bus, transitions, until
from tests.integration.sessions import ScriptedSession, at, topic

pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = (REPO / "test-artifacts" / "dashboard-12-chairs.png",)
VIEWPORT = {"width": 1920, "height": 1080}

PASSWORDS = {"nurse.kim": "kim-at-chair-1"}
USERS = {"nurse.kim": {"role": "nurse", "password_hash": hash_password(PASSWORDS["nurse.kim"])}}
# A nurse and an auditor, for the tests of what each role may see and do.
STAFF_PASSWORDS = {**PASSWORDS, "audit.ann": "ann-reads-only"}
STAFF = {
    **USERS,
    "audit.ann": {"role": "auditor", "password_hash": hash_password(STAFF_PASSWORDS["audit.ann"])},
}

# The simulated clinic: 12 chairs, each with a scenario, arriving over the first 15 minutes; the
# clinic has run for 25 minutes when the tests look at it (c01 calm and infusing, c02 a
# hypertensive responder past 180, c04 a restless patient with failed cuff readings, c09 a
# hypertensive one still in the baseline with its BP to review, c12 a failed cuff...).
CHAIRS = [f"c{n:02d}" for n in range(1, 13)]
SCENARIOS = ("calm,hypertensive,typical,artefact-storm,typical,probe-off,typical,vasovagal,"
             "hypertensive,slow-recovery,typical,desaturation")  # fmt: skip
CLINIC_S, STAGGER_S, SEED = 1500, 900, 11
RANK = {"high": 3, "medium": 2, "low": 1}

BANNER_VISIBLE = "document.getElementById('link-warning')?.checkVisibility() === true"
BANNER_HIDDEN = "document.getElementById('link-warning')?.checkVisibility() === false"


# The browser -------------------------------------------------------------------------------


def chromium() -> str:
    """Debian's Chromium, or a failure that says how to get it (never a skip)."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests drive Debian's Chromium. "
            "Install it with scripts/test, which runs apt-get install -y chromium.",
            pytrace=False,
        )
    return str(CHROMIUM)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    executable = chromium()
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            await launched.close()


@dataclass
class Screen:
    """A logged-in nurses' station page, and the script errors it has thrown."""

    page: Page
    errors: list[str] = field(default_factory=list)

    def tile(self, chair: str) -> Any:
        return self.page.locator(f'[data-chair="{chair}"][data-priority]')

    @property
    def banner(self) -> Any:
        return self.page.locator("#link-warning")

    async def seen_at(self, condition: str, *, within_s: float, what: str) -> float:
        """Epoch seconds of the first animation frame where the page's `condition` held."""
        try:
            handle = await self.page.wait_for_function(
                f"() => ({condition}) ? Date.now() : false", polling="raf", timeout=within_s * 1000
            )
        except Exception as exc:  # Playwright's TimeoutError: say what did not happen
            banner = await self.banner_reason()
            raise AssertionError(f"{what}: not within {within_s} s ({banner})") from exc
        ms: float = await handle.json_value()
        return ms / 1000

    async def banner_reason(self) -> str:
        with contextlib.suppress(Exception):
            reason = await self.banner.get_attribute("data-reason", timeout=1000)
            text = await self.banner.inner_text(timeout=1000)
            return f"banner reason {reason!r}, text {text!r}"
        return "banner unreadable"


async def station_page(
    browser: Browser,
    base: str,
    user: str = "nurse.kim",
    *,
    viewport: dict[str, int] = VIEWPORT,
    passwords: dict[str, str] = PASSWORDS,
) -> Screen:
    """Log in through the real login form, as a nurse does, and land on the station."""
    context = await browser.new_context(viewport=viewport)  # type: ignore[arg-type]
    page = await context.new_page()
    screen = Screen(page)
    page.on("pageerror", lambda exc: screen.errors.append(str(exc)))
    await page.goto(f"{base}/login")
    await page.locator("input[name=username]").fill(user)
    await page.locator("input[name=password]").fill(passwords[user])
    await page.locator("button[type=submit]").click()
    await page.wait_for_url(f"{base}/", timeout=10_000)
    return screen


# The service (holding its task, so a test can stop it) ---------------------------------------


@dataclass
class Running:
    service: Service
    task: asyncio.Task[None]
    port: int

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def hub(self) -> Hub:
        assert self.service.station is not None
        return self.service.station.hub

    async def stop(self) -> None:
        if not self.task.done():
            self.service.stop()
            await asyncio.wait_for(self.task, 15)


@pytest.fixture
async def running(mosquitto: Mosquitto, tmp_path: Path) -> AsyncIterator[Running]:
    """The service with its dashboard on a free port, run as `infusion-monitor serve` runs it."""
    async with serving(mosquitto, tmp_path, users=USERS) as here:
        yield here


@contextlib.asynccontextmanager
async def serving(
    mosquitto: Mosquitto, tmp_path: Path, *, users: dict[str, dict[str, str]]
) -> AsyncIterator[Running]:
    """The service with its station on a free port, once the station sees the service online."""
    port = free_port()
    settings = load_settings(
        None, broker=f"mqtt://127.0.0.1:{mosquitto.port}", site=SITE,
        db=f"sqlite:///{tmp_path / 'audit.db'}", http=f"127.0.0.1:{port}", users=users,
        tick_s=0.1,
    )  # fmt: skip
    service = build_service(settings)
    task = asyncio.create_task(service.run(), name="service-with-dashboard")
    here = Running(service, task, port)
    try:
        await asyncio.wait_for(service.link.connected.wait(), 10)
        await wait_for_port(port, within_s=10)
        await until(
            lambda: here.hub.broker_connected and here.hub.service_state == "online",
            within_s=10, what="the dashboard to see the service online",
        )  # fmt: skip
        yield here
    finally:
        await here.stop()


def expected_priority(service: Service, chair: str) -> str:
    """The worst active or latched alarm on the service's own board for `chair`, leaving out
    those shown under another alarm (`suppressed_by`): they add nothing to the tile."""
    alarms = service.clinic.chair(chair).state.board.alarms.values()
    waiting = (AlarmState.ACTIVE, AlarmState.LATCHED)
    open_ = [a.priority.value for a in alarms if a.state in waiting and a.suppressed_by is None]
    return max(open_, key=RANK.__getitem__, default="none")


def processed(service: Service) -> float:
    return sum(
        sample.value
        for metric in service.metrics.registry.collect()
        if metric.name == "infusion_messages"
        for sample in metric.samples
        if sample.name == "infusion_messages_total"
    )


async def run_clinic(running: Running, broker_port: int) -> int:
    """The simulated clinic (`infusion-sim`, its own process like the devices) published as fast
    as the broker takes it, ending now; returns once the service has taken every message."""
    start = time.time() - CLINIC_S
    sim = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "simulators.cli", "--broker", f"mqtt://127.0.0.1:{broker_port}",
        "--site", SITE, "--root", ROOT, "--chairs", str(len(CHAIRS)), "--seed", str(SEED),
        "--scenario", SCENARIOS, "--speed", "0", "--minutes", str(CLINIC_S / 60),
        "--stagger", str(STAGGER_S / 60), "--start", f"{start:.3f}",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        _, err = await asyncio.wait_for(sim.communicate(), 60)
    finally:
        if sim.returncode is None:
            sim.kill()
            await sim.wait()
    said = err.decode(errors="replace")
    assert sim.returncode == 0, said
    found = re.search(r"published (\d+) messages", said)
    assert found, said
    count = int(found.group(1))
    await until(
        lambda: processed(running.service) >= count, within_s=30,
        what=f"the service to take the clinic's {count} messages",
    )  # fmt: skip
    await monitors_stay_on(running, broker_port)
    return count


async def monitors_stay_on(running: Running, broker_port: int) -> None:
    """The simulator switches its monitors off as it exits; at the bedside they are still on
    when the nurse looks: each says `online` again, as a monitor does when it reconnects."""
    async with aiomqtt.Client("127.0.0.1", broker_port, identifier="bedside-monitors") as client:
        for chair in CHAIRS:
            online = {"ts": time.time(), "state": "online", "device": device_name(chair)}
            await client.publish(topic(chair, "device"), json.dumps(online), qos=1, retain=True)

    def all_online() -> bool:
        return all(running.service.clinic.chair(c).state.device_online for c in CHAIRS)

    await until(all_online, within_s=10, what="every chair's monitor online at the service")


# The clinic on the screen ----------------------------------------------------------------------


async def test_a_busy_clinic_shows_every_chair_and_is_photographed(
    running: Running, mosquitto: Mosquitto, browser: Browser
) -> None:
    screen = await station_page(browser, running.base)
    await run_clinic(running, mosquitto.port)

    tiles = screen.page.locator("[data-chair][data-priority]")
    await expect(tiles).to_have_count(len(CHAIRS), timeout=10_000)
    names = await tiles.evaluate_all("tiles => tiles.map(t => t.dataset.chair)")
    expected = {chair: expected_priority(running.service, chair) for chair in CHAIRS}
    for chair, priority in expected.items():
        await expect(screen.tile(chair)).to_have_attribute("data-priority", priority, timeout=5000)
    await expect(screen.banner).to_be_hidden(timeout=5000)
    await screen.page.wait_for_timeout(1200)  # one tick of the tiles' clocks and ages
    picture = await screen.page.screenshot(full_page=False)
    for path in SCREENSHOTS:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(picture)

    assert sorted(names) == CHAIRS
    assert {"high", "medium", "low"} <= set(expected.values()), expected
    assert _png_size(SCREENSHOTS[0].read_bytes()) == (1920, 1080)
    assert SCREENSHOTS[0].read_bytes() == picture
    assert screen.errors == []


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


async def test_a_limit_crossing_turns_its_tile_red_within_2_s_and_its_ack_goes_out_on_mqtt(
    running: Running, mosquitto: Mosquitto, browser: Browser, bus: Bus
) -> None:
    screen = await station_page(browser, running.base)
    await run_clinic(running, mosquitto.port)
    tile = screen.tile("c01")  # calm, infusing, no alarm
    await expect(tile).to_have_attribute("data-priority", "none", timeout=10_000)
    red = (
        "document.querySelector('[data-chair=\"c01\"][data-priority]')?.dataset.priority === 'high'"
    )
    watching = asyncio.create_task(screen.seen_at(red, within_s=10, what="c01's tile to turn high"))
    await asyncio.sleep(0.1)  # the watch is on before the reading goes out

    published = time.time()
    await bus.publish(
        topic("c01", "vitals"), {"ts": published, "seq": 99_999, "nibp": {"sys": 190, "dia": 95}}
    )
    red_at = await watching
    # The bus takes the whole simulated clinic too: on a busy machine it may be seconds behind
    # the station (whose time, red_at, is what this test bounds).
    raised = await bus.wait_for(
        lambda: transitions(bus, "c01", kind="sbp_high", state="active"),
        within_s=20, what="sbp_high raised on c01",
    )  # fmt: skip
    alarm = raised[0]["alarm"]
    line = tile.locator(f'[data-alarm="{alarm}"]')
    await expect(line).to_have_attribute("data-state", "active", timeout=5000)

    await line.locator('[data-action="ack"]').click()
    acknowledged = await bus.wait_for(
        lambda: transitions(bus, "c01", alarm=alarm, state="acknowledged"),
        within_s=20, what="the acknowledged transition on clinic/t1/chair/c01/alarm",
    )  # fmt: skip
    await expect(line).to_have_attribute("data-state", "acknowledged", timeout=5000)
    after = expected_priority(running.service, "c01")
    await expect(tile).to_have_attribute("data-priority", after, timeout=5000)
    commands = bus.on("/command", "c01")

    assert red_at - published < 2.0, f"c01 turned high {red_at - published:.2f} s after the publish"
    assert acknowledged[0]["acknowledged_by"] == "nurse.kim"
    assert [(c["command"], c["alarm"], c["by"]) for c in commands] == [
        ("acknowledge", alarm, "nurse.kim")
    ]
    assert screen.errors == []


# What contract v1.1 adds to a tile -------------------------------------------------------------
#
# Each of these publishes a chair's retained `state` itself, built with the service's own
# ChairStateOut so it cannot drift from what the service sends, for a chair the service never
# hears of; the service runs so that the station trusts its screen (no banner).


def alarm(chair: str, kind: str, priority: str, state: str, text: str, **more: Any) -> AlarmOut:
    now = time.time()
    technical = kind.endswith("_stale") or kind in ("clock_step", "baseline_incomplete")
    return AlarmOut(
        alarm=f"{chair}-{kind}", ts=now, site=SITE, chair=chair, session=f"S-{chair}",
        patient="P-0101", kind=kind, alarm_class="technical" if technical else "physiological",
        priority=priority, state=state, value=None, limit=None, text=text, raised_at=now - 30,
        **more,
    )  # fmt: skip


def chair_state(
    chair: str,
    *,
    phase: str = "infusing",
    vitals: dict[str, VitalOut] | None = None,
    alarms: tuple[AlarmOut, ...] = (),
    recovery: RecoveryStateOut | None = None,
    baseline: BaselineOut | None = None,
) -> ChairStateOut:
    """A chair in a session, as the service publishes it: by default infusing, with fresh vitals."""
    now = time.time()
    fresh = {"hr": 78.0, "spo2": 97.0, "sbp": 124.0, "dbp": 82.0}
    return ChairStateOut.model_validate({
        "ts": now, "site": SITE, "chair": chair, "session": f"S-{chair}", "patient": "P-0101",
        "phase": phase, "phase_since": now - 600,
        "device": DeviceOut(state="online", device=f"bedside-{chair}", since=now - 900),
        "baseline": baseline or BaselineOut(sbp=122, dbp=80, hr=75, spo2=98, source="measured",
                                            nibp_readings=3, complete=True, frozen=True),
        "infusion": InfusionOut(started_at=now - 600, running_minutes=10.0, planned_minutes=40.0)
        if phase == "infusing" else None,
        "vitals": vitals if vitals is not None
        else {v: VitalOut(value=x, ts=now - 2, age_s=2.0) for v, x in fresh.items()},
        "alarms": list(alarms), "recovery": recovery,
        "audio": AudioOut(audible=any(a.state == "active" and a.priority != "low"
                                      and a.suppressed_by is None for a in alarms)),
        "limits": {},
    })  # fmt: skip


async def publish_state(bus: Bus, state: ChairStateOut) -> None:
    await bus.publish(topic(state.chair, "state"), state.to_json(), retain=True)


async def recovery_station(running: Running, browser: Browser, bus: Bus) -> Screen:
    """Two chairs in recovery: v04 without a BP baseline, v05 watching after a cuff that did
    not count."""
    now = time.time()
    recovery = {"infusion_stopped_at": now - 300, "minutes_since_stop": 5.0,
                "window_minutes": 20.0}  # fmt: skip
    no_bp = BaselineOut(hr=75, spo2=98, source="measured", nibp_readings=1, complete=False,
                        frozen=True, missing="1 of 2 baseline cuff readings")  # fmt: skip
    await publish_state(bus, chair_state("v04", phase="recovery", baseline=no_bp,
        recovery=RecoveryStateOut(status="cannot_assess", **recovery,
                                  reason="no baseline BP: 1 of 2 baseline cuff readings")))  # fmt: skip
    await publish_state(bus, chair_state("v05", phase="recovery",
        recovery=RecoveryStateOut(status="watching", **recovery, off_baseline={"sbp": 0.02},
                                  reason="SpO2 91 % below 94 %")))  # fmt: skip
    screen = await station_page(browser, running.base)
    await expect(screen.page.locator("[data-chair][data-priority]")).to_have_count(
        2, timeout=10_000
    )
    return screen


NOTE = "questionable: repeat the cuff (narrow pulse pressure 150/115)"


async def test_an_alarms_note_shows_smaller_under_its_text_and_the_alarm_counts_fully(
    running: Running, browser: Browser, bus: Bus
) -> None:
    dbp = alarm("v01", "dbp_high", "high", "active", "DBP 115 > 110 mmHg", note=NOTE)
    await publish_state(bus, chair_state("v01", alarms=(dbp,)))
    screen = await station_page(browser, running.base)
    line = screen.tile("v01").locator(f'[data-alarm="{dbp.alarm}"]')
    text, note = line.locator('[data-role="text"]'), line.locator('[data-role="note"]')
    await expect(note).to_have_text(NOTE, timeout=10_000)
    await expect(note).to_be_visible()
    text_box, note_box = await text.bounding_box(), await note.bounding_box()
    sizes = [await part.evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
             for part in (text, note)]  # fmt: skip

    assert text_box is not None
    assert note_box is not None
    assert note_box["y"] >= text_box["y"] + text_box["height"] - 1, (text_box, note_box)
    assert sizes[1] < sizes[0], sizes
    assert await text.inner_text() == "DBP 115 > 110 mmHg"
    assert await screen.tile("v01").get_attribute("data-priority") == "high"
    assert await line.get_attribute("data-state") == "active"
    assert screen.errors == []


async def test_a_rise_shown_under_its_absolute_alarm_is_no_line_and_silent_until_it_stands_alone(
    running: Running, browser: Browser, bus: Bus
) -> None:
    high = alarm("v02", "sbp_high", "high", "acknowledged", "SBP 190 > 180 mmHg",
                 acknowledged_by="nurse.kim")  # fmt: skip
    await publish_state(bus, chair_state("v02", alarms=(high,)))
    screen = await station_page(browser, running.base)
    tile = screen.tile("v02")
    await expect(tile.locator(f'[data-alarm="{high.alarm}"]')).to_have_count(1, timeout=10_000)
    rise = alarm("v02", "sbp_rise", "medium", "active", "SBP 190 > 162 mmHg (baseline 122 + 40)",
                 suppressed_by="sbp_high")  # fmt: skip
    await bus.publish(topic("v02", "alarm"), rise.to_json())
    under = tile.locator(f'[data-alarm="{high.alarm}"] [data-role="under"]')
    await expect(under).to_have_text("(+ rise over baseline)", timeout=5000)
    hidden = {
        "lines": await tile.locator(f'[data-alarm="{rise.alarm}"]').count(),
        "tone": await screen.page.locator("body").get_attribute("data-tone"),
        "priority": await tile.get_attribute("data-priority"),
        "heard": await screen.page.locator("#alarm-announcer").text_content(),
    }
    alone = rise.model_copy(update={"suppressed_by": None, "ts": time.time()})
    await bus.publish(topic("v02", "alarm"), alone.to_json())
    await expect(tile.locator(f'[data-alarm="{rise.alarm}"]')).to_have_count(1, timeout=5000)

    assert hidden == {"lines": 0, "tone": "none", "priority": "none", "heard": ""}
    await expect(screen.page.locator("body")).to_have_attribute("data-tone", "medium")
    await expect(tile).to_have_attribute("data-priority", "medium")
    await expect(under).to_have_text("")
    assert screen.errors == []


async def test_a_stale_spo2_shows_no_data_while_hr_and_bp_keep_their_values(
    running: Running, browser: Browser, bus: Bus
) -> None:
    now = time.time()
    vitals = {
        "hr": VitalOut(value=78, ts=now - 2, age_s=2), "pr": VitalOut(value=77, ts=now - 2, age_s=2),
        "spo2": VitalOut(value=97, ts=now - 95, age_s=95, stale=True),
        "sbp": VitalOut(value=124, ts=now - 120, age_s=120),
        "dbp": VitalOut(value=82, ts=now - 120, age_s=120),
    }  # fmt: skip
    lost = alarm("v03", "spo2_stale", "medium", "active", "No valid SpO2 for 95 s")
    await publish_state(bus, chair_state("v03", vitals=vitals, alarms=(lost,)))
    screen = await station_page(browser, running.base)
    tile = screen.tile("v03")
    spo2, hr, bp = (tile.locator(f'[data-vital="{v}"]') for v in ("spo2", "hr", "bp"))
    await expect(spo2.locator('[data-role="value"]')).to_have_text("NO DATA", timeout=10_000)

    await expect(spo2).to_have_attribute("data-nodata", "true")
    await expect(spo2).to_contain_text("last 97")
    await expect(hr.locator('[data-role="value"]')).to_have_text("78")
    await expect(hr).to_have_attribute("data-nodata", "false")
    await expect(hr).to_contain_text("PR 77")
    await expect(bp.locator('[data-role="value"]')).to_have_text("124/82")
    await expect(tile).to_have_attribute("data-nodata", "false")  # the tile as a whole has data
    await expect(tile.locator('[data-role="nodata"]')).to_be_hidden()
    assert screen.errors == []


async def test_a_vital_missing_from_a_sessions_state_shows_no_data_not_a_blank(
    running: Running, browser: Browser, bus: Bus
) -> None:
    now = time.time()
    vitals = {v: VitalOut(value=x, ts=now - 2, age_s=2) for v, x in (("hr", 80), ("spo2", 96))}
    await publish_state(bus, chair_state("v06", vitals=vitals))
    screen = await station_page(browser, running.base)
    bp = screen.tile("v06").locator('[data-vital="bp"]')

    await expect(bp.locator('[data-role="value"]')).to_have_text("NO DATA", timeout=10_000)
    await expect(bp).to_have_attribute("data-nodata", "true")
    await expect(bp.locator('[data-role="age"]')).to_have_text("none")
    await expect(screen.tile("v06").locator('[data-vital="hr"] [data-role="value"]')).to_have_text(
        "80"
    )
    assert screen.errors == []


async def test_recovery_without_a_bp_baseline_says_it_cannot_be_assessed_and_why(
    running: Running, browser: Browser, bus: Bus
) -> None:
    screen = await recovery_station(running, browser, bus)
    tile = screen.tile("v04")
    detail = tile.locator('[data-role="phase-detail"]')
    await expect(detail).to_have_text("cannot be assessed", timeout=10_000)

    await expect(tile.locator('[data-role="phase-reason"]')).to_have_text(
        "no baseline BP: 1 of 2 baseline cuff readings"
    )
    await expect(tile).to_have_attribute("data-recovery", "cannot_assess")
    await expect(tile).not_to_contain_text("not back")
    await expect(tile).not_to_contain_text("waiting for a BP reading")
    watching = screen.tile("v05").locator('[data-role="phase-detail"]')
    looks = "e => [getComputedStyle(e).color, getComputedStyle(e).borderTopStyle]"
    assert await detail.evaluate(looks) != await watching.evaluate(looks)
    assert (await detail.evaluate(looks))[1] == "dashed"  # a second cue besides the colour
    assert screen.errors == []


async def test_while_watching_the_reason_the_last_cuff_did_not_count_shows_under_it(
    running: Running, browser: Browser, bus: Bus
) -> None:
    screen = await recovery_station(running, browser, bus)
    tile = screen.tile("v05")
    reason = tile.locator('[data-role="phase-reason"]')
    await expect(reason).to_have_text("SpO2 91 % below 94 %", timeout=10_000)
    phase_box = await tile.locator('[data-role="phase"]').bounding_box()
    reason_box = await reason.bounding_box()

    assert phase_box is not None
    assert reason_box is not None
    assert reason_box["y"] >= phase_box["y"] + phase_box["height"] - 1
    await expect(tile).to_have_attribute("data-recovery", "watching")
    await expect(tile.locator('[data-role="phase-detail"]')).to_have_text("within 20 % of baseline")
    assert screen.errors == []


# Discharge asks first, and over an unacknowledged high alarm says so ------------------------


async def baseline_station(running: Running, browser: Browser, bus: Bus, chair: str) -> Screen:
    """A patient admitted to `chair` through the real service, three baseline cuffs taken."""
    session = ScriptedSession(chair, end_min=9, discharge=False)
    messages = session.messages()
    shift = time.time() - messages[-1][1]["ts"] - 1
    await bus.send(
        [(where, payload | {"ts": payload["ts"] + shift}) for where, payload in messages]
    )
    await bus.wait_for(
        lambda: [s for s in bus.on("/state", chair) if s["phase"] == "baseline"],
        within_s=10, what=f"{chair} in its baseline",
    )  # fmt: skip
    screen = await station_page(browser, running.base)
    await expect(screen.tile(chair).locator('[data-action="discharge"]')).to_be_enabled(
        timeout=10_000
    )
    return screen


async def high_alarm(bus: Bus, chair: str) -> dict[str, Any]:
    reading = {"ts": time.time(), "seq": 90_000, "nibp": {"sys": 190, "dia": 95}}
    await bus.publish(topic(chair, "vitals"), reading)
    raised: list[dict[str, Any]] = await bus.wait_for(
        lambda: transitions(bus, chair, kind="sbp_high", state="active"),
        within_s=5, what=f"sbp_high on {chair}",
    )  # fmt: skip
    return raised[0]


def discharges(bus: Bus, chair: str) -> list[dict[str, Any]]:
    return [c for c in bus.on("/session", chair) if c["command"] == "discharge"]


async def say_yes(screen: Screen, bus: Bus, chair: str) -> list[dict[str, Any]]:
    """Confirm the open question; the discharge commands that then went out for `chair`."""
    await screen.page.locator('#confirm-dialog [data-action="confirm"]').click()
    sent: list[dict[str, Any]] = await bus.wait_for(
        lambda: discharges(bus, chair), within_s=5, what=f"the discharge of {chair}"
    )
    return sent


async def test_a_discharge_over_an_unacknowledged_high_alarm_asks_and_goes_out_over_it(
    running: Running, browser: Browser, bus: Bus
) -> None:
    screen = await baseline_station(running, browser, bus, "c01")
    raised = await high_alarm(bus, "c01")
    tile = screen.tile("c01")
    await expect(tile).to_have_attribute("data-priority", "high", timeout=5000)

    await tile.locator('[data-action="discharge"]').click()
    question = screen.page.locator("#confirm-dialog")  # before the start, also preinfusion_bp_high
    await expect(question).to_contain_text(raised["text"], timeout=5000)
    await expect(question).to_contain_text(
        re.compile(r"not acknowledged: discharge over (it|them)\?")
    )
    await expect(question).to_contain_text("This is recorded with your name (nurse.kim)")
    sent = await say_yes(screen, bus, "c01")
    over = await bus.wait_for(
        lambda: transitions(bus, "c01", alarm=raised["alarm"], reason="discharged_over"),
        within_s=5, what="sbp_high cleared as discharged over",
    )  # fmt: skip

    assert [(c["by"], c["over_alarms"]) for c in sent] == [("nurse.kim", True)]
    assert over[0]["acknowledged_by"] == "nurse.kim"
    await expect(tile).to_have_attribute("data-phase", "discharged", timeout=5000)
    assert screen.errors == []


async def asked_plainly(running: Running, browser: Browser, bus: Bus, chair: str) -> Screen:
    """A patient in `chair` with no alarm, and the nurse's Discharge asking the plain question."""
    screen = await baseline_station(running, browser, bus, chair)
    await screen.tile(chair).locator('[data-action="discharge"]').click()
    question = screen.page.locator("#confirm-text")
    await expect(question).to_have_text(f"Discharge the patient from chair {chair}?", timeout=5000)
    return screen


async def test_a_discharge_with_no_high_alarm_asks_plainly_and_goes_out_not_over_alarms(
    running: Running, browser: Browser, bus: Bus
) -> None:
    screen = await asked_plainly(running, browser, bus, "c02")

    sent = await say_yes(screen, bus, "c02")

    assert [(c["by"], c["over_alarms"]) for c in sent] == [("nurse.kim", False)]
    await expect(screen.tile("c02")).to_have_attribute("data-phase", "discharged", timeout=5000)
    assert screen.errors == []


async def test_a_high_alarm_raised_while_the_discharge_question_is_open_is_asked_about_first(
    running: Running, browser: Browser, bus: Bus
) -> None:
    screen = await asked_plainly(running, browser, bus, "c03")
    tile, question = screen.tile("c03"), screen.page.locator("#confirm-text")

    raised = await high_alarm(bus, "c03")
    await expect(tile).to_have_attribute("data-priority", "high", timeout=5000)
    await screen.page.locator('#confirm-dialog [data-action="confirm"]').click()
    await expect(question).to_contain_text("Another high-priority alarm came up", timeout=5000)
    await expect(screen.page.locator("#confirm-dialog")).to_contain_text(raised["text"])
    await screen.page.locator('#confirm-dialog [data-action="cancel"]').click()
    await screen.page.wait_for_timeout(500)  # what a click would have sent has reached the bus

    assert discharges(bus, "c03") == []
    await expect(tile).to_have_attribute("data-phase", "baseline")
    assert screen.errors == []


# A broken path behind the screen ---------------------------------------------------------------


async def infusing_chair(running: Running, broker: Mosquitto, chair: str = "c01") -> None:
    """One chair admitted and infusing, published by a short-lived device connection."""
    session = ScriptedSession(chair, end_min=14, discharge=False)
    messages = session.messages()
    shift = time.time() - messages[-1][1]["ts"] - 1
    async with aiomqtt.Client("127.0.0.1", broker.port, identifier=f"bedside-{chair}") as client:
        for where, payload in messages:
            body = json.dumps(payload | {"ts": payload["ts"] + shift})
            await client.publish(where, body, qos=1)

    def infusing() -> bool:
        view = running.hub.chairs.get(chair)
        return bool(view and view.state and view.state.get("phase") == "infusing")

    await until(infusing, within_s=10, what=f"{chair} infusing at the dashboard")


async def calm_station(running: Running, mosquitto: Mosquitto, browser: Browser) -> Screen:
    """A logged-in station with one chair infusing and no warning up."""
    screen = await station_page(browser, running.base)
    await infusing_chair(running, mosquitto)
    await expect(screen.tile("c01")).to_have_count(1, timeout=10_000)
    await expect(screen.banner).to_be_hidden(timeout=10_000)
    return screen


async def banner_rises_after(screen: Screen, fault: Awaitable[None], *, what: str) -> float:
    """Seconds from `fault` until the page shows the warning banner."""
    rising = asyncio.create_task(
        screen.seen_at(BANNER_VISIBLE, within_s=15, what=f"the banner after {what}")
    )
    await asyncio.sleep(0.1)
    started = time.time()
    await fault
    return await rising - started


async def test_the_banner_rises_when_the_broker_stops_and_falls_when_it_is_back(
    running: Running, mosquitto: Mosquitto, browser: Browser
) -> None:
    screen = await calm_station(running, mosquitto, browser)

    rose_after = await banner_rises_after(screen, mosquitto.stop(), what="the broker stopped")
    await asyncio.sleep(4)  # an outage, long enough for the reconnect backoff to grow
    still_up = await screen.banner.is_visible()
    falling = asyncio.create_task(
        screen.seen_at(BANNER_HIDDEN, within_s=30, what="the banner to go once the broker is back")
    )
    restarted = time.time()
    await mosquitto.start()
    fallen = await falling

    assert rose_after <= 8.0, f"the banner rose {rose_after:.1f} s after the broker stopped"
    assert still_up
    assert fallen - restarted <= 20.0, (
        f"the banner went {fallen - restarted:.1f} s after the restart"
    )
    assert screen.errors == []


async def test_the_banner_rises_when_the_service_with_the_dashboard_stops(
    running: Running, mosquitto: Mosquitto, browser: Browser
) -> None:
    screen = await calm_station(running, mosquitto, browser)

    async def stop_service() -> None:
        running.service.stop()
        await asyncio.wait_for(running.task, 15)

    rose_after = await banner_rises_after(screen, stop_service(), what="the service stopped")

    assert rose_after <= 5.0, f"the banner rose {rose_after:.1f} s after the stop"
    assert screen.errors == []


async def test_a_restart_of_the_service_leaves_every_station_logged_in(
    running: Running, mosquitto: Mosquitto, browser: Browser
) -> None:
    screens = [await calm_station(running, mosquitto, browser)]
    screens.append(await station_page(browser, running.base))
    await expect(screens[1].tile("c01")).to_have_count(1, timeout=10_000)

    await running.stop()
    for screen in screens:
        await expect(screen.banner).to_be_visible(timeout=10_000)
    again = build_service(running.service.settings)
    task = asyncio.create_task(again.run(), name="service-restarted")
    try:
        await asyncio.wait_for(again.link.connected.wait(), 10)
        for screen in screens:  # each page's websocket is taken again, no login asked for
            await expect(screen.banner).to_be_hidden(timeout=20_000)
            await expect(screen.tile("c01")).to_have_count(1, timeout=10_000)
        await screens[0].page.reload()
        await expect(screens[0].tile("c01")).to_have_count(1, timeout=10_000)
        assert screens[0].page.url == f"{running.base}/"
        response = await screens[1].page.request.get(f"{running.base}/api/chairs")
        assert response.status == 200
        logout = await screens[1].page.request.post(f"{running.base}/logout")
        assert logout.ok
    finally:
        again.stop()
        await asyncio.wait_for(task, 15)
    assert all(screen.errors == [] for screen in screens)

    third = build_service(running.service.settings)  # a logout is kept across a restart too
    task = asyncio.create_task(third.run(), name="service-restarted-again")
    try:
        await asyncio.wait_for(third.link.connected.wait(), 10)
        await wait_for_port(running.port, within_s=10)
        after_logout = await screens[1].page.request.get(f"{running.base}/api/chairs")
        still_in = await screens[0].page.request.get(f"{running.base}/api/chairs")
    finally:
        third.stop()
        await asyncio.wait_for(task, 15)
    assert after_logout.status == 401
    assert still_in.status == 200


# A second station, the service elsewhere ------------------------------------------------------


class _QuietServer(uvicorn.Server):
    """uvicorn without its own signal handlers: pytest keeps Ctrl-C."""

    @contextlib.contextmanager
    def capture_signals(self) -> Any:
        yield


@dataclass
class Station:
    dashboard: Dashboard
    port: int

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
async def station(mosquitto: Mosquitto) -> AsyncIterator[Station]:
    """A standalone nurses' station (as `infusion-dashboard` runs it) following the broker."""
    port = free_port()
    settings = load_settings(
        None, broker=f"mqtt://127.0.0.1:{mosquitto.port}", site=SITE, http=f"127.0.0.1:{port}",
        users=USERS,
    )  # fmt: skip
    hub = Hub(broker=settings.broker_address(), root=settings.root, site=settings.site)
    dashboard = Dashboard(hub=hub, accounts=Accounts(USERS), sessions=Sessions(), site=SITE)
    config = uvicorn.Config(
        create_station_app(dashboard), host="127.0.0.1", port=port, log_level="warning",
        lifespan="off", timeout_graceful_shutdown=2,
    )  # fmt: skip
    server = _QuietServer(config)
    tasks = [asyncio.create_task(server.serve(), name="station-http"),
             asyncio.create_task(hub.run(), name="station-hub"),
             asyncio.create_task(hub.heartbeat(), name="station-heartbeat")]  # fmt: skip
    try:
        await wait_for_port(port, within_s=10)
        await until(lambda: hub.broker_connected, within_s=10, what="the station on the broker")
        yield Station(dashboard, port)
    finally:
        server.should_exit = True
        await asyncio.wait_for(tasks[0], 10)
        for task in tasks[1:]:
            task.cancel()
        await asyncio.gather(*tasks[1:], return_exceptions=True)


# How the service goes away: the signal, its exit code, what the station should then say, and how
# soon the banner must rise (a frozen service is noticed by its missing 2-s heartbeat).
ENDINGS = {
    "stopped": (signal.SIGTERM, 0, "offline", 5.0),  # a clean stop says `offline` itself
    "killed": (signal.SIGKILL, -signal.SIGKILL, "offline", 5.0),  # the broker's Last Will says it
    "frozen": (signal.SIGSTOP, None, "silent", 8.0),  # connected, but says nothing any more
}


@pytest.mark.parametrize("how", list(ENDINGS))
async def test_a_second_station_raises_the_banner_when_the_service_stops_dies_or_freezes(
    station: Station, mosquitto: Mosquitto, browser: Browser, tmp_path: Path, how: str
) -> None:
    sent, exit_code, says, within_s = ENDINGS[how]
    service = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitor.cli", "serve", "--broker",
        f"mqtt://127.0.0.1:{mosquitto.port}", "--site", SITE, "--http", "off",
        "--db", f"sqlite:///{tmp_path / 'service.db'}", "--log-level", "WARNING",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    hub = station.dashboard.hub
    try:
        await until(
            lambda: hub.link(time.time())["service"] == "online", within_s=15,
            what="the service, in its own process, online at the station",
        )  # fmt: skip
        screen = await station_page(browser, station.base)
        await expect(screen.banner).to_be_hidden(timeout=10_000)

        rising = asyncio.create_task(
            screen.seen_at(BANNER_VISIBLE, within_s=15, what=f"the banner: service {how}")
        )
        await asyncio.sleep(0.1)
        ended = time.time()
        service.send_signal(sent)
        risen = await rising
        link = hub.link(time.time())
        code = None if exit_code is None else await asyncio.wait_for(service.wait(), 15)
    finally:
        if service.returncode is None:
            service.kill()  # a stopped (SIGSTOP) process dies of SIGKILL too
            await service.wait()

    assert risen - ended <= within_s, f"the banner rose {risen - ended:.1f} s after: {how}"
    assert link["service"] == says
    assert link["broker"] is True
    assert code == exit_code
    assert screen.errors == []


# The session view -------------------------------------------------------------------------------


async def test_the_session_view_draws_the_chart_and_lists_the_alarms_with_who_acknowledged(
    running: Running, browser: Browser, bus: Bus
) -> None:
    def bp(minute: float) -> tuple[float, float]:  # one high cuff, at minute 20
        return (190.0, 96.0) if 20 <= minute < 25 else (120.0, 80.0)

    session = ScriptedSession("c07", patient="P-0107", bp=bp)
    # acknowledged at 23: the next cuff (25) is normal before the 3 min reminder (26) sounds
    ack = {"ts": at(23), "command": "acknowledge", "alarm": "sbp_high", "by": "nurse.kim"}
    messages = sorted(
        [*session.messages(), (topic("c07", "command"), ack)], key=lambda m: m[1]["ts"]
    )
    shift = time.time() - messages[-1][1]["ts"] - 1
    await bus.send(
        [(where, payload | {"ts": payload["ts"] + shift}) for where, payload in messages]
    )
    await bus.wait_for(
        lambda: [s for s in bus.on("/state", "c07") if s["phase"] == "discharged"],
        within_s=20, what="c07 discharged",
    )  # fmt: skip
    published = bus.alarms("c07")
    await until(
        lambda: len(running.hub.chairs["c07"].alarms) == len(published), within_s=5,
        what="the dashboard to have every alarm transition of c07",
    )  # fmt: skip

    screen = await station_page(browser, running.base)
    await screen.page.goto(f"{running.base}/session/c07")
    chart = screen.page.locator("svg")
    drawn = chart.locator("path[d]")
    rows = screen.page.locator("table tbody tr")
    acked = rows.filter(has_text="nurse.kim")
    await expect(drawn.first).to_be_visible(timeout=10_000)
    await expect(rows).to_have_count(len(published), timeout=5000)
    await expect(acked.first).to_contain_text("sbp_high")

    assert any(t["state"] == "acknowledged" for t in published)
    assert await chart.first.is_visible()
    assert await drawn.count() >= 4  # SBP, DBP, HR and SpO2
    assert screen.errors == []


async def test_a_record_that_cannot_write_raises_the_banner_and_it_falls_when_writing_again(
    station: Station, mosquitto: Mosquitto, browser: Browser
) -> None:
    status_topic = f"{ROOT}/{SITE}/monitor/status"

    def status(record: dict[str, Any]) -> str:
        return json.dumps({"ts": time.time(), "state": "online", "site": SITE, "record": record})

    async with aiomqtt.Client("127.0.0.1", mosquitto.port, identifier="service-status") as client:
        failing = {"state": "failing", "since": time.time(), "reason": "database is locked",
               "backlog": 12, "lost": 0}  # fmt: skip
        await client.publish(status_topic, status({"state": "ok"}), qos=1, retain=True)
        screen = await station_page(browser, station.base)
        await expect(screen.banner).to_be_hidden(timeout=10_000)

        await client.publish(status_topic, status(failing), qos=1, retain=True)
        await expect(screen.banner).to_be_visible(timeout=5_000)
        reason = await screen.banner.get_attribute("data-reason")
        text = await screen.banner.inner_text()
        # A high-priority technical alarm: it sounds, the tiles stay live (alarms go on).
        body = screen.page.locator("body")
        await expect(body).to_have_attribute("data-tone", "high")
        await expect(body).to_have_attribute("data-link", "ok")
        await screen.page.locator("#link-warning-ack").click()
        await expect(body).to_have_attribute("data-tone", "none")
        await expect(screen.banner).to_have_attribute("data-priority", "acknowledged")
        await expect(screen.page.locator("#link-warning-ack")).to_be_hidden()
        # Failing anew (another `since`) is a new alarm: it sounds again.
        again = {**failing, "since": time.time() + 60}
        await client.publish(status_topic, status(again), qos=1, retain=True)
        await expect(body).to_have_attribute("data-tone", "high", timeout=5_000)
        await client.publish(status_topic, status({"state": "ok"}), qos=1, retain=True)
        await expect(screen.banner).to_be_hidden(timeout=5_000)
        await expect(body).to_have_attribute("data-tone", "none")
        await client.publish(status_topic, b"", qos=1, retain=True)

    assert reason == "record"
    assert "cannot write its record" in text
    assert "database is locked" in text
    assert "12 entries kept aside" in text
    assert screen.errors == []


async def test_chairs_the_service_refuses_are_a_silent_notice_at_the_station(
    station: Station, mosquitto: Mosquitto, browser: Browser
) -> None:
    status_topic = f"{ROOT}/{SITE}/monitor/status"
    ok = {"state": "ok"}

    def status(refused: dict[str, Any] | None) -> str:
        return json.dumps({"ts": time.time(), "state": "online", "site": SITE, "record": ok,
                           "refused_chairs": refused})  # fmt: skip

    async with aiomqtt.Client("127.0.0.1", mosquitto.port, identifier="service-status") as client:
        await client.publish(status_topic, status(None), qos=1, retain=True)
        screen = await station_page(browser, station.base)
        notice = screen.page.locator("#station-notice")
        await expect(notice).to_be_hidden(timeout=10_000)
        refused = {"chairs": 2, "messages": 40, "latest": "c13", "at": time.time(),
                   "reason": "unknown_chair"}  # fmt: skip
        await client.publish(status_topic, status(refused), qos=1, retain=True)
        await expect(notice).to_be_visible(timeout=5_000)
        text = await notice.inner_text()
        tone = await screen.page.locator("body").get_attribute("data-tone")
        await client.publish(status_topic, b"", qos=1, retain=True)

    assert "2 chairs" in text
    assert "c13" in text
    assert "not in this site's chair list" in text
    assert tone == "none"  # a warning, not an alarm
    await expect(screen.banner).to_be_hidden()
    assert screen.errors == []


async def test_paging_that_fails_is_a_sounding_banner_at_the_station_until_it_works_again(
    station: Station, mosquitto: Mosquitto, browser: Browser
) -> None:
    status_topic = f"{ROOT}/{SITE}/monitor/status"

    def status(paging: dict[str, Any]) -> str:
        return json.dumps({"ts": time.time(), "state": "online", "site": SITE,
                           "record": {"state": "ok"}, "paging": paging})  # fmt: skip

    failing = {"state": "failing", "since": time.time(), "reason": "webhook: no answer within 5 s",
               "routes": {"webhook": "no answer within 5 s"}}  # fmt: skip
    async with aiomqtt.Client("127.0.0.1", mosquitto.port, identifier="service-status") as client:
        await client.publish(status_topic, status({"state": "ok"}), qos=1, retain=True)
        screen = await station_page(browser, station.base)
        body = screen.page.locator("body")
        await expect(screen.banner).to_be_hidden(timeout=10_000)

        await client.publish(status_topic, status(failing), qos=1, retain=True)
        await expect(screen.banner).to_be_visible(timeout=5_000)
        await expect(screen.banner).to_have_attribute("data-reason", "paging")
        text = await screen.banner.inner_text()
        await expect(body).to_have_attribute("data-tone", "high")
        await expect(body).to_have_attribute("data-link", "ok")  # the tiles stay live
        await screen.page.locator("#link-warning-ack").click()
        await expect(body).to_have_attribute("data-tone", "none")
        await expect(screen.banner).to_be_visible()  # silenced, not gone: paging still fails
        await client.publish(status_topic, status({"state": "ok"}), qos=1, retain=True)
        await expect(screen.banner).to_be_hidden(timeout=5_000)
        await client.publish(status_topic, b"", qos=1, retain=True)

    assert "Paging is failing" in text
    assert "webhook: no answer within 5 s" in text
    assert screen.errors == []

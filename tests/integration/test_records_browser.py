"""Session records in a real browser (Debian's Chromium, driven by Playwright) against the real
service, its SQLite record and a real Mosquitto: an auditor finds a finished session by chair
and outcome, sees the clinic summary of the dates, and gets its report (HTML and PDF, whose
text says the outcome) and its exports. Everything is behind the login and read only."""

from __future__ import annotations

import io
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiomqtt
import pytest
from playwright.async_api import Browser, expect
from pypdf import PdfReader

from monitor.broker import Mosquitto
from tests.integration.conftest import until
from tests.integration.sessions import ScriptedSession
from tests.integration.test_dashboard_browser import (
    STAFF,
    STAFF_PASSWORDS,
    Running,
    browser,
    serving,
    station_page,
)

pytestmark = pytest.mark.integration
__all__ = ["browser"]  # a fixture, shared with the dashboard's other browser tests

PASSWORDS, USERS = STAFF_PASSWORDS, STAFF


@pytest.fixture
async def finished(mosquitto: Mosquitto, tmp_path: Path) -> AsyncIterator[tuple[Running, str]]:
    """The service with its station, and one whole session (admitted, infused, back to
    baseline, discharged) in its record: its id."""
    async with serving(mosquitto, tmp_path, users=USERS) as running:
        messages = ScriptedSession("c01", patient="P-0042").messages()
        shift = time.time() - messages[-1][1]["ts"] - 1
        async with aiomqtt.Client("127.0.0.1", mosquitto.port, identifier="bedside-c01") as client:
            for where, payload in messages:
                await client.publish(where, json.dumps(payload | {"ts": payload["ts"] + shift}),
                                     qos=1)  # fmt: skip
        recorder = running.service.recorder

        def closed() -> list[str]:
            return [s.id for s in recorder.sessions() if s.closed_at is not None]

        await until(lambda: closed(), within_s=20, what="the session closed in the record")
        yield running, closed()[0]


async def test_an_auditor_finds_a_session_and_gets_its_report_and_exports(
    finished: tuple[Running, str], browser: Browser, tmp_path: Path
) -> None:
    running, session = finished
    screen = await station_page(browser, running.base, "audit.ann", passwords=PASSWORDS)
    page = screen.page
    await page.locator("#records-link").click()
    await page.wait_for_url(f"{running.base}/records")

    row = page.locator(f'#records-body tr[data-session="{session}"]')
    await expect(row).to_contain_text("P-0042", timeout=10_000)
    await expect(row.locator("td.outcome")).to_have_text("✓ recovered")
    await expect(page.locator("#summary")).to_contain_text("Sessions1")

    await page.locator("#search-outcome").select_option("overdue")  # none of those
    await page.get_by_role("button", name="Search").click()
    await expect(page.locator("#records-body tr")).to_have_count(0)
    await expect(page.locator("#records-caption")).to_have_text("Sessions (0)")
    await page.locator("#search-outcome").select_option("recovered")
    await page.locator("#search-chair").fill("c01")
    await page.get_by_role("button", name="Search").click()
    await expect(row).to_have_count(1)

    href = await row.locator('a[data-export="pdf"]').get_attribute("href")
    assert href is not None
    pdf = await page.request.get(f"{running.base}{href}")
    assert pdf.status == 200
    assert pdf.headers["content-type"] == "application/pdf"
    text = " ".join(
        " ".join(p.extract_text().split()) for p in PdfReader(io.BytesIO(await pdf.body())).pages
    )
    assert "Back to baseline" in text
    assert "The session's hash chain verifies" in text
    assert "chair c01" in text

    async with page.context.expect_page() as opened:
        await row.locator('a[data-export="report"]').click()
    report = await opened.value
    await expect(report.locator("p.outcome")).to_contain_text("Back to baseline")
    await expect(report.locator("figure.chart svg")).to_have_count(1)

    exported = await page.request.get(
        f"{running.base}/api/audit/sessions/{session}/export?format=jsonl"
    )
    lines = [json.loads(line) for line in (await exported.text()).splitlines()]
    assert lines[0]["record"] == "session"
    assert sum(1 for line in lines if line["record"] == "reading") > 100
    fhir = await page.request.get(f"{running.base}/api/audit/sessions/{session}/export?format=fhir")
    assert (await fhir.json())["resourceType"] == "Bundle"
    assert screen.errors == []


async def test_records_are_behind_the_login_and_answer_bad_input_with_a_reason(
    finished: tuple[Running, str], browser: Browser
) -> None:
    running, session = finished
    screen = await station_page(browser, running.base, "audit.ann", passwords=PASSWORDS)
    request = screen.page.request
    anonymous = await browser.new_context()
    try:
        for path in ("/api/audit/sessions", f"/api/audit/sessions/{session}/report.pdf",
                     "/api/audit/summary"):  # fmt: skip
            assert (await anonymous.request.get(f"{running.base}{path}")).status == 401, path
        page = await anonymous.new_page()
        await page.goto(f"{running.base}/records")
        await page.wait_for_url(f"{running.base}/login")
    finally:
        await anonymous.close()

    bad = await request.get(f"{running.base}/api/audit/sessions?from=yesterday")
    assert bad.status == 422
    assert "is not an ISO date" in (await bad.json())["detail"]
    unknown = await request.get(f"{running.base}/api/audit/sessions/nope/report.html")
    assert unknown.status == 404
    assert (await request.post(f"{running.base}/api/audit/sessions")).status == 405

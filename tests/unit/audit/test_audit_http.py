"""The auditor's HTTP routes on the day's record, in process (ASGI, no network): the same
answers as the audit commands, files with their names, and every failure a status with its
reason, never a server error."""

from __future__ import annotations

import json
from types import SimpleNamespace

import httpx
from audit_day import Day
from fastapi import FastAPI

from monitor.audit.http import install_audit_api
from monitor.domain.limits import DEFAULT_LIMITS
from monitor.record import MemoryRecorder, Recorder


def client(recorder: Recorder) -> httpx.AsyncClient:
    app = FastAPI()
    settings = SimpleNamespace(clinic_name="Northside", seal_log_path=lambda: None)
    install_audit_api(app, [], recorder=recorder, settings=settings, limits=DEFAULT_LIMITS)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://audit")


async def test_sessions_and_the_summary_are_those_of_the_commands(
    recorder: Recorder, day: Day
) -> None:
    http = client(recorder)

    listed = (await http.get("/api/audit/sessions", params={"outcome": "overdue"})).json()
    assert [s["id"] for s in listed] == [day.second]
    assert listed[0]["outcome_text"] == "not recovered in the window"
    assert [
        s["id"] for s in (await http.get("/api/audit/sessions?from=2026-11-20&chair=c01")).json()
    ] == [day.third]
    summary = (await http.get("/api/audit/summary", params={"to": "2026-11-19"})).json()
    assert (summary["sessions"], summary["recovery"]["recovered"]) == (1, 1)


async def test_exports_and_reports_come_as_named_files(recorder: Recorder, day: Day) -> None:
    http = client(recorder)

    csv = await http.get(f"/api/audit/sessions/{day.first}/export?format=csv&table=alarms")
    assert csv.headers["content-disposition"] == (
        f'attachment; filename="session-{day.first}-alarms.csv"'
    )
    assert csv.text.splitlines()[0].startswith("time,alarm,kind,")
    lines = (await http.get(f"/api/audit/sessions/{day.first}/export")).text.splitlines()
    assert json.loads(lines[0])["record"] == "session"
    page = await http.get(f"/api/audit/sessions/{day.first}/report.html")
    assert page.headers["content-security-policy"].startswith("default-src 'none'")
    assert "Back to baseline 5 min after the infusion ended" in page.text
    assert "Northside" in page.text
    pdf = await http.get(f"/api/audit/sessions/{day.first}/report.pdf")
    assert pdf.content.startswith(b"%PDF")


async def test_failures_are_a_status_with_the_reason(recorder: Recorder) -> None:
    http = client(recorder)

    assert (await http.get("/api/audit/sessions/nope/report.pdf")).status_code == 404
    assert (await http.get("/api/audit/sessions/nope/export?format=fhir")).status_code == 404
    bad = await http.get("/api/audit/sessions?outcome=fine")
    assert (bad.status_code, "no outcome 'fine'" in bad.json()["detail"]) == (422, True)
    assert (await http.get("/api/audit/summary?to=9999-12-31")).status_code == 422
    assert (await http.get("/api/audit/sessions/x/export?format=pdf")).status_code == 422

    closed = MemoryRecorder()
    closed.close()
    unreadable = await client(closed).get("/api/audit/sessions")
    assert unreadable.status_code == 503
    assert unreadable.json()["detail"].startswith("the record cannot be read now")

"""HTTP for the auditor, behind the station's login: past sessions found, summarized, exported
and reported, as `infusion-monitor audit` does on the command line. Only GET: whoever may
read may use all of it (the auditor role included), and none of it acts.

    GET /api/audit/sessions?from=&to=&chair=&patient=&outcome=&site=   the sessions (JSON)
    GET /api/audit/summary?from=&to=&chair=&site=                       the clinic summary
    GET /api/audit/sessions/{id}/export?format=jsonl|csv|fhir&table=    one session whole
    GET /api/audit/sessions/{id}/report.html | report.pdf               the signed report

`from` and `to` are as on the command line (an ISO date or datetime, in the service's local
zone unless they name one). A record that cannot be read is a 503 with the reason. A report is
drawn one at a time, in a worker thread: a burst of report requests waits its turn rather than
loading the service that raises the alarms.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from typing import Annotated, Any, Protocol, TypeVar

from fastapi import FastAPI, HTTPException, Query, Response

from monitor.audit import SessionNotFound
from monitor.audit.export import Format, Table, export
from monitor.audit.outcome import parse_outcome
from monitor.audit.sessions import SessionFilter, find_sessions, sessions_json
from monitor.audit.summary import summarize, summary_json
from monitor.audit.times import parse_bound
from monitor.domain.limits import Limits
from monitor.record import Recorder, RecordError
from monitor.record.chain import SealLog

__all__ = ["install_audit_api"]

T = TypeVar("T")

# A report's own page: its style and chart are inline, and nothing on it runs or loads.
REPORT_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
_MEDIA = {
    Format.JSONL: ("application/x-ndjson", "jsonl"),
    Format.CSV: ("text/csv; charset=utf-8", "csv"),
    Format.FHIR: ("application/fhir+json", "fhir.json"),
}


class AuditSettings(Protocol):
    """The settings a report reads: the clinic's name and where the seals are kept."""

    clinic_name: str | None

    def seal_log_path(self) -> str | None: ...


def install_audit_api(
    app: FastAPI,
    guard: list[Any],
    *,
    recorder: Recorder,
    settings: AuditSettings,
    limits: Limits,
) -> None:
    """Add the auditor's routes to `app`, each behind `guard` (the station's login)."""
    drawing = threading.Lock()  # one report drawn at a time

    @app.get("/api/audit/sessions", dependencies=guard)
    def sessions(
        since: Annotated[str | None, Query(alias="from")] = None,
        before: Annotated[str | None, Query(alias="to")] = None,
        chair: str | None = None,
        patient: str | None = None,
        outcome: Annotated[list[str] | None, Query()] = None,
        site: str | None = None,
    ) -> Response:
        """The past (and open) sessions the filters pick, in admission order, each with its
        outcome and alarms; the same JSON as `audit sessions --json`."""
        picked = SessionFilter(
            since=_bound(since, end=False), before=_bound(before, end=True), chair=chair or None,
            patient=patient or None, site=site or None,
            outcomes=frozenset(_bad_request(parse_outcome, o) for o in outcome or () if o),
        )  # fmt: skip
        return _json(_found(lambda: sessions_json(find_sessions(recorder, picked))))

    @app.get("/api/audit/summary", dependencies=guard)
    def summary(
        since: Annotated[str | None, Query(alias="from")] = None,
        before: Annotated[str | None, Query(alias="to")] = None,
        chair: str | None = None,
        site: str | None = None,
    ) -> Response:
        """The clinic summary over the sessions admitted in the range (`audit summary --json`)."""
        picked = SessionFilter(since=_bound(since, end=False), before=_bound(before, end=True),
                               chair=chair or None, site=site or None)  # fmt: skip
        return _json(_found(lambda: summary_json(summarize(recorder, picked))))

    @app.get("/api/audit/sessions/{session}/export", dependencies=guard)
    def exported(
        session: str, format: Format = Format.JSONL, table: Table = Table.READINGS
    ) -> Response:
        """One session whole, as a file: JSON Lines, CSV (one table) or a FHIR R4B Bundle."""
        text = _found(lambda: export(recorder, session, format=format, table=table))
        media, suffix = _MEDIA[format]
        name = f"session-{session}" + (f"-{table.value}" if format is Format.CSV else "")
        return Response(text.encode("utf-8"), media_type=media,
                        headers=_attachment(f"{name}.{suffix}"))  # fmt: skip

    def report(session: str) -> Any:
        from monitor.audit.report import audited_report  # matplotlib: loaded when asked for

        path = settings.seal_log_path()
        return _found(lambda: audited_report(
            recorder, session, seal_log=SealLog(path) if path else None,
            clinic=settings.clinic_name, limits=limits, made_at=time.time(),
        ))  # fmt: skip

    @app.get("/api/audit/sessions/{session}/report.html", dependencies=guard)
    def report_page(session: str) -> Response:
        """The session report a clinician signs, as a page to read or print."""
        from monitor.audit.report_html import report_html

        with drawing:
            page = report_html(report(session))
        return Response(page, media_type="text/html; charset=utf-8",
                        headers={"Content-Security-Policy": REPORT_POLICY})  # fmt: skip

    @app.get("/api/audit/sessions/{session}/report.pdf", dependencies=guard)
    def report_file(session: str) -> Response:
        """The session report as a PDF, to print and sign."""
        from monitor.audit.report_pdf import report_pdf

        with drawing:
            pdf = report_pdf(report(session))
        return Response(pdf, media_type="application/pdf",
                        headers=_attachment(f"session-{session}-report.pdf"))  # fmt: skip


def _json(text: str) -> Response:
    return Response(text, media_type="application/json")


def _attachment(name: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{name}"'}


def _bound(text: str | None, *, end: bool) -> float | None:
    return None if not text else _bad_request(functools.partial(parse_bound, end=end), text)


def _bad_request(parse: Callable[[str], T], text: str) -> T:
    """`parse(text)`, its ValueError a 422 saying what to write."""
    try:
        return parse(text)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None


def _found(read: Callable[[], T]) -> T:
    """`read()`: an unknown session a 404, a record (or seal log) that cannot be read a 503,
    each with the reason."""
    try:
        return read()
    except SessionNotFound as exc:
        raise HTTPException(404, str(exc)) from None
    except RecordError as exc:
        raise HTTPException(503, f"the record cannot be read now: {exc}") from None

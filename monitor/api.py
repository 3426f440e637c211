"""HTTP: health, Prometheus metrics, and, with a station plugged in, the nurses' station and a
read-only view behind its login: every chair, a session's notes from the record, the alarm
limits a station may change during a session with their ranges and the clinic's defaults, and
the routes the layers above add behind it (the auditor's: `monitor.audit.http`).

The service does not know what a station is: the composition root (`monitor.cli`) hands
`create_api` a `WebStation` (the dashboard) that adds its routes and says who is logged in.
Without one there is no login, so nothing with patient data is served.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from fastapi import FastAPI, HTTPException, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from monitor import __version__
from monitor.domain.clinic import Clinic
from monitor.domain.limits import RANGES, Limit, Limits
from monitor.domain.rules import RULES, Direction
from monitor.domain.vitals import LABELS, UNITS
from monitor.record.base import Recorder
from monitor.wire.outbound import ChairStateOut, chair_state
from monitor.wire.payloads import format_event_time

# The service is unhealthy when its own tick loop lags by more than this (s).
MAX_TICK_LAG_S = 5.0


class Guarded(Protocol):
    """The settings the API reads: with a `metrics_token`, /metrics needs it as a bearer."""

    metrics_token: str | None


class Observed(Protocol):
    """What the API reads of the service."""

    site: str
    clinic: Clinic
    recorder: Recorder

    @property
    def settings(self) -> Guarded: ...

    def health(self, wall: float) -> dict[str, Any]: ...

    @property
    def registry(self) -> CollectorRegistry: ...


class WebStation(Protocol):
    """A nurses' station served by the service's HTTP server."""

    def install(self, app: FastAPI) -> None:
        """Add the station's pages, API and websocket to `app`."""
        ...

    def login_required(self) -> Any:
        """A FastAPI dependency: the logged-in user, or 401."""
        ...


Routes = Callable[[FastAPI, list[Any]], None]  # adds routes to the app, behind the guard given


def create_api(
    service: Observed, station: WebStation | None = None, routes: Sequence[Routes] = ()
) -> FastAPI:
    """The service's HTTP API; with a station, its pages and the read-only views behind its
    login, and `routes` (the layers above add theirs: the audit's) behind it too."""
    app = FastAPI(
        title="infusion-monitor",
        version=__version__,
        description="Live vital-signs monitoring for IV ketamine infusion clinics.",
    )

    @app.get("/healthz")
    def healthz(response: Response) -> dict[str, Any]:
        """Liveness and readiness: broker link, record, lag. No patient data."""
        health = service.health(time.time())
        if not health["ready"]:
            response.status_code = 503
        return health

    @app.get("/metrics")
    def metrics(request: Request) -> Response:
        """Prometheus metrics; behind the bearer token `metrics_token` when it is set."""
        token = service.settings.metrics_token
        if token and not _bearer_is(request.headers.get("authorization", ""), token):
            raise HTTPException(401, "metrics need Authorization: Bearer <metrics_token>",
                                headers={"WWW-Authenticate": "Bearer"})  # fmt: skip
        return Response(generate_latest(service.registry), media_type=CONTENT_TYPE_LATEST)

    if station is not None:
        station.install(app)  # its guard sets the headers of every response, and more
        _chairs_api(app, service, guard=[station.login_required()])
        _session_api(app, service, guard=[station.login_required()])
        for add in routes:
            add(app, [station.login_required()])
    else:
        app.middleware("http")(_plain_headers)
    return app


# Without a station, the service's own pages (health, metrics, API docs) still say that they
# are not to be framed, sniffed or referred to.
PLAIN_HEADERS = {
    "Content-Security-Policy": "frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


async def _plain_headers(request: Request, call_next: Any) -> Response:
    response: Response = await call_next(request)
    for name, value in PLAIN_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def _bearer_is(authorization: str, token: str) -> bool:
    scheme, _, given = authorization.partition(" ")
    return scheme.lower() == "bearer" and secrets.compare_digest(given.strip(), token)


def _chairs_api(app: FastAPI, service: Observed, *, guard: list[Any]) -> None:
    @app.get("/api/chairs", response_model=list[ChairStateOut], dependencies=guard)
    def chairs() -> list[ChairStateOut]:
        """Every chair's current state, as on its `state` topic."""
        wall = time.time()
        return [chair_state(c, site=service.site, wall=wall) for c in service.clinic]

    @app.get("/api/chairs/{site}/{chair}", response_model=ChairStateOut, dependencies=guard)
    def one_chair(site: str, chair: str) -> ChairStateOut:
        if site != service.site or chair not in service.clinic:
            raise HTTPException(404, f"no chair {chair!r} at site {site!r}")
        return chair_state(service.clinic.chair(chair), site=site, wall=time.time())


def _session_api(app: FastAPI, service: Observed, *, guard: list[Any]) -> None:
    @app.get("/api/sessions/{session}/notes", dependencies=guard)
    def notes(session: str) -> list[dict[str, Any]]:
        """A session's notes from the record, oldest first: when, by whom, what."""
        return [
            {"ts": format_event_time(e.ts), "by": e.data.get("by"), "text": e.data.get("text")}
            for e in service.recorder.events(session=session, type="NoteAdded")
        ]

    @app.get("/api/limits", dependencies=guard)
    def limits() -> list[dict[str, Any]]:
        """The alarm limits a station may change during a session (those of the alarm rules),
        each with its unit, clinical range, the clinic's default and the way that widens it
        (alarms later or never: a high limit higher, a low one lower, a delay longer)."""
        return limit_settings(service.clinic.limits)


def limit_settings(clinic: Limits) -> list[dict[str, Any]]:
    """The limits of the alarm rules (`rules.RULES`) in the rules' order, as a station shows
    them: `wider` says which way a change makes the alarm come later ("up" or "down")."""
    rows: dict[Limit, dict[str, Any]] = {}
    for rule in RULES:
        up = "up" if rule.direction is Direction.ABOVE else "down"
        label = f"{LABELS[rule.vital]} {rule.limit.value.split('_', 1)[1]}"
        rows.setdefault(rule.limit, _setting(rule.limit, label, UNITS[rule.vital], up, clinic))
        if rule.delay is not None:
            delay = f"{LABELS[rule.vital]} delay"
            rows.setdefault(rule.delay, _setting(rule.delay, delay, "s", "up", clinic))
    return list(rows.values())


def _setting(limit: Limit, label: str, unit: str, wider: str, clinic: Limits) -> dict[str, Any]:
    low, high = RANGES[limit]
    return {"name": limit.value, "label": label, "unit": unit, "low": low, "high": high,
            "clinic": clinic.value(limit), "wider": wider}  # fmt: skip

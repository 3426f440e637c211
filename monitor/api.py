"""HTTP: health, Prometheus metrics, and a read-only view of every chair (login comes with the
dashboard)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, HTTPException, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from dashboard.web import install, login_required
from monitor import __version__
from monitor.wire.outbound import ChairStateOut, chair_state

if TYPE_CHECKING:
    from dashboard.web import Dashboard
    from monitor.app import Service

# The service is unhealthy when its own tick loop lags by more than this (s).
MAX_TICK_LAG_S = 5.0


def create_api(service: Service, dashboard: Dashboard | None = None) -> FastAPI:
    """The service's HTTP API: /healthz and /metrics for anyone; with `dashboard`, the nurses'
    station and the chairs API behind its login. Without one there is no login, so nothing
    with patient data is served."""
    app = FastAPI(
        title="infusion-monitor",
        version=__version__,
        description="Live vital-signs monitoring for IV ketamine infusion clinics.",
    )

    @app.get("/healthz")
    def healthz(response: Response) -> dict[str, Any]:
        """Liveness and readiness: broker link, store, lag. No patient data."""
        health = service.health(time.time())
        if not health["ready"]:
            response.status_code = 503
        return health

    @app.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(service.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    if dashboard is not None:
        install(app, dashboard)
        _chairs_api(app, service, guard=[login_required(dashboard)])
    return app


def _chairs_api(app: FastAPI, service: Service, *, guard: list[Any]) -> None:
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

"""The service's HTTP API fuzzed from its own OpenAPI schema with schemathesis: in process (ASGI,
no network, no broker), with a nurse logged in, whatever a client sends to any route is answered
without a server error.

Small on purpose (a few cases a route): it runs in the normal suite.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from dashboard.auth import hash_password
from monitor.cli import build_service
from monitor.settings import load_settings

NURSE, PASSWORD = "nurse.kim", "correct horse battery"
CASES_A_ROUTE = 10


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    db = Path(tmp_path_factory.mktemp("record")) / "audit.db"
    service = build_service(
        load_settings(
            None,
            site="north",
            db=f"sqlite:///{db}",
            http="127.0.0.1:8080",  # never bound: the app is driven in process
            users={NURSE: {"role": "nurse", "password_hash": hash_password(PASSWORD)}},
        )
    )
    return service.api()


def _client(app: FastAPI, cookies: dict[str, str] | None = None) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app)
    return httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1", cookies=cookies)


async def _log_in(app: FastAPI) -> dict[str, str]:
    async with _client(app) as client:
        login = await client.post("/login", data={"username": NURSE, "password": PASSWORD})
        assert login.status_code == 303, login.text
        return dict(client.cookies)


@pytest.fixture(scope="module")
def cookies(app: FastAPI) -> dict[str, str]:
    return asyncio.run(_log_in(app))


@pytest.fixture(scope="module")
def operations(app: FastAPI) -> list[Any]:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    found = [result.ok() for result in schema.get_all_operations()]
    # A logout would end the login every other case uses.
    return [op for op in found if op.path != "/logout"]


@pytest.mark.timeout(300)
def test_no_request_to_the_api_is_answered_with_a_server_error(
    operations: list[Any], cookies: dict[str, str]
) -> None:
    assert len(operations) >= 5, [op.label for op in operations]
    for operation in operations:
        for mode in GenerationMode:
            _fuzz(operation, mode, cookies)


def _fuzz(operation: Any, mode: GenerationMode, cookies: dict[str, str]) -> None:
    """A few cases of one route (valid by its schema, or not), called with the nurse's login."""

    @settings(
        max_examples=CASES_A_ROUTE,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(mode))
    def call(case: Any) -> None:
        response = case.call(cookies=cookies)
        if operation.path == "/healthz" and response.status_code == 503:
            return  # not ready (no broker here), as it should say
        assert response.status_code < 500, (
            f"{operation.label}: {response.status_code} {response.text}"
        )

    try:
        call()
    except Unsatisfiable:
        assert mode is GenerationMode.NEGATIVE  # a route with nothing to get wrong


async def test_the_fuzz_is_logged_in(app: FastAPI, cookies: dict[str, str]) -> None:
    async with _client(app, cookies) as client:
        assert (await client.get("/api/chairs")).status_code == 200

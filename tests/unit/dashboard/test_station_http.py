"""The station's HTTP side in process (httpx over ASGI, no network): security headers on every
response, request bodies bounded before they are read in full, logins throttled with the same
answer as a wrong password, the cookie Secure over https, and /metrics behind its token when one
is set. Websockets ending at logout are tested over a real server, in
tests/integration/test_station_hardening.py."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from starlette.types import Message

from dashboard.auth import ADDRESS_FAILURES, USER_FAILURES, Accounts, Sessions, hash_password
from dashboard.cli import create_station_app
from dashboard.hub import Hub
from dashboard.web import (
    MAX_BODY_BYTES,
    STATIC,
    VERIFY_AT_ONCE,
    Dashboard,
    Guard,
    security_headers,
)
from monitor.api import create_api
from monitor.domain.clinic import Clinic
from monitor.wire.address import parse_broker_url

PASSWORDS = {"nurse.kim": "kim-at-chair-1", "nurse.sam": "sam-at-chair-2"}
USERS = {
    name: {"role": "nurse", "password_hash": hash_password(password)}
    for name, password in PASSWORDS.items()
}
SECURITY = {
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}


def a_station() -> Dashboard:
    hub = Hub(broker=parse_broker_url("mqtt://127.0.0.1:1"), root="clinic", site="t1")
    return Dashboard(hub=hub, accounts=Accounts(USERS), sessions=Sessions(), site="t1")


@pytest.fixture
def station() -> Dashboard:
    return a_station()


def http_to(app: FastAPI, *, base: str = "http://station") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=("10.0.0.7", 40000))
    return httpx.AsyncClient(transport=transport, base_url=base)


@pytest.fixture
async def client(station: Dashboard) -> AsyncIterator[httpx.AsyncClient]:
    async with http_to(create_station_app(station)) as http:
        yield http


async def log_in(client: httpx.AsyncClient, name: str, password: str | None = None) -> Any:
    form = {"username": name, "password": password or PASSWORDS[name]}
    return await client.post("/login", data=form)


# Security headers --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/login"), ("GET", "/"), ("GET", "/static/style.css"), ("GET", "/healthz"),
     ("GET", "/nowhere"), ("GET", "/api/dashboard/session/c01"), ("POST", "/logout")],
)  # fmt: skip
async def test_every_response_of_the_station_forbids_framing_and_sniffing(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    response = await client.request(method, path)

    for name, value in SECURITY.items():
        assert response.headers[name] == value
    policy = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy
    assert "object-src 'none'" in policy


async def test_every_response_of_the_service_with_its_station_carries_them_too() -> None:
    app = create_api(FakeService(), a_station())
    async with http_to(app) as http:
        for path in ("/healthz", "/metrics", "/login", "/api/chairs"):
            response = await http.get(path)
            assert response.headers["x-frame-options"] == "DENY", path
            assert "frame-ancestors 'none'" in response.headers["content-security-policy"], path


async def test_scripts_come_only_from_the_station_and_the_login_pages_one_inline_line() -> None:
    policy = dict(
        part.strip().split(" ", 1)
        for part in security_headers()["Content-Security-Policy"].split(";")
    )
    inline = re.findall(r"<script>(.*?)</script>", (STATIC / "login.html").read_text(), re.S)
    digests = {
        f"'sha256-{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}'" for s in inline
    }

    assert set(policy["script-src"].split()) == {"'self'", *digests}
    assert "'unsafe-inline'" not in policy["script-src"]
    for page in ("index.html", "session.html"):  # the station's pages load modules only
        assert re.findall(r"<script>", (STATIC / page).read_text()) == []


# Request bodies ----------------------------------------------------------------------------


async def test_a_login_with_a_declared_body_over_the_limit_is_refused_with_413(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/login", content=b"username=" + b"a" * (MAX_BODY_BYTES * 4))

    assert response.status_code == 413
    assert response.headers["x-frame-options"] == "DENY"


@pytest.mark.parametrize("path", ["/login", "/logout", "/nowhere"])
async def test_any_post_over_the_limit_is_refused_with_413(
    client: httpx.AsyncClient, path: str
) -> None:
    response = await client.post(path, content=b"x" * (MAX_BODY_BYTES + 1))
    assert response.status_code == 413


async def test_a_login_body_over_its_own_few_kib_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post("/login", content=b"username=" + b"a" * 5000)  # under the app's

    assert response.status_code == 413


async def test_a_streamed_body_is_refused_once_it_passes_the_limit_not_after_it_is_all_read() -> (
    None
):
    chunk = b"x" * 1024
    pulled, sent = 0, []

    async def receive() -> Message:
        nonlocal pulled
        pulled += 1
        return {"type": "http.request", "body": chunk, "more_body": True}  # for ever

    async def send(message: Message) -> None:
        sent.append(message)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        while (await receive())["more_body"]:
            pass

    guard = Guard(app, headers={"X-Frame-Options": "DENY"})
    scope = {"type": "http", "method": "POST", "path": "/login",
             "headers": [(b"transfer-encoding", b"chunked")]}  # fmt: skip

    await guard(scope, receive, send)

    assert pulled == MAX_BODY_BYTES // len(chunk) + 1
    assert sent[0]["status"] == 413
    assert (b"x-frame-options", b"DENY") in sent[0]["headers"]


# Logins ------------------------------------------------------------------------------------


async def test_a_good_login_sets_an_httponly_strict_cookie_not_secure_over_http(
    client: httpx.AsyncClient,
) -> None:
    response = await log_in(client, "nurse.kim")
    cookie = response.headers["set-cookie"].lower()

    assert response.status_code == 303
    assert "httponly" in cookie
    assert "samesite=strict" in cookie
    assert "secure" not in cookie.replace("samesite", "")


async def test_over_https_the_cookie_is_secure(station: Dashboard) -> None:
    async with http_to(create_station_app(station), base="https://station") as https:
        response = await log_in(https, "nurse.kim")
        logout = await https.post("/logout")

    assert "; secure" in response.headers["set-cookie"].lower()
    assert "; secure" in logout.headers["set-cookie"].lower()


async def test_a_forwarded_proto_header_alone_does_not_make_the_cookie_secure(
    client: httpx.AsyncClient,
) -> None:
    """Only the server (uvicorn, from a trusted proxy address) may say the request was https."""
    form = {"username": "nurse.kim", "password": PASSWORDS["nurse.kim"]}
    response = await client.post("/login", data=form, headers={"x-forwarded-proto": "https"})

    assert "; secure" not in response.headers["set-cookie"].lower()


async def test_failed_logins_are_logged_without_the_password(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="dashboard.web"):
        response = await log_in(client, "nurse.kim", "not-her-password-123")

    assert response.headers["location"] == "/login?error=1"
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "nurse.kim" in logged
    assert "10.0.0.7" in logged  # the client's address as the server saw it
    assert "not-her-password-123" not in logged


async def test_a_locked_out_user_gets_the_wrong_password_answer_even_with_the_right_one(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="dashboard.web"):
        wrong = [await log_in(client, "nurse.kim", f"guess-{i}") for i in range(USER_FAILURES)]
        right = await log_in(client, "nurse.kim")
        other = await log_in(client, "nurse.sam")

    assert {r.headers["location"] for r in wrong} == {"/login?error=1"}
    assert right.status_code == 303
    assert right.headers["location"] == "/login?error=1"
    assert "set-cookie" not in right.headers
    assert other.headers["location"] == "/"  # only her name is locked
    lockouts = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(lockouts) == 1
    assert "user name locked" in lockouts[0].getMessage()
    assert "locked" in caplog.records[-2].getMessage()  # the refused right password says why


async def test_an_unknown_user_answers_and_locks_like_a_known_one(
    client: httpx.AsyncClient,
) -> None:
    answers = [await log_in(client, "nobody.here", f"guess-{i}") for i in range(USER_FAILURES + 1)]
    known = [await log_in(client, "nurse.kim", f"guess-{i}") for i in range(USER_FAILURES + 1)]

    assert [(r.status_code, r.headers["location"]) for r in answers] == [
        (r.status_code, r.headers["location"]) for r in known
    ]


# /metrics ----------------------------------------------------------------------------------


class FakeSettings:
    def __init__(self, metrics_token: str | None) -> None:
        self.metrics_token = metrics_token


class FakeService:
    site = "t1"

    def __init__(self, metrics_token: str | None = None) -> None:
        self.clinic = Clinic()
        self.settings = FakeSettings(metrics_token)
        self.registry = CollectorRegistry()

    def health(self, wall: float) -> dict[str, Any]:
        return {"ready": True}


def metrics_app(token: str | None) -> FastAPI:
    return create_api(FakeService(token))


async def test_without_a_token_metrics_are_open_as_before() -> None:
    async with http_to(metrics_app(None)) as http:
        assert (await http.get("/metrics")).status_code == 200


@pytest.mark.parametrize(
    ("authorization", "status"),
    [(None, 401), ("Bearer wrong", 401), ("Basic s3cret-token", 401), ("s3cret-token", 401),
     ("Bearer s3cret-token", 200), ("bearer s3cret-token", 200)],
)  # fmt: skip
async def test_with_a_token_metrics_need_it_as_a_bearer(
    authorization: str | None, status: int
) -> None:
    headers = {"authorization": authorization} if authorization else {}
    async with http_to(metrics_app("s3cret-token")) as http:
        response = await http.get("/metrics", headers=headers)
        health = await http.get("/healthz")

    assert response.status_code == status
    assert health.status_code == 200  # health stays open
    if status == 401:
        assert response.headers["www-authenticate"] == "Bearer"


class CountingAccounts(Accounts):
    def __init__(self) -> None:
        super().__init__(USERS)
        self.verified = 0
        self.at_once = self.most_at_once = 0

    def verify(self, name: str, password: str) -> Any:
        self.verified += 1
        self.at_once += 1
        self.most_at_once = max(self.most_at_once, self.at_once)
        try:
            return super().verify(name, password)
        finally:
            self.at_once -= 1


async def test_a_burst_of_logins_hashes_a_few_at_a_time_and_stops_at_the_lockout() -> None:
    station = a_station()
    station.accounts = accounts = CountingAccounts()
    async with http_to(create_station_app(station)) as http:
        burst = [log_in(http, f"someone.{n}", "guess") for n in range(ADDRESS_FAILURES + 15)]
        answers = await asyncio.gather(*burst)

    assert {r.headers["location"] for r in answers} == {"/login?error=1"}
    # the rest were refused without a hash (those already hashing when the lock came finish)
    assert ADDRESS_FAILURES <= accounts.verified < ADDRESS_FAILURES + VERIFY_AT_ONCE
    assert accounts.most_at_once <= VERIFY_AT_ONCE

"""The delivery routes against real servers on 127.0.0.1: a WCTP endpoint that parses what it is
sent and confirms or refuses it, a webhook receiver that checks the signature, servers that hang,
refuse or answer 500 (retries, then a final failure, every attempt reported), MQTT through our
own Mosquitto, and `infusion-sim pager` answering a page that MqttRoute delivered."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from monitor.broker import Mosquitto, free_port
from monitor.mqtt import MqttLink
from monitor.paging.config import PagerAddress, Secret
from monitor.paging.dispatch import Attempt, Dispatcher
from monitor.paging.routes import DeliveryError, MqttRoute
from monitor.paging.wctp import WctpRoute
from monitor.paging.webhook import WebhookRoute
from monitor.wire.address import BrokerAddress
from monitor.wire.outbound import PageOut
from tests.integration.conftest import ROOT, SITE, Bus

pytestmark = pytest.mark.integration

T0 = 1_795_000_000.0
SECRET = Secret("a-shared-webhook-secret")
PAGE: dict[str, Any] = {
    "page": "pg-1", "ts": T0, "alarm": "al-1", "chair": "c03", "priority": "high",
    "text": "SBP 186 > 180 mmHg",
}  # fmt: skip


def _page(**changes: Any) -> PageOut:
    # A patient's name slipped into the data must never reach a pager: PageOut has no such field.
    return PageOut.model_validate({**PAGE, "patient": "Jane Doe", **changes})


# Servers -------------------------------------------------------------------------------------


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float = 0.0  # when it arrived (wall time)


@dataclass
class Server:
    """A real HTTP server in a thread; `answer(request) -> (status, body)` decides each reply,
    `delay_s` holds every answer back (a server that hangs), and `down` makes it answer 500 to
    everything (a server that fails)."""

    answer: Callable[[Request], tuple[int, bytes]]
    delay_s: float = 0.0
    down: bool = False
    received: list[Request] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/endpoint"


@contextlib.contextmanager
def serving(server: Server) -> Iterator[Server]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            request = Request(self.path, dict(self.headers.items()), body, time.time())
            server.received.append(request)
            time.sleep(server.delay_s)
            status, body = (500, b"down for the test") if server.down else server.answer(request)
            try:
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except OSError:  # the client gave up waiting
                pass

        def log_message(self, *args: Any) -> None:
            pass

    http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    http.daemon_threads = True
    server.port = http.server_address[1]
    thread = threading.Thread(target=http.serve_forever, name="test-http", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        http.shutdown()
        http.server_close()
        thread.join(5)


def _confirmation(inner: str) -> bytes:
    return (
        '<?xml version="1.0"?>\n'
        '<!DOCTYPE wctp-Operation SYSTEM "http://www.wctp.org/release/wctp-dtd-v1r3.dtd">\n'
        f'<wctp-Operation wctpVersion="wctp-dtd-v1r3"><wctp-Confirmation>{inner}'
        "</wctp-Confirmation></wctp-Operation>"
    ).encode()


@dataclass
class Submitted:
    sender: str | None
    security_code: str | None
    recipient: str | None
    message_id: str | None
    text: str | None


def _submitted(body: bytes) -> Submitted:
    """What a WCTP server reads from a wctp-SubmitRequest."""
    root = ET.fromstring(body)
    assert root.tag == "wctp-Operation"
    header = root.find("wctp-SubmitRequest/wctp-SubmitHeader")
    assert header is not None
    originator = header.find("wctp-Originator")
    recipient = header.find("wctp-Recipient")
    control = header.find("wctp-MessageControl")
    text = root.find("wctp-SubmitRequest/wctp-Payload/wctp-Alphanumeric")
    assert originator is not None
    assert recipient is not None
    assert control is not None
    return Submitted(
        sender=originator.get("senderID"),
        security_code=originator.get("securityCode"),
        recipient=recipient.get("recipientID"),
        message_id=control.get("messageID"),
        text=None if text is None else text.text,
    )


def wctp_server(*, refuse: str | None = None) -> Server:
    """Confirms each SubmitRequest it can read (wctp-Success), or answers wctp-Failure 403 for
    the recipient `refuse`."""

    def answer(request: Request) -> tuple[int, bytes]:
        try:
            submitted = _submitted(request.body)
        except (ET.ParseError, AssertionError):
            return 200, _confirmation('<wctp-Failure errorCode="301" errorText="cannot parse"/>')
        if submitted.recipient == refuse:
            failure = '<wctp-Failure errorCode="403" errorText="invalid recipientID"/>'
            return 200, _confirmation(failure)
        return 200, _confirmation('<wctp-Success successCode="200" successText="Accepted"/>')

    return Server(answer)


def webhook_receiver() -> Server:
    """200 for a request signed with SECRET in the last 5 minutes, 401 for any other. The
    receiver computes the signature itself, from the documented scheme."""

    def answer(request: Request) -> tuple[int, bytes]:
        stamp = request.headers.get("X-Timestamp", "")
        signed = stamp.encode() + b"." + request.body
        expected = hmac.new(SECRET.reveal().encode(), signed, hashlib.sha256).hexdigest()
        fresh = stamp.isdigit() and abs(time.time() - int(stamp)) < 300
        good = hmac.compare_digest(request.headers.get("X-Signature", ""), f"sha256={expected}")
        return (200, b"{}") if fresh and good else (401, b"bad signature")

    return Server(answer)


def _dispatcher(*routes: Any, **options: Any) -> tuple[Dispatcher, list[Attempt]]:
    attempts: list[Attempt] = []
    settings: dict[str, Any] = {"retries": 2, "backoff_s": (0.05,), "timeout_s": 5.0, **options}
    return Dispatcher(routes, on_attempt=attempts.append, **settings), attempts


# WCTP ----------------------------------------------------------------------------------------

ANN = PagerAddress("ann", "wctp", "5551234")


async def test_wctp_delivers_a_submit_request_the_server_can_read() -> None:
    with serving(wctp_server()) as server:
        route = WctpRoute(
            server.url, sender="infusion-monitor", security_code=Secret("pin-4321"), timeout_s=2
        )
        dispatcher, attempts = _dispatcher(route)
        last = await dispatcher.deliver(ANN, _page())
        await route.aclose()

    submitted = _submitted(server.received[0].body)
    assert (last.ok, last.final, last.detail) == (True, True, "WCTP 200 Accepted")
    assert [(a.route, a.attempt_no) for a in attempts] == [("wctp", 1)]
    assert submitted == Submitted(
        sender="infusion-monitor", security_code="pin-4321", recipient="5551234",
        message_id="pg-1", text="HIGH chair c03: SBP 186 > 180 mmHg",
    )  # fmt: skip
    assert server.received[0].headers["Content-Type"].startswith("text/xml")
    assert b"Jane" not in server.received[0].body


async def test_wctp_failure_is_retried_then_given_up_with_the_servers_reason() -> None:
    with serving(wctp_server(refuse="5551234")) as server:
        route = WctpRoute(server.url, sender="infusion-monitor", timeout_s=2)
        dispatcher, attempts = _dispatcher(route, retries=2)
        await dispatcher.deliver(ANN, _page())
        await route.aclose()

    assert [(a.attempt_no, a.ok, a.final) for a in attempts] == [
        (1, False, False),
        (2, False, False),
        (3, False, True),
    ]
    assert attempts[-1].detail == "WCTP failure 403: invalid recipientID"
    assert len(server.received) == 3


async def test_wctp_all_clear_and_test_say_so_in_the_text() -> None:
    with serving(wctp_server()) as server:
        route = WctpRoute(server.url, sender="infusion-monitor", timeout_s=2)
        await route.send(ANN, _page(kind="all_clear", text="c03 SBP acknowledged at the station"))
        await route.aclose()

    assert _submitted(server.received[0].body).text == (
        "ALL CLEAR chair c03: c03 SBP acknowledged at the station"
    )


async def test_wctp_answer_declaring_entities_is_refused() -> None:
    evil = (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]>'
        b'<wctp-Operation><wctp-Confirmation><wctp-Success successCode="200" successText="&a;"/>'
        b"</wctp-Confirmation></wctp-Operation>"
    )
    with serving(Server(lambda request: (200, evil))) as server:
        route = WctpRoute(server.url, sender="infusion-monitor", timeout_s=2)
        with pytest.raises(DeliveryError, match="entities"):
            await route.send(ANN, _page())
        await route.aclose()


async def test_wctp_answer_that_is_not_a_confirmation_fails() -> None:
    with serving(Server(lambda request: (200, b"<html>hello</html>"))) as server:
        route = WctpRoute(server.url, sender="infusion-monitor", timeout_s=2)
        with pytest.raises(DeliveryError, match="not a wctp-Confirmation"):
            await route.send(ANN, _page())
        await route.aclose()


# Webhook -------------------------------------------------------------------------------------

HUB = PagerAddress("hub", "webhook", "hub")


async def test_webhook_posts_the_page_signed_and_the_receiver_verifies_it() -> None:
    with serving(webhook_receiver()) as server:
        route = WebhookRoute(server.url, secret=SECRET, site=SITE, timeout_s=2)
        dispatcher, _ = _dispatcher(route)
        last = await dispatcher.deliver(HUB, _page())
        await route.aclose()

    request = server.received[0]
    document = json.loads(request.body)
    assert (last.ok, last.detail) == (True, "HTTP 200")
    assert document == {
        "page": "pg-1", "ts": "2026-11-18T11:06:40.000Z", "alarm": "al-1", "chair": "c03",
        "priority": "high", "text": "SBP 186 > 180 mmHg", "kind": "page", "pager": "hub",
        "site": SITE,
    }  # fmt: skip
    assert request.headers["X-Signature"].startswith("sha256=")
    assert abs(int(request.headers["X-Timestamp"]) - time.time()) < 5
    assert SECRET.reveal() not in repr(request.headers)
    assert b"Jane" not in request.body


async def test_webhook_signed_with_another_secret_is_refused_every_attempt() -> None:
    with serving(webhook_receiver()) as server:
        route = WebhookRoute(server.url, secret=Secret("not-the-shared-one!"), site=SITE)
        dispatcher, attempts = _dispatcher(route, retries=1)
        await dispatcher.deliver(HUB, _page())
        await route.aclose()

    assert [(a.ok, a.detail, a.final) for a in attempts] == [
        (False, "HTTP 401", False),
        (False, "HTTP 401", True),
    ]


# Servers that fail ---------------------------------------------------------------------------


def _routes_to(url: str, *, timeout_s: float) -> list[tuple[Any, PagerAddress]]:
    return [
        (WctpRoute(url, sender="infusion-monitor", timeout_s=timeout_s), ANN),
        (WebhookRoute(url, secret=SECRET, site=SITE, timeout_s=timeout_s), HUB),
    ]


@pytest.mark.parametrize("which", [0, 1], ids=["wctp", "webhook"])
async def test_a_server_that_answers_500_is_retried_then_given_up(which: int) -> None:
    with serving(Server(lambda request: (500, b"oops"))) as server:
        route, pager = _routes_to(server.url, timeout_s=2)[which]
        dispatcher, attempts = _dispatcher(route, retries=2)
        await dispatcher.deliver(pager, _page())
        await route.aclose()

    assert [(a.attempt_no, a.ok, a.detail, a.final) for a in attempts] == [
        (1, False, "HTTP 500", False),
        (2, False, "HTTP 500", False),
        (3, False, "HTTP 500", True),
    ]
    assert len(server.received) == 3


@pytest.mark.parametrize("which", [0, 1], ids=["wctp", "webhook"])
async def test_a_server_that_hangs_is_cut_by_the_routes_timeout(which: int) -> None:
    server = Server(lambda request: (200, b""), delay_s=1.5)
    with serving(server):
        route, pager = _routes_to(server.url, timeout_s=0.3)[which]
        dispatcher, attempts = _dispatcher(route, retries=1)
        started = time.monotonic()
        await dispatcher.deliver(pager, _page())
        took = time.monotonic() - started
        await route.aclose()

    assert [(a.ok, a.detail, a.final) for a in attempts] == [
        (False, "no answer within 0.3 s", False),
        (False, "no answer within 0.3 s", True),
    ]
    assert took < 1.5  # two attempts of 0.3 s and a backoff, not the server's 1.5 s


async def test_the_dispatchers_timeout_bounds_a_route_with_a_longer_one() -> None:
    server = Server(lambda request: (200, b""), delay_s=1.5)
    with serving(server):
        route = WebhookRoute(server.url, secret=SECRET, site=SITE, timeout_s=10)
        dispatcher, attempts = _dispatcher(route, retries=0, timeout_s=0.3)
        await dispatcher.deliver(HUB, _page())
        await route.aclose()

    assert [(a.ok, a.detail, a.final) for a in attempts] == [
        (False, "no answer within 0.3 s", True)
    ]


@pytest.mark.parametrize("which", [0, 1], ids=["wctp", "webhook"])
async def test_a_server_that_refuses_connections_is_retried_then_given_up(which: int) -> None:
    route, pager = _routes_to(f"http://127.0.0.1:{free_port()}/endpoint", timeout_s=2)[which]
    dispatcher, attempts = _dispatcher(route, retries=2)

    await dispatcher.deliver(pager, _page())
    await route.aclose()

    assert [(a.attempt_no, a.final) for a in attempts] == [(1, False), (2, False), (3, True)]
    assert all(not a.ok and a.detail.startswith("ConnectError") for a in attempts)


async def test_a_server_back_up_delivers_on_a_retry() -> None:
    answers = iter([(500, b"starting"), (200, b"{}")])
    with serving(Server(lambda request: next(answers))) as server:
        route = WebhookRoute(server.url, secret=SECRET, site=SITE, timeout_s=2)
        dispatcher, attempts = _dispatcher(route, retries=3)
        await dispatcher.deliver(HUB, _page())
        await route.aclose()

    assert [(a.attempt_no, a.ok, a.final) for a in attempts] == [(1, False, False), (2, True, True)]


async def test_self_test_reports_each_route_and_the_one_that_is_down() -> None:
    with serving(wctp_server()) as server:
        wctp = WctpRoute(server.url, sender="infusion-monitor", timeout_s=2)
        down = free_port()
        webhook = WebhookRoute(f"http://127.0.0.1:{down}/", secret=SECRET, site=SITE, timeout_s=2)
        dispatcher, attempts = _dispatcher(wctp, webhook)
        outcome = await dispatcher.self_test([ANN, HUB])
        await wctp.aclose()
        await webhook.aclose()

    assert {name: a.ok for name, a in outcome.items()} == {"wctp": True, "webhook": False}
    assert _submitted(server.received[0].body).text == (
        "TEST chair -: paging self-test: no action needed"
    )
    assert len(attempts) == 2


# MQTT ----------------------------------------------------------------------------------------

KIM = PagerAddress("kim", "mqtt", "kim")


@contextlib.asynccontextmanager
async def broker_link(port: int) -> AsyncIterator[MqttLink]:
    async def ignore(topic: str, payload: bytes, at: float, retained: bool) -> None:
        pass

    link = MqttLink(
        BrokerAddress("127.0.0.1", port), client_id="test-paging-link", subscriptions=[],
        on_message=ignore,
    )  # fmt: skip
    task = asyncio.create_task(link.run(), name="test-paging-link")
    try:
        await asyncio.wait_for(link.connected.wait(), 10)
        yield link
    finally:
        link.closing = True
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _route(link: MqttLink) -> MqttRoute:
    return MqttRoute(link.publish, connected=link.connected.is_set, root=ROOT, site=SITE)


def _on(bus: Bus, topic: str) -> list[dict[str, Any]]:
    return [r.payload for r in bus.seen if r.topic == topic]


async def test_mqtt_route_publishes_the_page_on_the_pagers_topic(
    mosquitto: Mosquitto, bus: Bus
) -> None:
    async with broker_link(mosquitto.port) as link:
        dispatcher, _ = _dispatcher(_route(link))
        last = await dispatcher.deliver(KIM, _page())
        await dispatcher.deliver(KIM, _page(page="pg-2", kind="all_clear", text="ALL CLEAR: c03"))
        topic = f"{ROOT}/{SITE}/pager/kim"
        pages = await bus.wait_for(lambda: len(_on(bus, topic)) == 2 and _on(bus, topic))

    assert (last.ok, last.detail) == (True, f"queued on {topic}")
    assert pages[0] == {
        "page": "pg-1", "ts": "2026-11-18T11:06:40.000Z", "alarm": "al-1", "chair": "c03",
        "priority": "high", "text": "SBP 186 > 180 mmHg", "kind": "page",
    }  # fmt: skip
    assert (pages[1]["page"], pages[1]["kind"]) == ("pg-2", "all_clear")
    assert "Jane" not in json.dumps(pages)


async def test_mqtt_route_fails_while_the_link_is_down(mosquitto: Mosquitto) -> None:
    published: list[Any] = []
    route = MqttRoute(published.append, connected=lambda: False, root=ROOT, site=SITE)
    dispatcher, attempts = _dispatcher(route, retries=1)

    await dispatcher.deliver(KIM, _page())

    assert [(a.ok, a.detail, a.final) for a in attempts] == [
        (False, "the broker link is not connected", False),
        (False, "the broker link is not connected", True),
    ]
    assert published == []


async def test_the_pager_simulator_accepts_a_page_mqtt_route_delivered_and_not_an_all_clear(
    mosquitto: Mosquitto, bus: Bus
) -> None:
    pager = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "simulators.cli", "pager", "--broker",
        f"mqtt://127.0.0.1:{mosquitto.port}", "--site", SITE, "--root", ROOT, "--pager", "kim",
        "--rule", "accept:0",
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    assert pager.stdout is not None
    try:
        ready = await asyncio.wait_for(pager.stdout.readline(), 15)  # printed once subscribed
        assert b"pagers kim" in ready, ready
        async with broker_link(mosquitto.port) as link:
            dispatcher, _ = _dispatcher(_route(link))
            await dispatcher.deliver(KIM, _page(page="ac-1", kind="all_clear", text="ALL CLEAR"))
            await dispatcher.deliver(KIM, _page(page="pg-7"))
            reply_topic = f"{ROOT}/{SITE}/pager/kim/reply"
            replies = await bus.wait_for(lambda: _on(bus, reply_topic), within_s=10)
            await asyncio.sleep(0.3)  # room for a wrong reply to the all-clear to arrive
    finally:
        pager.terminate()
        output, _ = await asyncio.wait_for(pager.communicate(), 10)

    assert [(r["page"], r["reply"]) for r in _on(bus, reply_topic)] == [("pg-7", "accept")]
    assert replies[0]["page"] == "pg-7"
    shown = output.decode(errors="replace")
    assert "ALL CLEAR" in shown
    assert "nothing to answer" in shown
    assert "Jane" not in shown

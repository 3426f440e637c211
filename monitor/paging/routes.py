"""The routes a page can take to a pager: MQTT (the contract's pager topic), WCTP 1.3 over HTTP(S)
(hospital paging systems) and a signed webhook (push gateways).

Every route has `name` and `async send(pager, message) -> detail`, where the detail is a short
word on what was done (the remote id, the HTTP status), and raises `DeliveryError(reason)` when
the page did not go. None blocks the event loop; each HTTP route has its own timeout and checks
the server's TLS certificate unless told otherwise. Errors:

    DeliveryError          the page was not delivered by this route (reason says why)

What "delivered" means differs and is said on each route: queued to the broker link while it is
connected (MQTT), a `wctp-Success` confirmation (WCTP), a 2xx answer (webhook).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import ssl
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

import httpx

from monitor.paging.config import PagerAddress, PagingDelivery, Secret
from monitor.wire.outbound import Outgoing, PageOut
from monitor.wire.topics import check_name, pager_topic

WCTP_VERSION = "wctp-dtd-v1r3"
WCTP_DOCTYPE = '<!DOCTYPE wctp-Operation SYSTEM "http://www.wctp.org/release/wctp-dtd-v1r3.dtd">'
MAX_RESPONSE_BYTES = 64 * 1024
SHOWN_CHARS = 120  # of a remote server's words in a reason


class DeliveryError(Exception):
    """A page this route did not deliver; `reason` says why (never a secret)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Route(Protocol):
    name: str

    async def send(self, pager: PagerAddress, message: PageOut) -> str: ...


def pager_text(message: PageOut) -> str:
    """The page as one line of text for a pager that shows only text (WCTP): priority, chair and
    the page's own text. Chair, alarm, priority and text only: never a patient."""
    label = {"all_clear": "ALL CLEAR", "test": "TEST"}.get(message.kind, message.priority.upper())
    return f"{label} chair {message.chair}: {message.text}"


# MQTT ----------------------------------------------------------------------------------------


class MqttRoute:
    """The contract's `{root}/{site}/pager/{address}` at QoS 1, through the service's broker link.

    Delivered means queued to the link while it is connected: the link publishes at QoS 1 and
    repeats after a reconnect, but a page queued just before the connection drops is confirmed
    by nobody here. The pager's reply on `.../reply` is the end-to-end confirmation. With the
    link down the page fails at once, so the dispatcher retries and then tries another route.
    """

    name = "mqtt"

    def __init__(
        self,
        publish: Callable[[Outgoing], None],
        *,
        connected: Callable[[], bool],
        root: str,
        site: str,
    ) -> None:
        self.publish, self.connected, self.root, self.site = publish, connected, root, site

    async def send(self, pager: PagerAddress, message: PageOut) -> str:
        if not self.connected():
            raise DeliveryError("the broker link is not connected")
        try:
            topic = pager_topic(self.root, self.site, check_name(pager.address, "pager address"))
        except ValueError as exc:
            raise DeliveryError(str(exc)) from None
        self.publish(Outgoing(topic, message.to_json(), retain=False, qos=1))
        return f"queued on {topic}"


# WCTP 1.3 ------------------------------------------------------------------------------------


class WctpRoute:
    """WCTP 1.3 (PCIA's Wireless Communication Transfer Protocol): a `wctp-SubmitRequest` POSTed
    as XML; delivered when the server answers `wctp-Confirmation/wctp-Success`.

    The subset: submit one alphanumeric message to one recipient as an enterprise host, and read
    the confirmation (`wctp-Success` with successCode, `wctp-Failure` with errorCode/errorText).
    Replies and delivery notifications (`wctp-MessageReply`, `wctp-StatusInfo`) are pushed back
    by the carrier to the host or polled for; neither is taken here.
    """

    name = "wctp"

    def __init__(
        self,
        url: str,
        *,
        sender: str,
        security_code: Secret | None = None,
        notify: bool = False,
        timeout_s: float = 5.0,
        verify: bool | ssl.SSLContext = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.url, self.sender, self.security_code = url, sender, security_code
        self.notify, self.clock = notify, clock
        self.client = _http_client(timeout_s, verify)

    async def send(self, pager: PagerAddress, message: PageOut) -> str:
        body = submit_request(
            message, recipient=pager.address, sender=self.sender,
            security_code=self.security_code, notify=self.notify, now=self.clock(),
        )  # fmt: skip
        headers = {"Content-Type": "text/xml; charset=utf-8"}
        response = await _post(self.client, self.url, body, headers)
        return parse_confirmation(response.content, status=response.status_code)

    async def aclose(self) -> None:
        await self.client.aclose()


def submit_request(
    message: PageOut,
    *,
    recipient: str,
    sender: str,
    security_code: Secret | None = None,
    notify: bool = False,
    now: float,
) -> bytes:
    """The `wctp-Operation/wctp-SubmitRequest` XML for one page (UTF-8, with its DOCTYPE)."""
    operation = ET.Element("wctp-Operation", wctpVersion=WCTP_VERSION)
    submit = ET.SubElement(operation, "wctp-SubmitRequest")
    stamp = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    header = ET.SubElement(submit, "wctp-SubmitHeader", submitTimestamp=stamp)
    originator = ET.SubElement(header, "wctp-Originator", senderID=sender)
    if security_code is not None:
        originator.set("securityCode", security_code.reveal())
    flag = "true" if notify else "false"
    ET.SubElement(
        header, "wctp-MessageControl", messageID=message.page, allowResponse="false",
        notifyWhenQueued=flag, notifyWhenDelivered=flag, notifyWhenRead=flag,
    )  # fmt: skip
    ET.SubElement(header, "wctp-Recipient", recipientID=recipient)
    payload = ET.SubElement(submit, "wctp-Payload")
    ET.SubElement(payload, "wctp-Alphanumeric").text = pager_text(message)
    xml = ET.tostring(operation, encoding="unicode")
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{WCTP_DOCTYPE}\n{xml}'.encode()


def parse_confirmation(body: bytes, *, status: int = 200) -> str:
    """The detail of a `wctp-Success` ("200 Accepted"); DeliveryError for a `wctp-Failure`
    (with its errorCode and errorText), an HTTP error, or anything that is not a confirmation."""
    try:
        root = wctp_xml(body)
    except DeliveryError:
        if not 200 <= status < 300:
            raise DeliveryError(f"HTTP {status}") from None
        raise
    confirmation = root.find("wctp-Confirmation")
    if root.tag != "wctp-Operation" or confirmation is None:
        raise DeliveryError(f"HTTP {status}: not a wctp-Confirmation")
    failure = confirmation.find("wctp-Failure")
    if failure is not None:
        code, text = failure.get("errorCode", "?"), failure.get("errorText") or failure.text or ""
        raise DeliveryError(f"WCTP failure {_shown(code)}: {_shown(text)}")
    success = confirmation.find("wctp-Success")
    if success is None:
        raise DeliveryError("wctp-Confirmation without wctp-Success or wctp-Failure")
    if not 200 <= status < 300:
        raise DeliveryError(f"HTTP {status} with a wctp-Success")
    code, text = success.get("successCode", "?"), success.get("successText") or success.text or ""
    return f"WCTP {_shown(code)} {_shown(text)}".strip()


def wctp_xml(body: bytes) -> ET.Element:
    """Parse WCTP XML from the configured server. A DOCTYPE naming the WCTP DTD is allowed (the
    parser fetches nothing); an internal subset or any entity declaration is refused, so no
    entity expansion can happen."""
    if len(body) > MAX_RESPONSE_BYTES:
        raise DeliveryError(f"answer of {len(body):,} bytes is longer than {MAX_RESPONSE_BYTES:,}")
    upper = body.upper()
    if b"<!ENTITY" in upper or (b"<!DOCTYPE" in upper and b"[" in body):
        raise DeliveryError("answer declares entities or a DTD subset: refused")
    try:
        return ET.fromstring(body)
    except ET.ParseError as exc:
        raise DeliveryError(f"answer is not XML ({exc})") from None


# Webhook -------------------------------------------------------------------------------------


class WebhookRoute:
    """A JSON POST of the page with `pager` and `site`, signed; delivered on any 2xx answer.

    Signing: `X-Timestamp` is the send time in whole epoch seconds, and
    `X-Signature: sha256=<hex>` is HMAC-SHA256 with the shared secret over
    `f"{timestamp}.{body}"`, the exact bytes of the body. A receiver recomputes it with
    `signature()` (or checks with `verify_signature()`) and refuses an old timestamp, so a
    recorded request cannot be replayed later.
    """

    name = "webhook"

    def __init__(
        self,
        url: str,
        *,
        secret: Secret,
        site: str,
        timeout_s: float = 5.0,
        verify: bool | ssl.SSLContext = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.url, self.secret, self.site, self.clock = url, secret, site, clock
        self.client = _http_client(timeout_s, verify)

    async def send(self, pager: PagerAddress, message: PageOut) -> str:
        body = webhook_body(message, pager=pager.address, site=self.site)
        stamp = str(int(self.clock()))
        headers = {
            "Content-Type": "application/json",
            "X-Timestamp": stamp,
            "X-Signature": f"sha256={signature(self.secret, stamp, body)}",
        }
        response = await _post(self.client, self.url, body, headers)
        if not 200 <= response.status_code < 300:
            raise DeliveryError(f"HTTP {response.status_code}")
        return f"HTTP {response.status_code}"

    async def aclose(self) -> None:
        await self.client.aclose()


def webhook_body(message: PageOut, *, pager: str, site: str) -> bytes:
    document = {**message.model_dump(mode="json", by_alias=True), "pager": pager, "site": site}
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def signature(secret: Secret, timestamp: str, body: bytes) -> str:
    """The hex HMAC-SHA256 of `f"{timestamp}.{body}"` with `secret`."""
    signed = timestamp.encode() + b"." + body
    return hmac.new(secret.reveal().encode(), signed, hashlib.sha256).hexdigest()


def verify_signature(
    secret: Secret, *, timestamp: str, body: bytes, header: str, now: float, within_s: float = 300
) -> bool:
    """Whether `header` (`sha256=<hex>`) signs `body` at `timestamp`, no further than
    `within_s` from `now` (for a receiver, and for our tests)."""
    try:
        fresh = abs(now - int(timestamp)) <= within_s
    except ValueError:
        return False
    expected = f"sha256={signature(secret, timestamp, body)}"
    return fresh and hmac.compare_digest(expected.encode(), header.encode())


# Building them -------------------------------------------------------------------------------


def build_routes(
    delivery: PagingDelivery,
    *,
    publish: Callable[[Outgoing], None],
    connected: Callable[[], bool],
    root: str,
    site: str,
) -> list[Route]:
    """The configured routes: MQTT through the service's link always, WCTP and the webhook when
    their tables are there. Close them with `close_routes` when the service stops."""
    routes: list[Route] = [MqttRoute(publish, connected=connected, root=root, site=site)]
    if delivery.wctp is not None:
        w = delivery.wctp
        wctp = WctpRoute(
            w.url, sender=w.sender, security_code=w.security_code, notify=w.notify,
            timeout_s=w.timeout_s,
        )  # fmt: skip
        routes.append(wctp)
    if delivery.webhook is not None:
        h = delivery.webhook
        routes.append(WebhookRoute(h.url, secret=h.secret, site=site, timeout_s=h.timeout_s))
    return routes


async def close_routes(routes: list[Route]) -> None:
    """Close the HTTP clients of the routes that have one."""
    for route in routes:
        if isinstance(route, WctpRoute | WebhookRoute):
            await route.aclose()


# HTTP ----------------------------------------------------------------------------------------


def _http_client(timeout_s: float, verify: bool | ssl.SSLContext) -> httpx.AsyncClient:
    """Every wait bounded by `timeout_s`; TLS certificates checked (`verify`: True, or an SSL
    context with the clinic's CA); no redirects followed (a page goes to the configured address
    only); no proxy from the environment."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout_s), verify=verify, follow_redirects=False, trust_env=False
    )


async def _post(
    client: httpx.AsyncClient, url: str, body: bytes, headers: dict[str, str]
) -> httpx.Response:
    try:
        return await client.post(url, content=body, headers=headers)
    except httpx.TimeoutException:
        raise DeliveryError(f"no answer within {client.timeout.read:g} s") from None
    except httpx.HTTPError as exc:
        raise DeliveryError(
            f"{type(exc).__name__}: {_shown(str(exc)) or 'request failed'}"
        ) from None


def _shown(text: str) -> str:
    clean = "".join(ch if ch.isprintable() else "?" for ch in text).strip()
    return clean if len(clean) <= SHOWN_CHARS else clean[: SHOWN_CHARS - 1] + "…"

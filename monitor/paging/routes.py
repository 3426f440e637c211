"""The routes a page can take to a pager, and what they share: `Route`, `DeliveryError`, the
MQTT route (the contract's pager topic) and the HTTP client settings of the others (WCTP in
`monitor.paging.wctp`, the signed webhook in `monitor.paging.webhook`).

Every route has `name` and `async send(pager, message) -> detail`, where the detail is a short
word on what was done (the remote id, the HTTP status), and raises `DeliveryError(reason)` when
the page did not go. None blocks the event loop; each HTTP route has its own timeout and checks
the server's TLS certificate unless told otherwise. Errors:

    DeliveryError          the page was not delivered by this route (reason says why)

What "delivered" means differs and is said on each route: queued to the broker link while it is
connected (MQTT), a `wctp-Success` confirmation (WCTP), a 2xx answer (webhook).
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from typing import Protocol

import httpx

from monitor.paging.config import PagerAddress
from monitor.wire.outbound import Outgoing, PageOut
from monitor.wire.topics import check_name, pager_topic

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


# HTTP ----------------------------------------------------------------------------------------


def http_client(timeout_s: float, verify: bool | ssl.SSLContext) -> httpx.AsyncClient:
    """Every wait bounded by `timeout_s`; TLS certificates checked (`verify`: True, or an SSL
    context with the clinic's CA); no redirects followed (a page goes to the configured address
    only); no proxy from the environment."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout_s), verify=verify, follow_redirects=False, trust_env=False
    )


async def post(
    client: httpx.AsyncClient, url: str, body: bytes, headers: dict[str, str]
) -> httpx.Response:
    try:
        return await client.post(url, content=body, headers=headers)
    except httpx.TimeoutException:
        raise DeliveryError(f"no answer within {client.timeout.read:g} s") from None
    except httpx.HTTPError as exc:
        raise DeliveryError(
            f"{type(exc).__name__}: {shown(str(exc)) or 'request failed'}"
        ) from None


def shown(text: str) -> str:
    clean = "".join(ch if ch.isprintable() else "?" for ch in text).strip()
    return clean if len(clean) <= SHOWN_CHARS else clean[: SHOWN_CHARS - 1] + "…"

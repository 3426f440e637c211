"""The signed webhook route: a JSON POST of the page for push gateways, with an HMAC-SHA256
signature over the timestamp and the exact body."""

from __future__ import annotations

import hashlib
import hmac
import json
import ssl
import time
from collections.abc import Callable

from monitor.paging.config import PagerAddress, Secret
from monitor.paging.routes import DeliveryError, http_client, post
from monitor.wire.outbound import PageOut


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
        self.client = http_client(timeout_s, verify)

    async def send(self, pager: PagerAddress, message: PageOut) -> str:
        body = webhook_body(message, pager=pager.address, site=self.site)
        stamp = str(int(self.clock()))
        headers = {
            "Content-Type": "application/json",
            "X-Timestamp": stamp,
            "X-Signature": f"sha256={signature(self.secret, stamp, body)}",
        }
        response = await post(self.client, self.url, body, headers)
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

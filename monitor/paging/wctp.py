"""WCTP 1.3 (PCIA's Wireless Communication Transfer Protocol), the XML-over-HTTP protocol that
hospital paging systems accept: submit a page (`wctp-SubmitRequest`, answered by a
`wctp-Confirmation`), and read what became of it (`wctp-StatusInfo`). Building and parsing are
pure; only `WctpRoute.send` talks to the server.
"""

from __future__ import annotations

import ssl
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from monitor.paging.config import PagerAddress, Secret
from monitor.paging.routes import DeliveryError, http_client, pager_text, post, shown
from monitor.wire.outbound import PageOut

WCTP_VERSION = "wctp-dtd-v1r3"
WCTP_DOCTYPE = '<!DOCTYPE wctp-Operation SYSTEM "http://www.wctp.org/release/wctp-dtd-v1r3.dtd">'
MAX_RESPONSE_BYTES = 64 * 1024


class WctpRoute:
    """WCTP 1.3 (PCIA's Wireless Communication Transfer Protocol): a `wctp-SubmitRequest` POSTed
    as XML; delivered when the server answers `wctp-Confirmation/wctp-Success`.

    The subset: submit one alphanumeric message to one recipient as an enterprise host, and read
    the confirmation (`wctp-Success` with successCode, `wctp-Failure` with errorCode/errorText).
    The status of a submitted page comes back as a `wctp-StatusInfo` that the server pushes to
    the host (when `notify` asked for it) or hands over when polled: `parse_status_info` reads
    one. Asking for it (`wctp-PollForMessages`, `wctp-ClientQuery`) is not implemented. Replies
    (`wctp-MessageReply`) are not asked for (allowResponse false): a page sent by WCTP cannot
    be accepted from the pager; its holder acknowledges at the station.
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
        self.client = http_client(timeout_s, verify)

    async def send(self, pager: PagerAddress, message: PageOut) -> str:
        body = submit_request(
            message, recipient=pager.address, sender=self.sender,
            security_code=self.security_code, notify=self.notify, now=self.clock(),
        )  # fmt: skip
        headers = {"Content-Type": "text/xml; charset=utf-8"}
        response = await post(self.client, self.url, body, headers)
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
        raise DeliveryError(f"WCTP failure {shown(code)}: {shown(text)}")
    success = confirmation.find("wctp-Success")
    if success is None:
        raise DeliveryError("wctp-Confirmation without wctp-Success or wctp-Failure")
    if not 200 <= status < 300:
        raise DeliveryError(f"HTTP {status} with a wctp-Success")
    code, text = success.get("successCode", "?"), success.get("successText") or success.text or ""
    return f"WCTP {shown(code)} {shown(text)}".strip()


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


@dataclass(frozen=True, slots=True)
class WctpStatus:
    """A page's status as the paging system reports it in a `wctp-StatusInfo`."""

    message_id: str  # our page id, as sent in messageID
    recipient: str
    state: str  # the notification's type in lower case (queued, delivered, read, ...), or failed
    detail: str = ""  # a failure's errorCode and errorText


def parse_status_info(body: bytes) -> WctpStatus:
    """Read a `wctp-StatusInfo`, which a WCTP 1.3 server sends the enterprise host (pushed, or
    answering a poll) when a submitted message was queued, delivered, read or failed:
    `wctp-ResponseHeader` (`wctp-MessageControl` messageID, `wctp-Recipient` recipientID) and a
    `wctp-Notification` type or a `wctp-Failure`. DeliveryError when it is not one. Taking it
    in (an HTTP endpoint of the service) and answering with `confirmation()` is the shell's."""
    root = wctp_xml(body)
    info = root.find("wctp-StatusInfo")
    header = None if info is None else info.find("wctp-ResponseHeader")
    control = None if header is None else header.find("wctp-MessageControl")
    recipient = None if header is None else header.find("wctp-Recipient")
    if info is None or control is None or recipient is None:
        raise DeliveryError("not a wctp-StatusInfo with a wctp-ResponseHeader")
    ids = (shown(control.get("messageID", "")), shown(recipient.get("recipientID", "")))
    failure, notice = info.find("wctp-Failure"), info.find("wctp-Notification")
    if failure is not None:
        code, text = failure.get("errorCode", "?"), failure.get("errorText") or failure.text or ""
        return WctpStatus(*ids, state="failed", detail=f"{shown(code)}: {shown(text)}")
    if notice is None or not notice.get("type"):
        raise DeliveryError("wctp-StatusInfo without wctp-Notification or wctp-Failure")
    return WctpStatus(*ids, state=shown(notice.get("type", "")).lower())


def confirmation(*, ok: bool, code: int, text: str) -> bytes:
    """A `wctp-Confirmation` (our answer to a server's `wctp-StatusInfo`)."""
    operation = ET.Element("wctp-Operation", wctpVersion=WCTP_VERSION)
    confirm = ET.SubElement(operation, "wctp-Confirmation")
    if ok:
        ET.SubElement(confirm, "wctp-Success", successCode=str(code), successText=text)
    else:
        ET.SubElement(confirm, "wctp-Failure", errorCode=str(code), errorText=text)
    xml = ET.tostring(operation, encoding="unicode")
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{xml}'.encode()

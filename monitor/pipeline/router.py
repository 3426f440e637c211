"""Topic and payload to a domain input for the `Clinic`, or a refusal saying why.

Checks, in order: size, topic shape, site, retention (only a device's status may be retained),
payload against the contract. What passes is a
`Routed` (the inbound kind, the chair when the topic names one, the domain input); what does
not is a `Refused` with an outcome (`oversized`, `bad_topic`, `other_site`, `malformed`) and a
reason a person can act on. Never raises.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from monitor.domain.clinic import SiteInput
from monitor.domain.commands import Input
from monitor.wire.payloads import MAX_PAYLOAD_BYTES, PayloadError, decode, decode_pager
from monitor.wire.topics import Inbound, TopicError, parse_inbound


class Outcome(StrEnum):
    """What became of an inbound message, as counted and recorded."""

    ACCEPTED = "accepted"
    REJECTED = "rejected"  # the core refused it (a step not legal now, a duplicate, ...)
    OVERSIZED = "oversized"
    BAD_TOPIC = "bad_topic"
    OTHER_SITE = "other_site"
    MALFORMED = "malformed"
    UNKNOWN_CHAIR = "unknown_chair"
    TOO_MANY_CHAIRS = "too_many_chairs"  # a new chair beyond max_chairs (no chair list)
    UNMATCHED = "unmatched"  # a site input nothing takes (a reply to no page of ours)
    RETAINED = "retained"  # a command or reading the broker kept: not something happening now
    INTERNAL_ERROR = "internal_error"


@dataclass(frozen=True, slots=True)
class Routed:
    kind: Inbound
    chair: str | None
    item: Input | SiteInput


@dataclass(frozen=True, slots=True)
class Refused:
    outcome: Outcome
    reason: str
    kind: Inbound | None = None


class Router:
    def __init__(self, *, site: str, root: str) -> None:
        self.site, self.root = site, root

    def route(self, topic: str, payload: bytes, *, retained: bool = False) -> Routed | Refused:
        if len(payload) > MAX_PAYLOAD_BYTES:
            reason = f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD_BYTES}"
            return Refused(Outcome.OVERSIZED, reason)
        try:
            where = parse_inbound(topic, root=self.root)
        except TopicError as exc:
            return Refused(Outcome.BAD_TOPIC, str(exc))
        if where.site != self.site:
            return Refused(Outcome.OTHER_SITE, f"not site {self.site}", where.kind)
        if retained and where.kind is not Inbound.DEVICE:
            # Only a device's status is retained by the contract. A retained command would be
            # acted on again at every reconnection (an acknowledgement "by" whoever left it).
            reason = (
                f"a retained {where.kind.value} message is refused: only device status is retained"
            )
            return Refused(Outcome.RETAINED, reason, where.kind)
        try:
            if where.pager is not None:
                return Routed(where.kind, None, decode_pager(where.kind, where.pager, payload))
            return Routed(where.kind, where.chair, decode(where.kind, payload))
        except PayloadError as exc:
            return Refused(Outcome.MALFORMED, str(exc), where.kind)


def chair_of(topic: str, root: str) -> str | None:
    """The chair a topic names, even a topic that is not valid (cut to 64 characters), for the
    journal of refused messages."""
    parts = topic.removeprefix(root + "/").split("/")
    if len(parts) >= 3 and parts[1] == "chair":
        return parts[2][:64]
    return None

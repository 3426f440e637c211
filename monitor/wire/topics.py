"""MQTT topics of contract v1: parsing what comes in, building what goes out. Pure, no network.

{root}/{site}/chair/{chair}/vitals | device | infusion | session | command   (in)
{root}/{site}/pager/{pager}/reply | handover                               (in)
{root}/{site}/chair/{chair}/state | alarm | recovery                       (out)
{root}/{site}/pager/{pager}                                                (out)
{root}/{site}/monitor/status | coverage                                    (out)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

NAME = re.compile(r"[A-Za-z0-9_-]{1,32}")
ROOT = re.compile(r"[A-Za-z0-9_-]{1,64}(/[A-Za-z0-9_-]{1,64})*")
SHOWN_CHARS = 80  # of a sender's topic or name in an error: a topic may be 65,535 bytes long


class TopicError(ValueError):
    """A topic that is not part of the contract."""


class Inbound(StrEnum):
    VITALS = "vitals"
    DEVICE = "device"
    INFUSION = "infusion"
    SESSION = "session"
    COMMAND = "command"
    PAGER_REPLY = "reply"
    HANDOVER = "handover"  # v1.3: a pager's holder hands her chairs to another pager


class Outbound(StrEnum):
    STATE = "state"
    ALARM = "alarm"
    RECOVERY = "recovery"


CHAIR_INBOUND = (Inbound.VITALS, Inbound.DEVICE, Inbound.INFUSION, Inbound.SESSION, Inbound.COMMAND)
PAGER_INBOUND = (Inbound.PAGER_REPLY, Inbound.HANDOVER)


@dataclass(frozen=True, slots=True)
class InboundTopic:
    site: str
    kind: Inbound
    chair: str | None = None
    pager: str | None = None


def check_name(value: str, what: str) -> str:
    """Return `value` if it is a valid site, chair or pager name; raise ValueError if not."""
    if not NAME.fullmatch(value):
        raise ValueError(f"{what} {shown(value)} must match [A-Za-z0-9_-]{{1,32}}")
    return value


def shown(value: str) -> str:
    """`value` quoted for an error message, cut to SHOWN_CHARS with its length when longer."""
    if len(value) <= SHOWN_CHARS:
        return repr(value)
    return f"{value[:SHOWN_CHARS]!r}... ({len(value):,} characters)"


def check_root(value: str) -> str:
    if not ROOT.fullmatch(value):
        raise ValueError(f"topic root {value!r} must be names of [A-Za-z0-9_-] joined by '/'")
    return value


def subscriptions(root: str, site: str) -> list[str]:
    """The topic filters the service subscribes to for one site."""
    chair = [f"{root}/{site}/chair/+/{kind.value}" for kind in CHAIR_INBOUND]
    pager = [f"{root}/{site}/pager/+/{kind.value}" for kind in PAGER_INBOUND]
    return [*chair, *pager]


def parse_inbound(topic: str, *, root: str) -> InboundTopic:
    """Parse an inbound topic; raise TopicError saying what does not match."""
    prefix = root + "/"
    if not topic.startswith(prefix):
        raise TopicError(f"topic {shown(topic)} is not under {root!r}")
    parts = topic[len(prefix) :].split("/")
    if len(parts) != 4:
        raise TopicError(
            f"topic {shown(topic)} does not have the form {root}/SITE/chair/CHAIR/KIND"
        )
    site, group, name, leaf = parts
    try:
        check_name(site, "site")
        check_name(name, group)
    except ValueError as exc:
        raise TopicError(str(exc)) from None
    if group == "chair" and leaf in {k.value for k in CHAIR_INBOUND}:
        return InboundTopic(site=site, kind=Inbound(leaf), chair=name)
    if group == "pager" and leaf in {k.value for k in PAGER_INBOUND}:
        return InboundTopic(site=site, kind=Inbound(leaf), pager=name)
    raise TopicError(
        f"topic {shown(topic)}: no inbound message {group[:SHOWN_CHARS]}/.../{leaf[:SHOWN_CHARS]}"
        " in contract v1"
    )


def chair_topic(root: str, site: str, chair: str, kind: Outbound | Inbound) -> str:
    return f"{root}/{site}/chair/{chair}/{kind.value}"


def pager_topic(root: str, site: str, pager: str) -> str:
    return f"{root}/{site}/pager/{pager}"


def status_topic(root: str, site: str) -> str:
    return f"{root}/{site}/monitor/status"


def coverage_topic(root: str, site: str) -> str:
    """v1.3: who covers which chairs (retained, from the service)."""
    return f"{root}/{site}/monitor/coverage"

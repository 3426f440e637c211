"""The pager simulator (`infusion-sim pager`): shows the pages the service sends and answers
them as a nurse would, by a rule.

How this works: the rules are pure. `decide` maps a rule and a page to a reply and the wall time
to send it (or no reply); `Responder` adds the memory a rule needs (a page redelivered by QoS 1
is answered once; `decline-then-accept` declines an alarm's first page and accepts the later
ones). `run_pagers` is the thin shell: it subscribes to `{root}/{site}/pager/{pager}`, prints
each page (a page carries no patient name, and none is printed), sends each reply at its time on
`{root}/{site}/pager/{pager}/reply`, and in `manual` mode takes `a` or `d` lines for the oldest
page still waiting. An all-clear or a self-test is shown and never answered. A malformed page is
reported and skipped; it never stops the pagers.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import math
import secrets
import signal
import sys
import threading
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from datetime import datetime, tzinfo
from enum import StrEnum
from typing import TextIO

import aiomqtt
from pydantic import ValidationError

from monitor.mqtt import broker_client
from monitor.wire.address import BrokerAddress
from monitor.wire.outbound import PageOut
from monitor.wire.payloads import MAX_PAYLOAD_BYTES, PayloadError, format_event_time, validate
from monitor.wire.topics import NAME, Inbound, check_name, check_root, pager_topic
from simulators.player import NODELAY, add_broker_arguments, connection, encode

MEMORY = 10_000  # pages and alarms remembered (duplicates, decline-then-accept)
MAX_PENDING = 1_000  # replies waiting for their time
MAX_WAITING = 100  # pages waiting for a manual answer
TEXT_LIMIT = 200  # characters of a page's text shown
RULES_HELP = "accept:N, decline, decline-then-accept:N, human, human:SEED, ignore or manual"
KIND_SHOWN = {"all_clear": "ALL CLEAR", "test": "TEST"}  # shown instead of the priority


class RuleKind(StrEnum):
    ACCEPT = "accept"
    DECLINE = "decline"
    DECLINE_THEN_ACCEPT = "decline-then-accept"
    IGNORE = "ignore"
    MANUAL = "manual"
    HUMAN = "human"  # like a nurse on a shift: mostly accepts in 20-90 s, sometimes not


TIMED = (RuleKind.ACCEPT, RuleKind.DECLINE, RuleKind.DECLINE_THEN_ACCEPT)


class Reply(StrEnum):
    ACCEPT = "accept"
    DECLINE = "decline"


@dataclass(frozen=True, slots=True)
class PagerRule:
    """How the simulated nurse answers. `delay_s` is how long she takes (timed kinds only;
    `decline-then-accept` declines at once and accepts after `delay_s`)."""

    kind: RuleKind
    delay_s: float = 0.0

    def __post_init__(self) -> None:
        if not math.isfinite(self.delay_s) or self.delay_s < 0:
            raise ValueError(f"pager rule delay {self.delay_s} must be 0 or more seconds")
        if self.delay_s and self.kind not in (*TIMED, RuleKind.HUMAN):
            raise ValueError(f"pager rule {self.kind.value!r} takes no delay")

    def __str__(self) -> str:
        if self.kind is RuleKind.HUMAN:
            return f"human:{self.delay_s:g}" if self.delay_s else "human"
        return f"{self.kind.value}:{self.delay_s:g}" if self.kind in TIMED else self.kind.value


# `human`: of every 20 pages, 15 are accepted after 20-90 s, 3 declined after 5-30 s and 2 never
# answered (the nurse is busy with another patient): escalation, all-clears and reminders all
# show in a demo. Which page gets which is a hash of the page id and the seed, so a run replays.
HUMAN_ACCEPT, HUMAN_DECLINE = 15, 3  # of 20; the rest are never answered
HUMAN_ACCEPT_S = (20.0, 90.0)
HUMAN_DECLINE_S = (5.0, 30.0)


def human_decision(page: str, seed: float, received_at: float) -> Decision | None:
    """What a nurse on shift does with `page`: deterministic in the page id and the seed."""
    digest = hashlib.sha256(f"{seed:g}/{page}".encode()).digest()
    pick, spread = digest[0] % 20, int.from_bytes(digest[1:3], "big") / 65535
    if pick < HUMAN_ACCEPT:
        low, high = HUMAN_ACCEPT_S
        return Decision(page, Reply.ACCEPT, received_at + low + spread * (high - low))
    if pick < HUMAN_ACCEPT + HUMAN_DECLINE:
        low, high = HUMAN_DECLINE_S
        return Decision(page, Reply.DECLINE, received_at + low + spread * (high - low))
    return None


@dataclass(frozen=True, slots=True)
class Decision:
    page: str
    reply: Reply
    at: float  # wall time (epoch seconds) to send it


def parse_rule(text: str) -> PagerRule:
    """`accept:5`, `accept` (at once), `decline`, `decline-then-accept:5`, `human` or `human:7`
    (its seed), `ignore`, `manual`."""
    name, sep, delay = text.strip().lower().partition(":")
    try:
        kind = RuleKind(name)
    except ValueError:
        raise ValueError(f"pager rule {text!r} is not one of {RULES_HELP}") from None
    if not sep:
        return PagerRule(kind)
    if kind is RuleKind.HUMAN:
        try:
            return PagerRule(kind, float(int(delay)))
        except ValueError:
            raise ValueError(
                f"pager rule {text!r}: the seed {delay!r} is not a whole number"
            ) from None
    if kind not in TIMED:
        raise ValueError(f"pager rule {text!r}: {kind.value} takes no delay (just {kind.value!r})")
    try:
        seconds = float(delay)
    except ValueError:
        raise ValueError(f"pager rule {text!r}: {delay!r} is not a number of seconds") from None
    return PagerRule(kind, seconds)


def decide(
    rule: PagerRule, page: PageOut, received_at: float, *, declined_before: bool = False
) -> Decision | None:
    """The reply to `page` and when to send it; None when the rule sends none (ignore, manual).

    `declined_before`: this alarm's page was declined before (for `decline-then-accept`).
    An all-clear or a self-test (v1.3 `kind`) is shown, never answered.
    """
    if page.kind != "page":
        return None
    match rule.kind:
        case RuleKind.HUMAN:
            return human_decision(page.page, rule.delay_s, received_at)
        case RuleKind.ACCEPT:
            return Decision(page.page, Reply.ACCEPT, received_at + rule.delay_s)
        case RuleKind.DECLINE:
            return Decision(page.page, Reply.DECLINE, received_at + rule.delay_s)
        case RuleKind.DECLINE_THEN_ACCEPT if declined_before:
            return Decision(page.page, Reply.ACCEPT, received_at + rule.delay_s)
        case RuleKind.DECLINE_THEN_ACCEPT:
            return Decision(page.page, Reply.DECLINE, received_at)
    return None


class Recent:
    """The last `size` keys seen, oldest forgotten first."""

    def __init__(self, size: int = MEMORY) -> None:
        self.size = size
        self._keys: OrderedDict[str, None] = OrderedDict()

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def add(self, key: str) -> None:
        self._keys[key] = None
        self._keys.move_to_end(key)
        if len(self._keys) > self.size:
            self._keys.popitem(last=False)


class Responder:
    """A rule with the memory it needs across pages."""

    def __init__(self, rule: PagerRule) -> None:
        self.rule = rule
        self.pages = Recent()
        self.declined = Recent()

    def repeated(self, page: PageOut) -> bool:
        """True for a page seen before (redelivered); records it otherwise."""
        if page.page in self.pages:
            return True
        self.pages.add(page.page)
        return False

    def on_page(self, page: PageOut, received_at: float) -> Decision | None:
        declined = page.alarm in self.declined
        decision = decide(self.rule, page, received_at, declined_before=declined)
        if decision is not None and decision.reply is Reply.DECLINE:
            self.declined.add(page.alarm)
        return decision


def parse_answer(line: str) -> Reply | None:
    """A nurse's line in manual mode: `a`/`accept` or `d`/`decline`; None for anything else."""
    word = line.strip().lower()
    if word in ("a", "accept"):
        return Reply.ACCEPT
    if word in ("d", "decline"):
        return Reply.DECLINE
    return None


# Wire --------------------------------------------------------------------------------------


def parse_page(payload: bytes) -> PageOut:
    """A page as the service publishes it; PayloadError with the reason when it is not one."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise PayloadError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD_BYTES}")
    try:
        return PageOut.model_validate_json(payload)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "payload"
        raise PayloadError(f"{where}: {first['msg']}") from None


def reply_payload(page: str, reply: Reply, *, ts: float) -> bytes:
    """The reply message, checked against the contract (PayloadError if it would not pass)."""
    body = encode({"ts": format_event_time(ts), "page": page, "reply": reply.value})
    validate(Inbound.PAGER_REPLY, body)
    return body


def pager_of(topic: str, *, root: str, site: str) -> str | None:
    """The pager a page topic is for; None for any other topic (a reply, a bad pager name)."""
    prefix = pager_topic(root, site, "")
    name = topic.removeprefix(prefix)
    if not topic.startswith(prefix) or not NAME.fullmatch(name):
        return None
    return name


def shown(text: str, limit: int = TEXT_LIMIT) -> str:
    """Text from the wire made safe for a terminal: no control characters, bounded length."""
    clean = "".join(ch if ch.isprintable() else "?" for ch in text)
    return clean if len(clean) <= limit else clean[: limit - 1] + "…"


def format_page(pager: str, page: PageOut, *, tz: tzinfo | None = None) -> str:
    """One line: time, pager, priority, chair, text (no patient name: a page has none)."""
    clock = datetime.fromtimestamp(page.ts, tz).strftime("%H:%M:%S")
    label = KIND_SHOWN.get(page.kind, page.priority.upper())
    return (
        f"{clock}  {shown(pager, 32)}  {label:<6}  chair {shown(page.chair, 32)}"
        f"  {shown(page.text)}  [page {shown(page.page, 64)}]"
    )


# The shell ---------------------------------------------------------------------------------


class _Desk:
    """Pages in, replies out, for the pagers of one run."""

    def __init__(
        self,
        client: aiomqtt.Client,
        tasks: asyncio.TaskGroup,
        *,
        rule: PagerRule,
        root: str,
        site: str,
        out: TextIO,
    ) -> None:
        self.client, self.tasks, self.root, self.site, self.out = client, tasks, root, site, out
        self.responder = Responder(rule)
        self.pending: set[asyncio.Task[None]] = set()
        self.waiting: deque[tuple[str, PageOut]] = deque()

    def say(self, line: str) -> None:
        print(line, file=self.out, flush=True)

    async def receive(self) -> None:
        async for message in self.client.messages:
            raw = message.payload
            payload = raw if isinstance(raw, bytes) else str(raw or "").encode()
            self.on_message(message.topic.value, payload, time.time())

    def on_message(self, topic: str, payload: bytes, received_at: float) -> None:
        pager = pager_of(topic, root=self.root, site=self.site)
        if pager is None:
            self.say(f"! message on {shown(topic)} skipped: not a page topic of contract v1")
            return
        try:
            page = parse_page(payload)
            reply_payload(page.page, Reply.ACCEPT, ts=received_at)  # can it be answered?
        except PayloadError as exc:
            self.say(f"! malformed page on {shown(topic)} skipped: {shown(str(exc))}")
            return
        if self.responder.repeated(page):
            self.say(f"  (page {shown(page.page, 64)} again: already seen)")
            return
        self.say(format_page(pager, page))
        self.answer(pager, page, received_at)

    def answer(self, pager: str, page: PageOut, received_at: float) -> None:
        if page.kind != "page":
            self.say(f"  ({KIND_SHOWN[page.kind].lower()}: nothing to answer)")
            return
        decision = self.responder.on_page(page, received_at)
        if decision is not None:
            self.schedule(pager, decision)
        elif self.responder.rule.kind is RuleKind.MANUAL:
            if len(self.waiting) >= MAX_WAITING:
                dropped = shown(self.waiting.popleft()[1].page, 64)
                self.say(f"! {MAX_WAITING} pages waiting: page {dropped} will not be answered")
            self.waiting.append((pager, page))
            self.say(f"  {len(self.waiting)} waiting; a = accept, d = decline (oldest first)")

    def schedule(self, pager: str, decision: Decision) -> None:
        if len(self.pending) >= MAX_PENDING:
            self.say(f"! {MAX_PENDING} replies waiting: page {shown(decision.page, 64)} gets none")
            return
        job = self.tasks.create_task(self.send(pager, decision), name=f"reply-{decision.page}")
        self.pending.add(job)
        job.add_done_callback(self.pending.discard)

    async def send(self, pager: str, decision: Decision) -> None:
        delay = decision.at - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        body = reply_payload(decision.page, decision.reply, ts=time.time())
        topic = f"{pager_topic(self.root, self.site, pager)}/{Inbound.PAGER_REPLY.value}"
        await self.client.publish(topic, body, qos=1)
        self.say(f"  -> {pager} {decision.reply.value} page {shown(decision.page, 64)}")

    async def nurse(self, lines: AsyncIterable[str]) -> None:
        async for line in lines:
            reply = parse_answer(line)
            if reply is None:
                self.say("  type a (accept) or d (decline), then Enter")
            elif not self.waiting:
                self.say("  no page waiting")
            else:
                pager, page = self.waiting.popleft()
                await self.send(pager, Decision(page.page, reply, time.time()))
        self.say("  input closed: no more manual answers")


async def run_pagers(
    *,
    broker: BrokerAddress | None = None,
    host: str = "127.0.0.1",
    port: int = 1883,
    root: str,
    site: str,
    pagers: list[str] | None,
    rule: PagerRule,
    out: TextIO | None = None,
    stop: asyncio.Event | None = None,
    ready: asyncio.Event | None = None,
    answers: AsyncIterable[str] | None = None,
) -> None:
    """Show and answer pages for `pagers` (None: every pager of the site) until `stop` is set.

    Args:
        broker: the broker and the pager's user (with the shipped ACL, `pager-p01` for pager
            p01 alone, `pager-gateway` for all); left out, `host` and `port` (no user, no TLS).
        out: where pages and replies are shown; default stdout.
        ready: set once subscribed (pages sent before that are not seen: they are not retained).
        answers: the nurse's lines in manual mode; default the lines typed on stdin.

    Raises:
        aiomqtt.MqttError: the broker cannot be reached, or the connection is lost.
    """
    check_root(root)
    names = ["+"] if pagers is None else [check_name(p, "pager") for p in pagers]
    out = out or sys.stdout
    stop = stop or asyncio.Event()
    identifier = f"infusion-sim-pager-{check_name(site, 'site')}-{secrets.token_hex(4)}"
    address = broker or BrokerAddress(host, port)
    client = broker_client(address, identifier=identifier, socket_options=NODELAY)
    async with client:
        for name in names:
            await client.subscribe(pager_topic(root, site, name), qos=1)
        which = "every pager" if pagers is None else "pagers " + ", ".join(names)
        print(f"{which} of {root}/{site}, rule {rule}", file=out, flush=True)
        if ready is not None:
            ready.set()
        try:
            await _serve(
                client, rule=rule, root=root, site=site, out=out, stop=stop, answers=answers
            )
        except* aiomqtt.MqttError as group:
            raise group.exceptions[0] from None


async def _serve(
    client: aiomqtt.Client,
    *,
    rule: PagerRule,
    root: str,
    site: str,
    out: TextIO,
    stop: asyncio.Event,
    answers: AsyncIterable[str] | None,
) -> None:
    async with asyncio.TaskGroup() as tasks:
        desk = _Desk(client, tasks, rule=rule, root=root, site=site, out=out)
        jobs = [tasks.create_task(desk.receive(), name="pager-receive")]
        if rule.kind is RuleKind.MANUAL:
            lines = answers if answers is not None else stdin_lines()
            jobs.append(tasks.create_task(desk.nurse(lines), name="pager-nurse"))
        await stop.wait()
        if desk.pending:
            desk.say(f"  stopping: {len(desk.pending)} replies not sent")
        for job in [*jobs, *desk.pending]:
            job.cancel()


async def stdin_lines() -> AsyncIterator[str]:
    """Lines typed on stdin. A daemon thread reads them: a blocked read cannot be cancelled, and
    a daemon thread does not keep the program alive. At most `slots` lines wait unread."""
    loop = asyncio.get_running_loop()
    slots = threading.BoundedSemaphore(16)
    lines: asyncio.Queue[str | None] = asyncio.Queue(maxsize=17)  # the lines, then None at EOF

    def read() -> None:
        try:
            for line in sys.stdin:
                slots.acquire()
                loop.call_soon_threadsafe(lines.put_nowait, line)
            loop.call_soon_threadsafe(lines.put_nowait, None)
        except RuntimeError:  # the event loop is closed: nobody reads any more
            return

    threading.Thread(target=read, name="pager-stdin", daemon=True).start()
    while (line := await lines.get()) is not None:
        slots.release()
        yield line


# Command line (wired into `infusion-sim pager` by the CLI) -------------------------------------


def _rule_argument(text: str) -> PagerRule:
    try:
        return parse_rule(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_pager_arguments(parser: argparse.ArgumentParser) -> None:
    add_broker_arguments(parser)
    parser.add_argument(
        "--pager", action="append", metavar="NAME", help="a pager to be (repeat it); default all"
    )
    parser.add_argument(
        "--rule", type=_rule_argument, default=PagerRule(RuleKind.ACCEPT, 5.0),
        help=f"how to answer: {RULES_HELP} (N in seconds; default accept:5)",
    )  # fmt: skip


def run_pager(args: argparse.Namespace) -> int:
    """`infusion-sim pager`: runs until Ctrl-C or SIGTERM (exit 0); 2 for bad usage, 1 when the
    broker cannot be reached or is lost."""
    try:
        broker, root, site = connection(args)
        rule = args.rule if isinstance(args.rule, PagerRule) else parse_rule(args.rule)
        pagers = None if not args.pager else [check_name(p, "pager") for p in args.pager]
    except ValueError as exc:
        print(f"infusion-sim pager: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(_until_signalled(broker=broker, root=root, site=site, pagers=pagers, rule=rule))
    except aiomqtt.MqttError as exc:
        print(f"infusion-sim pager: broker {broker.redacted}: {exc}", file=sys.stderr)
        return 1
    return 0


async def _until_signalled(
    *, broker: BrokerAddress, root: str, site: str, pagers: list[str] | None, rule: PagerRule
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await run_pagers(broker=broker, root=root, site=site, pagers=pagers, rule=rule, stop=stop)

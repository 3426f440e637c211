"""The dispatcher without a network: the backoff schedule, which attempt is final, every attempt
reported, the bound on pages in flight, self-tests, and the delivery configuration."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from monitor.paging.config import (
    PagerAddress,
    PagingConfigError,
    Secret,
    WebhookSettings,
    parse_paging,
)
from monitor.paging.dispatch import (
    TOO_MANY,
    Attempt,
    Dispatcher,
    backoff_before,
    build_routes,
    close_routes,
    is_final,
    self_test_page,
)
from monitor.paging.routes import DeliveryError, pager_text
from monitor.paging.wctp import (
    WctpStatus,
    confirmation,
    parse_confirmation,
    parse_status_info,
    wctp_xml,
)
from monitor.paging.webhook import signature, verify_signature
from monitor.wire.outbound import PageOut

T0 = 1_795_000_000.0
KIM = PagerAddress(id="kim", route="fake", address="kim")


def _page(page: str = "pg-1", **changes: Any) -> PageOut:
    fields: dict[str, Any] = {
        "page": page, "ts": T0, "alarm": "al-1", "chair": "c03", "priority": "high",
        "text": "SBP 186 > 180 mmHg",
    }  # fmt: skip
    return PageOut.model_validate({**fields, **changes})


class FakeRoute:
    """Fails its first `failures` sends, then delivers; or waits on `gate` before answering."""

    def __init__(self, name: str = "fake", *, failures: int = 0, gate: asyncio.Event | None = None):
        self.name, self.failures, self.gate = name, failures, gate
        self.sent: list[tuple[str, PageOut]] = []

    async def send(self, pager: PagerAddress, message: PageOut) -> str:
        self.sent.append((pager.address, message))
        if self.gate is not None:
            await self.gate.wait()
        if len(self.sent) <= self.failures:
            raise DeliveryError(f"down ({len(self.sent)})")
        return f"id-{len(self.sent)}"


class FakeTime:
    """A clock that jumps by each sleep; records the sleeps."""

    def __init__(self) -> None:
        self.now = T0
        self.sleeps: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return float(self.now)


def _dispatcher(*routes: Any, **options: Any) -> tuple[Dispatcher, list[Attempt], FakeTime]:
    attempts: list[Attempt] = []
    fake = FakeTime()
    dispatcher = Dispatcher(
        routes, on_attempt=attempts.append, sleep=fake.sleep, clock=fake.clock, **options
    )
    return dispatcher, attempts, fake


# Pure decisions ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attempt_no", "expected"), [(1, 0.0), (2, 1.0), (3, 2.0), (4, 4.0), (5, 4.0), (9, 4.0)]
)
def test_backoff_follows_the_schedule_then_repeats_its_last_step(
    attempt_no: int, expected: float
) -> None:
    assert backoff_before(attempt_no, (1.0, 2.0, 4.0)) == expected


@pytest.mark.parametrize(
    ("attempt_no", "ok", "retries", "final"),
    [
        (1, True, 3, True),
        (1, False, 3, False),
        (3, False, 3, False),
        (4, False, 3, True),
        (1, False, 0, True),
        (2, True, 3, True),
    ],
)
def test_an_attempt_is_final_when_it_delivered_or_was_the_last_allowed(
    attempt_no: int, ok: bool, retries: int, final: bool
) -> None:
    assert is_final(attempt_no, ok=ok, retries=retries) is final


# Delivery ------------------------------------------------------------------------------------


async def test_a_page_delivered_at_once_is_one_final_attempt() -> None:
    route = FakeRoute()
    dispatcher, attempts, fake = _dispatcher(route)

    last = await dispatcher.deliver(KIM, _page())

    assert attempts == [Attempt(T0, "pg-1", "kim", "fake", 1, True, "id-1", True)]
    assert last == attempts[0]
    assert fake.sleeps == []


async def test_failures_are_retried_with_backoff_and_each_attempt_reported() -> None:
    route = FakeRoute(failures=2)
    dispatcher, attempts, fake = _dispatcher(route, backoff_s=(1.0, 2.0, 4.0))

    await dispatcher.deliver(KIM, _page())

    assert [(a.attempt_no, a.ok, a.detail, a.final) for a in attempts] == [
        (1, False, "down (1)", False),
        (2, False, "down (2)", False),
        (3, True, "id-3", True),
    ]
    assert fake.sleeps == [1.0, 2.0]
    assert [a.ts for a in attempts] == [T0, T0 + 1, T0 + 3]


async def test_after_its_retries_a_page_gives_up_with_a_final_failure() -> None:
    route = FakeRoute(failures=99)
    dispatcher, attempts, fake = _dispatcher(route, retries=3)

    last = await dispatcher.deliver(KIM, _page())

    assert [a.attempt_no for a in attempts] == [1, 2, 3, 4]
    assert [a.final for a in attempts] == [False, False, False, True]
    assert (last.ok, last.detail) == (False, "down (4)")
    assert fake.sleeps == [1.0, 2.0, 4.0]
    assert len(route.sent) == 4


async def test_a_route_that_hangs_is_cut_by_the_timeout() -> None:
    route = FakeRoute(gate=asyncio.Event())  # never set
    dispatcher, attempts, _ = _dispatcher(route, retries=1, timeout_s=0.05)

    await dispatcher.deliver(KIM, _page())

    assert [(a.ok, a.detail, a.final) for a in attempts] == [
        (False, "no answer within 0.05 s", False),
        (False, "no answer within 0.05 s", True),
    ]


async def test_a_route_that_raises_anything_is_a_reported_failure() -> None:
    class Broken:
        name = "fake"

        async def send(self, pager: PagerAddress, message: PageOut) -> str:
            raise KeyError("bug")

    dispatcher, attempts, _ = _dispatcher(Broken(), retries=0)

    await dispatcher.deliver(KIM, _page())

    assert [(a.ok, a.detail, a.final) for a in attempts] == [
        (False, "KeyError in route fake", True)
    ]


async def test_a_pager_on_a_route_not_configured_fails_every_attempt() -> None:
    dispatcher, attempts, _ = _dispatcher(FakeRoute(), retries=1)

    await dispatcher.deliver(PagerAddress("ann", "wctp", "555"), _page())

    assert [(a.route, a.ok, a.detail, a.final) for a in attempts] == [
        ("wctp", False, "route 'wctp' is not configured", False),
        ("wctp", False, "route 'wctp' is not configured", True),
    ]


async def test_submit_delivers_in_the_background() -> None:
    route = FakeRoute()
    dispatcher, attempts, _ = _dispatcher(route)

    assert dispatcher.submit(KIM, _page("pg-1")) is True
    assert dispatcher.submit(KIM, _page("pg-2")) is True
    assert attempts == []  # nothing has run yet: submit never waits
    await dispatcher.drained()

    assert sorted(a.page for a in attempts) == ["pg-1", "pg-2"]
    assert dispatcher.in_flight == 0


async def test_beyond_the_bound_a_page_is_refused_and_reported() -> None:
    gate = asyncio.Event()
    route = FakeRoute(gate=gate)
    dispatcher, attempts, _ = _dispatcher(route, max_in_flight=3)

    taken = [dispatcher.submit(KIM, _page(f"pg-{i}")) for i in range(5)]

    assert taken == [True, True, True, False, False]
    assert dispatcher.in_flight == 3
    assert [(a.page, a.attempt_no, a.ok, a.detail, a.final) for a in attempts] == [
        ("pg-3", 0, False, TOO_MANY, True),
        ("pg-4", 0, False, TOO_MANY, True),
    ]
    gate.set()
    await dispatcher.drained()
    assert dispatcher.submit(KIM, _page("pg-5")) is True  # room again
    await dispatcher.drained()
    assert {a.page for a in attempts if a.ok} == {"pg-0", "pg-1", "pg-2", "pg-5"}


async def test_close_cancels_the_deliveries_still_running() -> None:
    route = FakeRoute(gate=asyncio.Event())
    dispatcher, attempts, _ = _dispatcher(route, timeout_s=60)
    dispatcher.submit(KIM, _page())
    await asyncio.sleep(0)

    await dispatcher.close()

    assert dispatcher.in_flight == 0
    assert attempts == []


async def test_a_failing_listener_does_not_stop_the_delivery() -> None:
    seen: list[Attempt] = []

    def listener(attempt: Attempt) -> None:
        seen.append(attempt)
        raise RuntimeError("record down")

    fake = FakeTime()
    route = FakeRoute(failures=1)
    dispatcher = Dispatcher([route], on_attempt=listener, sleep=fake.sleep, clock=fake.clock)

    last = await dispatcher.deliver(KIM, _page())

    assert last.ok
    assert len(seen) == 2


# Self-test -----------------------------------------------------------------------------------


async def test_self_test_sends_a_test_through_each_route_a_pager_uses() -> None:
    good, bad, unused = FakeRoute("mqtt"), FakeRoute("wctp", failures=9), FakeRoute("webhook")
    dispatcher, attempts, _ = _dispatcher(good, bad, unused)
    pagers = [
        PagerAddress("kim", "mqtt", "kim"),
        PagerAddress("lee", "mqtt", "lee"),
        PagerAddress("ann", "wctp", "5551234"),
    ]

    outcome = await dispatcher.self_test(pagers)

    assert {name: (a.ok, a.pager, a.final) for name, a in outcome.items()} == {
        "mqtt": (True, "kim", True),
        "wctp": (False, "ann", True),
    }
    assert len(bad.sent) == 1  # one attempt: the next self-test is the retry
    assert unused.sent == []
    assert all(message.kind == "test" for _, message in good.sent + bad.sent)
    assert len(attempts) == 2


def test_a_self_test_page_is_a_test_and_names_no_one() -> None:
    page = self_test_page(PagerAddress("kim", "mqtt", "kim"), ts=T0)

    assert page.kind == "test"
    assert page.page.startswith("selftest-mqtt-")
    assert "TEST" in pager_text(page)


# Route helpers without a network --------------------------------------------------------------


def test_a_webhook_signature_covers_the_timestamp_and_the_body() -> None:
    key, body = Secret("k" * 20), b'{"page":"pg-1"}'
    header = f"sha256={signature(key, '1795000000', body)}"

    assert verify_signature(key, timestamp="1795000000", body=body, header=header, now=T0)
    assert not verify_signature(key, timestamp="1795000001", body=body, header=header, now=T0)
    assert not verify_signature(
        key, timestamp="1795000000", body=body + b" ", header=header, now=T0
    )
    assert not verify_signature(
        Secret("x" * 20), timestamp="1795000000", body=body, header=header, now=T0
    )
    assert not verify_signature(key, timestamp="1795000000", body=body, header=header, now=T0 + 301)
    assert not verify_signature(key, timestamp="soon", body=body, header=header, now=T0)


@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        (
            200,
            b"<wctp-Operation><wctp-Confirmation><wctp-Failure errorCode='403' errorText='invalid recipientID'/></wctp-Confirmation></wctp-Operation>",
            "WCTP failure 403: invalid recipientID",
        ),
        (503, b"Service Unavailable", "HTTP 503"),
        (200, b"not xml", "answer is not XML"),
        (200, b"<wctp-Operation><wctp-Confirmation/></wctp-Operation>", "without wctp-Success"),
        (200, b"<!DOCTYPE a [<!ELEMENT a ANY>]><a/>", "DTD subset"),
        (200, b"<a>" + b"x" * 70_000 + b"</a>", "longer than"),
    ],
)
def test_a_wctp_answer_that_is_no_success_is_a_delivery_error(
    status: int, body: bytes, reason: str
) -> None:
    with pytest.raises(DeliveryError, match=reason):
        parse_confirmation(body, status=status)


def _status_info(inner: str) -> bytes:
    return (
        '<?xml version="1.0"?><wctp-Operation wctpVersion="wctp-dtd-v1r3"><wctp-StatusInfo>'
        '<wctp-ResponseHeader responseTimestamp="2026-11-18T11:06:45">'
        '<wctp-Originator senderID="paging"/><wctp-MessageControl messageID="pg-1"/>'
        f'<wctp-Recipient recipientID="5551234"/></wctp-ResponseHeader>{inner}'
        "</wctp-StatusInfo></wctp-Operation>"
    ).encode()


@pytest.mark.parametrize(
    ("inner", "status"),
    [
        ('<wctp-Notification type="Delivered"/>', WctpStatus("pg-1", "5551234", "delivered")),
        ('<wctp-Notification type="QUEUED"/>', WctpStatus("pg-1", "5551234", "queued")),
        (
            '<wctp-Failure errorCode="503" errorText="device unreachable"/>',
            WctpStatus("pg-1", "5551234", "failed", "503: device unreachable"),
        ),
    ],
)
def test_a_wctp_status_info_says_what_became_of_the_page(inner: str, status: WctpStatus) -> None:
    assert parse_status_info(_status_info(inner)) == status


def test_a_status_info_without_a_notification_is_refused() -> None:
    with pytest.raises(DeliveryError, match="without wctp-Notification"):
        parse_status_info(_status_info(""))


def test_our_confirmation_reads_back() -> None:
    root = wctp_xml(confirmation(ok=True, code=200, text="Status received"))

    success = root.find("wctp-Confirmation/wctp-Success")
    assert success is not None
    assert (success.get("successCode"), success.get("successText")) == ("200", "Status received")
    assert parse_confirmation(confirmation(ok=True, code=200, text="ok")) == "WCTP 200 ok"


# Configuration -------------------------------------------------------------------------------

SECRET = "s3cret-s3cret-s3cret"


def _config(**tables: Any) -> dict[str, Any]:
    return {
        "pagers": [
            {"id": "kim", "name": "Kim", "role": "nurse", "route": "mqtt"},
            {"id": "ann", "name": "Ann", "role": "charge", "route": "wctp", "address": "5551234"},
            {"id": "hub", "name": "Hub", "role": "failsafe", "route": "webhook"},
        ],
        "routes": {
            "wctp": {"url": "https://paging.example/wctp", "sender": "infusion-monitor"},
            "webhook": {"url": "https://push.example/hook", "secret": SECRET, "timeout_s": 3},
        },
        "delivery": {"retries": 2, "backoff_s": [1, 3], "self_test_every_s": 120},
        **tables,
    }


def test_the_delivery_configuration_reads_routes_addresses_and_retries() -> None:
    config = parse_paging(_config())

    assert config.pagers == (
        PagerAddress("kim", "mqtt", "kim"),  # the address defaults to the id
        PagerAddress("ann", "wctp", "5551234"),
        PagerAddress("hub", "webhook", "hub"),
    )
    assert config.routes == ("mqtt", "wctp", "webhook")
    assert config.webhook == WebhookSettings("https://push.example/hook", Secret(SECRET), 3.0)
    assert (config.delivery.retries, config.delivery.backoff_s) == (2, (1.0, 3.0))
    assert config.delivery.self_test_every_s == 120


def test_an_empty_paging_table_is_mqtt_only_with_the_defaults() -> None:
    config = parse_paging({})

    assert (config.pagers, config.routes) == ((), ("mqtt",))
    assert (config.delivery.retries, config.delivery.backoff_s) == (3, (1.0, 2.0, 4.0))


def test_secrets_never_show() -> None:
    config = parse_paging(
        _config(routes={"webhook": {"url": "https://h.example/", "secret": SECRET},
                        "wctp": {"url": "https://w.example/", "security_code": "pin-4321"}})
    )  # fmt: skip

    shown = (
        f"{config!r} {config.webhook!r} {config.wctp!r} {config.webhook and config.webhook.secret}"
    )

    assert SECRET not in shown
    assert "pin-4321" not in shown
    assert config.wctp is not None
    assert config.wctp.security_code is not None
    assert config.wctp.security_code.reveal() == "pin-4321"


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (
            {"pagers": [{"id": "kim", "route": "wctp", "address": "1"}], "routes": {}},
            "[paging.routes.wctp]",
        ),
        ({"pagers": [{"id": "kim", "route": "sms"}]}, "paging.pagers[0] ('kim').route 'sms'"),
        ({"pagers": [{"id": "ann", "route": "wctp"}]}, "paging.pagers[0] ('ann').address"),
        ({"pagers": [{"id": "kim", "address": "kim/+"}]}, "paging.pagers[0] ('kim').address"),
        ({"pagers": [{"route": "mqtt"}]}, "paging.pagers[0].id"),
        ({"pagers": [{"id": "kim"}, {"id": "kim"}]}, "'kim' is given twice"),
        ({"pagers": {"id": "kim"}}, "paging.pagers must be a list"),
        (
            {"routes": {"webhook": {"url": "https://h.example/", "secret": "short"}}},
            "paging.routes.webhook.secret",
        ),
        (
            {"routes": {"webhook": {"url": "ftp://h.example/", "secret": SECRET}}},
            "paging.routes.webhook.url",
        ),
        (
            {"routes": {"wctp": {"url": "https://w.example/", "timeout_s": 0}}},
            "paging.routes.wctp.timeout_s",
        ),
        (
            {"routes": {"wctp": {"url": "https://w.example/", "sender": ""}}},
            "paging.routes.wctp.sender",
        ),
        ({"routes": {"pigeon": {}}}, "paging.routes: unknown key 'pigeon'"),
        ({"delivery": {"retries": -1}}, "paging.delivery.retries"),
        ({"delivery": {"retries": True}}, "paging.delivery.retries"),
        ({"delivery": {"backoff_s": []}}, "paging.delivery.backoff_s"),
        ({"delivery": {"backoff_s": [1, "x"]}}, "paging.delivery.backoff_s"),
        ({"delivery": {"self_test_every_s": 1}}, "paging.delivery.self_test_every_s"),
        ({"delivery": {"retry": 3}}, "paging.delivery: unknown key 'retry'"),
    ],
)
def test_bad_configuration_is_refused_naming_the_field(change: dict[str, Any], named: str) -> None:
    table = {**_config(), **change}

    with pytest.raises(PagingConfigError) as refused:
        parse_paging(table)

    assert named in str(refused.value)
    assert SECRET not in str(refused.value)
    assert isinstance(refused.value, ValueError)


async def test_the_routes_built_are_those_configured() -> None:
    published: list[Any] = []
    only_mqtt = build_routes(
        parse_paging({}), publish=published.append, connected=lambda: True, root="clinic",
        site="north",
    )  # fmt: skip
    every = build_routes(
        parse_paging(_config()), publish=published.append, connected=lambda: True,
        root="clinic", site="north",
    )  # fmt: skip

    assert [r.name for r in only_mqtt] == ["mqtt"]
    assert [r.name for r in every] == ["mqtt", "wctp", "webhook"]
    assert await every[0].send(PagerAddress("kim", "mqtt", "kim"), _page()) == (
        "queued on clinic/north/pager/kim"
    )
    assert [m.topic for m in published] == ["clinic/north/pager/kim"]
    await close_routes(every)

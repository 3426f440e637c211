"""The pager simulator's rules and wire handling, without a broker: table-driven."""

from __future__ import annotations

import argparse
import json
from datetime import UTC
from typing import Any

import pytest

from monitor.wire.outbound import PageOut
from monitor.wire.payloads import PagerReplyIn, PayloadError, validate
from monitor.wire.topics import Inbound
from simulators.pager import (
    Decision,
    PagerRule,
    Recent,
    Reply,
    Responder,
    RuleKind,
    add_pager_arguments,
    decide,
    format_page,
    pager_of,
    parse_answer,
    parse_page,
    parse_rule,
    reply_payload,
    run_pager,
    shown,
)

T0 = 1_795_000_000.0  # 2026-11-18T11:06:40Z
PAGE: dict[str, Any] = {
    "page": "pg-1",
    "ts": "2026-11-18T11:06:40.000Z",
    "alarm": "al-1",
    "chair": "c03",
    "priority": "high",
    "text": "SBP 186 > 180 mmHg",
}


def _page(**changes: Any) -> PageOut:
    return parse_page(json.dumps({**PAGE, **changes}).encode())


# Rules -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("accept:5", PagerRule(RuleKind.ACCEPT, 5.0)),
        ("accept:0.2", PagerRule(RuleKind.ACCEPT, 0.2)),
        ("accept", PagerRule(RuleKind.ACCEPT, 0.0)),
        (" Accept:0 ", PagerRule(RuleKind.ACCEPT, 0.0)),
        ("decline", PagerRule(RuleKind.DECLINE)),
        ("decline:3", PagerRule(RuleKind.DECLINE, 3.0)),
        ("decline-then-accept:2", PagerRule(RuleKind.DECLINE_THEN_ACCEPT, 2.0)),
        ("decline-then-accept", PagerRule(RuleKind.DECLINE_THEN_ACCEPT, 0.0)),
        ("ignore", PagerRule(RuleKind.IGNORE)),
        ("manual", PagerRule(RuleKind.MANUAL)),
    ],
)
def test_rules_parse(text: str, rule: PagerRule) -> None:
    assert parse_rule(text) == rule


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "is not one of accept:N, decline"),
        ("acept:5", "'acept:5' is not one of"),
        ("accept:soon", "'soon' is not a number of seconds"),
        ("accept:", "'' is not a number of seconds"),
        ("accept:-1", "must be 0 or more seconds"),
        ("accept:inf", "must be 0 or more seconds"),
        ("accept:nan", "must be 0 or more seconds"),
        ("ignore:5", "ignore takes no delay"),
        ("manual:1", "manual takes no delay"),
    ],
)
def test_bad_rules_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_rule(text)


@pytest.mark.parametrize(
    "text", ["accept:5", "accept:0.2", "decline:0", "decline-then-accept:3", "ignore", "manual"]
)
def test_a_rule_prints_as_it_parses(text: str) -> None:
    assert str(parse_rule(text)) == text


@pytest.mark.parametrize(
    ("rule", "declined_before", "expected"),
    [
        ("accept:5", False, (Reply.ACCEPT, 5.0)),
        ("accept:0", False, (Reply.ACCEPT, 0.0)),
        ("accept:5", True, (Reply.ACCEPT, 5.0)),
        ("decline", False, (Reply.DECLINE, 0.0)),
        ("decline:2", True, (Reply.DECLINE, 2.0)),
        ("decline-then-accept:4", False, (Reply.DECLINE, 0.0)),
        ("decline-then-accept:4", True, (Reply.ACCEPT, 4.0)),
        ("ignore", False, None),
        ("ignore", True, None),
        ("manual", False, None),
    ],
)
def test_decisions(rule: str, declined_before: bool, expected: tuple[Reply, float] | None) -> None:
    decision = decide(parse_rule(rule), _page(), T0, declined_before=declined_before)

    if expected is None:
        assert decision is None
    else:
        reply, after_s = expected
        assert decision == Decision("pg-1", reply, T0 + after_s)


def test_decline_then_accept_declines_each_alarms_first_page_only() -> None:
    responder = Responder(parse_rule("decline-then-accept:1"))
    pages = [_page(page="1", alarm="A"), _page(page="2", alarm="A"), _page(page="3", alarm="B")]

    decisions = [responder.on_page(page, T0) for page in pages]

    assert decisions == [
        Decision("1", Reply.DECLINE, T0),
        Decision("2", Reply.ACCEPT, T0 + 1),
        Decision("3", Reply.DECLINE, T0),
    ]


def test_a_redelivered_page_is_recognised() -> None:
    responder = Responder(parse_rule("accept:0"))

    assert [responder.repeated(p) for p in (_page(), _page(), _page(page="pg-2"))] == [
        False,
        True,
        False,
    ]


def test_memory_is_bounded_and_forgets_the_oldest() -> None:
    recent = Recent(size=2)
    for key in ("a", "b", "c"):
        recent.add(key)

    assert ["a" in recent, "b" in recent, "c" in recent] == [False, True, True]


@pytest.mark.parametrize(
    ("line", "reply"),
    [
        ("a\n", Reply.ACCEPT),
        (" A ", Reply.ACCEPT),
        ("accept", Reply.ACCEPT),
        ("d\n", Reply.DECLINE),
        ("decline", Reply.DECLINE),
        ("", None),
        ("yes", None),
        ("ad", None),
    ],
)
def test_manual_answers(line: str, reply: Reply | None) -> None:
    assert parse_answer(line) == reply


# Wire --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"", "Invalid JSON"),
        (b"not json", "Invalid JSON"),
        (b"[]", "Input should be"),
        (json.dumps({**PAGE, "priority": "urgent"}).encode(), "priority"),
        (json.dumps({k: v for k, v in PAGE.items() if k != "page"}).encode(), "page: Field"),
        (json.dumps({**PAGE, "ts": "yesterday"}).encode(), "ts: Value error"),
        (b"{" + b" " * 70_000 + b"}", "exceeds"),
    ],
)
def test_malformed_pages_are_refused_with_the_reason(payload: bytes, message: str) -> None:
    with pytest.raises(PayloadError, match=message):
        parse_page(payload)


@pytest.mark.parametrize("reply", list(Reply))
def test_a_reply_passes_the_contract_and_names_the_page(reply: Reply) -> None:
    body = reply_payload("pg-1", reply, ts=T0)
    model = validate(Inbound.PAGER_REPLY, body)

    assert isinstance(model, PagerReplyIn)
    assert (model.page, model.reply, model.ts) == ("pg-1", reply.value, T0)
    assert body == b'{"ts":"2026-11-18T11:06:40.000Z","page":"pg-1","reply":"%s"}' % (
        reply.value.encode()
    )


@pytest.mark.parametrize("page", ["", "x" * 65])
def test_a_reply_the_service_could_not_take_is_never_built(page: str) -> None:
    with pytest.raises(PayloadError, match="page"):
        reply_payload(page, Reply.ACCEPT, ts=T0)


@pytest.mark.parametrize(
    ("topic", "pager"),
    [
        ("clinic/t1/pager/p1", "p1"),
        ("clinic/t1/pager/p1/reply", None),
        ("clinic/t1/pager/p 1", None),
        ("clinic/t1/pager/" + "p" * 33, None),
        ("clinic/t1/pager/", None),
        ("clinic/t2/pager/p1", None),
        ("clinic/t1/chair/p1", None),
    ],
)
def test_only_page_topics_name_a_pager(topic: str, pager: str | None) -> None:
    assert pager_of(topic, root="clinic", site="t1") == pager


def test_a_page_prints_time_pager_priority_chair_and_text() -> None:
    line = format_page("p1", _page(), tz=UTC)

    assert line == "11:06:40  p1  HIGH    chair c03  SBP 186 > 180 mmHg  [page pg-1]"


def test_a_patient_name_smuggled_into_a_page_is_never_printed() -> None:
    page = _page(patient="Jane Doe", name="Jane Doe")

    assert "Jane" not in format_page("p1", page, tz=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("SpO2 84 %", "SpO2 84 %"),
        ("\x1b[2Jcleared", "?[2Jcleared"),
        ("two\nlines", "two?lines"),
        ("x" * 300, "x" * 199 + "…"),
    ],
)
def test_wire_text_is_made_safe_for_a_terminal(text: str, expected: str) -> None:
    assert shown(text) == expected


# Command line ------------------------------------------------------------------------------


def _pager_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_pager_arguments(parser)
    return parser.parse_args(argv)


def test_pager_arguments_and_their_defaults() -> None:
    args = _pager_args()
    given = _pager_args("--pager", "p1", "--pager", "p2", "--rule", "ignore", "--site", "north")

    assert (args.pager, args.rule) == (None, PagerRule(RuleKind.ACCEPT, 5.0))
    assert not hasattr(args, "broker")  # left out: the parent parser's --broker is kept
    assert (given.pager, given.rule, given.site) == (["p1", "p2"], parse_rule("ignore"), "north")


def test_a_bad_rule_is_a_usage_error_that_says_why(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        _pager_args("--rule", "accept:soon")

    assert exited.value.code == 2
    assert "'soon' is not a number of seconds" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--broker", "mqtt://"], "must look like mqtt://HOST:PORT"),
        (["--broker", "mqtt://h:99999"], "bad port"),
        (["--pager", "p 1"], "pager 'p 1' must match"),
        (["--site", "a/b"], "site 'a/b' must match"),
        (["--root", "/clinic"], "topic root '/clinic'"),
    ],
)
def test_bad_usage_exits_2_before_any_network(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_pager(_pager_args(*argv)) == 2
    assert message in capsys.readouterr().err


# `human`: a nurse on shift -------------------------------------------------------------------


@pytest.mark.parametrize("text", ["human", "human:7"])
def test_the_human_rule_prints_as_it_parses(text: str) -> None:
    assert str(parse_rule(text)) == text


def test_the_human_rule_wants_a_whole_seed() -> None:
    with pytest.raises(ValueError, match="'soon' is not a whole number"):
        parse_rule("human:soon")


def test_the_human_rule_mostly_accepts_in_20_to_90_s_sometimes_declines_or_never_answers() -> None:
    rule = parse_rule("human:3")
    decisions = [decide(rule, _page(page=f"pg-{n}"), T0) for n in range(2000)]
    accepted = [d for d in decisions if d is not None and d.reply is Reply.ACCEPT]
    declined = [d for d in decisions if d is not None and d.reply is Reply.DECLINE]
    silent = [d for d in decisions if d is None]

    assert 0.70 < len(accepted) / 2000 < 0.80  # 15 of 20
    assert 0.10 < len(declined) / 2000 < 0.20  # 3 of 20
    assert 0.05 < len(silent) / 2000 < 0.15  # 2 of 20
    assert all(20.0 <= d.at - T0 <= 90.0 for d in accepted)
    assert all(5.0 <= d.at - T0 <= 30.0 for d in declined)
    assert max(d.at for d in accepted) - min(d.at for d in accepted) > 60  # spread, not fixed


def test_the_human_rule_replays_with_its_seed_and_differs_with_another() -> None:
    pages = [_page(page=f"pg-{n}") for n in range(50)]
    once = [decide(parse_rule("human:3"), p, T0) for p in pages]
    again = [decide(parse_rule("human:3"), p, T0) for p in pages]
    other = [decide(parse_rule("human:4"), p, T0) for p in pages]

    assert once == again
    assert once != other
    assert decide(parse_rule("human"), _page(kind="all_clear"), T0) is None

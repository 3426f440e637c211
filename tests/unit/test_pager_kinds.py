"""The pager simulator answers pages only: an all-clear or a self-test is shown, never answered."""

from __future__ import annotations

import io
from typing import Any, cast

import pytest

from monitor.wire.outbound import PageOut
from simulators.pager import Reply, Responder, _Desk, format_page, parse_page, parse_rule

T0 = 1_795_000_000.0
RULES = ["accept:0", "accept:5", "decline", "decline-then-accept:1", "ignore", "manual"]


def _page(**changes: Any) -> PageOut:
    fields: dict[str, Any] = {
        "page": "pg-1", "ts": T0, "alarm": "al-1", "chair": "c03", "priority": "high",
        "text": "SBP 186 > 180 mmHg",
    }  # fmt: skip
    return PageOut.model_validate({**fields, **changes})


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("kind", ["all_clear", "test"])
def test_no_rule_answers_an_all_clear_or_a_test(rule: str, kind: str) -> None:
    responder = Responder(parse_rule(rule))

    assert responder.on_page(_page(kind=kind), T0) is None


def test_an_all_clear_does_not_count_as_a_decline_for_the_next_page() -> None:
    responder = Responder(parse_rule("decline-then-accept:0"))
    responder.on_page(_page(kind="all_clear", page="pg-0"), T0)

    decision = responder.on_page(_page(page="pg-1"), T0)

    assert decision is not None
    assert decision.reply is Reply.DECLINE  # still the alarm's first page


def test_a_page_is_still_answered() -> None:
    decision = Responder(parse_rule("accept:0")).on_page(_page(), T0)

    assert decision is not None
    assert (decision.page, decision.reply) == ("pg-1", Reply.ACCEPT)


def test_a_v1_page_without_a_kind_parses_as_a_page() -> None:
    body = (
        b'{"page":"pg-1","ts":1795000000,"alarm":"al-1","chair":"c03","priority":"high","text":"x"}'
    )

    assert parse_page(body).kind == "page"


@pytest.mark.parametrize(("kind", "label"), [("all_clear", "ALL CLEAR"), ("test", "TEST")])
def test_the_line_shown_names_the_kind_instead_of_the_priority(kind: str, label: str) -> None:
    line = format_page("kim", _page(kind=kind, text="ALL CLEAR: c03 SBP"))

    assert f"kim  {label}" in line
    assert "HIGH" not in line


@pytest.mark.parametrize("kind", ["all_clear", "test"])
def test_manual_mode_does_not_wait_for_an_answer_to_an_all_clear_or_a_test(kind: str) -> None:
    out = io.StringIO()
    desk = _Desk(
        cast(Any, None), cast(Any, None), rule=parse_rule("manual"), root="clinic", site="t1",
        out=out,
    )  # fmt: skip

    desk.on_message("clinic/t1/pager/kim", _page(kind=kind).to_json(), T0)

    assert list(desk.waiting) == []
    assert "nothing to answer" in out.getvalue()

"""The quiet log: the first line of each kind at once, then one a minute with the count held
back; a flood of new kinds shares one line, and nothing grows without bound."""

from __future__ import annotations

import logging

import pytest

from monitor.quiet import MANY, QuietLog

T0 = 1_795_000_000.0


@pytest.fixture
def quiet() -> QuietLog:
    return QuietLog(logging.getLogger("test.quiet"), every_s=60, remembered=3)


def lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "test.quiet"]


def test_a_kind_is_said_once_a_minute_with_the_count_held_back(
    quiet: QuietLog, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        said = [quiet.say(T0 + n, "clinic/t1/x", "bad", "bad on x") for n in range(10)]
        quiet.say(T0 + 61, "clinic/t1/x", "bad", "bad on x")

    assert said == [True] + [False] * 9
    assert lines(caplog) == ["bad on x", "bad on x (9 more since the last report)"]


def test_past_its_bound_new_kinds_share_one_line_a_minute(
    quiet: QuietLog, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        for n in range(10):
            quiet.say(T0 + n, f"junk/{n}", "bad_topic", f"bad_topic on junk/{n}")

    assert lines(caplog) == [f"bad_topic on junk/{n}" for n in range(4)]  # 3, then the shared one
    assert len(quiet) == 4
    assert (MANY, "bad_topic") in quiet._last


def test_kinds_whose_minute_is_over_are_forgotten_so_new_ones_are_said_again(
    quiet: QuietLog, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        for n in range(3):
            quiet.say(T0, f"a/{n}", "bad", f"a/{n}")
        quiet.say(T0 + 61, "b/0", "bad", "b/0")  # the first three are over: room again

    assert lines(caplog)[-1] == "b/0"
    assert len(quiet) == 1


def test_a_huge_key_is_cut_in_the_line(quiet: QuietLog, caplog: pytest.LogCaptureFixture) -> None:
    topic = "clinic/t1/chair/" + "x" * 60_000 + "/vitals"
    with caplog.at_level(logging.WARNING):
        quiet.warning(T0, topic=topic, category="bad_topic", reason="too long")

    [line] = lines(caplog)
    assert len(line) < 400
    assert "(60023 characters)" in line

"""`infusion-sim` as a user runs it, without a broker: listing scenarios and printing a clinic."""

from __future__ import annotations

import json

import pytest

from simulators.cli import main
from simulators.scenarios import load_scenarios


def test_scenarios_are_listed_one_line_each(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scenarios"]) == 0
    lines = capsys.readouterr().out.splitlines()
    names = [line.split()[0] for line in lines]
    assert names == list(load_scenarios())
    assert all(len(line.split(maxsplit=1)) == 2 for line in lines)


def test_the_same_seed_prints_the_same_bytes(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--seed", "3", "--chairs", "3", "--start", "1795000000", "--minutes", "15", "--print"]
    assert main(args) == 0
    first = capsys.readouterr().out
    assert main(args) == 0
    second = capsys.readouterr().out
    assert main([*args[:1], "4", *args[2:]]) == 0
    other = capsys.readouterr().out
    assert first == second
    assert first != other
    records = [json.loads(line) for line in first.splitlines()]
    assert {r["topic"].split("/")[3] for r in records} <= {"c01", "c02", "c03"}
    assert all(r["at_s"] < 900 for r in records)


def test_a_pump_pause_and_resume_follow_the_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--scenario", "vasovagal", "--chairs", "1", "--start", "1795000000", "--print"]
    assert main([*args, "--minutes", "40"]) == 0
    events = [
        json.loads(json.loads(line)["payload"])["event"]
        for line in capsys.readouterr().out.splitlines()
        if json.loads(line)["topic"].endswith("/infusion")
    ]
    assert events == ["start", "pause", "resume"]


@pytest.mark.parametrize(
    "args",
    [["--scenario", "no-such-thing", "--print", "--minutes", "1"], ["--chairs", "0", "--print"]],
)
def test_bad_usage_exits_2_with_a_message(
    args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(args) == 2
    assert "infusion-sim:" in capsys.readouterr().err

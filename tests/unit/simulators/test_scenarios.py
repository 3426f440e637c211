"""Scenarios and the clinic: each scenario causes the trouble it names, through the real core;
the same seed gives the same bytes; every message keeps the contract."""

from __future__ import annotations

import itertools
from collections import Counter
from functools import cache
from typing import Any

import numpy as np
import pytest

from monitor.replay import replay_outgoing
from monitor.settings import load_settings
from monitor.wire.outbound import AlarmOut, RecoveryOut
from monitor.wire.payloads import validate
from monitor.wire.topics import Inbound, parse_inbound
from simulators.clinic import clinic_messages, pick_scenario
from simulators.scenarios import Scenario, ScenarioError, load_scenarios, parse_scenario
from simulators.story import Address, Link, SimMessage, session

START = 1_795_000_000.0
ADDRESS = Address("clinic", "sim", START)
SCENARIOS = load_scenarios()


def journal(messages: list[SimMessage]) -> list[dict[str, Any]]:
    """What the service would receive: a dropped link arrives as the monitor's Last Will."""
    entries = []
    for m in messages:
        if m.link is Link.DROP:
            will = {"state": "offline", "device": f"bedside-{m.chair}"}
            entries.append({"received": START + m.at_s, "topic": m.topic, "payload": will})
        elif m.link is None:
            entries.append(
                {"received": START + m.at_s, "topic": m.topic, "payload": m.payload.decode()}
            )
    return entries


@cache
def outcome(name: str, seed: int = 11) -> tuple[list[AlarmOut], list[RecoveryOut]]:
    messages = session(
        chair="c01", scenario=SCENARIOS[name], seed=seed, arrive_s=0.0, patient_label="P-1",
        address=ADDRESS,
    )  # fmt: skip
    settings = load_settings(None, site="sim", db="sqlite:///:memory:", http="off")
    out = replay_outgoing(journal(messages), settings)
    alarms = [AlarmOut.model_validate_json(o.payload) for o in out if o.topic.endswith("/alarm")]
    recovery = [
        RecoveryOut.model_validate_json(o.payload) for o in out if o.topic.endswith("/recovery")
    ]
    return alarms, recovery


def test_every_named_scenario_is_there() -> None:
    wanted = {"calm", "hypertensive", "desaturation", "vasovagal", "slow-recovery", "unplugged",
              "probe-off", "artefact-storm", "typical"}  # fmt: skip
    assert wanted <= set(SCENARIOS)
    assert all(s.summary for s in SCENARIOS.values())


@pytest.mark.parametrize("name", sorted(n for n, s in SCENARIOS.items() if s.expect))
def test_each_scenario_causes_the_alarms_it_names(name: str) -> None:
    alarms, _ = outcome(name)
    raised = {a.kind for a in alarms if a.previous_state is None}
    assert set(SCENARIOS[name].expect) <= raised


@pytest.mark.parametrize("name", sorted(n for n, s in SCENARIOS.items() if s.forbid))
def test_no_scenario_causes_an_alarm_it_forbids(name: str) -> None:
    alarms, _ = outcome(name)
    raised = {a.kind for a in alarms}
    assert raised.isdisjoint(SCENARIOS[name].forbid)


@pytest.mark.parametrize(
    ("name", "statuses"),
    [
        ("calm", {"recovered"}),
        ("slow-recovery", {"overdue"}),
    ],
)
def test_recovery_goes_as_the_scenario_says(name: str, statuses: set[str]) -> None:
    _, recovery = outcome(name)
    seen = {r.status for r in recovery}
    assert statuses <= seen
    if name == "calm":
        recovered = next(r for r in recovery if r.status == "recovered")
        assert recovered.minutes_since_stop <= 20


def test_the_same_seed_gives_the_same_bytes_and_another_seed_does_not() -> None:
    def run(seed: int) -> list[tuple[float, str, bytes, bool, Link | None]]:
        stream = clinic_messages(chairs=4, seed=seed, address=ADDRESS, until_s=5400)
        return [(m.at_s, m.topic, m.payload, m.retain, m.link) for m in stream]

    first, second, other = run(5), run(5), run(6)
    assert first == second
    assert first != other
    assert len(first) > 4 * 3000


def test_every_message_keeps_the_contract() -> None:
    stream = list(clinic_messages(chairs=6, seed=3, address=ADDRESS, until_s=3 * 3600))
    kinds: Counter[str] = Counter()
    for m in stream:
        if m.link is not None:
            continue
        where = parse_inbound(m.topic, root="clinic")
        validate(where.kind, m.payload)
        kinds[where.kind.value] += 1
    assert kinds[Inbound.VITALS.value] > 6 * 3600
    assert kinds[Inbound.SESSION.value] >= 6
    assert kinds[Inbound.INFUSION.value] >= 6 * 2
    assert kinds[Inbound.DEVICE.value] >= 6


def test_a_clinic_staggers_arrivals_and_mixes_scenarios() -> None:
    stream = clinic_messages(chairs=12, seed=9, address=ADDRESS, until_s=4000)
    admits = [m for m in stream if m.topic.endswith("/session") and b'"admit"' in m.payload]
    times = sorted(m.at_s for m in admits)
    assert len(admits) == 12
    assert times[-1] - times[0] > 1200  # spread over the first hour, not all at once


def test_the_realistic_mix_follows_the_scenario_shares() -> None:
    rng = np.random.default_rng(4)
    drawn = Counter(pick_scenario(rng, SCENARIOS).name for _ in range(4000))
    total = sum(s.mix for s in SCENARIOS.values())
    for name, scenario in SCENARIOS.items():
        assert drawn[name] / 4000 == pytest.approx(scenario.mix / total, abs=0.02)


def test_cuff_cycle_is_5_minutes_during_the_infusion_and_10_after() -> None:
    messages = session(chair="c01", scenario=SCENARIOS["calm"], seed=2, arrive_s=0.0,
                       patient_label="P-1", address=ADDRESS)  # fmt: skip
    cuffs = [m.at_s for m in messages if m.topic.endswith("/vitals") and b'"nibp"' in m.payload]
    start, stop = 660.0, 660.0 + 2400
    during = [b - a for a, b in itertools.pairwise(cuffs) if start + 300 < a < stop - 300]
    after = [b - a for a, b in itertools.pairwise(cuffs) if a > stop + 600]
    assert during
    assert after
    assert all(250 <= gap <= 350 for gap in during)
    assert all(550 <= gap <= 650 for gap in after)


def test_unplugged_monitor_drops_its_link_and_comes_back_online() -> None:
    messages = session(chair="c01", scenario=SCENARIOS["unplugged"], seed=2, arrive_s=0.0,
                       patient_label="P-1", address=ADDRESS)  # fmt: skip
    links = [(m.at_s, m.link) for m in messages if m.link is not None]
    assert [link for _, link in links] == [Link.CONNECT, Link.DROP, Link.CONNECT, Link.CLOSE]
    dropped, back = links[1][0], links[2][0]
    assert back - dropped == pytest.approx(180, abs=1)
    silent = [m for m in messages if dropped <= m.at_s < back and m.topic.endswith("/vitals")]
    assert silent == []


def test_a_scenario_file_with_an_unknown_key_is_refused_with_its_name() -> None:
    text = 'name = "x"\nsummary = "y"\n[patient]\nblood_type = "A"\n'
    with pytest.raises(ScenarioError, match="blood_type"):
        parse_scenario(text, source="x.toml")


def test_scenario_episodes_parse() -> None:
    scenario: Scenario = SCENARIOS["desaturation"]
    [episode] = scenario.episodes
    assert episode.kind.value == "desaturation"
    assert episode.active(20.5)
    assert not episode.active(22.0)

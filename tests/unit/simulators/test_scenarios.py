"""Scenarios and the clinic: each scenario causes the trouble it names, through the real core;
the same seed gives the same bytes; every message keeps the contract."""

from __future__ import annotations

import itertools
import json
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
from simulators.story import Address, Link, SimMessage, session, switch_on

START = 1_795_000_000.0
ADDRESS = Address("clinic", "sim", START)
SCENARIOS = load_scenarios()
SEED = 12  # the session every scenario is judged on; a scenario must hold on it


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


def one_session(name: str, seed: int = SEED) -> list[SimMessage]:
    """A session of `name` in c01, its monitor switched on as the clinic opens."""
    return switch_on("c01", address=ADDRESS, at_s=0.0) + session(
        chair="c01", scenario=SCENARIOS[name], seed=seed, arrive_s=0.0, patient_label="P-1",
        address=ADDRESS,
    )  # fmt: skip


def readings(messages: list[SimMessage]) -> list[tuple[float, dict[str, Any]]]:
    """(simulation time, payload) of every reading."""
    return [(m.at_s, json.loads(m.payload)) for m in messages if m.topic.endswith("/vitals")]


@cache
def outcome(name: str, seed: int = SEED) -> tuple[list[AlarmOut], list[RecoveryOut]]:
    messages = one_session(name, seed)
    settings = load_settings(None, site="sim", db="sqlite:///:memory:", http="off")
    out = replay_outgoing(journal(messages), settings)
    alarms = [AlarmOut.model_validate_json(o.payload) for o in out if o.topic.endswith("/alarm")]
    recovery = [
        RecoveryOut.model_validate_json(o.payload) for o in out if o.topic.endswith("/recovery")
    ]
    return alarms, recovery


def test_every_named_scenario_is_there() -> None:
    wanted = {"calm", "hypertensive", "desaturation", "vasovagal", "slow-recovery", "unplugged",
              "probe-off", "artefact-storm", "typical", "clock-step", "clock-glitch"}  # fmt: skip
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
    messages = one_session("calm", seed=2)
    cuffs = [m.at_s for m in messages if m.topic.endswith("/vitals") and b'"nibp"' in m.payload]
    start, stop = 660.0, 660.0 + 2400
    during = [b - a for a, b in itertools.pairwise(cuffs) if start + 300 < a < stop - 300]
    after = [b - a for a, b in itertools.pairwise(cuffs) if a > stop + 600]
    assert during
    assert after
    assert all(250 <= gap <= 350 for gap in during)
    assert all(550 <= gap <= 650 for gap in after)


def test_unplugged_monitor_drops_its_link_and_comes_back_online() -> None:
    messages = one_session("unplugged", seed=2)
    links = [(m.at_s, m.link) for m in messages if m.link is not None]
    assert [link for _, link in links] == [Link.CONNECT, Link.DROP, Link.CONNECT]
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


@pytest.mark.parametrize(
    ("episode", "message"),
    [
        ('kind = "clock_step"\nat_min = 10', "clock_step episode needs `seconds`"),
        ('kind = "desaturation"\nat_min = 10', "desaturation episode needs `minutes`"),
    ],
)
def test_an_episode_without_its_size_is_refused(episode: str, message: str) -> None:
    text = f'name = "x"\nsummary = "y"\n[[episodes]]\n{episode}\n'
    with pytest.raises(ScenarioError, match=message):
        parse_scenario(text, source="x.toml")


# The monitor's clock --------------------------------------------------------------------------

INFUSION_START_S = 660.0


def clock_errors(name: str) -> list[tuple[float, float]]:
    """(minute from the infusion start, reading's stamp less the true time) of every reading."""
    return [
        ((at_s - INFUSION_START_S) / 60, validate(Inbound.VITALS, json.dumps(r)).ts - START - at_s)
        for at_s, r in readings(one_session(name))
    ]


def test_the_monitor_clock_steps_back_an_hour_and_stays_there() -> None:
    errors = clock_errors("clock-step")
    before = [error for minute, error in errors if minute < 10]
    after = [error for minute, error in errors if minute >= 10]

    assert before
    assert after
    assert all(abs(error) < 3 for error in before)  # the monitor's own small offset
    assert all(abs(error + 3600) < 3 for error in after)


def test_a_clock_glitch_stamps_one_reading_15_minutes_ahead() -> None:
    errors = clock_errors("clock-glitch")
    ahead = [(minute, error) for minute, error in errors if abs(error) > 3]

    assert len(ahead) == 1
    assert ahead[0][0] == 20
    assert ahead[0][1] == pytest.approx(900, abs=3)


# The monitors of a clinic ---------------------------------------------------------------------


def test_every_monitor_says_online_when_the_clinic_opens_and_stays_on_between_patients() -> None:
    stream = list(clinic_messages(chairs=3, seed=9, address=ADDRESS, scenario="calm",
                                  until_s=5 * 3600, stagger_s=3600))  # fmt: skip
    for chair in ("c01", "c02", "c03"):
        own = [m for m in stream if m.chair == chair]
        device = [(m.at_s, json.loads(m.payload)["state"], m.retain) for m in own
                  if m.topic.endswith("/device") and m.link is None]  # fmt: skip
        admits = [m.at_s for m in own if b'"admit"' in m.payload]
        assert [m.link for m in own if m.link is not None] == [Link.CONNECT]
        assert own[0].link is Link.CONNECT
        assert own[0].at_s == 0.0
        assert device == [(0.0, "online", True)]
        assert len(admits) >= 2
    first_admits = sorted(
        next(m.at_s for m in stream if m.chair == c and b'"admit"' in m.payload)
        for c in ("c01", "c02", "c03")
    )
    assert first_admits[-1] > 600  # a chair that was still empty, its monitor already online


def test_a_discharge_goes_over_unanswered_alarms_so_the_chair_takes_its_next_patient() -> None:
    stream = clinic_messages(chairs=1, seed=3, address=ADDRESS, scenario="desaturation",
                             until_s=4 * 3600)  # fmt: skip
    settings = load_settings(None, site="sim", db="sqlite:///:memory:", http="off")
    out = replay_outgoing(journal(list(stream)), settings)
    alarms = [AlarmOut.model_validate_json(o.payload) for o in out if o.topic.endswith("/alarm")]
    critical = {a.patient for a in alarms if a.kind == "spo2_critical" and not a.previous_state}

    assert critical == {"P-C01-001", "P-C01-002"}


# Junk cuffs under "doubt raises, never discards" ----------------------------------------------

FLAGGED_40_10_SEED, UNFLAGGED_40_10_SEED = SEED, 31


def cuffs_40_10(seed: int) -> list[dict[str, Any]]:
    """The artefact-storm session's 40/10 cuff readings."""
    return [
        r for _, r in readings(one_session("artefact-storm", seed))
        if r.get("nibp", {}).get("sys") == 40 and r["nibp"]["dia"] == 10
    ]  # fmt: skip


def test_a_40_10_the_monitor_flags_raises_only_the_technical_alarm() -> None:
    [cuff] = cuffs_40_10(FLAGGED_40_10_SEED)  # if this fails, the seed needs choosing again
    alarms, _ = outcome("artefact-storm", FLAGGED_40_10_SEED)
    raised = {a.kind: a for a in alarms if a.previous_state is None}

    assert "nibp_failed" in cuff["technical"]
    assert "sbp_low" not in raised
    assert raised["nibp_failed"].alarm_class == "technical"


def test_a_40_10_the_monitor_calls_valid_raises_sbp_low_marked_questionable() -> None:
    [cuff] = cuffs_40_10(UNFLAGGED_40_10_SEED)  # if this fails, the seed needs choosing again
    alarms, _ = outcome("artefact-storm", UNFLAGGED_40_10_SEED)
    [sbp_low] = [a for a in alarms if a.kind == "sbp_low" and a.previous_state is None]

    assert "nibp_failed" not in cuff.get("technical", [])
    assert sbp_low.value == 40
    assert sbp_low.priority == "high"
    assert "questionable: repeat the cuff" in (sbp_low.note or "")

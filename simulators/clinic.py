"""A clinic: N chairs, patients arriving staggered, a realistic mix of scenarios, one seed.

How this works: every chair's monitor is switched on when the clinic opens (simulation time 0)
and stays on, empty chair or not; each chair runs sessions back to back (a turnover of 10-20
minutes between patients). The first arrivals are spread over the first `stagger_s`, so a
clinic started now has patients at every stage soon. Every session draws from its own generator, seeded from (seed,
chair, session number), so a chair's story does not depend on how many other chairs there are
and the same seed gives the same bytes. `clinic_messages` merges the chairs' messages in time
order, lazily: a clinic can run for as long as wanted.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from typing import Any

import numpy as np

from simulators.scenarios import Scenario, load_scenarios
from simulators.story import DEFAULT_TIMELINE, Address, SimMessage, Timeline, session, switch_on

TURNOVER_S = (600.0, 1200.0)


def chair_names(count: int) -> list[str]:
    return [f"c{index:02d}" for index in range(1, count + 1)]


def demo_paging(chairs: int) -> dict[str, Any]:
    """The simulated clinic's pagers (the `[paging]` table): two nurses sharing the chairs,
    a charge nurse, and the front desk as the fail-safe group with the charge nurse; the
    default escalation (docs/paging.md). Chairs past the list (none in the demo) go to Kim."""
    names = chair_names(chairs)
    half = (len(names) + 1) // 2
    primary = {chair: "p01" for chair in names[:half]} | {chair: "p02" for chair in names[half:]}
    return {
        "pagers": [
            {"id": "p01", "name": "Kim", "role": "nurse"},
            {"id": "p02", "name": "Lee", "role": "nurse"},
            {"id": "p03", "name": "Sam", "role": "charge"},
            {"id": "p04", "name": "Front desk", "role": "failsafe"},
        ],
        "coverage": {
            "primary": primary,
            "default": "p01",
            "charge": "p03",
            "failsafe": ["p04", "p03"],
        },
    }


def pick_scenario(rng: np.random.Generator, scenarios: dict[str, Scenario]) -> Scenario:
    """A scenario by its share of a realistic clinic (`mix`)."""
    names = sorted(n for n, s in scenarios.items() if s.mix > 0)
    weights = np.array([scenarios[n].mix for n in names])
    return scenarios[names[int(rng.choice(len(names), p=weights / weights.sum()))]]


def chair_messages(
    chair: str,
    index: int,
    *,
    seed: int,
    address: Address,
    scenarios: dict[str, Scenario],
    only: str | None,
    first_arrival_s: float,
    until_s: float | None,
    timeline: Timeline,
) -> Iterator[SimMessage]:
    """The messages of one chair: its monitor switched on at the opening, then its sessions,
    one after another."""
    yield from switch_on(chair, address=address, at_s=0.0)
    arrive_s, number = first_arrival_s, 0
    while until_s is None or arrive_s < until_s:
        number += 1
        rng = np.random.default_rng([seed, index, number])
        scenario = scenarios[only] if only else pick_scenario(rng, scenarios)
        label = f"P-{chair.upper()}-{number:03d}"
        yield from session(
            chair=chair,
            scenario=scenario,
            seed=int(rng.integers(2**31)),
            arrive_s=arrive_s,
            patient_label=label,
            address=address,
            timeline=timeline,
        )
        arrive_s += timeline.length_s + float(rng.uniform(*TURNOVER_S))


def clinic_messages(
    *,
    chairs: int,
    seed: int,
    address: Address,
    scenario: str | None = None,
    until_s: float | None = None,
    stagger_s: float = 3600.0,
    timeline: Timeline = DEFAULT_TIMELINE,
) -> Iterator[SimMessage]:
    """Every message of the clinic in time order (ties: by chair). `scenario` names one
    scenario for every chair, or several separated by commas for the chairs in turn; None
    draws each session from the realistic mix."""
    scenarios = load_scenarios()
    assigned = [name.strip() for name in scenario.split(",")] if scenario else []
    unknown = [name for name in assigned if name not in scenarios]
    if unknown:
        raise ValueError(f"unknown scenario {unknown[0]!r}; known: {', '.join(sorted(scenarios))}")
    arrivals = np.random.default_rng([seed, 0]).uniform(0, stagger_s, size=chairs)
    arrivals[0] = 0.0  # someone is always there from the start
    streams = [
        chair_messages(
            name, index, seed=seed, address=address, scenarios=scenarios,
            only=assigned[(index - 1) % len(assigned)] if assigned else None,
            first_arrival_s=float(round(arrivals[index - 1])), until_s=until_s, timeline=timeline,
        )
        for index, name in enumerate(chair_names(chairs), 1)
    ]  # fmt: skip
    merged = heapq.merge(*streams, key=lambda m: m.at_s)
    for message in merged:
        if until_s is not None and message.at_s >= until_s:
            return
        yield message

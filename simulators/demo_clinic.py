"""A small built-in clinic for the demo: a few chairs with scripted ketamine sessions, published
over MQTT as bedside monitors and pumps would (contract v1).

Each chair loops over one story: admission, 10 minutes of baseline, a 40-minute infusion, 40
minutes of recovery, discharge, and a new patient. Chairs start at different points of their
story (the past is published quickly with its own timestamps), so the demo opens on a clinic
with patients at every stage. Some stories have trouble in them: a hypertensive response, an
SpO2 dip, a slow recovery that misses the 20-minute window, a probe that comes off.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import aiomqtt

BASELINE_MIN, INFUSION_MIN, RECOVERY_MIN, TURNOVER_MIN = 10.0, 40.0, 40.0, 5.0
STORY_MIN = BASELINE_MIN + INFUSION_MIN + RECOVERY_MIN + TURNOVER_MIN
CATCH_UP_STEP_S = 15.0  # reading spacing when publishing a chair's past
Message = tuple[str, dict[str, Any], bool]  # topic, payload, retained


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    sbp: float = 122.0
    dbp: float = 78.0
    hr: float = 72.0
    spo2: float = 98.0
    rise: float = 16.0  # SBP rise at the end of the infusion (mmHg); DBP rises by 2/3 of it
    recovery_tau_min: float = 5.0
    desat_at_min: float | None = None
    probe_off_at_min: float | None = None


PROFILES = (
    Profile("calm"),
    Profile("hypertensive", sbp=138, dbp=88, rise=52, recovery_tau_min=6),
    Profile("calm", sbp=112, dbp=70, hr=64, rise=10),
    Profile("desaturation", desat_at_min=30),
    Profile("slow recovery", sbp=130, dbp=84, rise=50, recovery_tau_min=40),
    Profile("probe off", probe_off_at_min=25),
)


def vitals_at(profile: Profile, minute: float, rng: random.Random) -> dict[str, Any]:
    """Vitals of `profile` at `minute` of its story (no cuff)."""
    effect = _effect(profile, minute)
    hr = profile.hr + 4 * effect + rng.gauss(0, 1.5)
    spo2 = min(100.0, profile.spo2 + rng.gauss(0, 0.5))
    if profile.desat_at_min is not None and 0 <= minute - profile.desat_at_min < 1.0:
        spo2 = 86.0 + rng.gauss(0, 0.5)
    reading: dict[str, Any] = {"hr": round(hr), "spo2": round(spo2)}
    if profile.probe_off_at_min is not None and 0 <= minute - profile.probe_off_at_min < 2.0:
        reading.update(spo2=0, technical=["spo2_probe_off"])
    return reading


def cuff_at(profile: Profile, minute: float, rng: random.Random) -> dict[str, float]:
    effect = _effect(profile, minute)
    sbp = profile.sbp + profile.rise * effect + rng.gauss(0, 3)
    dbp = profile.dbp + profile.rise * 0.66 * effect + rng.gauss(0, 2)
    return {"sys": round(sbp), "dia": round(dbp), "map": round((sbp + 2 * dbp) / 3)}


def _effect(profile: Profile, minute: float) -> float:
    """0 before the infusion, rising to 1 at its end, then decaying with the recovery time."""
    start = BASELINE_MIN
    stop = start + INFUSION_MIN
    if minute < start:
        return 0.0
    if minute <= stop:
        return float(((minute - start) / INFUSION_MIN) ** 1.5)
    return math.exp(-(minute - stop) / profile.recovery_tau_min)


def cuff_due(minute: float) -> bool:
    """NIBP at minutes 2, 5 and 8 of the baseline, then every 5 minutes."""
    return minute in (2.0, 5.0, 8.0) or (minute >= BASELINE_MIN and minute % 5 == 0)


class DemoChair:
    def __init__(self, *, site: str, root: str, chair: str, profile: Profile, seed: int) -> None:
        self.site, self.root, self.chair, self.profile = site, root, chair, profile
        self.rng = random.Random(seed)
        self.patient = 0
        self.seq = 0

    def topic(self, leaf: str) -> str:
        return f"{self.root}/{self.site}/chair/{self.chair}/{leaf}"

    def messages(
        self, story_start: float, from_s: float, to_s: float, step_s: float
    ) -> Iterator[Message]:
        """(topic, payload, retain) for story seconds [from_s, to_s), whole seconds only."""
        second = float(math.ceil(from_s - 1e-6))
        while second < to_s - 1e-6:
            minute = second / 60
            ts = story_start + second
            yield from self._commands(minute, ts, step_s / 60)
            if minute < STORY_MIN - TURNOVER_MIN:
                reading = vitals_at(self.profile, minute, self.rng)
                if any(cuff_due(m) for m in _whole_minutes(minute, step_s / 60)):
                    reading["nibp"] = cuff_at(self.profile, minute, self.rng)
                self.seq += 1
                yield self.topic("vitals"), {"ts": ts, "seq": self.seq, **reading}, False
            second += step_s

    def _commands(self, minute: float, ts: float, width: float) -> Iterator[Message]:
        def at(mark: float) -> bool:
            return mark <= minute < mark + width

        if at(0.0):
            self.patient += 1
            patient = f"P-{self.chair.upper()}-{self.patient:03d}"
            yield self.topic("session"), {"ts": ts, "command": "admit", "patient": patient}, False
        if at(BASELINE_MIN):
            start = {"ts": ts, "event": "start", "drug": "ketamine", "dose_mg_per_kg": 0.5,
                     "planned_minutes": INFUSION_MIN}  # fmt: skip
            yield self.topic("infusion"), start, False
        if at(BASELINE_MIN + INFUSION_MIN):
            yield self.topic("infusion"), {"ts": ts, "event": "stop"}, False
        if at(STORY_MIN - TURNOVER_MIN):
            yield self.topic("session"), {"ts": ts, "command": "discharge"}, False


def _whole_minutes(minute: float, width: float) -> list[float]:
    first = math.ceil(minute - 1e-9)
    return [float(m) for m in range(first, math.ceil(minute + width - 1e-9))]


async def run_demo_clinic(
    *, host: str, port: int, site: str, root: str = "clinic", chairs: int = 6, speed: float = 1.0,
    seed: int = 1,
) -> None:  # fmt: skip
    """Publish `chairs` chairs forever (until cancelled)."""
    rng = random.Random(seed)
    now = time.time()
    demo = []
    for index in range(chairs):
        name = f"c{index + 1:02d}"
        profile = PROFILES[index % len(PROFILES)]
        offset_min = round(index * STORY_MIN * 60 / chairs) / 60
        chair = DemoChair(
            site=site, root=root, chair=name, profile=profile, seed=rng.randrange(1 << 30)
        )
        demo.append((chair, now - offset_min * 60, offset_min))
    async with aiomqtt.Client(host, port, identifier=f"demo-clinic-{seed}") as client:
        for chair, _, _ in demo:
            online = {"ts": now, "state": "online", "device": f"demo-{chair.chair}"}
            await client.publish(chair.topic("device"), json.dumps(online), qos=1, retain=True)
        for chair, start, offset_min in demo:  # the past, quickly
            for topic, payload, retain in chair.messages(
                start, 0.0, offset_min * 60, CATCH_UP_STEP_S
            ):
                await client.publish(topic, json.dumps(payload), qos=1, retain=retain)
        await _live(client, demo, speed)


async def _live(
    client: aiomqtt.Client, demo: list[tuple[DemoChair, float, float]], speed: float
) -> None:
    """From now on, one reading a second of story time per chair; `speed` story seconds per wall
    second."""
    step_s = 1.0
    wall_start = time.time()
    story_second = 0.0
    while True:
        for chair, start, offset_min in demo:
            elapsed_s = round(offset_min * 60) + story_second
            cycle, second = divmod(elapsed_s, STORY_MIN * 60)
            story_start = start + cycle * STORY_MIN * 60
            for topic, payload, retain in chair.messages(
                story_start, second, second + step_s, step_s
            ):
                await client.publish(topic, json.dumps(payload), qos=1, retain=retain)
        story_second += step_s
        delay = wall_start + story_second / speed - time.time()
        await asyncio.sleep(max(0.0, delay))

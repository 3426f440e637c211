"""One patient's session in one chair, as the messages its monitor, pump and the nurse's
station would publish, in simulation time.

How this works: a session is stepped once a second from the patient's arrival until they are
unhooked after discharge. The patient model gives the true vitals (with the scenario's episodes
laid on top), the monitor turns them into readings and stamps them with its own clock (which a
scenario may step), and the pump and the nurse act at fixed points of the `Timeline`. The
monitor itself is not the session's: it is switched on when the clinic opens (`switch_on`) and
stays on between patients, as real monitors do, so a session only unplugs and plugs it back
where its scenario says. Nothing here touches a network or a clock: the result is a list of
`SimMessage`s, and the same seed gives the same bytes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

import numpy as np

from monitor.wire.payloads import format_event_time
from simulators.bedside import BedsideMonitor, Disturbance, MonitorSettings
from simulators.patient import Patient, TrueVitals, dose_rate_mg_per_min, sample_traits
from simulators.scenarios import Episode, EpisodeKind, Scenario

DRUG = "ketamine"
# The simulated nurse never acknowledges an alarm (no one answers the simulated station), so a
# discharge says who discharged and that it goes over any unacknowledged high-priority alarm,
# as the contract asks (v1.1); the audit then records it as such. Without it the chair would
# stay in its first session for good.
NURSE = "sim-nurse"


class Link(StrEnum):
    """What happens to the monitor's own MQTT connection."""

    CONNECT = "connect"  # connects with a Last Will `offline` on its device topic
    DROP = "drop"  # the cable is pulled: the broker publishes the Will


@dataclass(frozen=True, slots=True)
class SimMessage:
    at_s: float  # simulation time, from the start of the clinic
    chair: str
    topic: str
    payload: bytes = b""
    retain: bool = False
    link: Link | None = None


@dataclass(frozen=True, slots=True)
class Timeline:
    admit_after_s: float = 60.0
    baseline_s: float = 600.0
    infusion_s: float = 2400.0
    observe_s: float = 2400.0
    unhook_after_s: float = 60.0  # after discharge: then the chair is free
    dose_mg_per_kg: float = 0.5
    baseline_cuffs_s: tuple[float, ...] = (30.0, 240.0, 480.0)  # after admission

    @property
    def length_s(self) -> float:
        return (
            self.admit_after_s + self.baseline_s + self.infusion_s + self.observe_s
            + self.unhook_after_s
        )  # fmt: skip


DEFAULT_TIMELINE = Timeline()


@dataclass(frozen=True, slots=True)
class Address:
    root: str
    site: str
    start_epoch: float  # epoch seconds of simulation time 0

    def topic(self, chair: str, leaf: str) -> str:
        return f"{self.root}/{self.site}/chair/{chair}/{leaf}"


def encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def device_name(chair: str) -> str:
    return f"bedside-{chair}"


def switch_on(chair: str, *, address: Address, at_s: float) -> list[SimMessage]:
    """The monitor of `chair` connects (its Last Will says `offline`) and says `online`,
    retained, whether or not a patient is in the chair."""
    topic = address.topic(chair, "device")
    ts = format_event_time(address.start_epoch + at_s)
    online = encode({"ts": ts, "state": "online", "device": device_name(chair)})
    return [
        SimMessage(at_s, chair, topic, link=Link.CONNECT),
        SimMessage(at_s, chair, topic, online, retain=True),
    ]


def session(
    *,
    chair: str,
    scenario: Scenario,
    seed: int,
    arrive_s: float,
    patient_label: str,
    address: Address,
    timeline: Timeline = DEFAULT_TIMELINE,
) -> list[SimMessage]:
    """Every message of one session in `chair`, the monitor switched on at `arrive_s`."""
    return _Session(chair, scenario, seed, arrive_s, patient_label, address, timeline).run()


class _Session:
    def __init__(
        self,
        chair: str,
        scenario: Scenario,
        seed: int,
        arrive_s: float,
        label: str,
        address: Address,
        timeline: Timeline,
    ) -> None:
        rng = np.random.default_rng(seed)
        self.traits = scenario.traits(sample_traits(rng))
        self.patient = Patient(self.traits, seed=int(rng.integers(2**31)))
        settings = scenario.monitor_settings(_monitor_defaults(rng))
        self.monitor = BedsideMonitor(np.random.default_rng(int(rng.integers(2**31))), settings)
        self.chair, self.scenario, self.label = chair, scenario, label
        self.address, self.timeline, self.arrive_s = address, timeline, arrive_s
        self.out: list[SimMessage] = []
        self.start_s = timeline.admit_after_s + timeline.baseline_s  # relative to arrival
        paused = sum(e.minutes * 60 for e in scenario.episodes if e.kind is EpisodeKind.PAUSE)
        self.stop_s = self.start_s + timeline.infusion_s + paused
        self.end_s = timeline.length_s + paused

    def run(self) -> list[SimMessage]:
        plugged = True
        second = 0.0
        while second < self.end_s:
            self._scheduled(second)
            minute = (second - self.start_s) / 60
            unplugged = any(e.active(minute) for e in self._episodes(EpisodeKind.UNPLUG))
            if plugged and unplugged:
                self._emit(second, b"", link=Link.DROP)
            elif not plugged and not unplugged:
                self.out += switch_on(self.chair, address=self.address, at_s=self.arrive_s + second)
            plugged = not unplugged
            vitals = self._true_vitals(minute)
            self._disturb(minute)
            if plugged:
                self._reading(second, vitals)
            second += 1.0
        return self.out

    # Pieces ------------------------------------------------------------------------------

    def _episodes(self, kind: EpisodeKind) -> list[Episode]:
        return [e for e in self.scenario.episodes if e.kind is kind]

    def _scheduled(self, second: float) -> None:
        t = self.timeline
        admit_s = t.admit_after_s
        if second == admit_s:
            self._admit(second)
        if any(second == admit_s + cuff for cuff in t.baseline_cuffs_s):
            self.monitor.measure_cuff_now(second)
        if second == self.start_s:
            self._pump(second, "start", rate=self._rate())
            self.monitor.set_cycle(second, infusing=True)
        for pause in self._episodes(EpisodeKind.PAUSE):
            if second == self.start_s + pause.at_min * 60:
                self._pump(second, "pause", rate=0.0)
            if second == self.start_s + (pause.at_min + pause.minutes) * 60:
                self._pump(second, "resume", rate=self._rate())
        if second == self.stop_s:
            self._pump(second, "stop", rate=0.0)
            self.monitor.set_cycle(second, infusing=False)
        if second == self.stop_s + t.observe_s:
            self._discharge(second)

    def _rate(self) -> float:
        return dose_rate_mg_per_min(
            self.traits.weight_kg, self.timeline.dose_mg_per_kg, self.timeline.infusion_s / 60
        )

    def _admit(self, second: float) -> None:
        payload = {
            "ts": self._true_time(second),
            "command": "admit",
            "patient": self.label,
            "weight_kg": round(self.traits.weight_kg, 1),
        }
        self._emit(second, encode(payload), leaf="session")

    def _discharge(self, second: float) -> None:
        payload = {
            "ts": self._true_time(second),
            "command": "discharge",
            "by": NURSE,
            "over_alarms": True,
        }
        self._emit(second, encode(payload), leaf="session")

    def _pump(self, second: float, event: str, *, rate: float) -> None:
        self.patient.set_infusion_rate(rate)
        payload: dict[str, Any] = {"ts": self._true_time(second), "event": event}
        if event == "start":
            payload |= {
                "drug": DRUG,
                "dose_mg_per_kg": self.timeline.dose_mg_per_kg,
                "planned_minutes": self.timeline.infusion_s / 60,
            }
        self._emit(second, encode(payload), leaf="infusion")

    def _true_vitals(self, minute: float) -> TrueVitals:
        vitals = self.patient.step(1.0)
        for episode in self.scenario.episodes:
            if not episode.active(minute):
                continue
            if episode.kind is EpisodeKind.DESATURATION:
                vitals = replace(vitals, spo2=min(vitals.spo2, episode.spo2))
            elif episode.kind is EpisodeKind.BRADYCARDIA:
                drop = episode.sbp_drop
                vitals = replace(
                    vitals, hr=episode.hr, sbp=vitals.sbp - drop, dbp=vitals.dbp - 0.6 * drop
                )
        return vitals

    def _disturb(self, minute: float) -> None:
        active = {e.kind for e in self.scenario.episodes if e.active(minute)}
        self.monitor.disturbances = {d for k, d in _DISTURBANCES.items() if k in active}

    def _reading(self, second: float, vitals: TrueVitals) -> None:
        reading = self.monitor.step(second, vitals)
        ts = self.monitor.device_time(self.arrive_s + second, self.address.start_epoch)
        ts += self._clock_moved_s(second - self.start_s)
        self._emit(second, encode({"ts": format_event_time(ts), **reading}), leaf="vitals")

    def _clock_moved_s(self, since_start_s: float) -> float:
        """How far the scenario has moved the monitor's clock for the reading sent this long
        after the infusion start: every step so far, and a glitch on the one reading it hits."""
        steps = self._episodes(EpisodeKind.CLOCK_STEP)
        glitches = self._episodes(EpisodeKind.CLOCK_GLITCH)
        moved = sum(e.seconds for e in steps if since_start_s >= e.at_min * 60)
        return moved + sum(e.seconds for e in glitches if 0 <= since_start_s - e.at_min * 60 < 1)

    def _true_time(self, second: float) -> str:
        return format_event_time(self.address.start_epoch + self.arrive_s + second)

    def _emit(
        self, second: float, payload: bytes, *, leaf: str = "device", link: Link | None = None
    ) -> None:
        topic = self.address.topic(self.chair, leaf)
        self.out.append(SimMessage(self.arrive_s + second, self.chair, topic, payload, link=link))


_DISTURBANCES = {
    EpisodeKind.MOTION: Disturbance.MOTION,
    EpisodeKind.PROBE_OFF: Disturbance.PROBE_OFF,
    EpisodeKind.LEADS_OFF: Disturbance.LEADS_OFF,
    EpisodeKind.CUFF_JUNK: Disturbance.CUFF_JUNK,
}


def _monitor_defaults(rng: np.random.Generator) -> MonitorSettings:
    """Each monitor's own clock is a little off and drifts a little."""
    return MonitorSettings(
        clock_offset_s=round(float(rng.uniform(-2.0, 2.0)), 3),
        clock_drift_ppm=round(float(rng.uniform(-30.0, 30.0)), 1),
    )

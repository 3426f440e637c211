"""Whole sessions as the MQTT messages a monitor and a pump would send, in event time.

Timestamps are spaced as in a real clinic (HR and SpO2 every few seconds, the cuff every 5
minutes); the tests publish them as fast as the broker takes them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.integration.conftest import ROOT, SITE

T0 = 1_795_000_000.0  # 2026-11-18T11:06:40Z: event time of every scripted admission
Message = tuple[str, dict[str, Any]]


def topic(chair: str, leaf: str) -> str:
    return f"{ROOT}/{SITE}/chair/{chair}/{leaf}"


def at(minute: float) -> float:
    return T0 + minute * 60


@dataclass
class ScriptedSession:
    chair: str
    patient: str = "P-0042"
    start_min: float = 10.0
    stop_min: float = 50.0
    end_min: float = 75.0
    every_s: float = 5.0
    baseline_cuffs: tuple[float, ...] = (2.0, 5.0, 8.0)
    cuff_every_min: float = 5.0
    hr: Callable[[float], float] = lambda minute: 72.0
    spo2: Callable[[float], float] = lambda minute: 98.0
    bp: Callable[[float], tuple[float, float]] = lambda minute: (120.0, 80.0)
    discharge: bool = True

    def cuff_minutes(self) -> list[float]:
        minutes = list(self.baseline_cuffs)
        minute = self.start_min + self.cuff_every_min
        while minute <= self.end_min:
            minutes.append(minute)
            minute += self.cuff_every_min
        return minutes

    def messages(self, *, until_min: float | None = None) -> list[Message]:
        end = self.end_min if until_min is None else until_min
        out: list[Message] = [
            (
                topic(self.chair, "session"),
                {"ts": at(0), "command": "admit", "patient": self.patient},
            )
        ]
        cuffs = {round(m * 60) for m in self.cuff_minutes()}
        events = {
            round(self.start_min * 60): {
                "event": "start",
                "drug": "ketamine",
                "dose_mg_per_kg": 0.5,
            },
            round(self.stop_min * 60): {"event": "stop"},
        }
        step = round(self.every_s)
        for seq, second in enumerate(range(step, round(end * 60) + 1, step), 1):
            for mark in sorted(m for m in events if second - step < m <= second):
                payload = {"ts": T0 + mark, **events[mark]}
                out.append((topic(self.chair, "infusion"), payload))
            minute = second / 60
            reading: dict[str, Any] = {
                "ts": T0 + second, "seq": seq, "hr": self.hr(minute), "spo2": self.spo2(minute)
            }  # fmt: skip
            if any(second - step < m <= second for m in cuffs):
                sbp, dbp = self.bp(minute)
                reading["nibp"] = {"sys": sbp, "dia": dbp}
            out.append((topic(self.chair, "vitals"), reading))
        if self.discharge and until_min is None:
            out.append((topic(self.chair, "session"), {"ts": at(end) + 1, "command": "discharge"}))
        return out

    @property
    def last_ts(self) -> float:
        return at(self.end_min)

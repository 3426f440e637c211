"""A clinic's record to audit, made by the real core: MQTT messages through `Intake` (router,
clinic, scribe), the entries it returns appended to a recorder, as the service does.

Three sessions at site "north" (event time = wall time, a reading every 30 s, a tick after each
message, as a live service with nothing late):

- `first`: chair c01, patient P-0042, 2026-11-19 from 10:00 UTC: two baseline cuffs, the
  infusion started by nurse.kim, a cuff of 186/100 that raises sbp_high (and sbp_rise),
  acknowledged by nurse.ana 60 s later, the cuff back down, the infusion stopped by nurse.kim,
  two cuffs near baseline (recovered), discharged by nurse.kim.
- `second`: chair c02, patient Q-0100, the next day: the same start, the BP stays up after
  the stop (overdue), discharged by nurse.lee.
- `third`: chair c01, patient P-0042-B, two days later: admitted, baseline taken, still open.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from monitor.domain.clinic import Clinic
from monitor.pipeline.intake import Intake
from monitor.record import AlarmEntry, Entry, Recorder, SessionEntry

DAY_S = 86_400.0
T0 = 1_795_082_400.0  # 2026-11-19T10:00:00Z
SITE = "north"
BASELINE_BP = (120.0, 80.0)


@dataclass
class Ward:
    """One site's core and the entries it gave, driven by a fake clock."""

    intake: Intake = field(default_factory=lambda: Intake(Clinic(), site=SITE, root="clinic"))
    entries: list[Entry] = field(default_factory=list)
    now: float = T0
    seq: int = 0

    def send(self, chair: str, leaf: str, body: dict[str, Any]) -> None:
        topic = f"clinic/{SITE}/chair/{chair}/{leaf}"
        result = self.intake.message(topic, json.dumps({"ts": self.now, **body}).encode(), self.now)
        assert result.outcome.value == "accepted", (topic, body, result.reasons)
        self.entries += result.entries
        self.entries += self.intake.tick(self.now).entries

    def readings(
        self, chair: str, seconds: float, *, bp: tuple[float, float] | None, cuff_every: float = 300
    ) -> None:
        """A reading every 30 s for `seconds` (HR 72, SpO2 98), a cuff every `cuff_every` s
        starting with the first (none when `bp` is None); the clock ends past the last."""
        for step in range(round(seconds / 30)):
            self.seq += 1
            body: dict[str, Any] = {"seq": self.seq, "hr": 72, "pr": 71, "spo2": 98}
            if bp is not None and (step * 30) % cuff_every == 0:
                body["nibp"] = {"sys": bp[0], "dia": bp[1], "map": round((bp[0] + 2 * bp[1]) / 3)}
            self.send(chair, "vitals", body)
            self.now += 30

    def alarm_id(self, chair: str, kind: str) -> str:
        return next(
            e.alarm
            for e in reversed(self.entries)
            if isinstance(e, AlarmEntry) and e.chair == chair and e.kind == kind
        )

    def session_id(self, chair: str) -> str:
        return next(
            e.id for e in reversed(self.entries) if isinstance(e, SessionEntry) and e.chair == chair
        )


def _infusion(ward: Ward, chair: str, patient: str, *, by: str, stays_up: bool) -> str:
    ward.send(chair, "session", {"command": "admit", "patient": patient, "by": by})
    ward.readings(chair, 600, bp=BASELINE_BP)  # two baseline cuffs, 5 min apart
    ward.send(chair, "infusion", {"event": "start", "drug": "ketamine", "by": by})
    ward.readings(chair, 300, bp=(130, 85))
    ward.readings(chair, 75, bp=(186, 100))  # sbp_high at the first of these
    ward.send(
        chair,
        "command",
        {"command": "acknowledge", "alarm": ward.alarm_id(chair, "sbp_high"), "by": "nurse.ana"},
    )
    ward.readings(chair, 2025, bp=(150, 90) if stays_up else (125, 82))
    ward.send(chair, "infusion", {"event": "stop", "by": by})
    ward.readings(chair, 1800 if stays_up else 660, bp=(175, 95) if stays_up else (124, 81))
    return ward.session_id(chair)


@dataclass
class Day:
    """What `clinic_day` made: the entries and the sessions' ids."""

    entries: list[Entry]
    first: str
    second: str
    third: str
    acknowledged_sbp: str  # the first session's sbp_high alarm


def clinic_day() -> Day:
    ward = Ward()
    first = _infusion(ward, "c01", "P-0042", by="nurse.kim", stays_up=False)
    sbp = ward.alarm_id("c01", "sbp_high")
    ward.send("c01", "session", {"command": "discharge", "by": "nurse.kim"})
    ward.now = T0 + DAY_S
    second = _infusion(ward, "c02", "Q-0100", by="nurse.lee", stays_up=True)
    ward.send("c02", "session", {"command": "discharge", "by": "nurse.lee"})
    ward.now = T0 + 2 * DAY_S
    ward.send("c01", "session", {"command": "admit", "patient": "P-0042-B", "by": "nurse.kim"})
    ward.readings("c01", 600, bp=BASELINE_BP)
    third = ward.session_id("c01")
    return Day(ward.entries, first, second, third, sbp)


def recorded(recorder: Recorder, day: Day) -> Recorder:
    recorder.append(day.entries)
    return recorder

"""What the record keeps of a reading: the device's own time and where it landed on the chair's
timeline, so a session charted after a monitor's clock stepped still reads in order."""

from __future__ import annotations

import json

from monitor.domain.clinic import Clinic
from monitor.ingest import Ingest
from monitor.metrics import Metrics

T0 = 1_795_000_000.0
TOPIC = "clinic/north/chair/c01/vitals"


def _reading(ts: float, seq: int, **vitals: float) -> bytes:
    return json.dumps({"ts": ts, "seq": seq, **vitals}).encode()


def test_a_reading_row_keeps_the_device_time_and_the_chair_time() -> None:
    ingest = Ingest(Clinic(), site="north", root="clinic", metrics=Metrics())
    ingest.message(TOPIC, _reading(T0, 1, hr=72, pr=71), T0)

    stepped = ingest.message(TOPIC, _reading(T0 + 1 - 3600, 2, hr=72, pr=70), T0 + 1)

    [row] = [r.values for r in stepped.rows if r.table == "readings"]
    assert (row["ts"], row["chair_ts"], row["pr"]) == (T0 + 1 - 3600, T0 + 1, 70)
    [clock] = [r.values for r in stepped.rows if r.table == "alarm_transitions"]
    assert clock["kind"] == "clock_step"
    assert "stepped back 60 min" in clock["text"]

"""Replay: a journal through a fresh core gives what the service published, pages included,
and refuses what the service refused."""

from __future__ import annotations

import json
from typing import Any

from monitor.replay import replay_outgoing
from monitor.settings import load_settings

T0 = 1_795_000_000.0
PAGING = {
    "pagers": [{"id": "p01", "name": "Kim"}, {"id": "p03", "name": "Sam", "role": "charge"}],
    "coverage": {"default": "p01", "charge": "p03", "failsafe": ["p03"]},
}


def journal() -> list[dict[str, Any]]:
    admit = {"ts": T0, "command": "admit", "patient": "P-0042", "by": "nurse.kim"}
    entries = [{"received": T0, "topic": "clinic/t1/chair/c01/session", "payload": admit}]
    for n in range(1, 200):  # one cuff in, then a reading a second for 200 s: nobody answers
        body: dict[str, Any] = {"ts": T0 + n, "seq": n, "hr": 80, "spo2": 97}
        if n == 1:
            body["nibp"] = {"sys": 200, "dia": 95}
        entries.append({"received": T0 + n, "topic": "clinic/t1/chair/c01/vitals", "payload": body})
    return entries


def test_a_journal_replays_to_the_same_pages_with_the_sites_paging() -> None:
    settings = load_settings(None, site="t1", db="memory://", http="off", paging=PAGING)

    once = replay_outgoing(journal(), settings)
    again = replay_outgoing(journal(), settings)

    alarms = [json.loads(m.payload) for m in once if m.topic.endswith("/alarm")]
    [sbp] = [a["alarm"] for a in alarms if a["kind"] == "sbp_high" and a["previous_state"] is None]
    paged = [
        (m.topic.rsplit("/", 1)[1], json.loads(m.payload)) for m in once if "/pager/" in m.topic
    ]
    sbp_pages = [(pager, page["ts"]) for pager, page in paged if page["alarm"] == sbp]
    assert [pager for pager, _ in sbp_pages][:2] == ["p01", "p03"]  # nobody answers: charge next
    assert sbp_pages[0][1] == "2026-11-18T11:07:11.000Z"  # T0 + 1 + 30 s: 30 s after the cuff
    assert all("P-0042" not in m.payload.decode() for m in once if "/pager/" in m.topic)
    assert [(m.topic, m.payload) for m in once] == [(m.topic, m.payload) for m in again]


def test_without_paging_a_replay_pages_nobody() -> None:
    settings = load_settings(None, site="t1", db="memory://", http="off")

    assert not [m for m in replay_outgoing(journal(), settings) if "/pager/" in m.topic]


def test_a_message_the_service_refused_as_retained_is_refused_again() -> None:
    settings = load_settings(None, site="t1", db="memory://", http="off")
    entries = journal()
    entries[1] = {**entries[1], "outcome": "retained"}  # the cuff of 200 came from the store

    alarms = [m for m in replay_outgoing(entries, settings) if m.topic.endswith("/alarm")]
    kinds = {json.loads(m.payload)["kind"] for m in alarms}
    assert "sbp_high" not in kinds
    assert "sbp_high" in {
        json.loads(m.payload)["kind"]
        for m in replay_outgoing(journal(), settings)
        if m.topic.endswith("/alarm")
    }

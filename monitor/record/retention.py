"""Retention: sessions closed longer ago than the clinic keeps them are purged, and the purge is
itself recorded.

A purge deletes whole closed sessions (their readings, alarm transitions, events and summary)
and, in the same transaction, appends a `RecordPurged` event to the site's chain naming each
session purged with its chain's head at that moment: the head its seal at discharge names. The
seals stay where they are (the seal log outside the database, the `ChainSealed` events in the
site chain), so `audit verify` can tell a session purged by the policy (its seal matches the
head the purge recorded) from one deleted by hand (a seal with no rows and no purge). The site
chain (the journal of inbound messages, refusals, starts and stops, seals and purges) is never
purged: it links everything and holds the seals.

The service runs the purge itself, in the record's writer, between two batches (see
`Writer.purge_closed`), so the chains' heads the writer knows stay true. A purge takes at most
`BATCH` sessions, the oldest closed first; a backlog is worked off batch after batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from monitor.record.base import EventEntry, Recorder
from monitor.record.chain import session_chain

__all__ = ["BATCH", "PURGED", "Purge", "purge_plan"]

PURGED = "RecordPurged"  # the site chain's event that records a purge
BATCH = 20


@dataclass(frozen=True, slots=True)
class Purge:
    sessions: list[str]
    record: EventEntry


def purge_plan(
    recorder: Recorder, site: str, *, before: float, by: str, now: float, batch: int = BATCH
) -> Purge | None:
    """The purge of `site`'s sessions closed before `before` (at most `batch`, the oldest
    closed first), or None when there are none. The record names no patient: each session by
    its id, chair and times, and its chain's head."""
    old = sorted(
        (s for s in recorder.sessions(site) if s.closed_at is not None and s.closed_at < before),
        key=lambda s: (s.closed_at or 0.0, s.id),
    )[:batch]
    if not old:
        return None
    purged: list[dict[str, Any]] = []
    for session in old:
        chain = session_chain(session.id)
        head = recorder.head(chain)
        purged.append({"session": session.id, "chair": session.chair,
                       "admitted_at": session.admitted_at, "closed_at": session.closed_at,
                       "recovery_status": session.recovery_status, "chain": chain,
                       "seq": head[0] if head else 0, "hash": head[1] if head else None})  # fmt: skip
    data = {"by": by, "before": before, "sessions": purged}
    return Purge([s.id for s in old], EventEntry(site, "", None, now, PURGED, data))

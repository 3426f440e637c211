"""A replay journal: a player's messages written as JSON Lines instead of published, in the
format `monitor.replay` reads, so a recording runs through the core offline
(`infusion-monitor replay FILE`) with no broker in between.

Each line is `{"received": <epoch s>, "topic": "...", "payload": {...}}`. A message is received
at its own event time (the start epoch plus its offset), as if the network took no time, so the
replay's wall clock and the device clocks agree. The same messages give the same bytes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

Entry = tuple[float, str, bytes, bool]  # offset (s), topic, JSON payload, retained


def journal_line(*, received: float, topic: str, payload: bytes) -> str:
    """One journal line (without its newline); the payload as an object, not as text."""
    entry = {"received": received, "topic": topic, "payload": json.loads(payload)}
    return json.dumps(entry, separators=(",", ":"), allow_nan=False)


def journal_text(messages: Sequence[Entry], *, start_epoch: float) -> str:
    """The journal of `messages`, offset 0 being `start_epoch`."""
    return "".join(
        journal_line(received=round(start_epoch + offset, 3), topic=topic, payload=payload) + "\n"
        for offset, topic, payload, _ in messages
    )


def write_journal(messages: Sequence[Entry], path: Path, *, start_epoch: float) -> None:
    """Write the journal of `messages` to `path` (replacing it). Raises OSError."""
    path.write_text(journal_text(messages, start_epoch=start_epoch), encoding="utf-8")

"""The auditor's read side of the record: which sessions there were (`sessions`), one session
in words (`show`), and one session exported whole (`export`: JSON Lines, CSV, or a FHIR Bundle
from `fhir`).

Pure functions over a `Recorder` (no asyncio, no SQL), so they read every backend alike; the
command line (`infusion-monitor audit ...`) opens the record with `open_audited` and prints what
they return. Event times are the chair's timeline (epoch seconds), as the record keeps them;
`times` says how they are written and read.
"""

from __future__ import annotations

from pathlib import Path

from monitor.record import Recorder, RecordError, open_recorder

__all__ = ["SessionNotFound", "open_audited"]

SQLITE = "sqlite:///"


class SessionNotFound(LookupError):
    """No session with this id in the record (a bad argument: the message names the id)."""


def open_audited(url: str) -> Recorder:
    """The record at `url`, which must already exist: an auditor's typo must not leave an empty
    new store behind and report no sessions.

    Raises:
        RecordError: the URL names no record, or the record cannot be opened.
    """
    path = url.removeprefix(SQLITE) if url.startswith(SQLITE) else None
    if path and path != ":memory:" and not Path(path).exists():
        raise RecordError(f"no record at {path} (from {url})")
    return open_recorder(url)

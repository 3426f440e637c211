"""The nurses' stations' login sessions kept in the record, so a restart of the service leaves
every station logged in. It is the station's `LoginKeeper` (dashboard.auth), spoken in plain
names and roles; writes go through the writer without waiting, reads ask the recorder."""

from __future__ import annotations

from monitor.record.base import LoginEnded, LoginEntry, Recorder
from monitor.record.writer import Writer


class RecordedLogins:
    def __init__(self, recorder: Recorder, writer: Writer) -> None:
        self.recorder, self.writer = recorder, writer

    def keep(self, digest: str, user: str, role: str, expires_at: float) -> None:
        self.writer.offer([LoginEntry(digest, user, role, expires_at)])

    def find(self, digest: str, now: float) -> tuple[str, str, float] | None:
        entry = self.recorder.login(digest, now)
        return None if entry is None else (entry.user, entry.role, entry.expires_at)

    def forget(self, digest: str) -> None:
        self.writer.offer([LoginEnded(digest)])

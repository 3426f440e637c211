"""The composition root's parts: the service with the nurses' station plugged in.

The service (`monitor.app`) knows no station and the dashboard knows no service; only here, and
in `monitor.cli` which uses this, do the two meet. The station gets the session view's archive
and a place to keep logins from the service's record.
"""

from __future__ import annotations

import asyncio
import functools
import logging

from dashboard.auth import Accounts, AccountsError, Role, Sessions, User, hash_password
from dashboard.hub import Hub
from dashboard.web import Dashboard
from monitor.app import Service
from monitor.record import LoginEnded, LoginEntry, Recorder, Writer
from monitor.record.chart import session_chart
from monitor.settings import Settings, SettingsError

log = logging.getLogger(__name__)


def build_service(settings: Settings) -> Service:
    """The service, with the nurses' station in the same process when it serves HTTP."""
    station = _station(settings) if settings.dashboard and settings.http_address() else None
    service = Service(settings, station=station)
    if station is not None:
        station.archive = functools.partial(session_chart, service.recorder)
        station.sessions = Sessions(keeper=RecordedLogins(service.recorder, service.writer))
    return service


def _station(settings: Settings) -> Dashboard:
    try:
        accounts = Accounts(settings.users)
    except AccountsError as exc:
        raise SettingsError(str(exc)) from None
    if not len(accounts):
        log.warning("no dashboard users configured: add [users] to the config file")
    hub = Hub(broker=settings.broker_address(), root=settings.root, site=settings.site)
    return Dashboard(hub=hub, accounts=accounts, sessions=Sessions(), site=settings.site)


class RecordedLogins:
    """The station's login sessions kept in the service's record (`dashboard.auth.LoginKeeper`).
    Writes go through the record's writer queue, never blocking the event loop."""

    def __init__(self, recorder: Recorder, writer: Writer) -> None:
        self.recorder, self.writer = recorder, writer

    def keep(self, digest: str, user: User, expires_at: float) -> None:
        self._write(LoginEntry(digest, user.name, user.role.value, expires_at))

    def find(self, digest: str, now: float) -> tuple[User, float] | None:
        entry = self.recorder.login(digest, now)
        if entry is None or entry.role not in Role.__members__.values():
            return None
        return User(entry.user, Role(entry.role)), entry.expires_at

    def forget(self, digest: str) -> None:
        self._write(LoginEnded(digest))

    def _write(self, entry: LoginEntry | LoginEnded) -> None:
        try:
            self.writer.queue.put_nowait(entry)
        except asyncio.QueueFull:
            log.warning("record queue full: a login change is kept in memory only")


def demo_users(logins: dict[str, str]) -> dict[str, dict[str, str]]:
    """The demo's users table: one user per role named, with the given passwords."""
    return {
        name: {"role": name, "password_hash": hash_password(password)}
        for name, password in logins.items()
    }

"""Who may use the dashboard: users and roles from configuration, argon2id password hashes, and
server-side login sessions behind an HttpOnly, SameSite=Strict cookie (kept in the service's
record when the station runs inside the service, so a restart logs nobody out), and the
throttle on failed logins (per user name and per client address, with lockouts).

Configuration (TOML):

    [users."nurse.kim"]
    role = "nurse"                       # nurse, admin or auditor
    password_hash = "$argon2id$v=19$..." # infusion-dashboard hash-password
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

COOKIE = "im_session"
SESSION_TTL_S = 12 * 3600.0
KEEP_EVERY_S = 600.0  # a sliding expiry is written through to the keeper at most this often
_HASHER = PasswordHasher()
# Verifying against this when the user does not exist keeps the timing the same.
_DUMMY_HASH = _HASHER.hash(secrets.token_hex(16))


class Role(StrEnum):
    NURSE = "nurse"  # watches, acknowledges, admits, runs infusions, discharges
    ADMIN = "admin"  # everything a nurse does, and the clinic's configuration
    AUDITOR = "auditor"  # reads only

    @property
    def may_act(self) -> bool:
        return self in (Role.NURSE, Role.ADMIN)


@dataclass(frozen=True, slots=True)
class User:
    name: str
    role: Role


class AccountsError(ValueError):
    """A users table that cannot work; the message says which user and why."""


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


class Accounts:
    def __init__(self, users: Mapping[str, Mapping[str, str]]) -> None:
        self._users: dict[str, tuple[Role, str]] = {}
        for name, entry in users.items():
            role, hashed = entry.get("role", ""), entry.get("password_hash", "")
            if role not in Role.__members__.values():
                raise AccountsError(f"user {name!r}: role must be one of nurse, admin, auditor")
            if not hashed.startswith("$argon2"):
                raise AccountsError(
                    f"user {name!r}: password_hash must be an argon2 hash "
                    "(make one with: infusion-dashboard hash-password)"
                )
            self._users[name] = (Role(role), hashed)

    def __len__(self) -> int:
        return len(self._users)

    def current(self, user: User) -> bool:
        """Whether `user` still exists with that role (a login kept across a restart must not
        outlive a change to the users table)."""
        found = self._users.get(user.name)
        return found is not None and found[0] is user.role

    def verify(self, name: str, password: str) -> User | None:
        role, hashed = self._users.get(name, (None, _DUMMY_HASH))
        try:
            _HASHER.verify(hashed, password)
        except (VerificationError, InvalidHashError):
            return None
        return User(name, role) if role is not None else None


class LoginKeeper(Protocol):
    """Where login sessions outlive the process (the service's record). Keyed by the SHA-256
    digest of the token, so what is kept cannot be used as a cookie."""

    def keep(self, digest: str, user: str, role: str, expires_at: float) -> None: ...
    def find(self, digest: str, now: float) -> tuple[str, str, float] | None:
        """The kept login's user, role and expiry (None when there is none, or it expired)."""
        ...

    def forget(self, digest: str) -> None: ...


class Sessions:
    """Login sessions, sliding `ttl_s` past each use. In memory; with a `keeper`, also kept
    there, so a restart of the service leaves every station logged in."""

    def __init__(self, ttl_s: float = SESSION_TTL_S, *, keeper: LoginKeeper | None = None) -> None:
        self.ttl_s = ttl_s
        self.keeper = keeper
        self._by_token: dict[str, tuple[User, float]] = {}
        self._kept_until: dict[str, float] = {}  # token -> expiry the keeper holds

    def create(self, user: User, now: float) -> str:
        self._by_token = {t: (u, e) for t, (u, e) in self._by_token.items() if e > now}
        self._kept_until = {t: e for t, e in self._kept_until.items() if t in self._by_token}
        token = secrets.token_urlsafe(32)
        self._by_token[token] = (user, now + self.ttl_s)
        self._keep(token, user, now + self.ttl_s)
        return token

    def user(self, token: str | None, now: float) -> User | None:
        if not token:
            return None
        found = self._by_token.get(token)
        if found is None and self.keeper is not None:
            found = self._kept(token, now)  # logged in before a restart
        if found is None:
            return None
        user, expires = found
        if now >= expires:
            self._by_token.pop(token, None)
            return None
        self._by_token[token] = (user, now + self.ttl_s)
        if now + self.ttl_s - self._kept_until.get(token, 0.0) >= KEEP_EVERY_S:
            self._keep(token, user, now + self.ttl_s)
        return user

    def end(self, token: str | None) -> None:
        if token:
            self._by_token.pop(token, None)
            self._kept_until.pop(token, None)
            if self.keeper is not None:
                self.keeper.forget(digest(token))

    def _keep(self, token: str, user: User, expires_at: float) -> None:
        if self.keeper is not None:
            self.keeper.keep(digest(token), user.name, user.role.value, expires_at)
            self._kept_until[token] = expires_at

    def _kept(self, token: str, now: float) -> tuple[User, float] | None:
        assert self.keeper is not None
        found = self.keeper.find(digest(token), now)
        if found is None or found[1] not in Role.__members__.values():
            return None
        name, role, expires = found
        self._kept_until[token] = expires
        return User(name, Role(role)), expires


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# Throttling logins --------------------------------------------------------------------------

USER_FAILURES = 5  # failed logins for one user name within USER_WINDOW_S lock it
USER_WINDOW_S = 300.0
USER_LOCKOUT_S = 300.0
ADDRESS_FAILURES = 20  # failed logins from one client address within ADDRESS_WINDOW_S lock it
ADDRESS_WINDOW_S = 60.0
ADDRESS_LOCKOUT_S = 60.0
TRACKED_KEYS = 10_000  # user names (or addresses) remembered at most; the oldest go first
KEY_CHARS = 128  # a longer user name is remembered by its first this many characters


@dataclass
class Throttle:
    """Failures per key: `failures` within `window_s` lock the key for `lockout_s`. Pure: the
    time is an argument."""

    failures: int
    window_s: float
    lockout_s: float

    def __post_init__(self) -> None:
        self._failed: dict[str, list[float]] = {}
        self._locked_until: dict[str, float] = {}

    def locked(self, key: str, now: float) -> bool:
        until = self._locked_until.get(key[:KEY_CHARS])
        if until is not None and now >= until:
            del self._locked_until[key[:KEY_CHARS]]
            return False
        return until is not None

    def fail(self, key: str, now: float) -> bool:
        """Count a failure; whether it locked the key (only the failure that locks says so)."""
        key = key[:KEY_CHARS]
        recent = [t for t in self._failed.pop(key, []) if t > now - self.window_s] + [now]
        if len(recent) < self.failures:
            self._failed[key] = recent  # re-inserted: the dict stays oldest-first
            _bound(self._failed)
            return False
        self._locked_until[key] = now + self.lockout_s
        _bound(self._locked_until)
        return True

    def forget(self, key: str) -> None:
        self._failed.pop(key[:KEY_CHARS], None)


def _bound(seen: dict[str, Any]) -> None:
    while len(seen) > TRACKED_KEYS:
        seen.pop(next(iter(seen)))


class LoginLimiter:
    """Failed logins per user name and per client address, with lockouts. A locked-out user
    name is locked whether or not such a user exists, so a lockout tells nobody who exists."""

    def __init__(self) -> None:
        self.users = Throttle(USER_FAILURES, USER_WINDOW_S, USER_LOCKOUT_S)
        self.addresses = Throttle(ADDRESS_FAILURES, ADDRESS_WINDOW_S, ADDRESS_LOCKOUT_S)

    def refusal(self, name: str, address: str, now: float) -> str | None:
        """Why a login by `name` from `address` may not even be tried now, or None."""
        if self.addresses.locked(address, now):
            return f"address locked ({ADDRESS_FAILURES} failures in {ADDRESS_WINDOW_S:g} s)"
        if self.users.locked(name, now):
            return f"user name locked ({USER_FAILURES} failures in {USER_WINDOW_S:g} s)"
        return None

    def failed(self, name: str, address: str, now: float) -> list[str]:
        """Count a failed (or refused) login; the lockouts it started, in words. A refused try
        does not lengthen a lockout already running."""
        started = []
        if not self.users.locked(name, now) and self.users.fail(name, now):
            started.append(f"user name locked for {USER_LOCKOUT_S:g} s")
        if not self.addresses.locked(address, now) and self.addresses.fail(address, now):
            started.append(f"address locked for {ADDRESS_LOCKOUT_S:g} s")
        return started

    def succeeded(self, name: str) -> None:
        self.users.forget(name)

"""Who may use the dashboard: users and roles from configuration, argon2id password hashes, and
server-side login sessions behind an HttpOnly, SameSite=Strict cookie (kept in the service's
record when the station runs inside the service, so a restart logs nobody out).

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
from typing import Protocol

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

    def keep(self, digest: str, user: User, expires_at: float) -> None: ...
    def find(self, digest: str, now: float) -> tuple[User, float] | None: ...
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
            found = self.keeper.find(digest(token), now)  # logged in before a restart
            if found is not None:
                self._kept_until[token] = found[1]
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
            self.keeper.keep(digest(token), user, expires_at)
            self._kept_until[token] = expires_at


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()

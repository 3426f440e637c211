"""Who may use the dashboard: users and roles from configuration, argon2id password hashes, and
server-side login sessions behind an HttpOnly, SameSite=Strict cookie.

Configuration (TOML):

    [users."nurse.kim"]
    role = "nurse"                       # nurse, admin or auditor
    password_hash = "$argon2id$v=19$..." # infusion-dashboard hash-password
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

COOKIE = "im_session"
SESSION_TTL_S = 12 * 3600.0
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

    def verify(self, name: str, password: str) -> User | None:
        role, hashed = self._users.get(name, (None, _DUMMY_HASH))
        try:
            _HASHER.verify(hashed, password)
        except (VerificationError, InvalidHashError):
            return None
        return User(name, role) if role is not None else None


class Sessions:
    """Login sessions in memory: a restart logs everyone out, which is safe."""

    def __init__(self, ttl_s: float = SESSION_TTL_S) -> None:
        self.ttl_s = ttl_s
        self._by_token: dict[str, tuple[User, float]] = {}

    def create(self, user: User, now: float) -> str:
        self._by_token = {t: (u, e) for t, (u, e) in self._by_token.items() if e > now}
        token = secrets.token_urlsafe(32)
        self._by_token[token] = (user, now + self.ttl_s)
        return token

    def user(self, token: str | None, now: float) -> User | None:
        if not token:
            return None
        found = self._by_token.get(token)
        if found is None:
            return None
        user, expires = found
        if now >= expires:
            del self._by_token[token]
            return None
        self._by_token[token] = (user, now + self.ttl_s)
        return user

    def end(self, token: str | None) -> None:
        if token:
            self._by_token.pop(token, None)

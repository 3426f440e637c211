"""Where the broker is: `mqtt://[USER:PASSWORD@]HOST[:PORT]`, as every part of the project
(service, dashboard, simulators) is told it."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    host: str
    port: int
    username: str | None = None
    password: str | None = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"


def parse_broker_url(url: str) -> BrokerAddress:
    """mqtt://[USER:PASSWORD@]HOST[:PORT] (1883 when left out); ValueError saying what is wrong."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "tcp") or not parts.hostname:
        raise ValueError(f"broker {url!r} must look like mqtt://HOST:PORT")
    try:
        port = parts.port or 1883
    except ValueError:
        raise ValueError(f"broker {url!r} has a bad port") from None
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    return BrokerAddress(parts.hostname, port, user, password)

"""Where the broker is and who we are on it, as every part of the project (service, dashboard,
simulators) is told it: one URL.

    mqtt://[USER:PASSWORD@]HOST[:PORT]                       plain TCP, port 1883 by default
    mqtts://USER:PASSWORD@HOST[:PORT][?ca=FILE&cert=FILE&key=FILE]   TLS, port 8883 by default

With `mqtts`, `ca` is the PEM file of the authority that signed the broker's certificate (left
out: the system's trust store), and `cert` with `key` a client certificate, for a broker that
asks for one (`key` may be left out when `cert` holds both). The broker's certificate must name
HOST. A password with `@`, `:`, `/` or `%` in it is percent-encoded (`%40` for `@`).

The URL holds a secret: anything shown to a person or written to a log uses `redacted` (the
password as `***`); `url` is the same, so a `str.format` with `.url` cannot leak it either.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

PLAIN_PORT = 1883
TLS_PORT = 8883
TLS_OPTIONS = ("ca", "cert", "key")


@dataclass(frozen=True, slots=True)
class BrokerTls:
    """TLS to the broker: the files to trust it by and, if it asks, to be known by."""

    ca: str | None = None  # the broker's CA (PEM); None: the system's trust store
    cert: str | None = None  # a client certificate (PEM)
    key: str | None = None  # its private key (PEM), if not in `cert`

    def __post_init__(self) -> None:
        if self.key is not None and self.cert is None:
            raise ValueError("a client key (key=) needs its certificate (cert=)")


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: BrokerTls | None = None  # None: plain TCP

    @property
    def redacted(self) -> str:
        """The URL to show and log: everything but the password, which reads `***`."""
        scheme = "mqtts" if self.tls is not None else "mqtt"
        user = ""
        if self.username is not None:
            user = quote(self.username, safe="") + (":***" if self.password else "") + "@"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{user}{host}:{self.port}{_query(self.tls)}"

    @property
    def url(self) -> str:
        """The same as `redacted`: an address printed anywhere never shows the password."""
        return self.redacted


def parse_broker_url(url: str) -> BrokerAddress:
    """mqtt://[USER:PASSWORD@]HOST[:PORT] or mqtts://...[?ca=&cert=&key=]; ValueError saying
    what is wrong (the message never repeats the password)."""
    parts = urlsplit(url)
    shown = _without_password(url)
    if parts.scheme not in ("mqtt", "tcp", "mqtts") or not parts.hostname:
        raise ValueError(f"broker {shown!r} must look like mqtt://HOST:PORT or mqtts://HOST:PORT")
    if parts.path not in ("", "/") or parts.fragment:
        raise ValueError(
            f"broker {shown!r}: nothing may follow HOST:PORT but ?ca=&cert=&key= "
            "(in a password, / is written %2F)"
        )
    tls = _tls(parts.query, shown) if parts.scheme == "mqtts" else None
    if tls is None and parts.query:
        raise ValueError(f"broker {shown!r}: ca, cert and key are for mqtts:// only")
    try:
        port = parts.port or (TLS_PORT if tls is not None else PLAIN_PORT)
    except ValueError:
        raise ValueError(f"broker {shown!r} has a bad port") from None
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    if password is not None and user is None:
        raise ValueError(f"broker {shown!r} has a password but no user name")
    return BrokerAddress(parts.hostname, port, user, password, tls)


def _tls(query: str, shown: str) -> BrokerTls:
    try:
        options = parse_qs(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        raise ValueError(
            f"broker {shown!r}: the query must be ca=FILE&cert=FILE&key=FILE"
        ) from None
    unknown = sorted(set(options) - set(TLS_OPTIONS))
    if unknown:
        raise ValueError(f"broker {shown!r}: unknown option {unknown[0]!r} (ca, cert or key)")
    for name, values in options.items():
        if len(values) != 1 or not values[0]:
            raise ValueError(f"broker {shown!r}: {name}= needs exactly one file")
    try:
        return BrokerTls(**{name: values[0] for name, values in options.items()})
    except ValueError as exc:
        raise ValueError(f"broker {shown!r}: {exc}") from None


def _query(tls: BrokerTls | None) -> str:
    if tls is None:
        return ""
    files = {name: getattr(tls, name) for name in TLS_OPTIONS if getattr(tls, name) is not None}
    return "?" + urlencode(files, safe="/") if files else ""


def _without_password(url: str) -> str:
    """`url` with all between `USER:` and the last `@` as `***`, for error messages: whatever
    the URL's shape, its password is never repeated."""
    scheme, sep, rest = url.partition("://")
    userinfo, at, host = rest.rpartition("@")
    if not sep or not at:
        return url
    user, colon, _ = userinfo.partition(":")
    return f"{scheme}{sep}{user}{':***' if colon else ''}@{host}"

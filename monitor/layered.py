"""Settings in layers: command-line flags over environment variables over a TOML file, for any
pydantic-settings class, and the part every program of a clinic shares (`ClinicLink`). Neutral:
the service and the stand-alone station both build their settings on it, and it imports nothing
of either (only the contract).
"""

from __future__ import annotations

import ssl
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from monitor.wire.address import BrokerAddress, BrokerTls, parse_broker_url
from monitor.wire.topics import check_name, check_root

S = TypeVar("S", bound=BaseSettings)


class SettingsError(ValueError):
    """Configuration that cannot work; the message says what to fix."""


@dataclass(frozen=True, slots=True)
class HttpAddress:
    host: str
    port: int


def parse_http(value: str) -> HttpAddress | None:
    """HOST:PORT, or None for 'off'; raise ValueError saying what is wrong."""
    if value.lower() in ("", "off", "none"):
        return None
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"http {value!r} must look like HOST:PORT (or 'off')")
    return HttpAddress(host.strip("[]") or "127.0.0.1", int(port))


ENV_PREFIX = "INFUSION_MONITOR_"


def check_tls_files(tls: BrokerTls | None) -> None:
    """Load the broker's CA and the client certificate now, so a missing or unreadable file
    is a clear error at start, not a link that fails at every reconnection."""
    if tls is None:
        return
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        if tls.ca is not None:
            context.load_verify_locations(cafile=tls.ca)
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"broker: cannot use the CA file {tls.ca!r} (ca=): {_why(exc)}") from None
    try:
        if tls.cert is not None:
            context.load_cert_chain(tls.cert, tls.key)
    except (OSError, ssl.SSLError) as exc:
        files = tls.cert if tls.key is None else f"{tls.cert}, {tls.key}"
        raise ValueError(
            f"broker: cannot use the client certificate {files!r} (cert=, key=): {_why(exc)}"
        ) from None


def _why(exc: OSError | ssl.SSLError) -> str:
    if isinstance(exc, ssl.SSLError):
        return f"not a usable PEM file ({exc.reason or exc})"
    return exc.strerror or str(exc)


class ClinicLink(BaseSettings):
    """What the service and a station both need: the broker, the site, the topic root, where to
    serve HTTP, who may log in, and how much to log."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid")

    broker: str = "mqtt://127.0.0.1:1883"
    site: str = "main"
    root: str = "clinic"
    http: str = "127.0.0.1:8080"
    log_level: str = "INFO"
    users: dict[str, dict[str, str]] = Field(default_factory=dict)

    @field_validator("site")
    @classmethod
    def _site(cls, value: str) -> str:
        return check_name(value, "site")

    @field_validator("root")
    @classmethod
    def _root(cls, value: str) -> str:
        return check_root(value)

    @model_validator(mode="after")
    def _addresses(self) -> ClinicLink:
        check_tls_files(self.broker_address().tls)
        self.http_address()
        return self

    def broker_address(self) -> BrokerAddress:
        return parse_broker_url(self.broker)

    def http_address(self) -> HttpAddress | None:
        return parse_http(self.http)


def load_layered(cls: type[S], config: Path | None = None, **flags: Any) -> S:
    """`cls` from flags (those not None), then environment, then the TOML file `config`."""
    file_values: dict[str, Any] = {}
    if config is not None:
        try:
            file_values = tomllib.loads(config.read_text())
        except OSError as exc:
            raise SettingsError(f"cannot read config file {config}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"config file {config} is not valid TOML: {exc}") from None

    class _Configured(cls):  # type: ignore[valid-type,misc]
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            return (init_settings, env_settings, _Static(settings_cls, file_values))

    try:
        settings = _Configured(**{k: v for k, v in flags.items() if v is not None})
    except ValidationError as exc:
        raise SettingsError(_explain(exc)) from None
    return cast(S, cls.model_construct(**settings.model_dump()))


class _Static(PydanticBaseSettingsSource):
    def __init__(self, settings_cls: type[BaseSettings], values: dict[str, Any]) -> None:
        super().__init__(settings_cls)
        self.values = values

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self.values.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self.values)


def _explain(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors(include_url=False):
        name = ".".join(str(p) for p in error["loc"]) or "settings"
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = f"unknown option {name!r}"
        lines.append(f"{name}: {message}")
    return "; ".join(lines)

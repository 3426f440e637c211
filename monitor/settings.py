"""Service settings: command-line flags over environment (INFUSION_MONITOR_*) over a TOML file.

A TOML file uses the same names as the flags, with the clinic's limit overrides in a table:

    broker = "mqtt://127.0.0.1:1883"
    site = "north"
    db = "sqlite:///var/lib/infusion-monitor/audit.db"
    http = "0.0.0.0:8080"
    chairs = ["c01", "c02"]

    [limits]
    sbp_high = 170
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from monitor.domain.limits import DEFAULT_LIMITS, Limits, LimitsError
from monitor.wire.address import BrokerAddress, parse_broker_url
from monitor.wire.topics import check_name, check_root

ENV_PREFIX = "INFUSION_MONITOR_"


class SettingsError(ValueError):
    """Configuration that cannot work; the message says what to fix."""


@dataclass(frozen=True, slots=True)
class HttpAddress:
    host: str
    port: int


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid")

    broker: str = "mqtt://127.0.0.1:1883"
    site: str = "main"
    root: str = "clinic"
    db: str = "sqlite:///infusion-monitor.db"
    http: str = "127.0.0.1:8080"
    chairs: list[str] = Field(default_factory=list)
    limits: dict[str, float] = Field(default_factory=dict)
    client_id: str | None = None
    tick_s: float = Field(default=0.5, gt=0, le=5)
    heartbeat_s: float = Field(default=15.0, gt=0)
    snapshot_s: float = Field(default=5.0, gt=0)
    log_level: str = "INFO"
    dashboard: bool = True
    users: dict[str, dict[str, str]] = Field(default_factory=dict)
    status_every_s: float = Field(default=2.0, gt=0, le=10)

    @field_validator("site")
    @classmethod
    def _site(cls, value: str) -> str:
        return check_name(value, "site")

    @field_validator("root")
    @classmethod
    def _root(cls, value: str) -> str:
        return check_root(value)

    @field_validator("chairs")
    @classmethod
    def _chairs(cls, value: list[str]) -> list[str]:
        return [check_name(chair, "chair") for chair in value]

    @model_validator(mode="after")
    def _parse_all(self) -> Settings:
        self.broker_address()
        self.http_address()
        self.sqlite_path()
        self.clinic_limits()
        return self

    def broker_address(self) -> BrokerAddress:
        return parse_broker_url(self.broker)

    def http_address(self) -> HttpAddress | None:
        if self.http.lower() in ("", "off", "none"):
            return None
        host, sep, port = self.http.rpartition(":")
        if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError(f"http {self.http!r} must look like HOST:PORT (or 'off')")
        return HttpAddress(host.strip("[]") or "127.0.0.1", int(port))

    def sqlite_path(self) -> str:
        if self.db.startswith("postgresql://") or self.db.startswith("postgres://"):
            raise ValueError("db: PostgreSQL is not supported yet; use sqlite:///PATH")
        if not self.db.startswith("sqlite:///"):
            raise ValueError(
                f"db {self.db!r} must look like sqlite:///PATH (or sqlite:///:memory:)"
            )
        return self.db.removeprefix("sqlite:///") or ":memory:"

    def clinic_limits(self) -> Limits:
        try:
            return DEFAULT_LIMITS.with_overrides(self.limits)
        except LimitsError as exc:
            raise ValueError(f"limits: {exc}") from None


def load_settings(config: Path | None = None, **flags: Any) -> Settings:
    """Settings from flags (those not None), then environment, then the TOML file `config`."""
    file_values: dict[str, Any] = {}
    if config is not None:
        try:
            file_values = tomllib.loads(config.read_text())
        except OSError as exc:
            raise SettingsError(f"cannot read config file {config}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"config file {config} is not valid TOML: {exc}") from None

    class _Configured(Settings):
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
    return Settings.model_construct(**settings.model_dump())


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

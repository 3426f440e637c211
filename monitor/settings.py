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

from pathlib import Path
from typing import Any

from pydantic import Field, field_validator, model_validator

from monitor.domain.clinic import DEFAULT_MAX_CHAIRS, Clinic
from monitor.domain.limits import DEFAULT_LIMITS, DEFAULT_REMINDERS, Limits, LimitsError
from monitor.domain.paging import PagingPolicy
from monitor.domain.paging_config import PagingConfig
from monitor.layered import ENV_PREFIX, ClinicLink, HttpAddress, SettingsError, load_layered
from monitor.paging.config import PagingDelivery, parse_paging
from monitor.record import beside, check_url
from monitor.wire.topics import check_name

__all__ = ["ENV_PREFIX", "HttpAddress", "Settings", "SettingsError", "load_settings"]


class Settings(ClinicLink):
    db: str = "sqlite:///infusion-monitor.db"
    # The clinic's name on session reports and summaries (the site's name when not set).
    clinic_name: str | None = Field(default=None, min_length=1, max_length=120)
    chairs: list[str] = Field(default_factory=list)
    # With no chair list, chairs are made from the wire on their first message, this many at most.
    max_chairs: int = Field(default=DEFAULT_MAX_CHAIRS, ge=1)
    limits: dict[str, float] = Field(default_factory=dict)
    client_id: str | None = None
    # The append-only seal log outside the database (next to a SQLite file when not set).
    seal_log: str | None = None
    # Sessions closed longer ago than this are purged, the purge recorded (None: keep all).
    retention_days: float | None = Field(default=None, ge=1)
    retention_check_s: float = Field(default=3600.0, gt=0)
    tick_s: float = Field(default=0.5, gt=0, le=5)
    heartbeat_s: float = Field(default=15.0, gt=0)
    snapshot_s: float = Field(default=5.0, gt=0)
    dashboard: bool = True
    status_every_s: float = Field(default=2.0, gt=0, le=10)
    metrics_token: str | None = None  # with one, /metrics wants "Authorization: Bearer TOKEN"
    paging: dict[str, Any] = Field(default_factory=dict)  # the [paging] table (docs/paging.md)

    @field_validator("db")
    @classmethod
    def _db(cls, value: str) -> str:
        check_url(value)
        return value

    @field_validator("chairs")
    @classmethod
    def _chairs(cls, value: list[str]) -> list[str]:
        return [check_name(chair, "chair") for chair in value]

    @model_validator(mode="after")
    def _limits(self) -> Settings:
        self.clinic_limits()
        return self

    @model_validator(mode="after")
    def _paging(self) -> Settings:
        self.paging_setup()
        return self

    def paging_setup(self) -> tuple[PagingConfig, PagingDelivery] | None:
        """The site's paging policy and delivery, or None when it does not page. Refused at
        start: a chair left uncovered (named), a pager with no route, a route not configured."""
        if not self.paging:
            return None
        try:
            config = PagingConfig.from_mapping(self.paging)
            config.check_coverage(self.chairs)
            delivery = parse_paging(self.paging)
        except ValueError as exc:
            raise ValueError(f"paging: {exc}") from None
        return config, delivery

    def core(self) -> tuple[Clinic, PagingPolicy | None]:
        """The site's pure core as configured: the clinic (limits, chairs, the paging policy
        and its reminders) and the paging policy, None when the site does not page."""
        paging = self.paging_setup()
        policy = PagingPolicy(paging[0]) if paging is not None else None
        clinic = Clinic(
            limits=self.clinic_limits(),
            chairs=self.chairs,
            max_chairs=self.max_chairs,
            policies=[policy] if policy is not None else [],
            reminders=paging[0].reminders if paging is not None else DEFAULT_REMINDERS,
        )
        return clinic, policy

    def seal_log_path(self) -> str | None:
        """The seal log: the one configured, else the one beside the record (none in memory)."""
        return self.seal_log or beside(self.db)[1]

    def clinic_limits(self) -> Limits:
        try:
            return DEFAULT_LIMITS.with_overrides(self.limits)
        except LimitsError as exc:
            raise ValueError(f"limits: {exc}") from None


def load_settings(config: Path | None = None, **flags: Any) -> Settings:
    """Settings from flags (those not None), then environment, then the TOML file `config`."""
    return load_layered(Settings, config, **flags)

"""The stand-alone station's settings: the broker, the site, where to serve, and who may log in.

Read like the service's (flags over INFUSION_MONITOR_* environment over a TOML file), and from
the same file: the service's own options there (its database, limits, chairs) are none of the
station's business and are ignored, so a station never refuses to start over them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic_settings import SettingsConfigDict

from monitor.layered import ENV_PREFIX, ClinicLink, load_layered


class StationSettings(ClinicLink):
    # The service's own options in a shared config file are none of the station's business.
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")


def load_station_settings(config: Path | None = None, **flags: Any) -> StationSettings:
    return load_layered(StationSettings, config, **flags)

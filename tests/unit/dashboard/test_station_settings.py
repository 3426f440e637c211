"""The stand-alone station reads only its own settings: the service's options, in the
environment or in a shared config file, never stop it from starting."""

from __future__ import annotations

from pathlib import Path

import pytest

from dashboard.settings import load_station_settings
from monitor.layered import SettingsError


def test_a_station_starts_when_the_environment_names_a_database_it_never_uses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("INFUSION_MONITOR_DB", "postgresql://db.clinic/audit")
    monkeypatch.setenv("INFUSION_MONITOR_SITE", "north")

    settings = load_station_settings(None, http="127.0.0.1:9000")

    assert settings.site == "north"
    assert settings.http_address() is not None


def test_a_station_reads_the_services_config_file_and_ignores_the_services_options(
    tmp_path: Path,
) -> None:
    config = tmp_path / "clinic.toml"
    config.write_text(
        'site = "west"\ndb = "postgresql://x"\nchairs = ["c01"]\n[limits]\nsbp_high = 170\n'
    )

    settings = load_station_settings(config)

    assert settings.site == "west"


@pytest.mark.parametrize(
    ("flags", "message"),
    [({"site": "no spaces"}, "site"), ({"broker": "http://x"}, "broker"), ({"http": "x"}, "http")],
)
def test_a_station_refuses_its_own_options_when_they_cannot_work(
    flags: dict[str, str], message: str
) -> None:
    with pytest.raises(SettingsError, match=message):
        load_station_settings(None, **flags)

"""`infusion-monitor` as an operator runs it: real subprocesses, real exit codes, real output."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiomqtt
import httpx
import pytest

from monitor.broker import Mosquitto, free_port, wait_for_port
from monitor.settings import load_settings

pytestmark = pytest.mark.integration

CLI = (sys.executable, "-m", "monitor.cli")
T0 = 1_795_000_000.0


def _env() -> dict[str, str]:
    """This environment without any INFUSION_MONITOR_* of the machine running the tests."""
    return {k: v for k, v in os.environ.items() if not k.startswith("INFUSION_MONITOR_")}


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], cwd=cwd, env=_env(), capture_output=True, text=True, timeout=30,
        check=False,
    )  # fmt: skip


def _serve(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`serve` with a broker nobody listens on and no HTTP, so a run that wrongly goes ahead
    cannot reach anything; it would end in the timeout instead."""
    return _run("serve", "--broker", f"mqtt://127.0.0.1:{free_port()}", "--http", "off", *args,
                cwd=cwd)  # fmt: skip


# Configuration errors: exit 2 with a message saying what to fix ---------------------------


def test_serve_with_a_broker_url_that_is_not_mqtt_exits_2_naming_the_broker(
    tmp_path: Path,
) -> None:
    result = _run("serve", "--broker", "ftp://x", "--http", "off", cwd=tmp_path)

    assert result.returncode == 2
    assert "broker" in result.stderr
    assert "ftp://x" in result.stderr


def test_serve_with_a_broker_ca_file_missing_or_not_pem_exits_2_naming_the_file(
    tmp_path: Path,
) -> None:
    garbage = tmp_path / "ca.pem"
    garbage.write_text("not a certificate\n")
    port = free_port()
    missing = _run("serve", "--broker", f"mqtts://127.0.0.1:{port}?ca={tmp_path}/none.pem",
                   "--http", "off", cwd=tmp_path)  # fmt: skip
    not_pem = _run("serve", "--broker", f"mqtts://127.0.0.1:{port}?ca={garbage}",
                   "--http", "off", cwd=tmp_path)  # fmt: skip

    assert missing.returncode == 2, missing.stderr
    assert f"{tmp_path}/none.pem" in missing.stderr
    assert "No such file" in missing.stderr
    assert not_pem.returncode == 2, not_pem.stderr
    assert str(garbage) in not_pem.stderr
    assert "not a usable PEM file" in not_pem.stderr
    assert "Traceback" not in missing.stderr + not_pem.stderr


def test_serve_with_a_postgresql_db_url_libpq_cannot_read_exits_2(tmp_path: Path) -> None:
    result = _serve("--db", "postgresql://x?nonsense=1", cwd=tmp_path)

    assert result.returncode == 2
    assert "db" in result.stderr


def test_serve_with_a_missing_config_file_exits_2_naming_it(tmp_path: Path) -> None:
    result = _serve("--config", "missing.toml", cwd=tmp_path)

    assert result.returncode == 2
    assert "missing.toml" in result.stderr


def test_serve_with_an_unknown_limit_in_the_config_exits_2_naming_it(tmp_path: Path) -> None:
    config = tmp_path / "clinic.toml"
    config.write_text('site = "north"\n\n[limits]\nsbp_high = 170\nsbp_hihg = 175\n')
    result = _serve("--config", str(config), cwd=tmp_path)

    assert result.returncode == 2
    assert "sbp_hihg" in result.stderr
    assert not (tmp_path / "infusion-monitor.db").exists()  # it stopped before opening a store


PAGING_TOML = """
site = "north"
chairs = ["c01", "c02", "c03"]

[[paging.pagers]]
id = "p01"
name = "Kim"

[[paging.pagers]]
id = "p03"
name = "Sam"
role = "charge"

[paging.coverage]
primary = {{ c01 = "p01"{more} }}
charge = "p03"
failsafe = ["p03"]
"""


def test_serve_with_a_chair_nobody_covers_exits_2_naming_every_such_chair(tmp_path: Path) -> None:
    config = tmp_path / "clinic.toml"
    config.write_text(PAGING_TOML.format(more=""))
    result = _serve("--config", str(config), cwd=tmp_path)

    assert result.returncode == 2, result.stderr
    assert "chair c02, c03 uncovered" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "infusion-monitor.db").exists()


def test_serve_with_a_pager_on_a_route_not_configured_exits_2_naming_the_route(
    tmp_path: Path,
) -> None:
    config = tmp_path / "clinic.toml"
    text = PAGING_TOML.format(more=', c02 = "p01", c03 = "p01"')
    config.write_text(text.replace('name = "Kim"', 'name = "Kim"\nroute = "wctp"\naddress = "555"'))
    result = _serve("--config", str(config), cwd=tmp_path)

    assert result.returncode == 2, result.stderr
    assert "route 'wctp' is not configured" in result.stderr
    assert "[paging.routes.wctp]" in result.stderr


@pytest.mark.parametrize(
    ("line", "shown"),
    [
        ("sbp_low = 9", "sbp_low 9 is outside its clinical range 60-120 mmHg"),
        ("spo2_critical = 8.5", "spo2_critical 8.5 is outside its clinical range 70-92 %"),
        ("spo2_delay_s = 1500", "spo2_delay_s 1500 is outside its clinical range 0-30 s"),
        ("sbp_high = 1800", "sbp_high 1800 is outside its clinical range 140-240 mmHg"),
    ],
)
def test_serve_with_a_limit_outside_its_clinical_range_exits_2_with_the_range(
    tmp_path: Path, line: str, shown: str
) -> None:
    config = tmp_path / "clinic.toml"
    config.write_text(f'site = "north"\n\n[limits]\n{line}\n')
    result = _serve("--config", str(config), cwd=tmp_path)

    assert result.returncode == 2
    assert shown in result.stderr
    assert not (tmp_path / "infusion-monitor.db").exists()


async def test_serve_fails_with_a_message_when_its_http_port_is_taken(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        http = f"127.0.0.1:{port}"
        serve = await asyncio.create_subprocess_exec(
            *CLI, "serve", "--broker", f"mqtt://127.0.0.1:{mosquitto.port}", "--site", "t1",
            "--db", f"sqlite:///{tmp_path / 'audit.db'}", "--http", http,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE, env=_env(), cwd=tmp_path,
        )  # fmt: skip
        try:
            code: int | None = await asyncio.wait_for(serve.wait(), 10)
        except TimeoutError:
            code = None  # still running, without its HTTP port
        finally:
            if serve.returncode is None:
                serve.kill()
                await serve.wait()
    assert serve.stderr is not None
    stderr = (await serve.stderr.read()).decode()

    assert code in (1, 2), f"exit code {code} (None: still running after 10 s); stderr:\n{stderr}"
    assert str(port) in stderr


# Precedence: flag > environment > TOML file ------------------------------------------------


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in [k for k in os.environ if k.startswith("INFUSION_MONITOR_")]:
        monkeypatch.delenv(name)
    path = tmp_path / "clinic.toml"
    path.write_text('site = "fromfile"\nhttp = "127.0.0.1:9001"\n\n[limits]\nsbp_high = 170\n')
    return path


def test_file_gives_what_neither_flag_nor_environment_sets(config: Path) -> None:
    settings = load_settings(config)

    assert settings.site == "fromfile"
    assert settings.http == "127.0.0.1:9001"
    assert settings.clinic_limits().sbp_high == 170


def test_environment_beats_the_file(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INFUSION_MONITOR_SITE", "fromenv")
    settings = load_settings(config, site=None)  # a flag left out arrives as None

    assert settings.site == "fromenv"
    assert settings.http == "127.0.0.1:9001"


def test_flag_beats_the_environment_and_the_file(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INFUSION_MONITOR_SITE", "fromenv")
    monkeypatch.setenv("INFUSION_MONITOR_HTTP", "127.0.0.1:9002")
    settings = load_settings(config, site="fromflag")

    assert settings.site == "fromflag"
    assert settings.http == "127.0.0.1:9002"


# Replay ------------------------------------------------------------------------------------


def _journal(path: Path) -> Path:
    """An admission, three baseline cuffs, an infusion start and a reading of SBP 190."""
    topic = "clinic/main/chair/c01/{}".format
    entries: list[tuple[float, str, dict[str, Any]]] = [
        (T0, topic("session"), {"command": "admit", "patient": "P-0042"})
    ]
    for second in range(30, 16 * 60 + 1, 30):
        reading: dict[str, Any] = {"seq": second // 30, "hr": 72, "spo2": 98}
        if second in (120, 300, 480):
            reading["nibp"] = {"sys": 120 + second % 7, "dia": 80}
        if second == 15 * 60:
            reading["nibp"] = {"sys": 190, "dia": 100}
        if second == 10 * 60:
            entries.append((T0 + second, topic("infusion"), {"event": "start"}))
        entries.append((T0 + second, topic("vitals"), reading))
    lines = [
        json.dumps({"received": ts + 0.05, "topic": where, "payload": {"ts": ts, **payload}})
        for ts, where, payload in entries
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_replay_prints_the_alarm_and_the_same_output_every_time(tmp_path: Path) -> None:
    journal = _journal(tmp_path / "session.jsonl")
    first = _run("replay", str(journal), cwd=tmp_path)
    second = _run("replay", str(journal), cwd=tmp_path)

    assert first.returncode == 0
    assert [line for line in first.stdout.splitlines() if "c01 sbp_high active high" in line]
    assert "SBP 190 > 180 mmHg" in first.stdout
    assert second.returncode == 0
    assert second.stdout == first.stdout


def test_replay_of_a_missing_file_exits_1(tmp_path: Path) -> None:
    result = _run("replay", str(tmp_path / "nothing.jsonl"), cwd=tmp_path)

    assert result.returncode == 1
    assert "nothing.jsonl" in result.stderr
    assert result.stdout == ""


# Demo --------------------------------------------------------------------------------------


async def test_demo_shows_three_chairs_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    port = free_port()
    with (tmp_path / "demo.log").open("wb") as log:
        demo = await asyncio.create_subprocess_exec(
            *CLI, "demo", "--chairs", "3", "--speed", "20", "--http", f"127.0.0.1:{port}",
            "--db", f"sqlite:///{tmp_path / 'demo.db'}",
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=log,
            env=_env(), cwd=tmp_path,
        )  # fmt: skip
        try:
            assert demo.stdout is not None
            banner = (await asyncio.wait_for(demo.stdout.readline(), 15)).decode()
            found = re.search(r"broker mqtt://127\.0\.0\.1:(\d+) \(mosquitto\)", banner)
            assert found, banner
            broker_port = int(found.group(1))
            await wait_for_port(port, within_s=15)
            chairs = await _three_chairs(port, within_s=30)
            demo.send_signal(signal.SIGINT)
            code = await asyncio.wait_for(demo.wait(), 15)
        finally:
            await _end(demo)

    assert sorted(c["chair"] for c in chairs) == ["c01", "c02", "c03"]
    assert {c["phase"] for c in chairs} <= {"baseline", "infusing", "paused", "recovery"}
    assert all(re.fullmatch(r"P-C0\d-\d{3}", c["patient"] or "") for c in chairs)
    assert code == 0
    assert not await _listening(broker_port)  # the demo's own Mosquitto went with it


async def _end(process: asyncio.subprocess.Process) -> None:
    """Ctrl-C first, so a demo stops the broker it started; SIGKILL only if that fails."""
    if process.returncode is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        await asyncio.wait_for(process.wait(), 15)
    except TimeoutError:
        process.kill()
        await process.wait()


async def _listening(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.close()
    await writer.wait_closed()
    return True


async def _three_chairs(port: int, *, within_s: float) -> list[dict[str, Any]]:
    """/api/chairs once it shows three chairs, each with a patient (logged in as the demo
    prints it: nurse / demo-nurse)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    chairs: list[dict[str, Any]] = []
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
        login = await http.post("/login", data={"username": "nurse", "password": "demo-nurse"})
        assert login.headers["location"] == "/"
        while loop.time() < deadline:
            chairs = (await http.get("/api/chairs")).json()
            if len(chairs) == 3 and all(c["patient"] for c in chairs):
                return chairs
            await asyncio.sleep(0.2)
    raise AssertionError(f"after {within_s} s /api/chairs shows {chairs}")


DEMO_PAGING = """
[[paging.pagers]]
id = "p01"
name = "Kim"

[[paging.pagers]]
id = "p02"
name = "Lee"

[[paging.pagers]]
id = "p03"
name = "Sam"
role = "charge"

[[paging.pagers]]
id = "p04"
name = "Front desk"
role = "failsafe"

[paging.coverage]
primary = { c01 = "p01", c02 = "p01", c03 = "p02", c04 = "p02" }
default = "p01"
charge = "p03"
failsafe = ["p04", "p03"]

[paging.escalation.high]
steps = [{ after_s = 1, to = "primary" }, { after_s = 2, to = "charge" }, { after_s = 2, to = "failsafe" }]

[paging.escalation.medium]
steps = [{ after_s = 1, to = "primary" }, { after_s = 2, to = "failsafe" }]
"""


async def test_no_page_of_a_demo_run_carries_a_patient_label(tmp_path: Path) -> None:
    """The demo as a user runs it (its simulated clinic, its pagers answering like people),
    with short escalation steps so that a minute gives many pages: every page and all-clear on
    every pager topic is read, and none names a patient, while the chairs' states do."""
    config = tmp_path / "demo.toml"
    config.write_text(DEMO_PAGING)
    port = free_port()
    with (tmp_path / "demo.log").open("wb") as log:
        demo = await asyncio.create_subprocess_exec(
            *CLI, "demo", "--chairs", "4", "--speed", "30", "--http", f"127.0.0.1:{port}",
            "--db", f"sqlite:///{tmp_path / 'demo.db'}", "--config", str(config),
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=log,
            env=_env(), cwd=tmp_path,
        )  # fmt: skip
        try:
            assert demo.stdout is not None
            banner = (await asyncio.wait_for(demo.stdout.readline(), 15)).decode()
            found = re.search(r"broker mqtt://127\.0\.0\.1:(\d+) \(mosquitto\)", banner)
            assert found, banner
            pages, labels = await _pages_and_labels(int(found.group(1)), for_s=45)
            demo.send_signal(signal.SIGINT)
            await asyncio.wait_for(demo.wait(), 15)
        finally:
            await _end(demo)

    kinds = [json.loads(p)["kind"] for p in pages]
    assert kinds.count("page") >= 10, kinds  # the run paged: the check below can fail
    assert kinds.count("all_clear") >= 1, kinds
    assert labels, "no patient label seen on the chairs' states"
    leaked = [p for p in pages for label in labels if label in p]
    assert leaked == []


async def _pages_and_labels(broker_port: int, *, for_s: float) -> tuple[list[str], set[str]]:
    """Every message on the demo's pager topics for `for_s`, and the labels of its patients."""
    pages: list[str] = []
    labels: set[str] = set()
    async with aiomqtt.Client("127.0.0.1", broker_port, identifier="demo-pages") as client:
        await client.subscribe("clinic/demo/pager/+", qos=1)
        await client.subscribe("clinic/demo/chair/+/state", qos=1)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(for_s):
                async for message in client.messages:
                    assert isinstance(message.payload, bytes)
                    if "/pager/" in message.topic.value:
                        pages.append(message.payload.decode())
                    elif patient := json.loads(message.payload).get("patient"):
                        labels.add(patient)
    return pages, labels

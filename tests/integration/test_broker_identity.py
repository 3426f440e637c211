"""Identity on the broker: the shipped Mosquitto configuration (docs/mosquitto/: TLS, passwords
and the ACL) run for real, every part of the clinic going through it as its own user, and rogue
clients that get nowhere.

The test makes its own CA and server certificate (openssl) and password file
(mosquitto_passwd), and runs docs/mosquitto/mosquitto.conf with only its paths, port and
persistence changed, against docs/mosquitto/acl as shipped. Mosquitto drops a refused publish
without a word (MQTT 3.1.1 cannot say so), so "refused" is shown as "never reached the
service": a legitimate message sent after the rogue's has arrived, and the rogue's has not.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import io
import json
import logging
import os
import secrets
import socket
import subprocess
import time
import warnings
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from dashboard.hub import Hub
from monitor.app import Service
from monitor.broker import MOSQUITTO_CONF, Mosquitto
from monitor.domain.vocabulary import AlarmKind
from monitor.mqtt import broker_client
from monitor.record.base import MessageEntry
from monitor.wire.address import BrokerAddress, parse_broker_url
from simulators.cli import main as simulator
from simulators.pager import parse_rule, run_pagers
from simulators.publish import publish
from simulators.story import Address, SimMessage, encode, switch_on
from tests.integration.conftest import Bus, StartService, until

pytestmark = pytest.mark.integration

DOCS = Path(__file__).resolve().parents[2] / "docs" / "mosquitto"
ROOT, SITE = "clinic", "main"  # the shipped ACL's
CHAIRS = ["c01", "c02"]
USERS = ("infusion-monitor", "station", "monitor-c01", "monitor-c02", "pump-c01", "pager-p01")
NODELAY = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
T0 = 1_795_000_000.0


def topic(chair: str, leaf: str) -> str:
    return f"{ROOT}/{SITE}/chair/{chair}/{leaf}"


# The clinic's broker ---------------------------------------------------------------------


@dataclass(frozen=True)
class ClinicBroker:
    """The broker's port and what its clients need: the CA and every user's password."""

    port: int
    ca: Path
    passwords: dict[str, str]

    def url(self, user: str, *, password: str | None = None, ca: Path | None = None) -> str:
        secret = self.passwords[user] if password is None else password
        return f"mqtts://{user}:{secret}@127.0.0.1:{self.port}?ca={ca or self.ca}"

    def address(self, user: str) -> BrokerAddress:
        return parse_broker_url(self.url(user))


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _certificates(folder: Path) -> None:
    """A CA, and a server certificate it signed for 127.0.0.1 (as docs/mosquitto/README.md)."""
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    (folder / "server.ext").write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"
        "authorityKeyIdentifier=keyid\n"
    )
    _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
             "-subj", "/CN=Test clinic CA", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign",
             cwd=folder)  # fmt: skip
    _openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1",
             cwd=folder)  # fmt: skip
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "server.ext",
             cwd=folder)  # fmt: skip


def _password_file(path: Path, passwords: dict[str, str]) -> None:
    for user, password in passwords.items():
        create = ["-c"] if not path.exists() else []
        subprocess.run(
            ["mosquitto_passwd", *create, "-b", str(path), user, password],
            check=True, capture_output=True,
        )  # fmt: skip


def clinic_conf(shipped: str, folder: Path) -> str:
    """The shipped configuration with this test's files, port and no persistence."""
    changed: dict[str, str | None] = {
        "listener": "{port} 127.0.0.1",
        "cafile": str(folder / "ca.pem"),
        "certfile": str(folder / "server.pem"),
        "keyfile": str(folder / "server.key"),
        "password_file": str(folder / "passwd"),
        "acl_file": str(DOCS / "acl"),
        "persistence": "false",
        "persistence_location": None,
        "log_dest": "stderr",
    }
    lines = []
    for line in shipped.splitlines():
        key = line.split(" ", 1)[0]
        if key in changed:
            value = changed.pop(key)
            if value is None:
                continue
            line = f"{key} {value}"
        lines.append(line)
    assert not changed, f"the shipped mosquitto.conf no longer sets {sorted(changed)}"
    if os.geteuid() == 0:  # as root Mosquitto becomes `mosquitto`, who cannot read tmp_path
        lines.append("user root")
    return "\n".join(lines) + "\n"


@pytest.fixture
def clinic_files(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    folder = tmp_path / "broker"
    folder.mkdir()
    _certificates(folder)
    passwords = {user: secrets.token_urlsafe(12) for user in USERS}
    _password_file(folder / "passwd", passwords)
    return folder, passwords


@pytest.fixture
async def mosquitto(clinic_files: tuple[Path, dict[str, str]]) -> AsyncIterator[Mosquitto]:
    """The conftest's fixture, overridden: the clinic's broker (start_service uses it)."""
    folder, _ = clinic_files
    broker = Mosquitto(config=clinic_conf((DOCS / "mosquitto.conf").read_text(), folder))
    await broker.start()
    yield broker
    await broker.stop()
    broker.close()


@pytest.fixture
def clinic(mosquitto: Mosquitto, clinic_files: tuple[Path, dict[str, str]]) -> ClinicBroker:
    folder, passwords = clinic_files
    return ClinicBroker(mosquitto.port, folder / "ca.pem", passwords)


@contextlib.asynccontextmanager
async def watching(clinic: ClinicBroker, user: str, *filters: str) -> AsyncIterator[Bus]:
    """A client of `user` that keeps what it receives on `filters` (and can publish)."""
    client = broker_client(
        clinic.address(user), identifier=f"test-{user}-{secrets.token_hex(3)}",
        socket_options=NODELAY,
    )  # fmt: skip
    async with client:
        for name in filters:
            await client.subscribe(name, qos=1)
        bus = Bus(client)
        task = asyncio.create_task(bus.collect(), name=f"test-{user}-collect")
        try:
            yield bus
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


@contextlib.asynccontextmanager
async def station_hub(clinic: ClinicBroker) -> AsyncIterator[Hub]:
    hub = Hub(broker=clinic.address("station"), root=ROOT, site=SITE)
    task = asyncio.create_task(hub.run(), name="test-hub")
    try:
        await asyncio.wait_for(hub.broker_link.connected.wait(), 10)
        yield hub
    finally:
        hub.close()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def start_clinic(start_service: StartService, clinic: ClinicBroker) -> Service:
    return await start_service(broker=clinic.url("infusion-monitor"), site=SITE, chairs=CHAIRS)


def hypertensive(chair: str) -> list[SimMessage]:
    """c01's monitor on, an admission, a cuff of 120/80, the infusion started, then 190/100."""
    where = Address(ROOT, SITE, T0)

    def at(at_s: float, leaf: str, **payload: Any) -> SimMessage:
        return SimMessage(
            at_s, chair, where.topic(chair, leaf), encode({"ts": T0 + at_s, **payload})
        )

    return [
        *switch_on(chair, address=where, at_s=0),
        at(1, "session", command="admit", patient="P-0042"),
        at(2, "vitals", seq=1, hr=72, spo2=98, nibp={"sys": 120, "dia": 80}),
        at(3, "infusion", event="start", drug="ketamine", dose_mg_per_kg=0.5, planned_minutes=40),
        at(4, "vitals", seq=2, hr=74, spo2=98, nibp={"sys": 190, "dia": 100}),
    ]


async def simulate(clinic: ClinicBroker, messages: list[SimMessage]) -> int:
    """The simulated clinic: the station's user for the station, each monitor its own."""
    return await publish(
        messages,
        broker=clinic.address("station"),
        monitors=lambda chair: clinic.address(f"monitor-{chair}"),
        speed=0,
    )


def transitions(bus: Bus, chair: str, **match: Any) -> list[dict[str, Any]]:
    return [
        r.payload
        for r in bus.seen
        if r.topic == topic(chair, "alarm") and all(r.payload.get(k) == v for k, v in match.items())
    ]


def received(service: Service, chair: str | None = None) -> list[str]:
    """The payloads of every message the service received (for `chair`)."""
    return [m.payload for m in service.recorder.messages(chair=chair)]


async def reached(service: Service, mark: str, *, within_s: float = 10.0) -> None:
    await until(
        lambda: any(mark in payload for payload in received(service)),
        within_s=within_s, what=f"the service to receive {mark}",
    )  # fmt: skip


# Everyone through TLS as themselves --------------------------------------------------------


def test_the_shipped_configuration_has_the_queue_limits_the_tests_run_with() -> None:
    shipped = (DOCS / "mosquitto.conf").read_text().splitlines()
    limits = [line for line in MOSQUITTO_CONF.splitlines() if line.startswith(("max_", "set_"))]
    assert limits
    assert set(limits) <= set(shipped)
    assert "allow_anonymous false" in shipped


async def test_service_monitor_and_station_work_through_tls_each_as_itself(
    start_service: StartService, clinic: ClinicBroker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    service = await start_clinic(start_service, clinic)
    alarms = f"{ROOT}/{SITE}/chair/+/alarm"
    async with station_hub(clinic) as hub, watching(clinic, "station", alarms) as station:
        assert await simulate(clinic, hypertensive("c01")) == 5

        raised = await station.wait_for(
            lambda: transitions(station, "c01", kind="sbp_high", state="active"),
            what="sbp_high at the station",
        )
        await until(
            lambda: [a for a in hub.chairs["c01"].alarms if a["kind"] == "sbp_high"]
            if "c01" in hub.chairs else None,
            within_s=10, what="sbp_high on the dashboard hub",
        )  # fmt: skip
    assert raised[0]["value"] == 190
    assert hub.chairs["c01"].state is not None
    assert hub.chairs["c01"].state["phase"] == "infusing"
    shown = service.health(time.time())["broker"]["url"]
    assert shown == f"mqtts://infusion-monitor:***@127.0.0.1:{clinic.port}?ca={clinic.ca}"
    for password in clinic.passwords.values():
        assert password not in caplog.text


async def test_a_pager_gets_its_own_pages_and_answers_as_itself(
    start_service: StartService, clinic: ClinicBroker
) -> None:
    service = await start_clinic(start_service, clinic)
    out, stop, ready = io.StringIO(), asyncio.Event(), asyncio.Event()
    pager = asyncio.create_task(
        run_pagers(
            broker=clinic.address("pager-p01"), root=ROOT, site=SITE, pagers=["p01"],
            rule=parse_rule("accept:0"), out=out, stop=stop, ready=ready,
        ),
        name="test-pager",
    )  # fmt: skip
    try:
        await asyncio.wait_for(ready.wait(), 10)
        page = {"ts": T0, "alarm": "al-1", "chair": "c01", "priority": "high",
                "text": "SBP 190 > 180 mmHg"}  # fmt: skip
        async with watching(clinic, "infusion-monitor") as paging:  # as the service pages
            await paging.publish(f"{ROOT}/{SITE}/pager/p01", {"page": "pg-p01", **page})
            await reached(service, '"pg-p01"')
    finally:
        stop.set()
        await asyncio.wait_for(pager, 10)
    replies = [m for m in service.recorder.messages() if m.topic.endswith("/reply")]
    assert [m.topic for m in replies] == [f"{ROOT}/{SITE}/pager/p01/reply"]
    assert json.loads(replies[0].payload)["reply"] == "accept"


# Rogue clients -------------------------------------------------------------------------------


async def test_another_device_cannot_speak_for_c01_nor_fake_a_chair(
    start_service: StartService, clinic: ClinicBroker
) -> None:
    """monitor-c02 (a real user, the wrong chair), pump-c01 and monitor-c01 beyond their own
    topics: readings, an acknowledgement, a discharge, a fake state and alarm all vanish."""
    service = await start_clinic(start_service, clinic)
    watched = [topic("+", "alarm"), topic("+", "state")]
    async with station_hub(clinic) as hub, watching(clinic, "station", *watched) as station:
        await simulate(clinic, hypertensive("c01"))
        raised = await station.wait_for(
            lambda: transitions(station, "c01", kind="sbp_high", state="active"),
            what="sbp_high",
        )
        alarm = raised[0]["alarm"]
        await _rogue_attempts(clinic, alarm)

        async with watching(clinic, "monitor-c01") as monitor:  # c01's own monitor, after them
            await monitor.publish(
                topic("c01", "vitals"), {"ts": T0 + 60, "seq": 99, "spo2": 97, "hr": 75}
            )
        await reached(service, '"seq": 99')
        await asyncio.sleep(0.3)  # what the service publishes about it reaches the station

    journal = "\n".join(received(service))
    for mark in ("rogue", '"seq": 666', "discharge"):
        assert mark not in journal, f"the service received a rogue message ({mark})"
    assert [m.topic for m in service.recorder.messages() if "c01" not in m.topic] == []
    board = service.clinic.chair("c01").state.board.alarms
    assert board[AlarmKind.SBP_HIGH].state == "active"  # neither acknowledged nor latched
    assert transitions(station, "c01", kind="sbp_high")[-1]["state"] == "active"
    assert [r for r in station.seen if "c09" in r.topic or "rogue" in json.dumps(r.payload)] == []
    assert "c09" not in hub.chairs
    assert hub.chairs["c01"].state is not None
    assert hub.chairs["c01"].state["phase"] == "infusing"


async def _rogue_attempts(clinic: ClinicBroker, alarm: str) -> None:
    """Everything a device might try beyond its own topics (each publish is acknowledged by
    the broker, then dropped)."""
    good = {"seq": 666, "hr": 70, "spo2": 99, "nibp": {"sys": 118, "dia": 76}}
    attempts: dict[str, list[tuple[str, dict[str, Any], bool]]] = {
        "monitor-c02": [
            *((topic("c01", "vitals"), {"ts": T0 + 10 + i, **good}, False) for i in range(3)),
            (topic("c01", "device"), {"ts": T0 + 11, "state": "offline", "device": "rogue"}, True),
            (topic("c01", "command"), {"ts": T0 + 12, "command": "acknowledge", "alarm": alarm,
                                       "by": "rogue"}, False),
            (topic("c01", "session"), {"ts": T0 + 13, "command": "discharge", "by": "rogue",
                                       "override": True}, False),
            (topic("c01", "infusion"), {"ts": T0 + 14, "event": "stop", "by": "rogue"}, False),
            (topic("c09", "state"), {"chair": "c09", "phase": "infusing", "by": "rogue"}, True),
            (topic("c01", "alarm"), {"alarm": alarm, "state": "cleared", "by": "rogue"}, False),
        ],
        "monitor-c01": [  # its own chair, but not its commands
            (topic("c01", "command"), {"ts": T0 + 15, "command": "acknowledge", "alarm": alarm,
                                       "by": "rogue"}, False),
            (topic("c01", "session"), {"ts": T0 + 16, "command": "discharge", "by": "rogue"},
             False),
        ],
        "pump-c01": [  # its own chair's infusion only
            (topic("c01", "vitals"), {"ts": T0 + 17, **good}, False),
            (topic("c02", "infusion"), {"ts": T0 + 18, "event": "start", "by": "rogue"}, False),
        ],
        "pager-p01": [(f"{ROOT}/{SITE}/pager/p02/reply", {"page": "rogue", "reply": "accept"},
                       False)],
    }  # fmt: skip
    for user, messages in attempts.items():
        async with watching(clinic, user) as rogue:
            for name, payload, retain in messages:
                await rogue.publish(name, payload, retain=retain)


async def test_no_one_without_the_password_or_the_ca_gets_on(clinic: ClinicBroker) -> None:
    port, monitor = clinic.port, clinic.passwords["monitor-c01"]
    denied: dict[str, Callable[[], aiomqtt.Client]] = {
        "anonymous": lambda: aiomqtt.Client(
            "127.0.0.1", port, tls_params=aiomqtt.TLSParameters(ca_certs=str(clinic.ca))
        ),
        "a wrong password": lambda: broker_client(
            parse_broker_url(clinic.url("monitor-c01", password="guess"))
        ),
        "plain TCP": lambda: broker_client(
            parse_broker_url(f"mqtt://monitor-c01:{monitor}@127.0.0.1:{port}"), timeout=2
        ),
        "a broker it cannot verify": lambda: broker_client(
            parse_broker_url(clinic.url("monitor-c01").partition("?")[0])
        ),
    }
    for why, make in denied.items():
        assert await _refused(make), f"connected with {why}"


async def _refused(make: Callable[[], aiomqtt.Client]) -> bool:
    """True when the client cannot connect. paho leaves the socket of a failed TLS handshake to
    the garbage collector: it is collected here, and its ResourceWarning is not this test's."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        try:
            async with asyncio.timeout(15):
                async with make():
                    return False
        except aiomqtt.MqttError:
            pass
        await asyncio.sleep(0.05)  # the event loop lets go of the connect's result
        gc.collect()
    return True


# The simulators' command lines ---------------------------------------------------------------


async def test_the_simulated_clinic_command_line_connects_as_station_and_monitors(
    start_service: StartService, clinic: ClinicBroker
) -> None:
    service = await start_clinic(start_service, clinic)
    monitors = clinic.url("monitor-c01").replace("monitor-c01", "monitor-{chair}")
    argv = ["--broker", clinic.url("station"), "--monitors", monitors, "--site", SITE,
            "--chairs", "1", "--minutes", "3", "--stagger", "0", "--speed", "0"]  # fmt: skip
    assert await asyncio.to_thread(simulator, argv) == 0

    await until(
        lambda: _accepted(service, "vitals") and _accepted(service, "session"),
        within_s=10, what="the simulated clinic's readings and admission",
    )  # fmt: skip
    assert {m.chair for m in service.recorder.messages()} == {"c01"}


async def test_a_recording_plays_as_its_chairs_monitor_through_tls(
    start_service: StartService, clinic: ClinicBroker, tmp_path: Path
) -> None:
    service = await start_clinic(start_service, clinic)
    record = tmp_path / "numerics.csv"
    await asyncio.to_thread(record.write_text, "minute,HR,SpO2\n0,72,97\n1,74,96\n2,75,96\n")
    argv = ["play", str(record), "--chair", "c01", "--speed", "0", "--site", SITE,
            "--broker", clinic.url("monitor-c01")]  # fmt: skip
    assert await asyncio.to_thread(simulator, argv) == 0

    readings = await until(
        lambda: len(_accepted(service, "vitals")) == 3 and _accepted(service, "vitals"),
        within_s=10, what="the recording's three readings",
    )  # fmt: skip
    assert [json.loads(m.payload)["hr"] for m in readings] == [72, 74, 75]


def _accepted(service: Service, kind: str) -> list[MessageEntry]:
    return [m for m in service.recorder.messages(outcome="accepted") if m.kind == kind]

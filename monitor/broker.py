"""A broker of our own for the demo and the tests: Mosquitto when its binary is there, otherwise
an embedded Python broker (amqtt). Both listen on 127.0.0.1 only.

The Mosquitto configuration is the one we ship and test with. Its queue limits are deliberate:
Mosquitto's default `max_queued_messages 1000` silently discards QoS 1 messages for a subscriber
that falls behind a burst. A test may give Mosquitto a configuration of its own (`config`: the
clinic's, from docs/mosquitto/, with TLS, passwords and the ACL), the same limits in it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import shutil
import signal
import socket
import tempfile
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger(__name__)
PR_SET_PDEATHSIG = 1

MOSQUITTO_CONF = """\
listener {port} 127.0.0.1
allow_anonymous true
persistence false
max_queued_messages 100000
max_queued_bytes 0
max_inflight_messages 100
max_packet_size 1048576
set_tcp_nodelay true
log_dest stderr
log_type error
log_type warning
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def wait_for_port(port: int, within_s: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            if loop.time() > deadline:
                raise TimeoutError(
                    f"nothing listens on 127.0.0.1:{port} after {within_s} s"
                ) from None
            await asyncio.sleep(0.05)
            continue
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return


class Broker(Protocol):
    port: int
    kind: str

    async def start(self) -> None: ...
    async def stop(self) -> None: ...


class Mosquitto:
    """A Mosquitto process on 127.0.0.1:`port`, which can be stopped and started again."""

    kind = "mosquitto"

    def __init__(
        self, port: int | None = None, binary: str | None = None, *, config: str | None = None
    ) -> None:
        """`config`: the whole configuration instead of MOSQUITTO_CONF, `{port}` in it standing
        for the port (its one listener must be on 127.0.0.1:{port})."""
        self.port = port or free_port()
        found = binary or shutil.which("mosquitto") or _sbin("mosquitto")
        if found is None:
            raise FileNotFoundError("mosquitto is not installed (apt-get install -y mosquitto)")
        self.binary = found
        self._dir = tempfile.TemporaryDirectory(prefix="infusion-mosquitto-")
        self.conf = Path(self._dir.name) / "mosquitto.conf"
        self.conf.write_text((config or MOSQUITTO_CONF).replace("{port}", str(self.port)))
        self.log = Path(self._dir.name) / "mosquitto.log"  # what it says on stderr
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self.log.open("ab") as log_file:
            self.process = await asyncio.create_subprocess_exec(
                self.binary, "-c", str(self.conf),
                stdout=asyncio.subprocess.DEVNULL, stderr=log_file,
                start_new_session=True,  # Ctrl-C on the demo must not kill the broker under the service
                preexec_fn=_die_with_parent,  # ... but a killed demo or test must not leave it behind
            )  # fmt: skip
        try:
            await wait_for_port(self.port)
        except TimeoutError:
            said = self.log.read_text(errors="replace").strip()[-2000:]
            raise TimeoutError(f"mosquitto did not start on port {self.port}: {said}") from None

    async def stop(self) -> None:
        if self.process is None or self.process.returncode is not None:
            return
        self.process.terminate()
        try:
            await asyncio.wait_for(self.process.wait(), 5)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()

    def close(self) -> None:
        self._dir.cleanup()


class EmbeddedBroker:
    """amqtt inside this event loop (MQTT 3.1.1 only), for machines without Mosquitto."""

    kind = "amqtt"

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self._broker: Any = None

    async def start(self) -> None:
        from amqtt.broker import Broker as AmqttBroker

        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{self.port}"}},
            # Only what the demo needs: no $SYS topics, no packet logging.
            "plugins": {
                "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}
            },
        }
        logging.getLogger("amqtt").setLevel(logging.ERROR)  # it logs every dropped connection
        self._broker = AmqttBroker(config)
        await self._broker.start()  # listening when it returns (a probe connection would leak)

    async def stop(self) -> None:
        if self._broker is not None:
            await self._broker.shutdown()


def local_broker(port: int | None = None) -> Mosquitto | EmbeddedBroker:
    try:
        return Mosquitto(port)
    except FileNotFoundError:
        log.info("no mosquitto binary: using the embedded Python broker")
        return EmbeddedBroker(port)


def _die_with_parent() -> None:
    """In the broker's process before exec: on Linux, get SIGTERM when the parent dies."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:
        return
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _sbin(name: str) -> str | None:
    path = Path("/usr/sbin") / name
    return str(path) if path.exists() else None

"""The service: the core inside its adapters (broker link, store, HTTP), under one TaskGroup.

`Service(settings)` builds everything and touches nothing; `await service.run()` restores the
chairs from the store, then runs the store writer, the broker link, the clock tick and the HTTP
server as named tasks until `stop()`. On stop it says `offline` on its status topic (a clean
disconnect does not fire the Last Will), writes final snapshots and closes the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import secrets
import socket
import time
from collections.abc import Iterator
from typing import Any

import uvicorn

from dashboard.auth import Accounts, AccountsError, Sessions
from dashboard.hub import Hub
from dashboard.web import Dashboard
from monitor.api import MAX_TICK_LAG_S, create_api
from monitor.domain.clinic import Clinic
from monitor.ingest import Ingest, Result, restore_chair
from monitor.metrics import Metrics
from monitor.mqtt import MqttLink
from monitor.record import session_record
from monitor.settings import Settings, SettingsError
from monitor.store import Store
from monitor.wire.outbound import Outgoing
from monitor.wire.topics import subscriptions

log = logging.getLogger(__name__)


class ServiceError(OSError):
    """The service cannot start; the message says what to fix."""


class Service:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.site = settings.site
        self.metrics = Metrics()
        self.clinic = Clinic(limits=settings.clinic_limits(), chairs=settings.chairs)
        self.store = Store(settings.sqlite_path())
        self.ingest = Ingest(
            self.clinic,
            site=settings.site,
            root=settings.root,
            metrics=self.metrics,
            heartbeat_s=settings.heartbeat_s,
            snapshot_s=settings.snapshot_s,
        )
        client_id = settings.client_id or f"infusion-monitor-{settings.site}-{secrets.token_hex(3)}"
        self.link = MqttLink(
            settings.broker_address(),
            client_id=client_id,
            subscriptions=subscriptions(settings.root, settings.site),
            will=self.ingest.status(False, None),
            on_message=self._on_message,
            on_connect=self._on_connect,
            metrics=self.metrics,
        )
        self.dashboard = _dashboard(settings) if settings.dashboard else None
        if self.dashboard is not None:  # in this process the session view can read the store
            self.dashboard.archive = functools.partial(session_record, self.store)
        self.last_tick: float | None = None
        self._status_at = 0.0
        self.http: uvicorn.Server | None = None
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        """Run until `stop()`. Raise ServiceError before anything starts when the HTTP address
        cannot be had (better a clear exit than a service nobody can check on)."""
        listener = self._listen()
        self._restore()
        try:
            async with asyncio.TaskGroup() as tasks:
                running = [
                    tasks.create_task(self.store.run(), name="store-writer"),
                    tasks.create_task(self.link.run(), name="mqtt-link"),
                    tasks.create_task(self._tick(), name="clock-tick"),
                ]
                if self.dashboard is not None:
                    running.append(tasks.create_task(self.dashboard.hub.run(), name="dashboard"))
                    hub_beat = self.dashboard.hub.heartbeat()
                    running.append(tasks.create_task(hub_beat, name="dashboard-heartbeat"))
                http = self._http_task(tasks, listener)
                await self._stopping.wait()
                await self._say_offline()
                if self.http is not None and http is not None:
                    self.http.should_exit = True
                    await http
                self.link.closing = True
                if self.dashboard is not None:
                    self.dashboard.hub.close()
                for task in running:
                    task.cancel()
        finally:
            self.store.flush()
            self.store.write_now(self.ingest.final_snapshots(time.time()))
            self.store.close()

    def health(self, wall: float) -> dict[str, Any]:
        lag = None if self.last_tick is None else round(wall - self.last_tick, 3)
        connected = self.link.connected.is_set()
        store_ok = self.store.failed_batches == 0
        return {
            "ready": connected and store_ok and lag is not None and lag < MAX_TICK_LAG_S,
            "site": self.site,
            "broker": {
                "url": self.link.broker.url,
                "connected": connected,
                "connected_since": self.link.connected_since,
                "last_error": self.link.last_error,
                "outbox": self.link.outbox.qsize(),
            },
            "store": {
                "ok": store_ok,
                "queue": self.store.queue.qsize(),
                "written": self.store.written,
                "failed_batches": self.store.failed_batches,
            },
            "tick_lag_s": lag,
            "chairs": sum(1 for _ in self.clinic),
        }

    # Tasks -------------------------------------------------------------------------------

    async def _on_message(self, topic: str, payload: bytes, wall: float) -> None:
        started = time.perf_counter()
        try:
            result = self.ingest.message(topic, payload, wall)
        except Exception:
            # A bug must not stop the monitoring of every other chair: log it, count it, go on.
            log.exception("internal error handling a message on %s", topic)
            self.metrics.messages.labels("unknown", "internal_error").inc()
            return
        await self._deliver(result)
        self.metrics.latency.observe(time.perf_counter() - started)

    def _on_connect(self) -> list[Outgoing]:
        wall = time.time()
        return [self.ingest.status(True, wall), *self.ingest.states(wall)]

    async def _tick(self) -> None:
        while True:
            wall = time.time()
            try:
                await self._deliver(self.ingest.tick(wall))
                if (
                    wall - self._status_at >= self.settings.status_every_s
                    and self.link.connected.is_set()
                ):
                    self._status_at = wall  # alive: dashboards flag a service that stops saying so
                    self.link.publish(self.ingest.status(True, wall))
            except Exception:
                log.exception("internal error in the clock tick")
            self.last_tick = wall
            await asyncio.sleep(self.settings.tick_s)

    async def _deliver(self, result: Result) -> None:
        for message in result.outgoing:
            self.link.publish(message)
        await self.store.submit(result.rows)
        self.metrics.store_depth.set(self.store.queue.qsize())

    async def _say_offline(self) -> None:
        if self.link.connected.is_set():
            self.link.publish(self.ingest.status(False, time.time()))
            await self.link.flush(within_s=2.0)

    def _listen(self) -> socket.socket | None:
        address = self.settings.http_address()
        if address is None:
            return None
        family = socket.AF_INET6 if ":" in address.host else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind((address.host, address.port))
        except OSError as exc:
            listener.close()
            where = f"{address.host}:{address.port}"
            raise ServiceError(f"cannot listen for HTTP on {where}: {exc.strerror}") from exc
        listener.listen(128)
        listener.setblocking(False)
        return listener

    def _http_task(
        self, tasks: asyncio.TaskGroup, listener: socket.socket | None
    ) -> asyncio.Task[None] | None:
        if listener is None:
            return None
        app = create_api(self, self.dashboard)
        # Open websockets (every browser) must not hold a stopping service for ever.
        config = uvicorn.Config(
            app, log_level="warning", lifespan="off", timeout_graceful_shutdown=2
        )
        self.http = _QuietServer(config)
        return tasks.create_task(self.http.serve(sockets=[listener]), name="http")

    def _restore(self) -> None:
        restored = []
        for chair, snapshot in self.store.snapshots(self.site):
            try:
                restore_chair(self.clinic, snapshot)
                restored.append(chair)
            except ValueError:
                log.exception("cannot restore chair %s from its snapshot; it starts empty", chair)
        if restored:
            log.info("restored %d chairs from the store: %s", len(restored), ", ".join(restored))

    @property
    def http_port(self) -> int | None:
        """The port the HTTP server listens on (useful with port 0)."""
        if self.http is None or not self.http.servers:
            return None
        port: int = self.http.servers[0].sockets[0].getsockname()[1]
        return port


def _dashboard(settings: Settings) -> Dashboard | None:
    """The nurses' station in this process: a hub following the broker like any other station."""
    if settings.http_address() is None:
        return None
    try:
        accounts = Accounts(settings.users)
    except AccountsError as exc:
        raise SettingsError(str(exc)) from None
    if not len(accounts):
        log.warning("no dashboard users configured: add [users] to the config file")
    hub = Hub(broker=settings.broker_address(), root=settings.root, site=settings.site)
    return Dashboard(hub=hub, accounts=accounts, sessions=Sessions(), site=settings.site)


class _QuietServer(uvicorn.Server):
    """uvicorn without its own signal handling: the service owns SIGINT and SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

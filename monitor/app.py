"""The service: the core inside its adapters (broker link, record, HTTP), under one TaskGroup.

`Service(settings, station=...)` builds everything and touches nothing; `await service.run()`
restores the chairs from the record, then runs the record writer, the broker link, the clock
tick, the HTTP server and the station (when the composition root plugged one in) as named tasks
until `stop()`. Every message and tick goes through the pure `Intake` (router, `Clinic`,
projector, scribe); this module only moves its results: outgoing to the broker, entries to the
record, numbers to the metrics. On stop it says `offline` on its status topic (a clean
disconnect does not fire the Last Will), writes final snapshots and closes the record.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import socket
import time
from collections.abc import Iterator
from typing import Any, Protocol

import uvicorn
from prometheus_client import CollectorRegistry

from monitor.api import MAX_TICK_LAG_S, WebStation, create_api
from monitor.domain.clinic import Clinic
from monitor.metrics import Metrics, QuietLog
from monitor.mqtt import MqttLink
from monitor.pipeline.intake import Intake, Result
from monitor.pipeline.router import Outcome
from monitor.record import EventEntry, Recorder, SnapshotEntry, Writer, open_recorder
from monitor.settings import Settings
from monitor.wire.outbound import Outgoing
from monitor.wire.snapshot import SnapshotError, dump_chair, load_chair
from monitor.wire.topics import subscriptions

log = logging.getLogger(__name__)


class ServiceError(OSError):
    """The service cannot start; the message says what to fix."""


class Station(WebStation, Protocol):
    """A nurses' station running inside the service (the composition root plugs it in)."""

    async def run(self) -> None:
        """Follow the clinic until cancelled."""
        ...

    def close(self) -> None:
        """Before `run` is cancelled: stop reconnecting."""
        ...


class Service:
    def __init__(self, settings: Settings, *, station: Station | None = None) -> None:
        self.settings = settings
        self.site = settings.site
        self.metrics = Metrics()
        self.quiet = QuietLog(log)
        self.clinic = Clinic(limits=settings.clinic_limits(), chairs=settings.chairs)
        self.recorder: Recorder = open_recorder(settings.db)
        self.writer = Writer(self.recorder)
        self.intake = Intake(
            self.clinic,
            site=settings.site,
            root=settings.root,
            heartbeat_s=settings.heartbeat_s,
            snapshot_s=settings.snapshot_s,
            dump=dump_chair,
        )
        client_id = settings.client_id or f"infusion-monitor-{settings.site}-{secrets.token_hex(3)}"
        self.link = MqttLink(
            settings.broker_address(),
            client_id=client_id,
            subscriptions=subscriptions(settings.root, settings.site),
            will=self.intake.status(False, None),
            on_message=self._on_message,
            on_connect=self._on_connect,
            meter=self.metrics,
        )
        self.station = station if settings.http_address() is not None else None
        self.last_tick: float | None = None
        self._status_at = 0.0
        self.http: uvicorn.Server | None = None
        self._stopping = asyncio.Event()

    @property
    def registry(self) -> CollectorRegistry:
        return self.metrics.registry

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
                    tasks.create_task(self.writer.run(), name="record-writer"),
                    tasks.create_task(self.link.run(), name="mqtt-link"),
                    tasks.create_task(self._tick(), name="clock-tick"),
                ]
                if self.station is not None:
                    running.append(tasks.create_task(self.station.run(), name="station"))
                http = self._http_task(tasks, listener)
                await self._stopping.wait()
                await self._say_offline()
                if self.http is not None and http is not None:
                    self.http.should_exit = True
                    await http
                self.link.closing = True
                if self.station is not None:
                    self.station.close()
                for task in running:
                    task.cancel()
        finally:
            self.writer.flush()
            self.writer.write_now(self.intake.final_snapshots(time.time()))
            self.writer.close()

    def health(self, wall: float) -> dict[str, Any]:
        lag = None if self.last_tick is None else round(wall - self.last_tick, 3)
        connected = self.link.connected.is_set()
        record_ok = not self.writer.retrying and self.writer.lost == 0
        return {
            "ready": connected and record_ok and lag is not None and lag < MAX_TICK_LAG_S,
            "site": self.site,
            "broker": {
                "url": self.link.broker.url,
                "connected": connected,
                "connected_since": self.link.connected_since,
                "last_error": self.link.last_error,
                "outbox": self.link.outbox.qsize(),
            },
            "store": {
                "ok": record_ok,
                "queue": self.writer.queue.qsize(),
                "written": self.writer.written,
                "failed_batches": self.writer.failed_batches,
                "lost": self.writer.lost,
            },
            "tick_lag_s": lag,
            "chairs": sum(1 for _ in self.clinic),
        }

    # Tasks -------------------------------------------------------------------------------

    async def _on_message(self, topic: str, payload: bytes, wall: float, retained: bool) -> None:
        started = time.perf_counter()
        try:
            result = self.intake.message(topic, payload, wall, retained=retained)
        except Exception:
            # A bug must not stop the monitoring of every other chair: log it, count it, go on.
            log.exception("internal error handling a message on %s", topic)
            self.metrics.messages.labels("unknown", Outcome.INTERNAL_ERROR.value).inc()
            return
        kind = result.kind.value if result.kind else "unknown"
        self.metrics.messages.labels(kind, result.outcome.value).inc()
        if result.outcome is not Outcome.ACCEPTED:
            reason = "; ".join(result.reasons)
            self.quiet.warning(wall, topic=topic, category=result.outcome.value, reason=reason)
        await self._deliver(result)
        self.metrics.latency.observe(time.perf_counter() - started)

    def _on_connect(self) -> list[Outgoing]:
        wall = time.time()
        return [self.intake.status(True, wall), *self.intake.states(wall)]

    async def _tick(self) -> None:
        while True:
            wall = time.time()
            try:
                await self._deliver(self.intake.tick(wall))
                if (
                    wall - self._status_at >= self.settings.status_every_s
                    and self.link.connected.is_set()
                ):
                    self._status_at = wall  # alive: dashboards flag a service that stops saying so
                    self.link.publish(self.intake.status(True, wall))
            except Exception:
                log.exception("internal error in the clock tick")
            self.last_tick = wall
            await asyncio.sleep(self.settings.tick_s)

    async def _deliver(self, result: Result) -> None:
        for message in result.outgoing:
            self.link.publish(message)
        self.metrics.count_reports(result.reports)
        await self.writer.submit(result.entries)
        self.metrics.store_depth.set(self.writer.queue.qsize())

    async def _say_offline(self) -> None:
        if self.link.connected.is_set():
            self.link.publish(self.intake.status(False, time.time()))
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
        app = create_api(self, self.station)
        # Open websockets (every browser) must not hold a stopping service for ever.
        config = uvicorn.Config(
            app, log_level="warning", lifespan="off", timeout_graceful_shutdown=2
        )
        self.http = _QuietServer(config)
        return tasks.create_task(self.http.serve(sockets=[listener]), name="http")

    def _restore(self) -> None:
        restored = []
        for snapshot in self.recorder.snapshots(self.site):
            try:
                self.clinic.restore(load_chair(snapshot.state))
                restored.append(snapshot.chair)
            except SnapshotError as exc:
                log.error("cannot restore chair %s from its snapshot (%s); it starts empty, "
                          "the snapshot is kept in the record", snapshot.chair, exc)  # fmt: skip
                self._keep_unreadable(snapshot, str(exc))
            except Exception:  # a bug in restoring one chair must not keep the others down
                log.exception("cannot restore chair %s; it starts empty", snapshot.chair)
                self._keep_unreadable(snapshot, "an internal error while restoring")
        if restored:
            log.info("restored %d chairs from the store: %s", len(restored), ", ".join(restored))

    def _keep_unreadable(self, snapshot: SnapshotEntry, reason: str) -> None:
        """Keep a snapshot that could not be read, before its chair's next one replaces it."""
        data = {"reason": reason, "saved_at": snapshot.saved_at, "snapshot": snapshot.state}
        kept = EventEntry(self.site, snapshot.chair, None, time.time(), "SnapshotUnreadable", data)
        self.writer.write_now([kept])

    @property
    def http_port(self) -> int | None:
        """The port the HTTP server listens on (useful with port 0)."""
        if self.http is None or not self.http.servers:
            return None
        port: int = self.http.servers[0].sockets[0].getsockname()[1]
        return port


class _QuietServer(uvicorn.Server):
    """uvicorn without its own signal handling: the service owns SIGINT and SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

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
import dataclasses
import functools
import logging
import socket
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any, Protocol

import uvicorn
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from monitor.api import MAX_TICK_LAG_S, WebStation, create_api
from monitor.audit.http import install_audit_api
from monitor.domain.clinic import SiteInput
from monitor.metrics import Metrics
from monitor.mqtt import MqttLink
from monitor.paging.desk import PagerDesk
from monitor.paging.dispatch import Attempt, build_routes
from monitor.pipeline.intake import Intake, Result
from monitor.pipeline.router import Outcome
from monitor.quiet import QuietLog
from monitor.record import (
    EventEntry,
    Recorder,
    RecordError,
    SnapshotEntry,
    Writer,
    beside,
    open_recorder,
)
from monitor.record.base import (
    AlarmEntry,
    ChainRow,
    Entry,
    LoginEntry,
    MessageEntry,
    ReadingEntry,
    SessionEntry,
    SessionRecord,
)
from monitor.record.chain import SealLog
from monitor.record.retention import BATCH as RETENTION_BATCH
from monitor.record.spill import Spill
from monitor.record.writer import started
from monitor.settings import Settings
from monitor.wire.outbound import Outgoing, PagingHealthOut, RecordStatusOut, ServiceStatusOut
from monitor.wire.snapshot import SnapshotError, dump_chair, load_chair
from monitor.wire.topics import status_topic, subscriptions

log = logging.getLogger(__name__)

SAY_OFFLINE_S = 2.0  # at a stop: for the broker to take `offline`
RECORD_STOP_S = 4.0  # at a stop: the last attempt to write, then the spill
RETENTION_FIRST_S = 60.0  # the first retention purge after a start (at most)
DAY_S = 86_400.0
QUIET_KINDS = 100  # topics and reasons logged apart in a minute; more share one line
FIRST_CONNECTION_S = 30.0  # paging self-tests wait this long for the broker before they start


RESTART_CALM_S = 60.0  # a task that ran this long before failing starts its pauses again


def restart_pause(failures: int) -> float:
    """Seconds before a failed task starts again: 0.1 s, doubling, at most 5 s."""
    return float(min(5.0, 0.1 * 2 ** (failures - 1)))


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
        self.quiet = QuietLog(log, remembered=QUIET_KINDS)
        self.clinic, self.policy = settings.core()
        paging = settings.paging_setup()  # its delivery, for the desk below
        self.recorder: Recorder = _open_record(settings.db)
        spill, _ = beside(settings.db, settings.site)
        seals = settings.seal_log_path()
        self.writer = Writer(self.recorder, spill=Spill(spill),
                             seals=SealLog(seals) if seals else None)  # fmt: skip
        if isinstance(self.recorder, UnopenedRecorder):
            # Said in the record once it opens; until then its first write fails: record_failing.
            data = {"reason": self.recorder.error}
            self.writer.offer(
                [EventEntry(self.site, "", None, time.time(), "RecordUnopened", data)]
            )
        self.intake = Intake(
            self.clinic,
            site=settings.site,
            root=settings.root,
            heartbeat_s=settings.heartbeat_s,
            snapshot_s=settings.snapshot_s,
            dump=dump_chair,
            paging=self.policy,
        )
        # The same id at every start: the broker keeps this service's session while it is down.
        client_id = settings.client_id or f"infusion-monitor-{settings.site}"
        self.link = MqttLink(
            settings.broker_address(),
            client_id=client_id,
            subscriptions=subscriptions(settings.root, settings.site),
            will=self.intake.status(False, None),
            on_message=self._on_message,
            on_connect=self._on_connect,
            meter=self.metrics,
            ledger=self.writer,
        )
        self.writer.on_kept = self.link.release
        self.desk: PagerDesk | None = None
        if paging is not None:
            routes = build_routes(paging[1], publish=self.link.publish,
                                  connected=self.link.connected.is_set, root=settings.root,
                                  site=settings.site)  # fmt: skip
            self.desk = PagerDesk(paging[1], routes, feed=self._site_input,
                                  record=self._page_attempt)  # fmt: skip
        self.station = station if settings.http_address() is not None else None
        self.last_tick: float | None = None
        self._status_at = 0.0
        self._record_failing = False  # as last published
        self._refused_said = 0  # refused chair names, as last published
        self._paging_said: PagingHealthOut | None = None  # the paging path, as last published
        self._link_task: asyncio.Task[None] | None = None
        self._said_offline = False
        self.http: uvicorn.Server | None = None
        self._stopping = asyncio.Event()

    @property
    def registry(self) -> CollectorRegistry:
        return self.metrics.registry

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        """Run until `stop()`. Raise ServiceError before anything starts when the HTTP address
        cannot be had (better a clear exit than a service nobody can check on). However it
        ends (a stop, or a crash of one of its tasks), it says `offline` while the broker link
        can, and makes a last, bounded attempt to write the record (spilling the rest)."""
        listener = self._listen()
        self._restore()
        # The link runs outside the group of the other tasks, so a crash of one of them still
        # finds it up to say `offline` (cancelling the link disconnects cleanly: no Last Will).
        self._link_task = asyncio.create_task(self.link.run(), name="mqtt-link")
        self._link_task.add_done_callback(self._link_ended)
        try:
            async with asyncio.TaskGroup() as tasks:
                running = [
                    self._kept(tasks, "record-writer", self.writer.run),
                    self._kept(tasks, "clock-tick", self._tick),
                ]
                if self.station is not None:
                    running.append(self._kept(tasks, "station", self.station.run))
                if self.desk is not None:
                    running.append(self._kept(tasks, "paging-self-test", self._self_tests))
                if self.settings.retention_days is not None:
                    running.append(self._kept(tasks, "record-retention", self._retain))
                http = self._http_task(tasks, listener)
                await self._stopping.wait()
                await self._say_offline()
                if self.http is not None and http is not None:
                    self.http.should_exit = True
                    await http
                if self.station is not None:
                    self.station.close()
                for task in running:
                    task.cancel()
        except asyncio.CancelledError:
            raise
        except BaseException:
            log.exception("the service stopped on an error; saying offline, keeping the record")
            raise
        finally:
            await self._wind_down()

    async def _wind_down(self) -> None:
        """Say `offline` if not said yet, close the link, then the last attempt at the record."""
        try:
            await self._say_offline()
        finally:
            self.link.closing = True
            if self._link_task is not None:
                self._link_task.cancel()
                await asyncio.wait({self._link_task}, timeout=1.0)
            if self.desk is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self.desk.close(), 1.0)
            final = self.intake.final_snapshots(time.time())
            await self.writer.stop(final, within_s=RECORD_STOP_S)

    async def _retain(self) -> None:
        """Purge the sessions closed more than `retention_days` ago, and record it
        (`monitor.record.retention`): a batch each `retention_check_s`, or at once again while
        a backlog is being worked off. Off the loop, in the record's writer."""
        days = self.settings.retention_days
        assert days is not None
        by = f"retention policy: sessions closed more than {days:g} day{'' if days == 1 else 's'} ago"
        every = self.settings.retention_check_s
        await asyncio.sleep(min(every, RETENTION_FIRST_S))
        while True:
            now = time.time()
            purge = functools.partial(self.writer.purge_closed, self.site,
                                      before=now - days * DAY_S, by=by, now=now)  # fmt: skip
            purged = await started(purge)
            await asyncio.sleep(1.0 if len(purged) >= RETENTION_BATCH else every)

    def _kept(
        self, tasks: asyncio.TaskGroup, name: str, run: Callable[[], Awaitable[None]]
    ) -> asyncio.Task[None]:
        return tasks.create_task(self._keep(name, run), name=name)

    async def _keep(self, name: str, run: Callable[[], Awaitable[None]]) -> None:
        """Run one of the service's tasks for as long as the service runs: a task that fails
        (a bug, an error nobody foresaw) is logged, counted and started again after a short,
        growing pause, so one part failing never stops the others (the alarm path above all).
        Only the stop ends it: a cancellation, or the task returning once the service stops."""
        failures = 0
        while True:
            started = time.monotonic()
            try:
                await run()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("the %s task failed; starting it again", name)
            else:
                if self._stopping.is_set():
                    return
                log.error("the %s task ended by itself; starting it again", name)
            self.metrics.task_restarts.labels(name).inc()
            failures = 1 if time.monotonic() - started > RESTART_CALM_S else failures + 1
            await asyncio.sleep(restart_pause(failures))
            if self._stopping.is_set():
                return

    def _link_ended(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("the broker link stopped on an error: stopping the service",
                      exc_info=task.exception())  # fmt: skip
            self.stop()

    def health(self, wall: float) -> dict[str, Any]:
        lag = None if self.last_tick is None else round(wall - self.last_tick, 3)
        connected = self.link.connected.is_set()
        record_ok = not self.writer.failing
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
                "failing_since": self.writer.failing_since,
                "last_error": self.writer.last_error,
                "queue": self.writer.queue.qsize(),
                "spilled": len(self.writer.spill),
                "spill_error": self.writer.spill.file_error if len(self.writer.spill) else None,
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
        self._deliver(result)
        self.metrics.latency.observe(time.perf_counter() - started)

    def _on_connect(self) -> list[Outgoing]:
        wall = time.time()
        return [self._status(wall), *self.intake.states(wall)]

    async def _tick(self) -> None:
        while True:
            wall = time.time()
            try:
                self._deliver(self.intake.tick(wall))
                failing = self.writer.failing
                self.link.release()  # a record that stalls with no message arriving
                due = wall - self._status_at >= self.settings.status_every_s
                refused = len(self.intake.refused_chairs.names)
                changed = (
                    failing != self._record_failing
                    or refused != self._refused_said
                    or self._paging_health() != self._paging_said
                )
                if (due or changed) and self.link.connected.is_set() and not self._said_offline:
                    # alive (dashboards flag a service that stops saying so), and the record's
                    # state as soon as it changes (stations raise record_failing from it)
                    self._status_at = wall
                    self.link.publish(self._status(wall))
            except Exception:
                log.exception("internal error in the clock tick")
            self.last_tick = wall
            await asyncio.sleep(self.settings.tick_s)

    async def _self_tests(self) -> None:
        """The paging routes' self-tests, from the first connection to the broker on (before
        it, the MQTT route cannot work and a failure would say nothing new)."""
        assert self.desk is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.link.connected.wait(), FIRST_CONNECTION_S)
        await self.desk.run()

    def _site_input(self, item: SiteInput) -> None:
        """An input of the service's own (what the paging routes did) into the site."""
        try:
            self._deliver(self.intake.site_input(item, time.time()))
        except Exception:
            log.exception("internal error handling %s", type(item).__name__)

    def _page_attempt(self, attempt: Attempt, chair: str | None) -> None:
        """Every delivery attempt of a page, in the record with its outcome."""
        about = self.clinic.chair(chair) if chair is not None and chair in self.clinic else None
        session = about.session_ref if about is not None else None
        data = dataclasses.asdict(attempt)
        entry = EventEntry(self.site, chair or "", session, attempt.ts, "PageAttempt", data)
        self.writer.offer([entry])
        if not attempt.ok:
            log.warning("page %s to %s by %s: attempt %d failed: %s", attempt.page, attempt.pager,
                        attempt.route, attempt.attempt_no, attempt.detail)  # fmt: skip

    def _deliver(self, result: Result) -> None:
        """Alarms and states out first, then pages, then the entries to the record, which
        never waits."""
        for message in result.outgoing:
            self.link.publish(message)
        if self.desk is not None:
            self.desk.send(result.reports)
        self.metrics.count_reports(result.reports)
        self.writer.offer(result.entries)
        self.metrics.store_depth.set(self.writer.backlog)

    def _status(self, wall: float) -> Outgoing:
        """The retained `online` status, with the record's state (v1.2) and the chairs refused
        (v1.3)."""
        failing = self.writer.failing
        if failing != self._record_failing:
            self._record_failing = failing
            if failing:
                log.error("RECORD FAILING: stations raise record_failing; monitoring goes on")
            else:
                log.warning("record writing again: record_failing cleared")
        record = RecordStatusOut(
            state="failing" if failing else "ok",
            since=self.writer.failing_since if failing else None,
            reason=self.writer.failing_reason if failing else None,
            backlog=self.writer.backlog,
            lost=self.writer.lost,
        )
        refused = self.intake.refused_chairs
        self._refused_said = len(refused.names)
        self._paging_said = self._paging_health()
        payload = ServiceStatusOut(
            ts=wall, state="online", site=self.site, record=record, refused_chairs=refused.latest,
            paging=self._paging_said,
        )  # fmt: skip
        topic = status_topic(self.settings.root, self.site)
        return Outgoing(topic, payload.to_json(), retain=True)

    def _paging_health(self) -> PagingHealthOut | None:
        """The paging path as the policy knows it (`paging_failed` while a route fails)."""
        if self.policy is None:
            return None
        state = self.policy.state
        if state.paging_failed is None:
            return PagingHealthOut(state="ok")
        routes = dict(state.failing_routes)
        reason = "; ".join(f"{route}: {why}" for route, why in sorted(routes.items()))
        return PagingHealthOut(state="failing", since=state.paging_failed_at,
                               reason=reason or None, routes=routes)  # fmt: skip

    async def _say_offline(self) -> None:
        """`offline` on the status topic while the link can still send it (a clean disconnect
        does not fire the Last Will); never more than SAY_OFFLINE_S."""
        link_task = self._link_task
        if self._said_offline or link_task is None or link_task.done():
            return
        self._said_offline = True
        if self.link.connected.is_set():
            self.link.publish(self.intake.status(False, time.time()))
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.link.flush(within_s=SAY_OFFLINE_S), SAY_OFFLINE_S)

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

    def api(self) -> FastAPI:
        """The HTTP API: health and metrics; with the station, its pages, the chairs and the
        auditor's records behind its login."""
        audit = functools.partial(install_audit_api, recorder=self.recorder,
                                  settings=self.settings, limits=self.clinic.limits)  # fmt: skip
        return create_api(self, self.station, routes=[audit])

    def _http_task(
        self, tasks: asyncio.TaskGroup, listener: socket.socket | None
    ) -> asyncio.Task[None] | None:
        if listener is None:
            return None
        app = self.api()

        async def serve() -> None:
            # Open websockets (every browser) must not hold a stopping service for ever.
            config = uvicorn.Config(
                app, log_level="warning", lifespan="off", timeout_graceful_shutdown=2
            )
            self.http = _QuietServer(config)
            await self.http.serve(sockets=[listener])

        return self._kept(tasks, "http", serve)

    def _restore(self) -> None:
        restored = []
        try:
            kept = {s.chair: s for s in self.recorder.snapshots(self.site)}
        except RecordError as exc:
            log.error("cannot read the chairs' snapshots (%s): chairs start from the spill's "
                      "or empty", exc)  # fmt: skip
            kept = {}
        # A spill left by a record that was failing holds newer snapshots than the record's.
        kept |= {s.chair: s for s in self.writer.spill.snapshots(self.site)}
        snapshots = [kept[chair] for chair in sorted(kept)]
        for snapshot in snapshots:
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
            self._catch_up({s.chair: s.saved_at for s in snapshots if s.chair in restored})
            if self.policy is not None:
                self._deliver(self.intake.resume(time.time()))

    def _catch_up(self, saved: dict[str, float]) -> None:
        """Run again what each chair took after its snapshot (a chair that only took new
        values is snapshotted within `snapshot_s`, so a crash can leave that much out): the
        core is deterministic, so the chair comes back as it was, the readings it saw included
        (a reading the broker sends again is then refused as seen). What this gives was
        recorded and published the first time: it is set aside. Chairs with no snapshot were
        made after the newest one, and take all of theirs."""
        newest = max(saved.values())
        since = newest - 3 * self.settings.snapshot_s
        taken = 0
        try:
            for message in self.recorder.journal(self.site, since=since):
                if message.outcome not in CHAIR_TOOK or not message.chair:
                    continue
                if message.received_at <= saved.get(message.chair, newest):
                    continue
                self.intake.message(message.topic, message.payload.encode(), message.received_at)
                taken += 1
        except RecordError as exc:
            log.error("cannot read the journal to catch up after the snapshots (%s): chairs "
                      "start from their snapshots", exc)  # fmt: skip
        except Exception:  # the restart must go on whatever one message does
            log.exception("internal error catching up after the snapshots")
        if taken:
            log.info("caught up with %d messages taken after the chairs' snapshots", taken)

    def _keep_unreadable(self, snapshot: SnapshotEntry, reason: str) -> None:
        """Keep a snapshot that could not be read, before its chair's next one replaces it."""
        data = {"reason": reason, "saved_at": snapshot.saved_at, "snapshot": snapshot.state}
        kept = EventEntry(self.site, snapshot.chair, None, time.time(), "SnapshotUnreadable", data)
        self.writer.offer([kept])

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


# The journal's outcomes of messages a chair took (refused ones changed nothing to run again).
CHAIR_TOOK = frozenset({Outcome.ACCEPTED.value, Outcome.REJECTED.value})


def _open_record(url: str) -> Recorder:
    """The record `url` names; when it cannot be opened now (a full disk, a folder it may not
    write), one that keeps trying: a monitor must never be blinded by its record."""
    try:
        return open_recorder(url)
    except RecordError as exc:
        log.error("RECORD FAILING at start: %s; monitoring starts anyway, entries are kept in "
                  "the spill and written when the record opens", exc)  # fmt: skip
        return UnopenedRecorder(url, str(exc))


class UnopenedRecorder:
    """A record that could not be opened yet: each `append` (on the writer's thread) tries to
    open it again and, once open, writes there; reads answer nothing until then."""

    def __init__(self, url: str, error: str) -> None:
        self.url, self.error = url, error
        self.opened: Recorder | None = None

    def append(self, entries: Sequence[Entry]) -> None:
        if self.opened is None:
            try:
                self.opened = open_recorder(self.url)
            except RecordError as exc:
                raise RecordError(f"the record is not open: {exc}") from exc
            log.warning("record %s opened at last", self.url)
        self.opened.append(entries)

    def session(self, session: str) -> SessionRecord:
        if self.opened is not None:
            return self.opened.session(session)
        return SessionRecord(None, [], [])

    def sessions(self, site: str | None = None) -> list[SessionEntry]:
        return self.opened.sessions(site) if self.opened is not None else []

    def snapshots(self, site: str) -> list[SnapshotEntry]:
        return self.opened.snapshots(site) if self.opened is not None else []

    def journal(
        self, site: str | None = None, *, since: float | None = None
    ) -> Iterator[MessageEntry]:
        return self.opened.journal(site, since=since) if self.opened is not None else iter(())

    def messages(
        self, *, chair: str | None = None, outcome: str | None = None
    ) -> list[MessageEntry]:
        if self.opened is None:
            return []
        return self.opened.messages(chair=chair, outcome=outcome)

    def readings(
        self, *, chair: str | None = None, session: str | None = None
    ) -> list[ReadingEntry]:
        if self.opened is None:
            return []
        return self.opened.readings(chair=chair, session=session)

    def alarms(
        self, *, chair: str | None = None, session: str | None = None, kind: str | None = None
    ) -> list[AlarmEntry]:
        if self.opened is None:
            return []
        return self.opened.alarms(chair=chair, session=session, kind=kind)

    def events(self, *, session: str | None = None, type: str | None = None) -> list[EventEntry]:
        return self.opened.events(session=session, type=type) if self.opened is not None else []

    def login(self, token_digest: str, now: float) -> LoginEntry | None:
        return self.opened.login(token_digest, now) if self.opened is not None else None

    def chained(self, chain: str | None = None) -> Iterator[ChainRow]:
        return self.opened.chained(chain) if self.opened is not None else iter(())

    def head(self, chain: str) -> tuple[int, str] | None:
        return self.opened.head(chain) if self.opened is not None else None

    def purge(self, sessions: Sequence[str], record: EventEntry) -> None:
        if self.opened is None:
            raise RecordError(f"the record is not open: {self.error}")
        self.opened.purge(sessions, record)

    def close(self) -> None:
        if self.opened is not None:
            self.opened.close()

"""The record's async side (`Writer`): a bounded queue and a spill, drained in order to a Recorder.

How it works: `offer` never waits (the alarm path must never wait behind storage). Entries go on
the queue while it has room and nothing is spilled; when the queue is full, or the record is
failing, they go to the `Spill` (a bounded JSON Lines file next to the database, then a bounded
memory tail; what fits nowhere is dropped, counted in `lost` and logged as an error). Every queued
entry is older than every spilled one, so `run` keeps the order by writing the queue first, then
the spill, in batches of at most `batch`, each on a thread of its own (a slow or hung disk never
blocks the loop, nor the process's exit). A batch that fails is kept and written again after a
pause (`retry_delays_s`, the last one repeated for as long as it takes): a record that cannot
write is a degraded mode, never a reason to give entries up. `failing` says so (a failed batch,
or one taking longer than `stall_s`), for the station's alarm. An entry no backend can hold (a
bug upstream) is given up at once, and the rest of its batch retried without it. `stop` makes
a last attempt within a deadline and spills what it could not write.

Positions: every entry offered has one (`offered` counts them), and `kept` says how many of the
first ones are kept, i.e. would be found again after the process is killed: appended to the
record, or written to the spill file (an OS write, which outlives the process). The entries
waiting in memory for the record (the queue, and the batch being written from it) are always
one run, the oldest not yet kept: every later entry went to the spill. The broker link
acknowledges a message once its entries are kept (see `monitor.mqtt`). While the record is
failing, everything offered counts as kept: the acknowledgements must go on, or the broker
would stop sending and blind the alarm path (safety first, then the record). What waited in
memory then is lost only if the process dies before the record or the spill takes it, and the
station shows the failing record all that time. `on_kept` is called whenever `kept` may have
grown.

Seals: with a `SealLog`, once a batch holding a session's close (`SessionClosed`) is written,
the heads of that session's chain and of its site's chain are sealed: a line in the seal log
outside the database, and a `ChainSealed` event in the site's chain. The site chains are sealed
in the log again at `stop`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from monitor.record.base import (
    AlarmEntry,
    Entry,
    EventEntry,
    MessageEntry,
    Recorder,
    RecordError,
    entry_problem,
)
from monitor.record.chain import CLOSES, SEALED, Seal, SealLog, session_chain
from monitor.record.retention import purge_plan
from monitor.record.spill import SYNC_EVERY_S, Spill
from monitor.wire.payloads import format_event_time

log = logging.getLogger(__name__)

RETRY_DELAYS_S = (0.5, 1.0, 2.0, 4.0, 8.0)  # then every 8 s, for as long as it takes
STALL_S = 2.0  # a write not back within this is a failing record (SQLite waits 5 s on a lock)
T = TypeVar("T")


class Writer:
    """Feeds `recorder` from the event loop.

    Args:
        recorder: where the entries go.
        spill: where entries wait when the queue is full or the record fails (memory only
            when not given).
        queue_size: entries that may wait in memory before they spill.
        batch: entries per `append`, at most.
        retry_delays_s: the pause before each retry of a failed batch; the last repeats.
        stall_s: a write running longer than this makes the record `failing`.
        sleep: how to pause (a test passes one that does not).
        seals: the seal log, for sealing chains (none: not sealed).

    Attributes:
        queue: the entries waiting in memory.
        written: entries appended.
        failed_batches: appends that failed (each failed retry counts).
        lost: entries given up (no backend can hold them, or they fitted nowhere).
        last_error: why the last append failed.
    """

    def __init__(
        self,
        recorder: Recorder,
        *,
        spill: Spill | None = None,
        queue_size: int = 20_000,
        batch: int = 500,
        retry_delays_s: Sequence[float] = RETRY_DELAYS_S,
        stall_s: float = STALL_S,
        sleep: Callable[[float], Any] = asyncio.sleep,
        seals: SealLog | None = None,
    ) -> None:
        if batch < 1:
            raise ValueError(f"batch must be at least 1, not {batch}")
        if not retry_delays_s:
            raise ValueError("retry_delays_s needs at least one pause")
        self.recorder = recorder
        self.spill = spill if spill is not None else Spill(None)
        self.queue: asyncio.Queue[Entry] = asyncio.Queue(maxsize=queue_size)
        self.batch = batch
        self.retry_delays_s = tuple(retry_delays_s)
        self.stall_s = stall_s
        self.written = 0
        self.failed_batches = 0
        self.lost = 0
        self.last_error: str | None = None
        self.failing_since: float | None = None  # wall time of the first failure of this spell
        self._sleep = sleep
        self._wake = asyncio.Event()
        self._lock = threading.Lock()  # one append at a time, whatever thread
        self._pending: list[Entry] = []  # the batch being written, or waiting for its retry
        self._token: int | None = None  # the spill's token for the pending batch, if from there
        self._failures = 0  # of the pending batch
        self._writing_since: float | None = None  # monotonic
        self._inflight: asyncio.Future[bool] | None = None
        self._dropped_logged = 0
        self.offered = 0
        self._queued_end = 0  # the position after the newest entry put on the queue
        self._kept = 0
        self.on_kept: Callable[[], None] = lambda: None
        self.seals = seals
        self.seal_failures = 0
        self._sealed: list[Entry] = []  # ChainSealed events to offer once their batch is back
        self._sites: set[str] = set()  # the sites whose chains this writer extended

    # Taking entries ------------------------------------------------------------------------

    def offer(self, entries: Sequence[Entry]) -> None:
        """Keep `entries` for the record, in order, without waiting."""
        if not entries:
            return
        self.offered += len(entries)
        if (
            len(self.spill)
            or self.failing
            or self.queue.maxsize - self.queue.qsize() < len(entries)
        ):
            self._to_spill(entries)
            self.on_kept()
        else:
            for entry in entries:
                self.queue.put_nowait(entry)
            self._queued_end = self.offered
        self._wake.set()

    @property
    def kept(self) -> int:
        """How many of the entries offered first are kept (see the module's docstring): those
        before the run waiting in memory, or all while the record is failing."""
        waiting = self.queue.qsize() + (len(self._pending) if self._token is None else 0)
        if waiting and not self.failing:
            self._kept = max(self._kept, self._queued_end - waiting)
        else:
            self._kept = self.offered
        return self._kept

    async def submit(self, entries: Iterable[Entry]) -> None:
        """`offer`, for callers that await (it never waits)."""
        self.offer(list(entries))

    @property
    def failing(self) -> bool:
        """Whether the record is failing now: a batch failed and waits for its retry, or a write
        has been running for longer than `stall_s` (a locked database waits before it fails)."""
        if self._failures > 0:
            return True
        started = self._writing_since
        return started is not None and time.monotonic() - started > self.stall_s

    @property
    def failing_reason(self) -> str | None:
        """Why the record is failing now (None when it is not)."""
        if self._failures > 0:
            return self.last_error or "a write failed"
        started = self._writing_since
        if started is not None and time.monotonic() - started > self.stall_s:
            waited = time.monotonic() - started
            return f"a write has not come back for {waited:.0f} s (the database may be locked)"
        return None

    @property
    def retrying(self) -> bool:
        return self._failures > 0

    @property
    def backlog(self) -> int:
        """Entries not yet in the record: the batch being written, the queue, the spill."""
        return len(self._pending) + self.queue.qsize() + len(self.spill)

    # Writing -------------------------------------------------------------------------------

    async def run(self) -> None:
        """Write what is kept, in order, until cancelled (then see `stop`)."""
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self._sync_spill(), name="record-spill-sync")
            while True:
                if not self._pending:
                    self._take()
                if not self._pending:
                    self._wake.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), 0.2)
                    continue
                await self._write_pending()

    def _take(self) -> None:
        entries: list[Entry] = []
        while len(entries) < self.batch and not self.queue.empty():
            entries.append(self.queue.get_nowait())
        if entries:
            self._pending, self._token = entries, None
        elif len(self.spill):
            self._pending, self._token = self.spill.peek(self.batch)
            self._note_dropped()

    async def _write_pending(self) -> None:
        if not await self._attempt():
            await self._failed()

    async def _attempt(self) -> bool:
        """Write the pending batch once; True when written. A write cancelled here goes on in
        its thread (`stop` waits for it rather than start a second)."""
        if self._inflight is None:
            self._writing_since = time.monotonic()
            self._inflight = started(self._append, self._pending)
        written = await asyncio.shield(self._inflight)
        self._inflight, self._writing_since = None, None
        if written:
            self._done()
        return written

    async def _failed(self) -> None:
        self._failures += 1
        self.on_kept()  # failing: what waits counts as kept
        if self.failing_since is None:
            self.failing_since = time.time()
            log.error("record: FAILING (%s); entries go to the spill until it writes again",
                      self.last_error)  # fmt: skip
        if self._drop_refused():
            return
        delay = self.retry_delays_s[min(self._failures, len(self.retry_delays_s)) - 1]
        await self._sleep(delay)

    def _done(self) -> None:
        if self._token is not None:
            self.spill.commit(self._token)
        self._pending, self._token, self._failures = [], None, 0
        if self._sealed:
            sealed, self._sealed = self._sealed, []
            self.offer(sealed)
        self.on_kept()
        if self.failing_since is not None:
            log.warning("record: writing again after %.0f s; %d entries still to write from "
                        "the spill", time.time() - self.failing_since, len(self.spill))  # fmt: skip
            self.failing_since = None

    def _drop_refused(self) -> bool:
        """Give up the entries of the pending batch no backend can hold; True if there were."""
        refused = [e for e in self._pending if entry_problem(e)]
        if not refused:
            return False
        for entry in refused:
            log.error("record: an entry no backend can hold: %s", entry_problem(entry))
        self._give_up(refused, why="no backend can hold them")
        kept = [e for e in self._pending if not entry_problem(e)]
        if self._token is not None:
            self.spill.commit(self._token)  # the rest is written first, from memory
            self._token = None
        self._pending, self._failures = kept, 0  # the rest has not failed on its own
        return True

    async def _sync_spill(self) -> None:
        while True:
            await asyncio.sleep(SYNC_EVERY_S)
            if self.spill.unsynced:
                await in_thread(self.spill.sync)

    # Stopping ------------------------------------------------------------------------------

    async def stop(self, final: Sequence[Entry] = (), *, within_s: float = 4.0) -> None:
        """After `run` is cancelled: write what is kept (and `final`), for at most `within_s`,
        then spill what is left and close. Never takes longer, whatever the disk does."""
        self.offer(list(final))
        deadline = time.monotonic() + within_s
        while (self._inflight is not None or not self.failing) and self.backlog:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            if not self._pending:
                self._take()
            try:
                await asyncio.wait_for(self._write_once(), remaining)
            except TimeoutError:
                break
        try:
            self._spill_pending()
            self.spill.close()
        except Exception:  # a stop must end, whatever the spill's disk does
            log.exception("record: the spill could not be closed cleanly")
        if not self.backlog:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(
                    in_thread(self.seal_sites), max(0.1, deadline - time.monotonic())
                )
        left = self.backlog
        if left:
            log.warning("record: stopping with %d entries in the spill %s; the next start "
                        "writes them", len(self.spill), self.spill.path or "(memory: LOST)")  # fmt: skip
        with contextlib.suppress(Exception):
            await asyncio.wait_for(
                in_thread(self.recorder.close), max(0.1, deadline - time.monotonic())
            )

    async def _write_once(self) -> None:
        if not await self._attempt():
            self._failures += 1

    def _spill_pending(self) -> None:
        """What is in memory (the batch being written, the queue) goes to the spill, before
        what is already there (it is older)."""
        memory = list(self._pending) if self._token is None else []
        self._pending, self._token = [], None
        while not self.queue.empty():
            memory.append(self.queue.get_nowait())
        if not memory:
            return
        dropped = self.spill.put_first(memory)  # older than what spilled: before it
        if dropped:
            self._dropped_logged += dropped
            self._give_up(memory[len(memory) - dropped :], why="the spill is full")

    # Pieces --------------------------------------------------------------------------------

    def write_now(self, entries: Sequence[Entry]) -> None:
        """Write `entries` now, on this thread, past the queue; spilled when that fails."""
        if entries and not self._append(entries):
            self._to_spill(entries)
        elif self._sealed:
            sealed, self._sealed = self._sealed, []
            self.write_now(sealed)

    def purge_closed(self, site: str, *, before: float, by: str, now: float) -> list[str]:
        """Purge a batch of `site`'s sessions closed before `before`, and record the purge
        (`monitor.record.retention`); the ids purged, none when there were none or the record
        cannot purge now (logged; the next purge tries again). Blocking: call it from a worker
        thread. It holds the writer's lock, so it runs between two batches."""
        with self._lock:
            try:
                plan = purge_plan(self.recorder, site, before=before, by=by, now=now)
                if plan is None:
                    return []
                self.recorder.purge(plan.sessions, plan.record)
            except RecordError as exc:
                log.error("record: the retention purge failed, to be tried again: %s", exc)
                return []
        log.info("record: purged %d sessions closed before %s (%s)", len(plan.sessions),
                 format_event_time(before), by)  # fmt: skip
        return plan.sessions

    def flush(self) -> None:
        """Write a pending batch, then what is queued, on this thread (tests)."""
        pending = self._pending if self._token is None else []
        self._pending, self._token, self._failures = [], None, 0
        queued = []
        while not self.queue.empty():
            queued.append(self.queue.get_nowait())
        self.write_now(pending)
        self.write_now(queued)

    def close(self) -> None:
        """Flush, then close the spill and the recorder (tests)."""
        self.flush()
        self.spill.close()
        self.recorder.close()

    def _to_spill(self, entries: Sequence[Entry]) -> None:
        dropped = self.spill.put(entries)
        if dropped:
            self._dropped_logged += dropped
            self._give_up(entries[len(entries) - dropped :], why="the spill is full")

    def _note_dropped(self) -> None:
        """Count what the spill could not keep or read back (its lines torn by a crash)."""
        unreadable = self.spill.dropped - self._dropped_logged
        if unreadable > 0:
            self._dropped_logged = self.spill.dropped
            self.lost += unreadable
            log.error("record: LOST %d entries the spill could not keep", unreadable)

    def _append(self, entries: Sequence[Entry]) -> bool:
        with self._lock:
            try:
                self.recorder.append(entries)
            except RecordError as exc:
                self.failed_batches += 1
                self.last_error = str(exc)
                log.warning("record: a batch of %d entries was not written: %s", len(entries), exc)
                return False
            self.written += len(entries)
            self.last_error = None
            if self.seals is not None:
                self._seal(entries)
            return True

    def _seal(self, entries: Sequence[Entry]) -> None:
        """Seal the chains of the sessions closed in `entries` (just written), and their sites'."""
        for entry in entries:
            if isinstance(entry, MessageEntry) and entry.site:
                self._sites.add(entry.site)
            if isinstance(entry, EventEntry) and entry.type == CLOSES and entry.session:
                for chain in (session_chain(entry.session), f"site:{entry.site}"):
                    seal = self._seal_chain(chain)
                    if seal is not None:
                        data = {"chain": seal.chain, "seq": seal.seq, "hash": seal.hash}
                        self._sealed.append(EventEntry(entry.site, entry.chair, None,
                                                       seal.sealed_at, SEALED, data))  # fmt: skip

    def _seal_chain(self, chain: str) -> Seal | None:
        """Seal `chain`'s head in the seal log; None when it has none or cannot be read."""
        assert self.seals is not None
        try:
            head = self.recorder.head(chain)
            if head is None:
                return None
            seal = Seal(chain, head[0], head[1], time.time())
            self.seals.append(seal)
        except RecordError as exc:
            self.seal_failures += 1
            log.error("record: %s not sealed: %s", chain, exc)
            return None
        return seal

    def seal_sites(self) -> None:
        """Seal the head of every site chain this writer extended (at a stop)."""
        if self.seals is not None:
            for site in sorted(self._sites):
                self._seal_chain(f"site:{site}")

    def _give_up(self, entries: Sequence[Entry], *, why: str) -> None:
        self.lost += len(entries)
        log.error("record: LOST %d entries (%s): %s", len(entries), why, describe(entries))


async def in_thread(function: Callable[..., T], *args: Any) -> T:
    """`function(*args)` on a daemon thread of its own (see `started`)."""
    return await asyncio.shield(started(function, *args))


def started(function: Callable[..., T], *args: Any) -> asyncio.Future[T]:
    """`function(*args)` started on a daemon thread of its own: unlike `asyncio.to_thread`, a
    call stuck in a dead disk never holds the process's exit."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(error: BaseException | None, result: T | None = None) -> None:
        def done() -> None:
            if future.done():
                return
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)  # type: ignore[arg-type]

        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(done)

    def work() -> None:
        try:
            result = function(*args)
        except BaseException as exc:  # handed to the awaiting task
            settle(exc)
        else:
            settle(None, result)

    threading.Thread(target=work, name="record-write", daemon=True).start()
    return future


def describe(entries: Sequence[Entry]) -> str:
    """What entries held, for the log of their loss: kinds, chairs, alarms, span of time."""
    kinds = Counter(type(e).__name__ for e in entries)
    held = ", ".join(f"{n} {kind}" for kind, n in kinds.most_common())
    places = {(getattr(e, "site", None), getattr(e, "chair", None)) for e in entries}
    chairs = sorted(f"{site}/{chair}" for site, chair in places if chair)
    alarms = [f"{e.alarm} {e.kind} {e.state}" for e in entries if isinstance(e, AlarmEntry)]
    times = [t for e in entries if isinstance(t := _time(e), float)]
    text = f"{held}; chairs {', '.join(chairs) or 'none'}"
    if alarms:
        text += f"; alarm transitions {', '.join(alarms)}"
    if times:
        text += f"; times {min(times):.3f} to {max(times):.3f}"
    return text


def _time(entry: Entry) -> object:
    for name in ("ts", "received_at", "saved_at", "admitted_at"):
        if hasattr(entry, name):
            return getattr(entry, name)
    return None

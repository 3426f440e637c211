"""The record's async side (`Writer`): one bounded queue, drained in batches to any Recorder.

How it works: `submit` puts entries on the queue and waits while it is full, which slows intake
on purpose rather than lose the record. `run` takes up to `batch` entries at a time and appends
them on a worker thread, so a slow disk never blocks the loop. A batch that fails is kept and
written again after a pause (`retry_delays_s`) while the queue fills behind it; only when the
last retry fails is it given up: logged as an error saying what it held, and counted in `lost`.
An entry no backend can hold (a bug upstream) is given up at once, and the rest of its batch
retried without it. On cancellation `run` lets the batch being written finish, then writes what
is left.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence

from monitor.record.base import AlarmEntry, Entry, Recorder, RecordError, entry_problem

log = logging.getLogger(__name__)

RETRY_DELAYS_S = (0.5, 1.0, 2.0, 4.0, 8.0)  # about 15 s of a record that cannot be written


class Writer:
    """Feeds `recorder` from the event loop.

    Args:
        recorder: where the entries go.
        queue_size: entries that may wait; `submit` waits beyond that.
        batch: entries per `append`, at most.
        retry_delays_s: the pause before each retry of a failed batch, one retry per pause.
        sleep: how to pause (a test passes one that does not).

    Attributes:
        queue: the entries waiting (its size is the record's backlog).
        written: entries appended.
        failed_batches: appends that failed (each failed retry counts).
        lost: entries given up, each batch of them logged as an error.
        retrying: a batch has failed and waits to be written again.
    """

    def __init__(
        self,
        recorder: Recorder,
        *,
        queue_size: int = 20_000,
        batch: int = 500,
        retry_delays_s: Sequence[float] = RETRY_DELAYS_S,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if batch < 1:
            raise ValueError(f"batch must be at least 1, not {batch}")
        self.recorder = recorder
        self.queue: asyncio.Queue[Entry] = asyncio.Queue(maxsize=queue_size)
        self.batch = batch
        self.retry_delays_s = tuple(retry_delays_s)
        self.written = 0
        self.failed_batches = 0
        self.lost = 0
        self._sleep = sleep
        self._lock = threading.Lock()  # the worker thread and a flush take turns
        self._pending: list[Entry] = []  # the batch being written, or waiting for its retry
        self._failures = 0  # of the pending batch

    @property
    def retrying(self) -> bool:
        """Whether a batch has failed and waits to be written again (the record is failing now,
        where `failed_batches` counts failures ever)."""
        return self._failures > 0

    async def submit(self, entries: Iterable[Entry]) -> None:
        """Queue `entries`, waiting while the queue is full."""
        for entry in entries:
            await self.queue.put(entry)

    async def run(self) -> None:
        """Write queued entries until cancelled, then what is left."""
        try:
            while True:
                if not self._pending:
                    self._pending = await self._next_batch()
                await self._write_pending()
        finally:
            self.flush()

    async def _next_batch(self) -> list[Entry]:
        entries = [await self.queue.get()]
        while len(entries) < self.batch and not self.queue.empty():
            entries.append(self.queue.get_nowait())
        return entries

    async def _write_pending(self) -> None:
        writing = asyncio.ensure_future(asyncio.to_thread(self._append, self._pending))
        try:
            written = await asyncio.shield(writing)
        except asyncio.CancelledError:
            await asyncio.wait({writing})  # never two writers at once; flush writes the rest
            if writing.result():
                self._pending = []
            raise
        if written:
            self._pending, self._failures = [], 0
            return
        self._failures += 1
        if self._drop_refused():
            return
        if self._failures > len(self.retry_delays_s):
            self._give_up(self._pending, attempts=self._failures)
            self._pending, self._failures = [], 0
            return
        await self._sleep(self.retry_delays_s[self._failures - 1])

    def _drop_refused(self) -> bool:
        """Give up the entries of the pending batch no backend can hold; True if there were."""
        refused = [e for e in self._pending if entry_problem(e)]
        if refused:
            for entry in refused:
                log.error("record: an entry no backend can hold: %s", entry_problem(entry))
            self._give_up(refused, attempts=1)
            self._pending = [e for e in self._pending if not entry_problem(e)]
            self._failures = 0  # the rest has not failed on its own
        return bool(refused)

    def flush(self) -> None:
        """Write a batch waiting for its retry, then what is queued now, on this thread (for
        shutdown); what cannot be written is given up."""
        pending, self._pending, self._failures = self._pending, [], 0
        queued = []
        while not self.queue.empty():
            queued.append(self.queue.get_nowait())
        self.write_now(pending)
        self.write_now(queued)

    def write_now(self, entries: Sequence[Entry]) -> None:
        """Write `entries` now, on this thread, past the queue; given up when that fails."""
        if entries and not self._append(entries):
            self._give_up(entries, attempts=1)

    def close(self) -> None:
        """Flush, then close the recorder."""
        self.flush()
        self.recorder.close()

    def _append(self, entries: Sequence[Entry]) -> bool:
        with self._lock:
            try:
                self.recorder.append(entries)
            except RecordError as exc:
                self.failed_batches += 1
                log.warning("record: a batch of %d entries was not written: %s", len(entries), exc)
                return False
            self.written += len(entries)
            return True

    def _give_up(self, entries: Sequence[Entry], *, attempts: int) -> None:
        self.lost += len(entries)
        log.error(
            "record: LOST %d entries, not written after %d attempts: %s",
            len(entries),
            attempts,
            describe(entries),
        )


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

"""The record's writer: back-pressure, batches, a cancellation that writes the rest, and a failing
backend whose batch is retried, then given up loudly and counted. The backends here are fakes
around a MemoryRecorder; no test sleeps (the writer's pauses go to a list)."""

from __future__ import annotations

import asyncio
import logging
import math
import threading
from collections.abc import Sequence
from dataclasses import replace

import pytest
from record_suite import ALARM, MESSAGE, READING, T0, alarm, message

from monitor.record import Entry, MemoryRecorder, RecordError, Writer


class Recording(MemoryRecorder):
    """A MemoryRecorder that keeps the size of every batch it was given."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[int] = []

    def append(self, entries: Sequence[Entry]) -> None:
        self.batches.append(len(entries))
        super().append(entries)


class Failing(Recording):
    """Fails its first `failures` appends, as a full disk would, and then those numbered in
    `later` (counting every append from 1)."""

    def __init__(self, failures: int, later: Sequence[int] = ()) -> None:
        super().__init__()
        self.failing = set(range(1, failures + 1)) | set(later)

    def append(self, entries: Sequence[Entry]) -> None:
        if len(self.batches) + 1 in self.failing:
            self.batches.append(len(entries))
            raise RecordError("cannot write to the record audit.db: database or disk is full")
        super().append(entries)


class Held(Recording):
    """Holds its first append on its thread until `release` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.started = threading.Event()
        self.release = threading.Event()

    def append(self, entries: Sequence[Entry]) -> None:
        if not self.started.is_set():
            self.started.set()
            assert self.release.wait(10), "the test never released the first batch"
        super().append(entries)


class Pauses:
    """The writer's sleep: records each pause and returns at once."""

    def __init__(self) -> None:
        self.taken: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.taken.append(seconds)


class Stalled:
    """The writer's sleep for a pause that outlasts the test: it never returns on its own."""

    def __init__(self) -> None:
        self.pausing = asyncio.Event()

    async def __call__(self, seconds: float) -> None:
        self.pausing.set()
        await asyncio.Event().wait()


def messages(count: int, start: int = 0) -> list[Entry]:
    return [message(n) for n in range(start, start + count)]


def payloads(recorder: MemoryRecorder) -> list[str]:
    return [m.payload for m in recorder.messages()]


async def settle(writer: Writer, count: int) -> None:
    """Let the writer's task run until `count` entries are written or given up."""
    for _ in range(10_000):
        if writer.written + writer.lost >= count:
            return
        await asyncio.sleep(0.001)
    raise AssertionError(f"written {writer.written}, lost {writer.lost}, not {count}")


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


# Back-pressure and batches ------------------------------------------------------------------


async def test_submit_waits_while_the_queue_is_full_and_drops_nothing() -> None:
    recorder = Recording()
    writer = Writer(recorder, queue_size=3)

    submitting = asyncio.create_task(writer.submit(messages(5)))
    for _ in range(20):
        await asyncio.sleep(0)
    assert not submitting.done()
    assert writer.queue.qsize() == 3

    running = asyncio.create_task(writer.run())
    await submitting
    await settle(writer, 5)
    await stop(running)

    assert payloads(recorder) == [f"#{n}" for n in range(5)]


async def test_what_is_queued_goes_in_batches_of_at_most_batch() -> None:
    recorder = Recording()
    writer = Writer(recorder, batch=500)
    await writer.submit(messages(1_201))

    running = asyncio.create_task(writer.run())
    await settle(writer, 1_201)
    await stop(running)

    assert recorder.batches == [500, 500, 201]
    assert writer.written == 1_201
    assert payloads(recorder) == [f"#{n}" for n in range(1_201)]


async def test_an_entry_alone_is_written_without_waiting_for_a_batch() -> None:
    recorder = Recording()
    writer = Writer(recorder)
    running = asyncio.create_task(writer.run())

    await writer.submit([MESSAGE])
    await settle(writer, 1)

    assert recorder.batches == [1]
    await stop(running)


# Cancellation -------------------------------------------------------------------------------


async def test_cancelling_lets_the_batch_finish_then_writes_the_rest() -> None:
    recorder = Held()
    writer = Writer(recorder, batch=10)
    await writer.submit(messages(10))
    running = asyncio.create_task(writer.run())
    assert await asyncio.to_thread(recorder.started.wait, 10)
    await writer.submit(messages(25, start=10))  # queued behind the batch being written

    running.cancel()
    await asyncio.sleep(0)
    assert not running.done()  # still waiting for the batch on its thread
    recorder.release.set()
    with pytest.raises(asyncio.CancelledError):
        await running

    assert payloads(recorder) == [f"#{n}" for n in range(35)]
    assert recorder.batches == [10, 25]  # the rest in one go, at the end
    assert (writer.written, writer.queue.qsize()) == (35, 0)


async def test_cancelling_while_a_batch_waits_for_its_retry_writes_it_first() -> None:
    recorder = Failing(failures=1)
    stalled = Stalled()
    writer = Writer(recorder, batch=4, retry_delays_s=(3600.0,), sleep=stalled)
    await writer.submit(messages(4))
    running = asyncio.create_task(writer.run())
    await stalled.pausing.wait()
    await writer.submit(messages(2, start=4))
    assert writer.retrying

    await stop(running)  # an hour's pause, cut short

    assert payloads(recorder) == [f"#{n}" for n in range(6)]
    assert (writer.failed_batches, writer.lost, writer.retrying) == (1, 0, False)


# A failing backend --------------------------------------------------------------------------


async def test_a_failed_batch_is_retried_after_growing_pauses_and_kept() -> None:
    recorder = Failing(failures=3, later=(5, 6))
    pauses = Pauses()
    writer = Writer(recorder, batch=5, retry_delays_s=(0.5, 1.0, 2.0, 4.0), sleep=pauses)
    await writer.submit(messages(5))

    running = asyncio.create_task(writer.run())
    await settle(writer, 5)
    await writer.submit(messages(3, start=5))  # fails twice too: its pauses start again
    await settle(writer, 8)
    await stop(running)

    assert not writer.retrying
    assert pauses.taken == [0.5, 1.0, 2.0, 0.5, 1.0]
    assert recorder.batches == [5, 5, 5, 5, 3, 3, 3]  # the same batch, until it went in
    assert (writer.failed_batches, writer.written, writer.lost) == (5, 8, 0)
    assert payloads(recorder) == [f"#{n}" for n in range(8)]


async def test_a_batch_that_never_goes_in_is_lost_loudly_and_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    recorder = Failing(failures=3)
    pauses = Pauses()
    writer = Writer(recorder, batch=4, retry_delays_s=(0.5, 1.0), sleep=pauses)
    lost = [message(1), alarm(7, state="latched"), replace(READING, chair="c09")]
    await writer.submit(lost)

    with caplog.at_level(logging.WARNING, logger="monitor.record.writer"):
        running = asyncio.create_task(writer.run())
        await settle(writer, 3)
        await writer.submit(messages(2, start=10))  # the backend is back
        await settle(writer, 5)
        await stop(running)

    assert (writer.failed_batches, writer.lost, writer.written) == (3, 3, 2)
    assert pauses.taken == [0.5, 1.0]
    assert payloads(recorder) == ["#10", "#11"]
    [error] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "LOST 3 entries, not written after 3 attempts" in error.getMessage()
    assert "1 MessageEntry, 1 AlarmEntry, 1 ReadingEntry" in error.getMessage()
    assert "north/c01, north/c09" in error.getMessage()
    assert "a7 sbp_high latched" in error.getMessage()
    assert sum(r.levelno == logging.WARNING for r in caplog.records) == 3


async def test_an_entry_no_backend_can_hold_costs_only_itself(
    caplog: pytest.LogCaptureFixture,
) -> None:
    recorder = Recording()
    pauses = Pauses()
    writer = Writer(recorder, batch=10, sleep=pauses)
    await writer.submit([MESSAGE, replace(READING, hr=math.nan), ALARM])

    running = asyncio.create_task(writer.run())
    await settle(writer, 3)
    await stop(running)

    assert (recorder.messages(), recorder.alarms(), recorder.readings()) == ([MESSAGE], [ALARM], [])
    assert (writer.written, writer.lost, writer.failed_batches) == (2, 1, 1)
    assert pauses.taken == []  # retried at once without it
    assert "ReadingEntry.hr is NaN" in caplog.text


# On this thread -----------------------------------------------------------------------------


def test_flush_writes_what_is_queued_now() -> None:
    recorder = Recording()
    writer = Writer(recorder)
    for entry in messages(3):
        writer.queue.put_nowait(entry)

    writer.flush()

    assert payloads(recorder) == ["#0", "#1", "#2"]
    assert writer.queue.empty()
    writer.flush()  # nothing queued: nothing written
    assert recorder.batches == [3]


def test_write_now_goes_past_the_queue() -> None:
    recorder = Recording()
    writer = Writer(recorder)
    writer.queue.put_nowait(message(1))

    writer.write_now([message(2)])

    assert payloads(recorder) == ["#2"]
    assert writer.queue.qsize() == 1


def test_write_now_that_fails_is_lost_and_counted(caplog: pytest.LogCaptureFixture) -> None:
    writer = Writer(Failing(failures=1))

    writer.write_now([MESSAGE])

    assert (writer.failed_batches, writer.lost, writer.written) == (1, 1, 0)
    assert "LOST 1 entries" in caplog.text


def test_close_flushes_then_closes_the_recorder() -> None:
    recorder = Recording()
    writer = Writer(recorder)
    writer.queue.put_nowait(MESSAGE)

    writer.close()

    assert writer.written == 1
    with pytest.raises(RecordError, match="closed"):
        recorder.append([MESSAGE])


def test_a_batch_under_one_is_a_mistake() -> None:
    with pytest.raises(ValueError, match="batch must be at least 1"):
        Writer(MemoryRecorder(), batch=0)


def test_the_times_of_what_is_lost_are_in_the_log(caplog: pytest.LogCaptureFixture) -> None:
    writer = Writer(Failing(failures=1))

    writer.write_now([replace(MESSAGE, received_at=T0), alarm(5)])

    assert f"times {T0:.3f} to {T0 + 5:.3f}" in caplog.text

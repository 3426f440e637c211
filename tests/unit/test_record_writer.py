"""The record's writer: an offer that never waits, batches, a full queue or a failing backend that
spills in order and drains back, a stop that keeps its deadline, and what fits nowhere counted
loudly. The backends here are fakes around a MemoryRecorder; the writer's pauses go to a list."""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections.abc import Sequence
from dataclasses import replace

import pytest
from record_suite import ALARM, MESSAGE, READING, T0, alarm, message

from monitor.record import Entry, MemoryRecorder, RecordError, Writer
from monitor.record.spill import Spill


class Recording(MemoryRecorder):
    """A MemoryRecorder that keeps the size of every batch it was given."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[int] = []
        self.kept: list[Entry] = []  # readable after close

    def append(self, entries: Sequence[Entry]) -> None:
        self.batches.append(len(entries))
        super().append(entries)
        self.kept.extend(entries)


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
        if writer.written + writer.lost >= count and not writer.backlog:
            return
        await asyncio.sleep(0.001)
    raise AssertionError(f"written {writer.written}, lost {writer.lost}, not {count}")


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


# Back-pressure and batches ------------------------------------------------------------------


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


# Never waiting: the spill -------------------------------------------------------------------


def test_offer_never_waits_and_a_full_queue_spills_in_order() -> None:
    writer = Writer(Recording(), queue_size=3)

    writer.offer(messages(2))
    writer.offer(messages(2, start=2))  # no room for both: both spill
    writer.offer(messages(1, start=4))  # room now, but the spill is older: it spills too

    assert writer.queue.qsize() == 2
    assert len(writer.spill) == 3
    assert writer.backlog == 5


async def test_the_spill_drains_after_the_queue_so_the_record_keeps_the_order(
    tmp_path: object,
) -> None:
    recorder = Recording()
    writer = Writer(recorder, queue_size=4, batch=3, spill=Spill(f"{tmp_path}/r.spill.jsonl"))
    for n in range(0, 20, 2):
        writer.offer(messages(2, start=n))

    running = asyncio.create_task(writer.run())
    await settle(writer, 20)
    await stop(running)

    assert payloads(recorder) == [f"#{n}" for n in range(20)]
    assert (len(writer.spill), writer.lost) == (0, 0)


async def test_a_failing_record_is_retried_for_ever_nothing_is_given_up(tmp_path: object) -> None:
    recorder = Failing(failures=12)
    pauses = Pauses()
    writer = Writer(recorder, batch=4, retry_delays_s=(0.5, 1.0), sleep=pauses,
                    spill=Spill(f"{tmp_path}/r.spill.jsonl"))  # fmt: skip
    writer.offer(messages(4))
    running = asyncio.create_task(writer.run())
    deadline = time.monotonic() + 10  # the write fails in its thread: wait for it, however busy
    for _ in range(1_000_000):
        if writer.failing or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.001)
    assert writer.failing
    assert writer.failing_since is not None
    writer.offer(messages(6, start=4))  # failing: straight to the spill
    assert len(writer.spill) == 6

    await settle(writer, 10)
    await stop(running)

    assert pauses.taken == [0.5, 1.0, *[1.0] * 10]  # the last pause repeats
    assert payloads(recorder) == [f"#{n}" for n in range(10)]
    assert (writer.lost, writer.failing, writer.failing_since) == (0, False, None)


async def test_a_write_that_does_not_come_back_makes_the_record_failing() -> None:
    recorder = Held()
    writer = Writer(recorder, stall_s=0.05)
    writer.offer([MESSAGE])
    running = asyncio.create_task(writer.run())
    assert await asyncio.to_thread(recorder.started.wait, 10)
    await asyncio.sleep(0.1)

    assert writer.failing  # a locked database waits seconds before it fails

    recorder.release.set()
    await settle(writer, 1)
    assert not writer.failing
    await stop(running)


def test_what_fits_nowhere_is_lost_loudly_and_counted(caplog: pytest.LogCaptureFixture) -> None:
    writer = Writer(Recording(), queue_size=1, spill=Spill(None, max_memory=2))

    writer.offer([message(1), message(2)])  # no room in the queue: the spill's memory
    writer.offer([alarm(7, state="latched"), replace(READING, chair="c09", ts=T0)])

    assert (len(writer.spill), writer.lost) == (2, 2)
    [error] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "LOST 2 entries (the spill is full)" in error.getMessage()
    assert "1 AlarmEntry, 1 ReadingEntry" in error.getMessage()
    assert "north/c01, north/c09" in error.getMessage()
    assert "a7 sbp_high latched" in error.getMessage()
    assert f"times {T0:.3f} to {T0 + 7:.3f}" in error.getMessage()


def test_write_now_that_fails_spills(tmp_path: object) -> None:
    writer = Writer(Failing(failures=1), spill=Spill(f"{tmp_path}/r.spill.jsonl"))

    writer.write_now([MESSAGE])

    assert (writer.failed_batches, writer.lost, writer.written, len(writer.spill)) == (1, 0, 0, 1)


# Stopping -----------------------------------------------------------------------------------


async def test_stop_writes_what_is_kept_and_the_final_entries() -> None:
    recorder = Recording()
    writer = Writer(recorder, queue_size=2)
    writer.offer(messages(5))

    await writer.stop([message(5)], within_s=2.0)

    assert [e.payload for e in recorder.kept] == [f"#{n}" for n in range(6)]  # type: ignore[union-attr]
    with pytest.raises(RecordError, match="closed"):
        recorder.append([MESSAGE])


async def test_stop_against_a_held_record_keeps_its_deadline_and_spills(tmp_path: object) -> None:
    recorder = Held()
    path = f"{tmp_path}/r.spill.jsonl"
    writer = Writer(recorder, batch=2, spill=Spill(path))
    writer.offer(messages(2))
    running = asyncio.create_task(writer.run())
    assert await asyncio.to_thread(recorder.started.wait, 10)
    writer.offer(messages(3, start=2))
    await stop(running)

    started = asyncio.get_running_loop().time()
    await writer.stop([message(5)], within_s=0.3)
    took = asyncio.get_running_loop().time() - started

    assert took < 1.0
    again = Spill(path)  # what the next start finds
    entries, _ = again.peek(100)
    assert [e.payload for e in entries] == [f"#{n}" for n in range(6)]  # type: ignore[union-attr]
    recorder.release.set()


# Positions: what the broker link may acknowledge --------------------------------------------


async def test_entries_are_kept_once_written_and_on_kept_says_so() -> None:
    recorder = Held()
    writer = Writer(recorder, stall_s=60)
    told: list[int] = []
    writer.on_kept = lambda: told.append(writer.kept)
    writer.offer(messages(3))
    running = asyncio.create_task(writer.run())
    assert await asyncio.to_thread(recorder.started.wait, 10)

    assert (writer.offered, writer.kept) == (3, 0)  # being written: not kept yet

    recorder.release.set()
    await settle(writer, 3)
    await stop(running)
    assert writer.kept == 3
    assert told[-1] == 3


def test_spilled_entries_after_the_waiting_run_are_not_kept_before_it(tmp_path: object) -> None:
    writer = Writer(Recording(), queue_size=2, spill=Spill(f"{tmp_path}/r.spill.jsonl"))
    writer.offer(messages(2))  # the queue: waiting in memory
    writer.offer(messages(3, start=2))  # no room: the spill file, kept there

    assert (writer.offered, writer.kept) == (5, 0)  # the oldest still wait

    writer.flush()  # the queue is written
    assert writer.kept == 5


def test_with_nothing_waiting_in_memory_everything_offered_is_kept(tmp_path: object) -> None:
    writer = Writer(Recording(), queue_size=1, spill=Spill(f"{tmp_path}/r.spill.jsonl"))
    writer.offer(messages(2))  # straight to the spill file

    assert writer.kept == writer.offered == 2


async def test_a_failing_record_counts_everything_as_kept_so_acknowledgements_go_on() -> None:
    recorder = Held()
    writer = Writer(recorder, stall_s=0.05)
    writer.offer(messages(4))
    running = asyncio.create_task(writer.run())
    assert await asyncio.to_thread(recorder.started.wait, 10)
    assert writer.kept == 0
    await asyncio.sleep(0.1)  # the write stalls: failing

    assert writer.failing
    assert writer.kept == 4

    recorder.release.set()
    await settle(writer, 4)
    await stop(running)
    assert writer.kept == 4  # never goes back

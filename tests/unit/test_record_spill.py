"""The spill: entries as JSON lines and back, in order through the file and then memory, bounded
in bytes and in entries, truncated once taken back, and picked up where it was left by the next
start (a torn last line, as a crash leaves it, costs only itself)."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest
from record_suite import (
    ALARM,
    BARE_ALARM,
    BARE_EVENT,
    BARE_MESSAGE,
    BARE_READING,
    BARE_SESSION,
    EVENT,
    LOGIN,
    MESSAGE,
    READING,
    SESSION,
    SNAPSHOT,
    message,
)

from monitor.record import Entry, LoginEnded
from monitor.record.spill import Spill, SpillError, decode, encode

EVERY_KIND = [MESSAGE, BARE_MESSAGE, READING, BARE_READING, ALARM, BARE_ALARM, EVENT,
              BARE_EVENT, SESSION, BARE_SESSION, SNAPSHOT, LOGIN, LoginEnded("ab" * 32)]  # fmt: skip


def payloads(entries: list[Entry]) -> list[str]:
    return [getattr(e, "payload", "?") for e in entries]


@pytest.mark.parametrize("entry", EVERY_KIND, ids=lambda e: type(e).__name__)
def test_every_kind_of_entry_comes_back_equal(entry: Entry) -> None:
    line = encode(entry)
    assert line.endswith(b"\n")
    assert line.count(b"\n") == 1
    assert decode(line) == entry


@pytest.mark.parametrize("line", [b"", b"{", b'{"entry": "Nope"}', b'{"entry": "MessageEntry"}'])
def test_a_line_that_is_no_entry_says_so(line: bytes) -> None:
    with pytest.raises(SpillError, match="not a spilled entry"):
        decode(line)


def test_entries_come_back_in_order_and_the_file_empties_once_taken(tmp_path: Path) -> None:
    path = str(tmp_path / "r.spill.jsonl")
    spill = Spill(path)
    spill.put([message(n) for n in range(5)])
    spill.put([message(n) for n in range(5, 8)])

    first, token = spill.peek(6)
    assert payloads(first) == [f"#{n}" for n in range(6)]
    spill.commit(token)
    rest, token = spill.peek(6)
    assert payloads(rest) == ["#6", "#7"]
    assert len(spill) == 2
    spill.commit(token)

    assert len(spill) == 0
    assert os.path.getsize(path) == 0


def test_a_peek_not_committed_is_taken_again(tmp_path: Path) -> None:
    spill = Spill(str(tmp_path / "r.spill.jsonl"))
    spill.put([message(n) for n in range(3)])

    spill.peek(2)  # the write to the record failed: no commit

    assert payloads(spill.peek(2)[0]) == ["#0", "#1"]


def test_past_its_bound_the_file_gives_way_to_memory_and_the_order_holds(tmp_path: Path) -> None:
    spill = Spill(str(tmp_path / "r.spill.jsonl"), max_bytes=len(encode(message(0))) * 3)
    spill.put([message(n) for n in range(3)])
    spill.put([message(3)])  # over the bound: memory
    spill.put([message(4)])  # after memory, memory too, whatever the file could take

    assert (spill.on_disk, len(spill)) == (3, 5)
    assert spill.file_error is not None
    entries, token = spill.peek(10)
    assert payloads(entries) == [f"#{n}" for n in range(5)]
    spill.commit(token)
    assert len(spill) == 0


def test_beyond_memory_entries_are_dropped_and_counted() -> None:
    spill = Spill(None, max_memory=3)

    assert spill.put([message(n) for n in range(2)]) == 0
    assert spill.put([message(n) for n in range(2, 5)]) == 2

    assert (len(spill), spill.dropped) == (3, 2)
    assert payloads(spill.peek(10)[0]) == ["#0", "#1", "#2"]  # the oldest are kept


def test_a_folder_that_cannot_be_written_leaves_memory(tmp_path: Path) -> None:
    spill = Spill(str(tmp_path / "missing" / "r.spill.jsonl"))

    spill.put([MESSAGE])

    assert "cannot open" in (spill.file_error or "")
    assert (spill.on_disk, len(spill)) == (0, 1)


def test_the_next_start_picks_up_where_the_last_one_left(tmp_path: Path) -> None:
    path = str(tmp_path / "r.spill.jsonl")
    spill = Spill(path)
    spill.put([message(n) for n in range(4)])
    spill.commit(spill.peek(1)[1])
    spill.close()

    again = Spill(path)

    assert len(again) == 3
    assert payloads(again.peek(10)[0]) == ["#1", "#2", "#3"]


def test_a_torn_last_line_costs_only_itself(tmp_path: Path) -> None:
    path = tmp_path / "r.spill.jsonl"
    path.write_bytes(encode(message(0)) + encode(message(1)) + b'{"entry": "Mess')

    spill = Spill(str(path))
    entries, _ = spill.peek(10)

    assert payloads(entries) == ["#0", "#1"]


def test_what_follows_a_torn_line_is_kept_whole(tmp_path: Path) -> None:
    path = tmp_path / "r.spill.jsonl"
    path.write_bytes(encode(message(0)) + b'{"entry": "Mess')

    spill = Spill(str(path))
    spill.put([message(1)])

    assert payloads(spill.peek(10)[0]) == ["#0", "#1"]
    assert spill.dropped == 0


def test_what_was_still_in_memory_at_a_stop_goes_before_what_spilled(tmp_path: Path) -> None:
    path = str(tmp_path / "r.spill.jsonl")
    spill = Spill(path)
    spill.put([message(n) for n in range(3, 6)])
    spill.commit(spill.peek(1)[1])  # #3 was written back already

    assert spill.put_first([message(1), message(2)]) == 0
    spill.close()

    assert payloads(Spill(path).peek(10)[0]) == ["#1", "#2", "#4", "#5"]


def test_put_first_on_an_empty_spill_is_a_put() -> None:
    spill = Spill(None)
    spill.put([message(3)])

    spill.put_first([message(1), message(2)])

    assert payloads(spill.peek(10)[0]) == ["#1", "#2", "#3"]


def test_the_newest_snapshot_of_each_chair_is_found_for_a_start(tmp_path: Path) -> None:
    path = str(tmp_path / "r.spill.jsonl")
    spill = Spill(path)
    older = replace(SNAPSHOT, saved_at=SNAPSHOT.saved_at - 5)
    other_site = replace(SNAPSHOT, site="south", state="{}")
    spill.put([older, MESSAGE, replace(SNAPSHOT, chair="c02"), SNAPSHOT, other_site])
    spill.close()

    found = Spill(path).snapshots("north")

    assert found == [SNAPSHOT, replace(SNAPSHOT, chair="c02")]

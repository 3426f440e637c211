"""Where entries wait when the record cannot take them (`Spill`): a JSON Lines file, then memory.

How this works: the writer puts entries here, in order, whenever its queue is full or the
record is failing, and takes them back, oldest first, once the record writes again. Each entry
is one line, `{"entry": "ReadingEntry", ...its fields}`, appended to a file next to the
database (`PATH.spill.jsonl`) with one `os.write` per call, so a line is never interleaved;
`sync` (the writer calls it on a worker thread, about every `SYNC_EVERY_S`) makes what was
appended durable. The file is bounded (`max_bytes`, 256 MiB by default: about 800,000 readings,
hours of a busy clinic). When the file cannot be written (the disk is full, the folder is
read-only, or the file is at its bound) entries go to a bounded memory tail instead, and once
something is in the tail everything after it goes there too, so the order holds; beyond the
tail's bound (`max_memory`) entries are dropped, counted in `dropped`, and the caller logs it.
Taking back reads the file from the offset already taken, then the tail; when both are empty the
file is truncated to nothing. The offset taken is also kept in `PATH.spill.jsonl.taken`, so a
service that stops (or crashes) with a spill left picks it up at its next start where it left
off; an entry written to the record just before a crash, whose offset was not yet kept, may be
written twice (at least once, never lost).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from typing import Any

from monitor.record.base import ENTRY_TYPES, Entry, ReadingEntry, SnapshotEntry

MAX_SPILL_BYTES = 256 * 1024 * 1024
MAX_MEMORY_ENTRIES = 200_000
SYNC_EVERY_S = 0.2  # a spilled entry is durable within about this long
_TYPES: dict[str, type[Entry]] = {t.__name__: t for t in ENTRY_TYPES}


class SpillError(ValueError):
    """A line of a spill file that is not an entry (a torn last line after a crash)."""


def encode(entry: Entry) -> bytes:
    """One entry as one JSON line."""
    fields = asdict(entry)
    return (
        json.dumps({"entry": type(entry).__name__, **fields}, ensure_ascii=False).encode() + b"\n"
    )


def decode(line: bytes) -> Entry:
    """The entry a line of `encode` holds; SpillError when it holds none."""
    try:
        data: dict[str, Any] = json.loads(line)
        kind = _TYPES[data.pop("entry")]
        if kind is ReadingEntry:
            data["technical"] = tuple(data.get("technical", ()))
        return kind(**data)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise SpillError(f"not a spilled entry: {line[:80]!r} ({exc})") from exc


class Spill:
    """Entries in order, in a bounded file (`path`; None: memory only), then a bounded tail.

    Attributes:
        dropped: entries that fitted nowhere (the caller logs each drop).
        file_error: why the file cannot be written now, or None.
    """

    def __init__(
        self,
        path: str | None,
        *,
        max_bytes: int = MAX_SPILL_BYTES,
        max_memory: int = MAX_MEMORY_ENTRIES,
    ) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.max_memory = max_memory
        self.dropped = 0
        self.file_error: str | None = None if path else "no file (the record is in memory)"
        self._tail: deque[Entry] = deque()
        self._fd: int | None = None
        self._size = 0  # bytes in the file
        self._taken = 0  # bytes of the file already taken back
        self._lines = 0  # entries in the file not yet taken
        self._unsynced = False
        if path:
            self._open(path)

    def __len__(self) -> int:
        return self._lines + len(self._tail)

    @property
    def on_disk(self) -> int:
        return self._lines

    @property
    def unsynced(self) -> bool:
        """Lines were appended since the last `sync`."""
        return self._unsynced

    def put(self, entries: Sequence[Entry]) -> int:
        """Keep `entries` after those already here; return how many were dropped."""
        if not entries:
            return 0
        if not self._tail and self._write(entries):
            return 0
        room = max(0, self.max_memory - len(self._tail))
        self._tail.extend(entries[:room])
        dropped = len(entries) - min(room, len(entries))
        self.dropped += dropped
        return dropped

    def put_first(self, entries: Sequence[Entry]) -> int:
        """Keep `entries` before those already here (at a stop: what was still in memory is
        older than what spilled); the file is rewritten for it. Return how many were dropped."""
        if not entries:
            return 0
        if not self._lines:
            if not self._tail and self._write(entries):
                return 0
            room = max(0, self.max_memory - len(self._tail))
            kept = list(entries[:room])
            self._tail.extendleft(reversed(kept))
            self.dropped += len(entries) - len(kept)
            return len(entries) - len(kept)
        if self._rewrite_with(entries):
            return 0
        return self.put(entries)  # kept, though after newer ones, rather than lost

    def _rewrite_with(self, entries: Sequence[Entry]) -> bool:
        if self._fd is None or not self.path:
            return False
        fresh = f"{self.path}.new"
        try:
            rest = os.pread(self._fd, self._size - self._taken, self._taken)
            data = b"".join(encode(e) for e in entries) + rest
            with open(fresh, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(fresh, self.path)
        except OSError as exc:
            self.file_error = f"cannot rewrite {self.path}: {exc.strerror or exc}"
            with contextlib.suppress(OSError):
                os.unlink(fresh)
            return False
        os.close(self._fd)
        self._fd = None
        with contextlib.suppress(OSError):
            os.unlink(f"{self.path}.taken")
        self._open(self.path)
        return self._fd is not None

    def peek(self, n: int) -> tuple[list[Entry], int]:
        """The oldest `n` entries at most, and the token `commit` takes to let them go. A line
        of the file that is not an entry (torn by a crash) is skipped and counted in `dropped`."""
        entries: list[Entry] = []
        offset = self._taken
        if self._lines and self._fd is not None:
            offset = self._read(n, entries)
        tail = len(entries)
        entries.extend(list(_first(self._tail, n - tail)))
        return entries, self._token(offset, len(entries) - tail)

    def commit(self, token: int) -> None:
        """Let go of what `peek` returned with `token` (it was written to the record)."""
        offset, from_tail = divmod(token, 1 << 32)
        read = self._count(self._taken, offset)
        self._taken, self._lines = offset, max(0, self._lines - read)
        for _ in range(from_tail):
            self._tail.popleft()
        if not self._lines and not self._tail:
            self._reset()
        else:
            self._keep_offset()

    def snapshots(self, site: str) -> list[SnapshotEntry]:
        """The newest snapshot of each chair of `site` waiting here (at a start, newer than
        the record's when the record was failing), by chair name."""
        newest: dict[str, SnapshotEntry] = {}
        marker = b'{"entry": "SnapshotEntry"'
        for line in self._lines_from(self._taken):
            if line.startswith(marker):
                with contextlib.suppress(SpillError):
                    entry = decode(line)
                    if isinstance(entry, SnapshotEntry) and entry.site == site:
                        newest[entry.chair] = entry
        for entry in self._tail:
            if isinstance(entry, SnapshotEntry) and entry.site == site:
                newest[entry.chair] = entry
        return [newest[chair] for chair in sorted(newest)]

    def _lines_from(self, offset: int) -> Iterable[bytes]:
        if self._fd is None:
            return
        rest = b""
        while offset < self._size:
            data = os.pread(self._fd, min(1 << 20, self._size - offset), offset)
            if not data:
                break
            offset += len(data)
            *lines, rest = (rest + data).split(b"\n")
            yield from lines

    def sync(self) -> None:
        """Make what was appended durable (a worker thread calls this)."""
        fd = self._fd
        if fd is not None and self._unsynced:
            self._unsynced = False
            try:
                os.fsync(fd)
            except OSError as exc:
                self.file_error = f"cannot sync {self.path}: {exc.strerror or exc}"

    def close(self) -> None:
        self.sync()
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None

    # The file ----------------------------------------------------------------------------

    def _open(self, path: str) -> None:
        try:
            self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
            self._size = os.fstat(self._fd).st_size
        except OSError as exc:
            self.file_error = f"cannot open {path}: {exc.strerror or exc}"
            return
        self._cut_torn_line()
        self._taken = min(self._read_offset(), self._size)
        self._lines = self._count(self._taken, self._size)

    def _cut_torn_line(self) -> None:
        """A crash mid-write leaves a last line without its end: cut it, so the next line
        written does not join it."""
        assert self._fd is not None
        if not self._size:
            return
        tail = os.pread(self._fd, min(self._size, 1 << 20), max(0, self._size - (1 << 20)))
        if tail.endswith(b"\n"):
            return
        end = tail.rfind(b"\n")
        keep = self._size - len(tail) + end + 1 if end >= 0 else max(0, self._size - len(tail))
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, keep)
            self._size = keep

    def _write(self, entries: Sequence[Entry]) -> bool:
        if self._fd is None and self.path:
            self._open(self.path)
        if self._fd is None:
            return False
        data = b"".join(encode(e) for e in entries)
        if self._size + len(data) > self.max_bytes:
            self.file_error = f"{self.path} is at its bound of {self.max_bytes} bytes"
            return False
        try:
            written = os.write(self._fd, data)
            if written != len(data):
                raise OSError(28, "No space left on device (a short write)")
        except OSError as exc:
            self.file_error = f"cannot write {self.path}: {exc.strerror or exc}"
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self._size)  # never leave a torn line
            return False
        self._size += len(data)
        self._lines += len(entries)
        self._unsynced = True
        self.file_error = None
        return True

    def _read(self, n: int, entries: list[Entry]) -> int:
        """Read up to `n` entries from the file after what was taken; return the offset after
        the last line read."""
        assert self._fd is not None
        offset = self._taken
        chunk = max(64 * 1024, n * 512)
        while len(entries) < n and offset < self._size:
            data = os.pread(self._fd, min(chunk, self._size - offset), offset)
            if not data:
                break
            end = data.rfind(b"\n")
            if end < 0:
                if len(data) < chunk:  # a torn last line: nothing more to read
                    break
                chunk *= 2
                continue
            for line in data[: end + 1].splitlines(keepends=True):
                if len(entries) >= n:
                    break
                offset += len(line)
                try:
                    entries.append(decode(line))
                except SpillError:
                    self.dropped += 1
        return offset

    def _count(self, start: int, end: int) -> int:
        if self._fd is None or end <= start:
            return 0
        count, offset = 0, start
        while offset < end:
            data = os.pread(self._fd, min(1 << 20, end - offset), offset)
            if not data:
                break
            count += data.count(b"\n")
            offset += len(data)
        return count

    def _token(self, offset: int, from_tail: int) -> int:
        return offset * (1 << 32) + from_tail

    def _reset(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            self._size = 0
        self._taken = self._lines = 0
        if self.path:
            with contextlib.suppress(OSError):
                os.unlink(f"{self.path}.taken")  # needs no free space, unlike a write

    def _keep_offset(self) -> None:
        if not self.path:
            return
        with (
            contextlib.suppress(OSError),
            open(f"{self.path}.taken", "w", encoding="ascii") as file,
        ):
            file.write(str(self._taken))

    def _read_offset(self) -> int:
        try:
            with open(f"{self.path}.taken", encoding="ascii") as file:
                return int(file.read().strip() or 0)
        except (OSError, ValueError):
            return 0


def _first(items: Iterable[Entry], n: int) -> Iterable[Entry]:
    for index, item in enumerate(items):
        if index >= n:
            return
        yield item

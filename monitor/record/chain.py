"""Tamper evidence: the record's evidence as hash chains, and their verification.

Every entry of evidence belongs to one chain: a session's chain (`session:ID`) holds its
readings, alarm transitions and events; a site's chain (`site:NAME`) holds everything outside a
session: the journal of inbound messages with their refusals, alarms and events of no session,
the service's starts and stops, and the seals. Each entry is a link: its place in its chain
(`seq`, from 1), the hash of the link before it (`prev`, `GENESIS` for the first) and its own
`hash`, the SHA-256 of the chain's name, `seq`, `prev` and the entry's canonical JSON (keys sorted,
no spaces, UTF-8, every number of a float field as a float, event data as the record reads it
back). A backend computes the links inside the transaction that stores the entries (`Linker`), and
gives them back with the entries for `verify`.

Not chained: the rows a backend replaces rather than appends (a session's summary, a chair's
latest snapshot, a station's login). They are state, kept so a restart carries on; the evidence
of a session is its chain.

A chain that is rewritten from some link on, every hash recomputed, verifies on its own. That is
what seals are for: when a session is discharged its chain's head (seq and hash) is sealed, in
the site's chain and in a seal log outside the database (`SealLog`, append-only, one JSON line a
seal), and in the session's report. `verify` then checks each chain against its seals.

`verify` names the first fault of each chain: a link whose entry or hash was changed, a link
removed (a gap in `seq`, or a `prev` that is not the previous link's hash), one inserted (a
`seq` twice, or a row with no link at all), rows reordered (a table's rows out of `seq` order),
or a chain that does not reach its seal, or reaches it with another hash.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from itertools import groupby
from pathlib import Path
from typing import Any

from monitor.record.base import (
    ENTRY_TYPES,
    AlarmEntry,
    ChainRow,
    Entry,
    EventEntry,
    Link,
    MessageEntry,
    ReadingEntry,
    RecordError,
)

GENESIS = "0" * 64
CHAINED = (MessageEntry, ReadingEntry, AlarmEntry, EventEntry)
SEALED = "ChainSealed"  # the site chain's event that records a seal
CLOSES = "SessionClosed"  # the session's event after which its chain takes no more links
_FLOATS = {t: {f.name for f in fields(t) if "float" in str(f.type)} for t in ENTRY_TYPES}


@dataclass(frozen=True, slots=True)
class Seal:
    chain: str
    seq: int
    hash: str
    sealed_at: float


@dataclass(frozen=True, slots=True)
class Fault:
    """The first thing wrong with a chain: `kind` is changed, removed, inserted, reordered,
    unlinked or rewritten; `where` names the record."""

    chain: str
    kind: str
    seq: int | None
    where: str
    detail: str

    def __str__(self) -> str:
        at = f" at link {self.seq}" if self.seq is not None else ""
        return f"{self.chain}: {self.kind}{at} ({self.where}): {self.detail}"


def chain_of(entry: Entry) -> str | None:
    """The chain `entry` belongs to, or None for a row that is state, not evidence."""
    if not isinstance(entry, CHAINED):
        return None
    session = getattr(entry, "session", None)
    if session:
        return f"session:{session}"
    return f"site:{entry.site or '-'}"


def session_chain(session: str) -> str:
    return f"session:{session}"


def canonical(entry: Entry) -> bytes:
    """The entry as the bytes its hash covers: what every backend reads back the same way."""
    floats = _FLOATS[type(entry)]
    body: dict[str, Any] = {"type": type(entry).__name__}
    for f in fields(entry):
        value = getattr(entry, f.name)
        if f.name in floats and isinstance(value, int | float) and not isinstance(value, bool):
            value = float(value)
        elif isinstance(value, tuple):
            value = list(value)
        body[f.name] = value
    if isinstance(entry, EventEntry):
        body["data"] = json.loads(json.dumps(entry.data, ensure_ascii=False))
    try:
        # Infinity (which the record keeps) as JSON's usual extension: the bytes are only hashed.
        text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    except ValueError as exc:
        raise RecordError(f"a {type(entry).__name__} cannot be hashed: {exc}") from exc
    return text.encode("utf-8", "surrogatepass")


def digest(chain: str, seq: int, prev: str, entry: Entry) -> str:
    h = hashlib.sha256(f"{chain}\n{seq}\n{prev}\n".encode())
    h.update(canonical(entry))
    return h.hexdigest()


Head = tuple[int, str]  # a chain's last link: its seq and hash


@dataclass(frozen=True, slots=True)
class Linked:
    """A batch's links (None for an entry outside every chain), and the heads they leave."""

    links: list[Link | None]
    heads: dict[str, Head]


class Linker:
    """Links entries onto their chains, inside a backend's transaction.

    `links` gives the links of a batch without remembering them, reading a chain's last link
    from the store (`head`, inside the same transaction) when the linker does not know it;
    `commit` remembers the heads once the batch is stored, so a batch that fails leaves them as
    they were. The heads known are the `capacity` chains used last: an open session's chain
    stays known, a closed one's is read again should it ever be needed."""

    def __init__(self, *, capacity: int = 10_000) -> None:
        self._capacity = capacity
        self._heads: OrderedDict[str, Head] = OrderedDict()

    def links(self, entries: Sequence[Entry], head: Callable[[str], Head | None]) -> Linked:
        heads: dict[str, Head] = {}
        out: list[Link | None] = []
        for entry in entries:
            chain = chain_of(entry)
            if chain is None:
                out.append(None)
                continue
            seq, prev = heads.get(chain) or self._known(chain, head)
            link = Link(chain, seq + 1, prev, digest(chain, seq + 1, prev, entry))
            heads[chain] = (link.seq, link.hash)
            out.append(link)
        return Linked(out, heads)

    def commit(self, linked: Linked) -> None:
        for chain, head in linked.heads.items():
            self._heads[chain] = head
            self._heads.move_to_end(chain)
        while len(self._heads) > self._capacity:
            self._heads.popitem(last=False)

    def forget(self) -> None:
        """The store changed under the linker (a failed transaction): read heads again."""
        self._heads.clear()

    def _known(self, chain: str, head: Callable[[str], Head | None]) -> Head:
        if chain in self._heads:
            return self._heads[chain]
        found = head(chain)
        return found if found is not None else (0, GENESIS)


def verify(rows: Iterable[ChainRow], seals: Iterable[Seal] = ()) -> Iterator[Fault]:
    """The first fault of each chain in `rows` (every stored row of evidence, each chain's rows
    together, as `Recorder.chained` gives them), and of each sealed chain that no longer
    reaches its seal; nothing when all verify. One chain is in memory at a time."""
    sealed: dict[str, list[Seal]] = {}
    for seal in seals:
        sealed.setdefault(seal.chain, []).append(seal)
    unlinked = False
    for chain, group in groupby(rows, key=lambda r: r.link.chain if r.link else None):
        if chain is None:
            for row in group:
                if not unlinked:
                    unlinked = True
                    yield Fault(chain_of(row.entry) or "-", "inserted", None, _where(row),
                                "a row with no link: the service did not write it")  # fmt: skip
            continue
        fault = _first_fault(chain, list(group), sealed.pop(chain, []))
        if fault is not None:
            yield fault
    for chain in sorted(sealed):  # sealed, and not a row of it left
        fault = _first_fault(chain, [], sealed[chain])
        if fault is not None:
            yield fault


def _first_fault(chain: str, rows: list[ChainRow], seals: list[Seal]) -> Fault | None:
    ordered = sorted(rows, key=lambda r: (r.link.seq if r.link else 0, r.table, r.row))
    prev, expected = GENESIS, 1
    for row in ordered:
        link = row.link
        assert link is not None
        if link.seq < expected:
            return Fault(chain, "inserted", link.seq, _where(row), f"link {link.seq} twice")
        if link.seq > expected:
            return Fault(chain, "removed", expected, _where(row),
                         f"links {expected} to {link.seq - 1} are missing")  # fmt: skip
        if link.prev != prev:
            return Fault(chain, "removed", link.seq, _where(row),
                         "its previous hash is not the hash of the link before it")  # fmt: skip
        if digest(chain, link.seq, link.prev, row.entry) != link.hash:
            return Fault(chain, "changed", link.seq, _where(row),
                         "its content does not match its hash")  # fmt: skip
        prev, expected = link.hash, expected + 1
    # Within a table the rows were appended in chain order: a row out of it was moved.
    last_in_table: dict[str, ChainRow] = {}
    for row in sorted(rows, key=lambda r: (r.table, r.row)):
        before = last_in_table.get(row.table)
        assert row.link is not None
        if before is not None and before.link is not None and before.link.seq > row.link.seq:
            return Fault(chain, "reordered", before.link.seq, _where(before),
                         f"it holds link {before.link.seq}, and {_where(row)} after it "
                         f"link {row.link.seq}")  # fmt: skip
        last_in_table[row.table] = row
    head = expected - 1
    hashes = {r.link.seq: r.link.hash for r in ordered if r.link is not None}
    for seal in sorted(seals, key=lambda s: s.seq):
        if seal.seq > head:
            return Fault(chain, "removed", head + 1, f"seal of {_utc(seal.sealed_at)}",
                         f"the chain ends at link {head}; it was sealed at link {seal.seq}")  # fmt: skip
        if hashes[seal.seq] != seal.hash:
            return Fault(chain, "rewritten", seal.seq, f"seal of {_utc(seal.sealed_at)}",
                         "the chain verifies on its own, but not against its seal: it was "
                         "rewritten")  # fmt: skip
    return None


def _utc(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _where(row: ChainRow) -> str:
    return f"{row.table} row {row.row}"


class SealLog:
    """The append-only seal log outside the database: one JSON line per seal, each written and
    synced before `append` returns. A line that cannot be read is reported by `read`."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def append(self, seal: Seal) -> None:
        line = json.dumps({"chain": seal.chain, "seq": seal.seq, "hash": seal.hash,
                           "sealed_at": seal.sealed_at}, separators=(",", ":")) + "\n"  # fmt: skip
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
            try:
                os.write(fd, line.encode())
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise RecordError(
                f"cannot write the seal log {self.path}: {exc.strerror or exc}"
            ) from exc

    def read(self) -> Iterator[Seal]:
        """Every seal in the log; a missing log has none. RecordError names a bad line."""
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return
        except OSError as exc:
            raise RecordError(
                f"cannot read the seal log {self.path}: {exc.strerror or exc}"
            ) from exc
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                yield Seal(str(data["chain"]), int(data["seq"]), str(data["hash"]),
                           float(data["sealed_at"]))  # fmt: skip
            except (ValueError, KeyError, TypeError) as exc:
                raise RecordError(f"{self.path} line {number} is not a seal: {exc}") from exc

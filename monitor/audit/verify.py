"""`audit verify`: every hash chain of the record checked link by link and against its seals.

The seals come from two places, which must agree: the `ChainSealed` events in the record's site
chains, and the seal log outside the database (`monitor.record.chain.SealLog`). A chain that was
rewritten consistently verifies on its own; its seal in the log does not match it. A seal the
record holds and the log does not (or the reverse) is a fault too: one of them was cut.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from monitor.audit import SessionNotFound
from monitor.record import Recorder
from monitor.record.base import ChainRow
from monitor.record.chain import SEALED, Fault, Seal, SealLog, session_chain, verify
from monitor.record.retention import PURGED


@dataclass
class Verification:
    faults: list[Fault] = field(default_factory=list)
    chains: int = 0
    records: int = 0
    seals: int = 0
    purged: int = 0  # sessions purged by the retention policy, as the record says
    sealed: list[Seal] = field(default_factory=list)  # the seals the chains were checked against
    seal_log: str | None = None

    @property
    def ok(self) -> bool:
        return not self.faults

    def text(self) -> str:
        where = f"seal log {self.seal_log}" if self.seal_log else "no seal log"
        if self.ok:
            purged = (
                f", {self.purged} sessions purged by the retention policy" if self.purged else ""
            )
            return (f"verified: {self.chains} chains, {self.records} records, {self.seals} seals "
                    f"({where}){purged}; no record changed, removed, inserted or reordered\n")  # fmt: skip
        lines = [f"FAILED: {len(self.faults)} chains do not verify ({where})"]
        lines += [f"  {fault}" for fault in self.faults]
        return "\n".join(lines) + "\n"


def verify_record(
    recorder: Recorder, seal_log: SealLog | None, session: str | None = None
) -> Verification:
    """Verify every chain (only `session`'s when named) against the seals of both places."""
    chain = session_chain(session) if session else None
    result = Verification(seal_log=str(seal_log.path) if seal_log else None)
    recorded = {(s.chain, s.seq): s for s in _recorded_seals(recorder) if chain in (None, s.chain)}
    logged = {(s.chain, s.seq): s for s in (seal_log.read() if seal_log else ()) if chain in (None, s.chain)}  # fmt: skip
    for key in sorted(recorded.keys() - logged.keys()) if seal_log else ():
        result.faults.append(Fault(key[0], "removed", key[1], "seal log",
                                   "the record holds this seal and the seal log does not"))  # fmt: skip
    for key in sorted(logged.keys() - recorded.keys()):
        result.faults.append(Fault(key[0], "removed", key[1], "site chain",
                                   "the seal log holds this seal and the record does not"))  # fmt: skip
    seals = list({**recorded, **logged}.values())  # the log's word wins where both have one
    result.seals = len(seals)
    purged = {p: head for p, head in _purged(recorder).items() if chain in (None, p)}
    for seal in seals:  # a purged session's seal names the head the purge recorded (or one before)
        if seal.chain in purged and not _reaches(purged[seal.chain], seal):
            result.faults.append(Fault(seal.chain, "rewritten", seal.seq, "purge",
                                       "purged at a head its seal does not name"))  # fmt: skip
    seals = [seal for seal in seals if seal.chain not in purged]
    result.sealed = sorted(seals, key=lambda seal: (seal.chain, seal.seq))
    result.purged = len(purged)
    seen: set[str] = set()

    def counted(rows: Iterator[ChainRow]) -> Iterator[ChainRow]:
        for row in rows:
            result.records += 1
            if row.link is not None:
                seen.add(row.link.chain)
            yield row

    result.faults += verify(counted(recorder.chained(chain)), seals)
    for kept in sorted(seen & purged.keys()):
        result.faults.append(Fault(kept, "inserted", None, "purge",
                                   "rows of a session the record says it purged"))  # fmt: skip
    result.chains = len(seen | {s.chain for s in seals})
    if session and not (seen or seals or purged) and recorder.session(session).session is None:
        raise SessionNotFound(f"no session {session!r} in the record")
    return result


def _reaches(head: tuple[int, str | None], seal: Seal) -> bool:
    """Whether a chain purged at `head` can have reached `seal`: the head is the sealed link,
    or a later one (links after the seal, whose hashes went with the rows)."""
    seq, digest = head
    return seq > seal.seq or (seq == seal.seq and digest == seal.hash)


def _purged(recorder: Recorder) -> dict[str, tuple[int, str | None]]:
    """Each purged session's chain, with its head when it was purged (`RecordPurged`)."""
    heads: dict[str, tuple[int, str | None]] = {}
    for event in recorder.events(type=PURGED):
        for purged in event.data.get("sessions") or []:
            if isinstance(purged, dict) and isinstance(purged.get("chain"), str):
                heads[purged["chain"]] = (int(purged.get("seq") or 0), purged.get("hash"))
    return heads


def _recorded_seals(recorder: Recorder) -> Iterator[Seal]:
    for event in recorder.events(type=SEALED):
        data = event.data
        yield Seal(str(data["chain"]), int(data["seq"]), str(data["hash"]), event.ts)

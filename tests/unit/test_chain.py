"""The record's hash chains on their own: links, and each kind of tampering found and named.
The backends' part (links stored in the transaction, read back) is in the record suite."""

from __future__ import annotations

from dataclasses import replace

import pytest

from monitor.domain.events import SessionClosed
from monitor.record import AlarmEntry, EventEntry, MessageEntry, ReadingEntry, SessionEntry
from monitor.record.chain import (
    CLOSES,
    GENESIS,
    ChainRow,
    Linker,
    Seal,
    SealLog,
    canonical,
    chain_of,
    digest,
    verify,
)

T0 = 1_795_000_000.0


def reading(n: int, session: str | None = "s1") -> ReadingEntry:
    return ReadingEntry("north", "c01", session, T0 + n, T0 + n, T0 + n + 0.5, seq=n, hr=70 + n,
                        spo2=97, technical=("leads_off",))  # fmt: skip


def stored(entries: list[ReadingEntry], table: str = "readings") -> list[ChainRow]:
    """Entries linked as a backend links them, with row ids 1, 2, ..."""
    linker = Linker()
    linked = linker.links(entries, lambda chain: None)
    linker.commit(linked)
    return [
        ChainRow(table, n, e, link)
        for n, (e, link) in enumerate(zip(entries, linked.links, strict=True), 1)
    ]


def test_each_kind_of_evidence_has_its_chain_and_state_has_none() -> None:
    assert chain_of(reading(1)) == "session:s1"
    assert chain_of(reading(1, session=None)) == "site:north"
    assert (
        chain_of(MessageEntry(T0, "clinic/north/x", "", "malformed", site="north")) == "site:north"
    )
    assert chain_of(MessageEntry(T0, "x", "", "bad_topic")) == "site:-"
    assert chain_of(EventEntry("north", "c01", "s2", T0, "PhaseChanged")) == "session:s2"
    assert (
        chain_of(AlarmEntry("a", "north", "c01", None, T0, "k", "c", "high", "active", "t"))
        == "site:north"
    )
    assert chain_of(SessionEntry("s1", "north", "c01", "P", T0, "admitted")) is None


def test_links_follow_each_other_from_genesis() -> None:
    rows = stored([reading(1), reading(2), reading(3)])
    links = [r.link for r in rows]
    assert [link.seq for link in links if link] == [1, 2, 3]
    assert links[0] is not None
    assert links[0].prev == GENESIS
    assert links[1] is not None
    assert links[1].prev == links[0].hash
    assert list(verify(rows)) == []


def test_the_hash_covers_every_field_and_reads_back_the_same_from_any_backend() -> None:
    one = reading(1)
    assert canonical(replace(one, hr=71)) == canonical(
        replace(one, hr=71.0)
    )  # REAL reads back 71.0
    assert digest("session:s1", 1, GENESIS, one) != digest(
        "session:s1", 1, GENESIS, replace(one, spo2=96)
    )
    assert digest("session:s1", 1, GENESIS, one) != digest("session:s1", 2, GENESIS, one)
    event = EventEntry("north", "c01", "s1", T0, "X", {"pair": (1, 2), "n": {3: "x"}})
    assert canonical(event) == canonical(replace(event, data={"pair": [1, 2], "n": {"3": "x"}}))


def test_a_linker_continues_a_chain_from_the_head_the_store_has() -> None:
    first = stored([reading(1), reading(2)])
    head = first[-1].link
    assert head is not None
    more = (
        Linker()
        .links([reading(3)], lambda chain: (head.seq, head.hash) if chain == head.chain else None)
        .links
    )
    assert more[0] is not None
    assert (more[0].seq, more[0].prev) == (3, head.hash)
    row = ChainRow("readings", 3, reading(3), more[0])
    assert list(verify([*first, row])) == []


def test_a_failed_batch_leaves_the_heads_as_they_were() -> None:
    linker = Linker()
    linker.links([reading(1)], lambda chain: None)  # not committed: the transaction failed
    again = linker.links([reading(1)], lambda chain: None).links
    assert again[0] is not None
    assert again[0].seq == 1


def test_the_linker_keeps_the_heads_of_the_chains_used_last() -> None:
    reads: list[str] = []

    def head(chain: str) -> tuple[int, str] | None:
        reads.append(chain)
        return None

    linker = Linker(capacity=2)
    for session in ["s1", "s2", "s1", "s3"]:  # s2 is the one used longest ago when s3 comes
        linker.commit(linker.links([reading(1, session=session)], head))
    assert reads == ["session:s1", "session:s2", "session:s3"]
    linker.links([reading(2, session="s1")], head)
    assert reads[-1] == "session:s3"  # s1 still known
    linker.links([reading(2, session="s2")], head)
    assert reads[-1] == "session:s2"  # s2 read again from the store


@pytest.fixture
def chain() -> list[ChainRow]:
    return stored([reading(n) for n in range(1, 7)])


def only_fault(
    rows: list[ChainRow], seals: list[Seal] | None = None
) -> tuple[str, int | None, str]:
    faults = list(verify(rows, seals or []))
    assert len(faults) == 1, faults
    return faults[0].kind, faults[0].seq, faults[0].where


def test_a_reading_changed_by_hand_is_named(chain: list[ChainRow]) -> None:
    chain[2] = replace(chain[2], entry=replace(chain[2].entry, hr=180.0))
    assert only_fault(chain) == ("changed", 3, "readings row 3")


def test_a_row_deleted_is_named(chain: list[ChainRow]) -> None:
    del chain[3]
    assert only_fault(chain) == ("removed", 4, "readings row 5")


def test_the_last_row_deleted_is_caught_by_the_seal(chain: list[ChainRow]) -> None:
    head = chain[-1].link
    assert head is not None
    seal = Seal(head.chain, head.seq, head.hash, T0)
    assert list(verify(chain, [seal])) == []
    assert only_fault(chain[:-1], [seal])[:2] == ("removed", 6)


def test_two_rows_swapped_are_named(chain: list[ChainRow]) -> None:
    # their contents swapped, each row keeping its link
    a, b = chain[1], chain[4]
    chain[1], chain[4] = replace(a, entry=b.entry), replace(b, entry=a.entry)
    assert only_fault(chain) == ("changed", 2, "readings row 2")


def test_two_rows_swapped_with_their_links_are_named_as_reordered(chain: list[ChainRow]) -> None:
    a, b = chain[1], chain[4]
    chain[1], chain[4] = replace(b, row=a.row), replace(a, row=b.row)
    kind, _, where = only_fault(chain)
    assert (kind, where) == ("reordered", "readings row 2")


def test_a_row_inserted_by_hand_is_named(chain: list[ChainRow]) -> None:
    chain.insert(0, ChainRow("readings", 99, reading(99), None))  # a backend gives these first
    assert only_fault(chain) == ("inserted", None, "readings row 99")


def test_a_link_copied_in_twice_is_named(chain: list[ChainRow]) -> None:
    chain.insert(3, replace(chain[2], row=99))
    assert only_fault(chain)[:2] == ("inserted", 3)


def test_a_whole_chain_rewritten_consistently_is_caught_only_by_its_seal(
    chain: list[ChainRow],
) -> None:
    head = chain[-1].link
    assert head is not None
    seal = Seal(head.chain, head.seq, head.hash, T0)
    forged = stored([replace(r.entry, hr=60.0) for r in chain])  # type: ignore[arg-type]

    assert list(verify(forged)) == []  # consistent on its own
    kind, seq, where = only_fault(forged, [seal])
    assert (kind, seq) == ("rewritten", 6)
    assert where.startswith("seal of")


def test_a_sealed_chain_with_every_row_gone_is_named(chain: list[ChainRow]) -> None:
    head = chain[-1].link
    assert head is not None
    assert only_fault([], [Seal(head.chain, head.seq, head.hash, T0)])[:2] == ("removed", 1)


def test_each_chain_is_verified_on_its_own() -> None:
    one = stored([reading(n, "s1") for n in range(1, 4)])
    two = stored([reading(n, "s2") for n in range(1, 4)])
    two[1] = replace(two[1], entry=replace(two[1].entry, spo2=80.0))
    faults = list(verify([*one, *two]))
    assert [(f.chain, f.kind, f.seq) for f in faults] == [("session:s2", "changed", 2)]


def test_the_seal_log_appends_and_reads_back(tmp_path: object) -> None:
    log = SealLog(f"{tmp_path}/audit.db.seals.jsonl")
    assert list(log.read()) == []
    seals = [Seal("session:s1", 6, "ab" * 32, T0), Seal("site:north", 40, "cd" * 32, T0 + 1)]
    for seal in seals:
        log.append(seal)
    assert list(log.read()) == seals


def test_the_record_seals_a_session_after_the_event_the_core_closes_it_with() -> None:
    assert SessionClosed.__name__ == CLOSES  # the scribe records events by their class name

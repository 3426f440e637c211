"""A session's outcome for the audit, and its recovery in words.

The outcome comes from the session's summary alone (so a list of sessions needs no other read):

- `open`: the patient is still in the chair (the session is not closed);
- `no_infusion`: closed with no recovery check (no infusion ended in it);
- `recovered`, `recovered_late`, `overdue`, `cannot_assess`: the recovery status the record
  keeps for the session, which stays `overdue` when such a patient is then discharged
  (CLINICAL.md: missing the window is what the audit must show);
- `discharged_unconfirmed`: discharged while the window was still open and recovery not yet
  confirmed (the record keeps that as `watching`).

`recovery_words` tells the recovery from the session's events: when the infusion stopped, when
(if) the patient was back to baseline, why it could not be assessed, and who discharged the
patient before recovery was confirmed. The times of recovery are known only to the cuff's
resolution (every 5-10 min), and the words say so.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from monitor.domain.vocabulary import RecoveryStatus
from monitor.record import EventEntry, SessionEntry

__all__ = ["OUTCOME_WORDS", "Outcome", "Recovery", "outcome_of", "parse_outcome", "recovery_of"]


class Outcome(StrEnum):
    OPEN = "open"
    NO_INFUSION = "no_infusion"
    RECOVERED = "recovered"
    RECOVERED_LATE = "recovered_late"
    OVERDUE = "overdue"
    CANNOT_ASSESS = "cannot_assess"
    DISCHARGED_UNCONFIRMED = "discharged_unconfirmed"


OUTCOME_WORDS = {
    Outcome.OPEN: "still open",
    Outcome.NO_INFUSION: "no infusion ended",
    Outcome.RECOVERED: "recovered",
    Outcome.RECOVERED_LATE: "recovered late",
    Outcome.OVERDUE: "not recovered in the window",
    Outcome.CANNOT_ASSESS: "cannot assess",
    Outcome.DISCHARGED_UNCONFIRMED: "discharged before recovery confirmed",
}
_ALIASES = {
    "still_open": Outcome.OPEN,
    "not_recovered": Outcome.OVERDUE,
    "late": Outcome.RECOVERED_LATE,
}


def outcome_of(session: SessionEntry) -> Outcome:
    if session.closed_at is None:
        return Outcome.OPEN
    status = session.recovery_status
    if status is None:
        return Outcome.NO_INFUSION
    if status == RecoveryStatus.WATCHING:
        return Outcome.DISCHARGED_UNCONFIRMED
    try:
        return Outcome(status)
    except ValueError:
        return Outcome.CANNOT_ASSESS  # a status this version does not know: not a recovery


def parse_outcome(text: str) -> Outcome:
    """An outcome as an auditor may type it: `overdue`, `recovered late`, `still-open`, ...

    Raises:
        ValueError: no such outcome; the message lists them.
    """
    word = text.strip().lower().replace("-", "_").replace(" ", "_")
    if word in _ALIASES:
        return _ALIASES[word]
    try:
        return Outcome(word)
    except ValueError:
        known = ", ".join(o.value for o in Outcome)
        raise ValueError(f"no outcome {text!r}: use one of {known}") from None


@dataclass(frozen=True, slots=True)
class Recovery:
    """What the session's events say of its recovery (None where they say nothing)."""

    status: str | None
    infusion_stopped_at: float | None
    recovered_at: float | None
    reason: str | None
    discharged_by: str | None  # who discharged the patient before recovery was confirmed
    updated_at: float | None  # the last recovery update

    def words(self, outcome: Outcome, *, when: Callable[[float], str]) -> str:
        """The recovery in a sentence, times written by `when` (epoch seconds to text)."""
        stopped = (
            f"the infusion stopped at {when(self.infusion_stopped_at)}"
            if self.infusion_stopped_at
            else None
        )
        text = OUTCOME_WORDS[outcome]
        if self.recovered_at is not None and self.infusion_stopped_at is not None:
            minutes = (self.recovered_at - self.infusion_stopped_at) / 60
            text += (
                f": back to baseline at {when(self.recovered_at)}, {minutes:.0f} min after "
                f"{stopped} (known to the cuff's resolution)"
            )
        elif stopped:
            text += f": {stopped}"
        if self.reason and outcome is not Outcome.RECOVERED:
            text += f"; {self.reason}"
        if self.discharged_by:
            text += f"; discharged before recovery was confirmed, by {self.discharged_by}"
        return text


def recovery_of(events: Sequence[EventEntry]) -> Recovery:
    """The recovery from the session's events: its last update, and the closing."""
    updates = [e for e in events if e.type == "RecoveryUpdate"]
    last: dict[str, Any] = updates[-1].data if updates else {}
    return Recovery(
        status=last.get("status"),
        infusion_stopped_at=last.get("infusion_stopped_at"),
        recovered_at=last.get("recovered_at"),
        reason=last.get("reason"),
        discharged_by=last.get("discharged_by"),
        updated_at=updates[-1].ts if updates else None,
    )

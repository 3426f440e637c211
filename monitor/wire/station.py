"""The rules the nurses' station needs in the browser, built from the domain and sent in `hello`.

The browser shows what the service decides, but between two chair states it has to order alarms,
offer the nurse only the steps the session can take, tell a session's NO DATA from an empty
chair's, and bring an audio pause's end forward when a new alarm breaks it. Those rules live in
`monitor.domain`; this module turns them into plain JSON so the browser never keeps a copy.
"""

from __future__ import annotations

from typing import Any

from monitor.domain.alarms import AlarmPriority, breaks_audio_pause
from monitor.domain.commands import MAX_AUDIO_PAUSE_S
from monitor.domain.session import PHASES, Phase, Step


def station_tables(*, audio_pause_s: float) -> dict[str, Any]:
    """The station's rules as JSON-ready data.

    Args:
        audio_pause_s: how long the station's "Pause audio" button pauses a chair (the station's
            own choice, within the domain's limit).

    Returns:
        `priorities`: alarm priorities, worst first, each with its rank (higher is worse).
        `in_session`: the phases in which a patient is in the chair.
        `steps`: per phase, the nurse's steps the session's transition table accepts.
        `audio_pause`: the button's seconds, the longest pause the service accepts, and the
        priorities whose newly raised alarm ends any pause at once.
    """
    if not 0 < audio_pause_s <= MAX_AUDIO_PAUSE_S:
        raise ValueError(
            f"the station's audio pause must be 1-{MAX_AUDIO_PAUSE_S:g} s (the service refuses "
            f"longer), not {audio_pause_s:g}"
        )
    return {
        "priorities": [{"priority": p.value, "rank": p.rank} for p in _worst_first()],
        "in_session": [phase.value for phase in Phase if phase.open],
        "steps": {phase.value: [s.value for s in legal_steps(phase)] for phase in Phase},
        "audio_pause": {
            "seconds": audio_pause_s,
            "max_seconds": MAX_AUDIO_PAUSE_S,
            "broken_by": [p.value for p in _worst_first() if _breaks_every_pause(p)],
        },
    }


def legal_steps(phase: Phase) -> list[Step]:
    """The steps `PHASES` accepts in `phase`, in the order of `Step` (the buttons' order)."""
    return [step for step in Step if (phase, step) in PHASES]


def _worst_first() -> list[AlarmPriority]:
    return sorted(AlarmPriority, key=lambda p: p.rank, reverse=True)


def _breaks_every_pause(priority: AlarmPriority) -> bool:
    """The domain's rule (`breaks_audio_pause`) for a pause taken over the highest rank there
    is: the browser does not know the rank that was paused, so it may only apply the part that
    holds for every pause."""
    return breaks_audio_pause(priority, paused_rank=max(p.rank for p in AlarmPriority))

"""A log that stays readable under a flood: the first message of each kind at once, then at
most one a minute per kind with the count of those held back. Neutral: the service and the
station both use it, and it imports nothing of either.

How this works: kinds (a topic and a reason class, say) are kept in an ordered map by when
each was last logged, so the oldest comes first and kinds whose minute is over are forgotten
from the front, a constant cost per message however many kinds a flood brings. At most
`remembered` kinds are held; beyond that, new kinds share one line a minute (`many kinds`), so
junk topics by the ten thousand cost neither memory nor time, and still say they are there.
The count held back of a kind is said with its next line ("9 more since the last report").
"""

from __future__ import annotations

import logging
from collections import OrderedDict

SUPPRESS_S = 60.0
MAX_REMEMBERED = 1000
SHOWN_CHARS = 200  # of a key in a line: a junk topic of 60,000 characters is not logged whole
MANY = "(many kinds at once)"


class QuietLog:
    def __init__(
        self,
        logger: logging.Logger,
        *,
        every_s: float = SUPPRESS_S,
        remembered: int = MAX_REMEMBERED,
        level: int = logging.WARNING,
    ) -> None:
        self.logger, self.every_s, self.remembered, self.level = logger, every_s, remembered, level
        self._last: OrderedDict[tuple[str, str], float] = OrderedDict()  # oldest logged first
        self._held: dict[tuple[str, str], int] = {}

    def say(self, wall: float, key: str, kind: str, message: str) -> bool:
        """Log `message` about `key` (a topic) of `kind` at wall time `wall`, unless one of the
        same key and kind was logged less than `every_s` ago; True when it was logged. Put
        `shown(key)` in the message, not a junk key whole."""
        self._forget(wall)
        slot = (shown(key), kind)
        if slot not in self._last and len(self._last) >= self.remembered:
            slot = (MANY, kind)
        last = self._last.get(slot)
        if last is not None and 0 <= wall - last < self.every_s:
            if slot not in self._held and len(self._held) >= self.remembered:
                self._held.pop(next(iter(self._held)))
            self._held[slot] = self._held.get(slot, 0) + 1
            return False
        self._last[slot] = wall
        self._last.move_to_end(slot)
        held = self._held.pop(slot, 0)
        more = f" ({held} more since the last report)" if held else ""
        self.logger.log(self.level, "%s%s", message, more)
        return True

    def warning(self, wall: float, *, topic: str, category: str, reason: str) -> None:
        """The service's refusals: `category on topic: reason`."""
        self.say(wall, topic, category, f"{category} on {shown(topic)}: {reason}")

    def __len__(self) -> int:
        """Kinds held now (at most `remembered`, plus the shared one)."""
        return len(self._last)

    def _forget(self, wall: float) -> None:
        while self._last:
            slot, at = next(iter(self._last.items()))
            if 0 <= wall - at < self.every_s:
                return  # the oldest is still in its minute: so is every later one
            del self._last[slot]  # its count held back stays, for its next line


def shown(key: str) -> str:
    """`key` as a line shows it: a junk topic of 60,000 characters is cut, with its length."""
    return key if len(key) <= SHOWN_CHARS else f"{key[:SHOWN_CHARS]}... ({len(key)} characters)"

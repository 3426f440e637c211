"""Times as the audit writes and reads them.

The record keeps event times as epoch seconds on the chair's timeline. Exports write them in
ISO-8601 UTC with milliseconds (the contract's own format); the terminal shows the local time
zone's wall clock (the TZ environment variable, else the machine's), and says which zone.
`--from` and `--to` take an ISO date or datetime, in that local zone unless they name one.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from monitor.wire.payloads import format_event_time

__all__ = ["duration", "local", "local_zone", "parse_bound", "utc"]

WHEN_HELP = "an ISO date (2026-11-18) or datetime (2026-11-18T10:30, with Z or +01:00 for a zone)"


def utc(ts: float) -> str:
    """`ts` in ISO-8601 UTC with milliseconds: 2026-11-18T10:00:00.000Z."""
    return format_event_time(ts)


def local(ts: float, *, day: bool = True) -> str:
    """`ts` on the local wall clock: 2026-11-18 10:00:00 (or 10:00:00 with `day` False)."""
    moment = datetime.fromtimestamp(ts).astimezone()
    return moment.strftime("%Y-%m-%d %H:%M:%S" if day else "%H:%M:%S")


def local_zone(ts: float) -> str:
    """The local zone at `ts`, for saying which one the times are in: "CET (UTC+01:00)"."""
    moment = datetime.fromtimestamp(ts).astimezone()
    offset = moment.strftime("%z")
    return f"{moment.tzname()} (UTC{offset[:3]}:{offset[3:]})"


def duration(seconds: float) -> str:
    """A span as h:mm:ss (1:01:00)."""
    whole = round(seconds)
    sign, whole = ("-", -whole) if whole < 0 else ("", whole)
    return f"{sign}{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def parse_bound(text: str, *, end: bool) -> float:
    """An ISO date or datetime as epoch seconds, local unless it names a zone. A date as the
    end of a range means up to the end of that day (the start of the next).

    Raises:
        ValueError: `text` is neither; the message says what to write.
    """
    try:
        if len(text) == 10:
            day: date | datetime = date.fromisoformat(text)
        else:
            day = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not {WHEN_HELP}") from None
    try:
        if not isinstance(day, datetime):
            day = datetime.combine(day + timedelta(days=1 if end else 0), time())
        return (day if day.tzinfo else day.astimezone()).timestamp()
    except (ValueError, OverflowError, OSError):  # a year the clock cannot hold: 9999-12-31
        raise ValueError(f"{text!r} is out of the range of dates the record holds") from None

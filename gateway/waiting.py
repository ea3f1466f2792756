"""When a person may try again, as the pages say it: Paris time, "14 h 32".

Pure functions (no I/O, ``now`` always passed in). The time shown is rounded *up* to the minute:
"à partir de 14 h 32" must never name a moment before the real end of the wait, or the person
who comes back on time would be refused again.

French typography: "14 h 32" with no-break spaces, so the time never splits across two lines
(the text a person reads, and a screen reader, are the same as with ordinary spaces).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

__all__ = ["PARIS", "available_at", "clock_time", "from_time", "parse_instant", "round_up_to_minute"]

PARIS = ZoneInfo("Europe/Paris")
NBSP = "\u00a0"
_MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
           "novembre", "décembre")


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def round_up_to_minute(at: datetime) -> datetime:
    """``at`` itself on a whole minute, else the next whole minute (never earlier than ``at``)."""
    at = _aware(at)
    floor = at.replace(second=0, microsecond=0)
    return floor if floor == at else floor + timedelta(minutes=1)


def clock_time(at: datetime) -> str:
    """``at`` as a Paris wall-clock time, rounded up to the minute: ``14 h 32``, ``9 h 05``, ``0 h 00``."""
    local = round_up_to_minute(at).astimezone(PARIS)
    return f"{local.hour}{NBSP}h{NBSP}{local.minute:02d}"


def from_time(at: datetime, *, now: datetime) -> str:
    """``à partir de 14 h 32``; ``à partir de demain, 0 h 05`` or ``à partir du 5 décembre, 9 h 05``
    when the (rounded) time falls on another day in Paris than ``now``."""
    end = round_up_to_minute(at).astimezone(PARIS)
    today = _aware(now).astimezone(PARIS).date()
    if end.date() <= today:
        return f"à partir de {clock_time(end)}"
    if end.date() == today + timedelta(days=1):
        return f"à partir de demain, {clock_time(end)}"
    day = "1er" if end.day == 1 else str(end.day)
    return f"à partir du {day}{NBSP}{_MONTHS[end.month - 1]}, {clock_time(end)}"


def parse_instant(value) -> datetime | None:
    """An ISO 8601 instant from an upstream answer (``Z`` or an offset; naive read as UTC), else None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return _aware(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError:
        return None


def available_at(*, now: datetime, retry_after: float | None = None, at: datetime | None = None) -> datetime:
    """When the wait ends: ``at`` when the upstream said it, else ``now`` + ``retry_after`` seconds
    (whole seconds, rounded up; 60 when unknown)."""
    if at is not None:
        return _aware(at)
    seconds = 60 if retry_after is None else max(1, math.ceil(retry_after))
    return _aware(now) + timedelta(seconds=seconds)

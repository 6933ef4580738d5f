"""The product's clock: the system clock, or — in development only — a clock moved to a chosen
moment (`Settings.clock_start`), so a demo can live through a visit day (book by phone, the
morning itinerary, the agent at the door) whenever it is run. Production refuses the setting.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

from dispatch.config import Settings
from dispatch.ports import Clock, SystemClock


class ShiftedClock:
    """Runs at the real pace from `start`, which was the time when it was made."""

    def __init__(self, start: dt.datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("clock_start needs a time zone, e.g. 2030-06-03T07:30+05:30")
        self.offset = start.astimezone(dt.UTC) - dt.datetime.now(dt.UTC)

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + self.offset


@lru_cache(maxsize=4)
def _shifted(start: dt.datetime) -> ShiftedClock:
    return ShiftedClock(start)


def clock_for(settings: Settings) -> Clock:
    """The clock `settings` ask for (one shifted clock per start, per process)."""
    if settings.clock_start is None:
        return SystemClock()
    return _shifted(settings.clock_start)


def time_of_day(text: str) -> dt.time:
    """A setting's local time of day, "HH:MM" (`itinerary_at`, `reminder_at`, ...)."""
    hours, minutes = text.split(":")
    return dt.time(int(hours), int(minutes))

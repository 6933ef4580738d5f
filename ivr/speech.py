"""Values as the line speaks them: reference numbers digit by digit, money in rupees from
integer paise, dates and two-hour windows in the state's local time, lists with "and".

Every word comes from the prompt files (`ivr.prompts`), so a new language needs no code.
Times are stored in UTC and spoken in the state's time zone (Asia/Kolkata for J&K).
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from ivr.prompts import P, Prompts

_PERIODS = (
    (5, P.PERIOD_NIGHT),
    (12, P.PERIOD_MORNING),
    (16, P.PERIOD_AFTERNOON),
    (20, P.PERIOD_EVENING),
    (24, P.PERIOD_NIGHT),
)


class Speech:
    """Spoken forms of values in one language (`language` must have words: a TTS language)."""

    def __init__(self, prompts: Prompts, language: str, timezone: str) -> None:
        self.prompts = prompts
        self.language = language
        self.tz = ZoneInfo(timezone)

    def _t(self, key: P, **values: str | int) -> str:
        return self.prompts.text(key, self.language, **values)

    def digits(self, digits: str) -> str:
        """`260001237` -> "two, six, zero, ..." : one word per digit, a pause between."""
        words = [self._t(P(f"digit_{d}")) for d in digits if d.isdigit()]
        return ", ".join(words)

    def money(self, paise: int) -> str:
        rupees, rest = divmod(paise, 100)
        if rest:
            return self._t(P.AMOUNT_RUPEES_PAISE, rupees=rupees, paise=rest)
        return self._t(P.AMOUNT_RUPEES, rupees=rupees)

    def listing(self, items: list[str]) -> str:
        """ "a, b and c" in the language."""
        items = [i for i in items if i.strip()]
        if len(items) <= 1:
            return "".join(items)
        return f"{', '.join(items[:-1])} {self._t(P.WORD_AND)} {items[-1]}"

    def local(self, moment: dt.datetime) -> dt.datetime:
        return moment.astimezone(self.tz)

    def date(self, day: dt.date, *, today: dt.date) -> str:
        """ "today", "tomorrow", else "Thursday 3 December" (the SMS carries the full date)."""
        if day == today:
            return self._t(P.TODAY)
        if day == today + dt.timedelta(days=1):
            return self._t(P.TOMORROW)
        return self._t(
            P.DATE,
            weekday=self._t(P(f"weekday_{day.weekday()}")),
            day=day.day,
            month=self._t(P(f"month_{day.month}")),
        )

    def _period(self, moment: dt.datetime) -> P | None:
        local = self.local(moment)
        if local.hour == 12 and local.minute == 0:
            return None  # noon is a word of its own
        return next(key for limit, key in _PERIODS if local.hour < limit)

    def clock(self, moment: dt.datetime, *, bare: bool = False) -> str:
        """ "10 in the morning", "2 30 in the afternoon", "12 noon"; `bare` leaves out the part
        of the day (when the end of a window names it)."""
        local = self.local(moment)
        hour, minute = local.hour, local.minute
        period = self._period(moment)
        if period is None:
            return self._t(P.NOON)
        twelve = hour % 12 or 12
        if bare:
            if minute:
                return self._t(P.CLOCK_BARE_MINUTE, hour=twelve, minute=f"{minute:02d}")
            return self._t(P.CLOCK_BARE, hour=twelve)
        if minute:
            return self._t(
                P.CLOCK_HOUR_MINUTE,
                period=self._t(period),
                hour=twelve,
                minute=f"{minute:02d}",
            )
        return self._t(P.CLOCK_HOUR, period=self._t(period), hour=twelve)

    def _window_parts(
        self, start: dt.datetime, end: dt.datetime, now: dt.datetime, *, sentence: bool
    ) -> dict[str, str | int]:
        today = self.local(now).date()
        day = self.local(start).date()
        date = self.date(day, today=today)
        if sentence and day - today > dt.timedelta(days=1):
            date = self._t(P.DATE_ON, date=date)
        # Both ends in the same part of the day: name it once, where the language puts it
        # ("9 to 11 in the morning", "सुबह 9 बजे से 11 बजे तक").
        same_part = self._period(start) is not None and self._period(start) == self._period(end)
        template = self.prompts.template(P.CLOCK_HOUR, self.language)
        part_first = template.index("{period}") < template.index("{hour}")
        return {
            "date": date,
            "start": self.clock(start, bare=same_part and not part_first),
            "end": self.clock(end, bare=same_part and part_first),
        }

    def window(self, start: dt.datetime, end: dt.datetime, *, now: dt.datetime) -> str:
        """The window in a sentence: "on Tuesday 24 November, between ... and ...", or for
        today and tomorrow "today, between ..." (Hindi "आज सुबह 9 बजे से ...", no "को")."""
        ahead = self.local(start).date() - self.local(now).date()
        soon = dt.timedelta(0) <= ahead <= dt.timedelta(days=1)
        key = P.WINDOW_SOON if soon else P.WINDOW
        return self._t(key, **self._window_parts(start, end, now, sentence=True))

    def window_short(self, start: dt.datetime, end: dt.datetime, *, now: dt.datetime) -> str:
        """The window as a menu item: "Tuesday 24 November, 10 in the morning to 12 noon"."""
        return self._t(P.WINDOW_SHORT, **self._window_parts(start, end, now, sentence=False))

"""The arithmetic of pendency: the two clocks a supervisor answers for, pure (no database, no
clock: every moment, calendar and request is passed in).

- **The legal clock.** A service's time limit under the state's public-services guarantee act
  (J&K PSGA 2011, Punjab RTS 2011) counts the state's *working days* (`WorkCalendar`: its
  working week less its gazetted holidays, both data) from the day after the application. The
  due date is the day on which the N-th working day after the application day ends
  (`WorkCalendar.add_working_days`). An open request is `breached` once its due date is past,
  `forecast` to breach when its planned visit falls after its due date (or it has no usable
  window and too few working days are left to give it one), `due_soon` with two working days
  left or fewer, else `on_time`; a service without a time limit is `no_limit`.
- **The promise clock.** The visit window the citizen was given: `no_window` yet (never
  given, or the visit must be given a new one), `on_track`, `at_risk` (the plan says the agent
  will be late, or the agent's real progress did) or `missed` (the window is over and nobody
  came).
- **Age.** Calendar days since the application day, everywhere (bands, lists, exports): how
  long the citizen has been waiting, as they count it. Only the legal clock counts working
  days, because the law does.
- **On time.** A completed request was on time for the law if completed on or before its due
  date, and kept its promise if the agent arrived by the end of its window (`promise_kept`:
  early counts as kept).

Not here: the queries (`dispatch.pendency.service`, which applies these same rules in SQL for
many requests at once), the pages.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from functools import cached_property

#: Weekday names as states list their working week (`State.working_days`), Monday first.
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

#: "Due soon" means this many working days left or fewer. Two, because a request with two
#: working days left can still be visited on the next one with a day to spare for a visit
#: that fails at the door (a missing document) to be made again. Not the planner's measure:
#: `dispatch.requests.rules.visit_priority` counts calendar days (two or fewer raise a
#: visit's priority) and is worked out once, when the request is logged, so a request that
#: becomes due soon while it waits is not hurried by the plan; this page is what shows it.
DUE_SOON_WORKING_DAYS = 2
#: A request with no usable window needs at least this many working days left to be visited
#: in time: the day's plans are made and the agents have their itineraries by morning, so the
#: earliest a new window is normally kept is the next working day.
VISIT_LEAD_WORKING_DAYS = 1
#: Weeks of on-time rates a supervisor sees (the current week, so far, is the last).
RATE_WEEKS = 12


@dataclass(frozen=True)
class WorkCalendar:
    """The days a state's offices work: weekdays (0 = Monday) less gazetted holidays."""

    working_weekdays: frozenset[int]
    holidays: frozenset[dt.date] = frozenset()

    def __post_init__(self) -> None:
        if not self.working_weekdays:
            raise ValueError("a working week needs at least one working day")
        if not self.working_weekdays <= frozenset(range(7)):
            raise ValueError(f"weekdays are 0..6, not {sorted(self.working_weekdays)}")

    @classmethod
    def of(cls, working_days: Iterable[str], holidays: Iterable[dt.date] = ()) -> WorkCalendar:
        """From a state's data: `["mon", ..., "sat"]` and its holidays' dates."""
        weekdays = set()
        for name in working_days:
            if name not in WEEKDAYS:
                raise ValueError(f"{name!r} is not one of {', '.join(WEEKDAYS)}")
            weekdays.add(WEEKDAYS.index(name))
        return cls(frozenset(weekdays), frozenset(holidays))

    @classmethod
    def every_day(cls) -> WorkCalendar:
        """Every day counts: plain calendar-day arithmetic."""
        return cls(frozenset(range(7)))

    def is_working(self, day: dt.date) -> bool:
        return day.weekday() in self.working_weekdays and day not in self.holidays

    def add_working_days(self, start: dt.date, n: int) -> dt.date:
        """The day on which the `n`-th working day after `start` ends (`start` itself does not
        count, worked or not); `start` for n = 0."""
        if n < 0:
            raise ValueError(f"cannot count {n} working days")
        day = start
        while n:
            day += dt.timedelta(days=1)
            if self.is_working(day):
                n -= 1
        return day

    def working_days_between(self, start: dt.date, end: dt.date) -> int:
        """How many working days lie after `start` up to and including `end`; negative (the
        same count) when `end` is before `start`. So it adds up: a->b plus b->c is a->c."""
        if end < start:
            return -self.working_days_between(end, start)
        weeks, rest = divmod((end - start).days, 7)
        count = weeks * len(self.working_weekdays) + self._worked_after[start.weekday()][rest]
        days_off = self._holidays_on_working_weekdays
        return count - (bisect.bisect_right(days_off, end) - bisect.bisect_right(days_off, start))

    @cached_property
    def last_holiday(self) -> dt.date | None:
        """The latest holiday on record (None: none at all)."""
        return max(self.holidays, default=None)

    def knows_holidays_after(self, day: dt.date) -> bool:
        """Whether a holiday on record falls after `day`. If none does, a due date counted
        from `day` takes no holiday off: the state's gazetted holidays have run out (they are
        loaded a year or two at a time) and every working weekday counts."""
        return self.last_holiday is not None and self.last_holiday > day

    @cached_property
    def _worked_after(self) -> tuple[tuple[int, ...], ...]:
        """[weekday][k]: working weekdays among the k days after a day of that weekday."""
        return tuple(
            tuple(
                sum((first + i) % 7 in self.working_weekdays for i in range(1, k + 1))
                for k in range(7)
            )
            for first in range(7)
        )

    @cached_property
    def _holidays_on_working_weekdays(self) -> tuple[dt.date, ...]:
        """The holidays that fall on working weekdays, in order (what a count takes off)."""
        return tuple(sorted(h for h in self.holidays if h.weekday() in self.working_weekdays))


def due_date(
    application_day: dt.date, time_limit_days: int | None, calendar: WorkCalendar
) -> dt.date | None:
    """The day by which the law requires delivery: the end of the `time_limit_days`-th
    working day after the application day (None: the service has no time limit)."""
    if time_limit_days is None:
        return None
    return calendar.add_working_days(application_day, time_limit_days)


# --- one open request, as the two clocks see it --------------------------------------------


class Stage(StrEnum):
    """Where the visit of an open request stands (the service maps statuses onto these)."""

    WAITING = "waiting"  # no window to keep: logged, rescheduled, failed or no-show at the door
    PLANNED = "planned"  # a window given: scheduled, assigned, agent on the way
    AT_DOOR = "at_door"  # the agent has arrived


class LegalState(StrEnum):
    ON_TIME = "on_time"
    DUE_SOON = "due_soon"
    FORECAST = "forecast"
    BREACHED = "breached"
    NO_LIMIT = "no_limit"

    @property
    def label(self) -> str:
        return LEGAL_LABELS[self]

    @property
    def breaching(self) -> bool:
        """Past its time limit, or going to be: what a supervisor must act on."""
        return self in (LegalState.BREACHED, LegalState.FORECAST)


LEGAL_LABELS = {
    LegalState.ON_TIME: "on time",
    LegalState.DUE_SOON: "due soon",
    LegalState.FORECAST: "forecast to breach",
    LegalState.BREACHED: "breached",
    LegalState.NO_LIMIT: "no time limit",
}


class LegalSeverity(IntEnum):
    """How bad each legal state is (no limit is not on the scale: it cannot be late)."""

    ON_TIME = 0
    DUE_SOON = 1
    FORECAST = 2
    BREACHED = 3


SEVERITY = {
    LegalState.ON_TIME: LegalSeverity.ON_TIME,
    LegalState.DUE_SOON: LegalSeverity.DUE_SOON,
    LegalState.FORECAST: LegalSeverity.FORECAST,
    LegalState.BREACHED: LegalSeverity.BREACHED,
}


class PromiseState(StrEnum):
    NO_WINDOW = "no_window"
    ON_TRACK = "on_track"
    AT_RISK = "at_risk"
    MISSED = "missed"

    @property
    def label(self) -> str:
        return PROMISE_LABELS[self]


PROMISE_LABELS = {
    PromiseState.NO_WINDOW: "no window yet",
    PromiseState.ON_TRACK: "on track",
    PromiseState.AT_RISK: "at risk",
    PromiseState.MISSED: "missed",
}


@dataclass(frozen=True)
class OpenRequest:
    """What the clocks need of an open request (times UTC, days in the state's local date)."""

    application_day: dt.date
    due_date: dt.date | None
    stage: Stage
    window_start: dt.datetime | None = None
    window_end: dt.datetime | None = None
    planned_arrival: dt.datetime | None = None
    at_risk: bool = False

    def has_live_window(self, now: dt.datetime) -> bool:
        """A window given and not yet over: the visit is still planned to happen in it."""
        return (
            self.stage is Stage.PLANNED
            and self.window_start is not None
            and self.window_end is not None
            and now <= self.window_end
        )

    def planned_visit(self) -> dt.datetime | None:
        """When the plan says the agent arrives (the window's start when it does not say)."""
        return self.planned_arrival or self.window_start


@dataclass(frozen=True)
class LegalCutoffs:
    """The legal clock's thresholds for one day, as due dates (what a query compares with):
    a request due before `forecast_before` with no usable window is forecast to breach; one
    due before `due_soon_before` is due soon; one due before `today` is breached."""

    today: dt.date
    forecast_before: dt.date
    due_soon_before: dt.date


def legal_cutoffs(today: dt.date, calendar: WorkCalendar) -> LegalCutoffs:
    """Fewer than k working days left (after today, up to the due date) is the same as a due
    date before the k-th working day after today: working days left only grow with the due
    date."""
    return LegalCutoffs(
        today=today,
        forecast_before=calendar.add_working_days(today, VISIT_LEAD_WORKING_DAYS),
        due_soon_before=calendar.add_working_days(today, DUE_SOON_WORKING_DAYS + 1),
    )


def legal_state(
    request: OpenRequest, *, now: dt.datetime, tz: dt.tzinfo, calendar: WorkCalendar
) -> LegalState:
    """The legal clock of one open request at `now` (the state's zone `tz` gives its days)."""
    due = request.due_date
    if due is None:
        return LegalState.NO_LIMIT
    today = now.astimezone(tz).date()
    if today > due:
        return LegalState.BREACHED
    left = calendar.working_days_between(today, due)
    visit = request.planned_visit()
    if request.has_live_window(now) and visit is not None:
        if visit.astimezone(tz).date() > due:
            return LegalState.FORECAST
    elif request.stage is not Stage.AT_DOOR and left < VISIT_LEAD_WORKING_DAYS:
        return LegalState.FORECAST
    if left <= DUE_SOON_WORKING_DAYS:
        return LegalState.DUE_SOON
    return LegalState.ON_TIME


def promise_state(request: OpenRequest, *, now: dt.datetime) -> PromiseState:
    """The promise clock of one open request at `now`."""
    if request.stage is Stage.AT_DOOR:
        return PromiseState.ON_TRACK
    if request.stage is Stage.WAITING or request.window_start is None:
        return PromiseState.NO_WINDOW
    if request.window_end is None:
        return PromiseState.NO_WINDOW
    if now > request.window_end:
        return PromiseState.MISSED
    late = request.planned_arrival is not None and request.planned_arrival > request.window_end
    if request.at_risk or late:
        return PromiseState.AT_RISK
    return PromiseState.ON_TRACK


# --- age --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AgeBand:
    """Requests `low`..`high` calendar days old (no `high`: and older)."""

    key: str
    low: int
    high: int | None

    @property
    def label(self) -> str:
        return f"{self.low}–{self.high} days" if self.high is not None else f"{self.low}+ days"

    def holds(self, days: int) -> bool:
        return self.low <= days and (self.high is None or days <= self.high)


AGE_BANDS: tuple[AgeBand, ...] = (
    AgeBand("0-2", 0, 2),
    AgeBand("3-7", 3, 7),
    AgeBand("8-15", 8, 15),
    AgeBand("16-30", 16, 30),
    AgeBand("31+", 31, None),
)
BAND_BY_KEY = {band.key: band for band in AGE_BANDS}


def age_days(application_day: dt.date, today: dt.date) -> int:
    """Calendar days since the application day (0 on the day itself)."""
    return max(0, (today - application_day).days)


def age_band(days: int) -> AgeBand:
    for band in AGE_BANDS:
        if band.holds(days):
            return band
    raise ValueError(f"no band for {days} days")  # negative ages are clipped by age_days


def band_oldest_days(today: dt.date) -> list[tuple[AgeBand, dt.date]]:
    """For each band, the latest application day that is at least its `low` days old: a
    request applied for on or before that day is in the band or an older one."""
    return [(band, today - dt.timedelta(days=band.low)) for band in AGE_BANDS]


# --- on time ----------------------------------------------------------------------------------


def legal_on_time(completed_day: dt.date, due: dt.date) -> bool:
    """Delivered on or before the due date (both the state's local dates)."""
    return completed_day <= due


def promise_kept(
    arrived_at: dt.datetime | None, window_start: dt.datetime | None, window_end: dt.datetime | None
) -> bool | None:
    """The agent arrived no later than the window's end (None: nothing to judge, no window or
    no arrival). Arriving before the window's start counts as kept: the promise to the citizen
    is that someone comes by the end of the window they were given, and an early agent either
    waits or finds the citizen at home; what a citizen complains of is an agent who came after
    it, or never (an early arrival that found nobody home is a no-show, not a completion)."""
    if arrived_at is None or window_start is None or window_end is None:
        return None
    return arrived_at <= window_end


def week_of(day: dt.date) -> dt.date:
    """The Monday that starts `day`'s week."""
    return day - dt.timedelta(days=day.weekday())


def rate_weeks(today: dt.date, weeks: int = RATE_WEEKS) -> list[dt.date]:
    """The Mondays of the last `weeks` weeks, oldest first; the last is this week's."""
    this_week = week_of(today)
    return [this_week - dt.timedelta(weeks=weeks - 1 - i) for i in range(weeks)]


@dataclass(frozen=True)
class WeekRate:
    """Completions of one week and how many were on time on each clock."""

    week: dt.date
    completed: int = 0
    legal_counted: int = 0  # completed requests with a time limit
    legal_on_time: int = 0
    promise_counted: int = 0  # completed requests with a window and an arrival
    promise_kept: int = 0

    @property
    def legal_rate(self) -> float | None:
        """Percent on time for the law (None: nothing with a time limit was completed)."""
        return percent(self.legal_on_time, self.legal_counted)

    @property
    def promise_rate(self) -> float | None:
        return percent(self.promise_kept, self.promise_counted)


def percent(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


@dataclass(frozen=True)
class Completion:
    """A completed request, as the on-time rates see it (days local, times UTC)."""

    completed_day: dt.date
    due_date: dt.date | None
    arrived_at: dt.datetime | None
    window_start: dt.datetime | None
    window_end: dt.datetime | None


def weekly_rates(
    completions: Iterable[Completion], *, today: dt.date, weeks: int = RATE_WEEKS
) -> list[WeekRate]:
    """On-time rates per week for the last `weeks` weeks (completions outside are ignored)."""
    mondays = rate_weeks(today, weeks)
    tally = {m: [0, 0, 0, 0, 0] for m in mondays}
    for done in completions:
        counts = tally.get(week_of(done.completed_day))
        if counts is None or done.completed_day > today:
            continue
        counts[0] += 1
        if done.due_date is not None:
            counts[1] += 1
            counts[2] += legal_on_time(done.completed_day, done.due_date)
        kept = promise_kept(done.arrived_at, done.window_start, done.window_end)
        if kept is not None:
            counts[3] += 1
            counts[4] += kept
    return [WeekRate(m, *tally[m]) for m in mondays]


def overall(rates: Sequence[WeekRate]) -> WeekRate:
    """The weeks added up (its `week` is the first one's)."""
    first = rates[0].week if rates else dt.date.min
    return WeekRate(
        first,
        sum(r.completed for r in rates),
        sum(r.legal_counted for r in rates),
        sum(r.legal_on_time for r in rates),
        sum(r.promise_counted for r in rates),
        sum(r.promise_kept for r in rates),
    )

"""Window arithmetic across midnight, IST and UTC, and month and year ends (hypothesis).

A visit window is planned in seconds since the zone-day's local midnight
(`dispatch.planning.zone.Clock`) and stored in UTC; India's day starts at 18:30 UTC the day
before, so a window between 00:00 and 05:30 IST lies on the previous UTC date, and one across
05:30 IST straddles UTC midnight. The settings' times of day (`dispatch.clock.time_of_day`)
are local. The legal time limit counts working days (`dispatch.pendency.rules`); what
tests/dispatch/test_pendency_rules.py already checks (the count against one day at a time over
random calendars) is not repeated: here the calendars crowd their holidays around month and
year ends, where a day-by-day count and a weekly formula are likeliest to part."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from dispatch.clock import time_of_day
from dispatch.pendency.rules import WorkCalendar, due_date
from dispatch.planning.zone import Clock

IST = ZoneInfo("Asia/Kolkata")
#: Seconds from local midnight to UTC midnight in India (05:30).
UTC_MIDNIGHT_IN_IST = 5 * 3600 + 30 * 60
DAY_SECONDS = 24 * 3600

days = st.dates(min_value=dt.date(2020, 1, 1), max_value=dt.date(2060, 12, 31))
seconds = st.integers(min_value=0, max_value=DAY_SECONDS - 1)


@given(days, seconds)
def test_a_local_second_goes_to_utc_and_back_on_its_own_day(day: dt.date, second: int) -> None:
    clock = Clock(day, IST)
    when = clock.at(second)
    assert when.tzinfo == dt.UTC
    assert clock.seconds(when) == second
    local = when.astimezone(IST)
    assert local.date() == day
    assert local.hour * 3600 + local.minute * 60 + local.second == second
    # Before 05:30 IST it is still the previous day in UTC.
    expected = day - dt.timedelta(days=1) if second < UTC_MIDNIGHT_IN_IST else day
    assert when.date() == expected


@given(days, seconds, st.integers(min_value=1, max_value=12 * 3600))
def test_a_window_keeps_its_length_and_order_in_utc(day: dt.date, start: int, length: int) -> None:
    """A window [start, start + length) converts to UTC whole: same length, same order; one
    that covers 05:30 IST begins on one UTC date and ends on the next, yet both ends are the
    same local day when it ends before local midnight."""
    clock = Clock(day, IST)
    begins, ends = clock.at(start), clock.at(start + length)
    assert ends - begins == dt.timedelta(seconds=length)
    assert (clock.seconds(begins), clock.seconds(ends)) == (start, start + length)
    if start < UTC_MIDNIGHT_IN_IST < start + length:
        assert ends.date() == begins.date() + dt.timedelta(days=1)
    if start + length < DAY_SECONDS:
        assert begins.astimezone(IST).date() == ends.astimezone(IST).date() == day


@given(days, st.lists(seconds, min_size=2, max_size=20, unique=True))
def test_a_days_windows_sort_alike_in_local_time_and_utc(day: dt.date, starts: list[int]) -> None:
    """The board and the itinerary order a day's visits by their stored UTC time: the order is
    the local one even when some fall before 05:30 IST (the previous UTC date)."""
    clock = Clock(day, IST)
    assert sorted(starts) == [clock.seconds(w) for w in sorted(clock.at(s) for s in starts)]


@given(days, days, seconds)
def test_seconds_count_from_the_zone_days_own_midnight(
    day: dt.date, other: dt.date, second: int
) -> None:
    """A moment of another local day is that many whole days of seconds away."""
    when = Clock(other, IST).at(second)
    assert Clock(day, IST).seconds(when) == (other - day).days * DAY_SECONDS + second


@given(st.integers(0, 23), st.integers(0, 59), days)
def test_a_settings_time_of_day_is_local_and_survives_utc(
    hour: int, minute: int, day: dt.date
) -> None:
    at = time_of_day(f"{hour:02d}:{minute:02d}")
    assert at == dt.time(hour, minute)
    moment = dt.datetime.combine(day, at, IST).astimezone(dt.UTC)
    back = moment.astimezone(IST)
    assert (back.date(), back.time()) == (day, at)
    assert Clock(day, IST).seconds(moment) == hour * 3600 + minute * 60


# --- working days around month and year ends ----------------------------------------------


@st.composite
def month_ends(draw: st.DrawFn) -> dt.date:
    """A day among the last three or first three of a month (December and January often)."""
    year = draw(st.integers(2024, 2040))
    month = draw(st.sampled_from([12, 12, 1, 2, 3, 6, 11]))
    first = dt.date(year, month, 1)
    offset = draw(st.integers(-3, 2))
    return first + dt.timedelta(days=offset)


@st.composite
def crowded_calendars(draw: st.DrawFn, around: dt.date) -> WorkCalendar:
    """A working week and holidays crowded within six weeks of `around` (New Year's Day and
    Christmas among them when it is near)."""
    weekdays = draw(st.frozensets(st.integers(0, 6), min_size=1))
    near = st.integers(-10, 40).map(lambda n: around + dt.timedelta(days=n))
    holidays = set(draw(st.frozensets(near, max_size=25)))
    for fixed in (dt.date(around.year + 1, 1, 1), dt.date(around.year, 12, 25)):
        if draw(st.booleans()):
            holidays.add(fixed)
    return WorkCalendar(weekdays, frozenset(holidays))


def _one_by_one(calendar: WorkCalendar, start: dt.date, n: int) -> dt.date:
    day = start
    while n:
        day += dt.timedelta(days=1)
        n -= calendar.is_working(day)
    return day


@given(st.data(), month_ends(), st.integers(0, 30))
def test_the_time_limit_across_a_month_or_year_end_is_counted_day_by_day(
    data: st.DataObject, applied: dt.date, limit: int
) -> None:
    calendar = data.draw(crowded_calendars(applied))
    due = due_date(applied, limit, calendar)
    assert due == _one_by_one(calendar, applied, limit)
    assert calendar.working_days_between(applied, due) == limit
    if limit:
        assert calendar.is_working(due) and due > applied
        # The day before the due date leaves one working day still to go.
        assert calendar.working_days_between(applied, due - dt.timedelta(days=1)) == limit - 1


@given(st.data(), month_ends(), st.integers(1, 30), st.integers(1, 30))
def test_time_limits_add_up_across_the_year_end(
    data: st.DataObject, applied: dt.date, first: int, second: int
) -> None:
    """Counting n then m working days is counting n + m, whichever side of New Year's Day
    (or a month's end) the middle falls."""
    calendar = data.draw(crowded_calendars(applied))
    middle = calendar.add_working_days(applied, first)
    assert calendar.add_working_days(middle, second) == calendar.add_working_days(
        applied, first + second
    )

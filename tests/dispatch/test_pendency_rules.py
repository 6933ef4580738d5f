"""The arithmetic of pendency, pure: working days and due dates with the state's working week
and holidays as data, the two clocks' classification of an open request over time, age bands
and on-time rates. Properties over random calendars, requests and moments, and a few examples
checked by hand on a real calendar."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dispatch.pendency import rules
from dispatch.pendency.rules import (
    AGE_BANDS,
    Completion,
    LegalState,
    OpenRequest,
    PromiseState,
    Stage,
    WorkCalendar,
)
from dispatch.requests import rules as request_rules

IST = ZoneInfo("Asia/Kolkata")
DAY = dt.timedelta(days=1)
FIRST, LAST = dt.date(2026, 1, 1), dt.date(2027, 12, 31)

days = st.dates(min_value=FIRST, max_value=LAST)
limits = st.integers(min_value=0, max_value=60)


@st.composite
def calendars(draw: st.DrawFn) -> WorkCalendar:
    weekdays = draw(st.frozensets(st.integers(0, 6), min_size=1))
    holidays = draw(st.frozensets(st.dates(min_value=FIRST, max_value=LAST), max_size=40))
    return WorkCalendar(weekdays, holidays)


def brute_count(calendar: WorkCalendar, start: dt.date, end: dt.date) -> int:
    """Working days after `start` up to and including `end`, one day at a time."""
    count, day = 0, start
    while day < end:
        day += DAY
        count += calendar.is_working(day)
    return count


MON_SAT = WorkCalendar.of(["mon", "tue", "wed", "thu", "fri", "sat"])


# --- working days and due dates -------------------------------------------------------------


@given(calendars(), days, limits)
def test_the_due_date_is_the_nth_working_day_after_the_application_day(
    calendar: WorkCalendar, applied: dt.date, limit: int
) -> None:
    """Exactly N working days lie after the application day up to and including the due
    date, the due date is one of them (a working day), and the day before it has one fewer."""
    due = rules.due_date(applied, limit, calendar)
    assert due is not None
    assert (
        calendar.working_days_between(applied, due) == limit == brute_count(calendar, applied, due)
    )
    if limit == 0:
        assert due == applied
    else:
        assert calendar.is_working(due)
        assert brute_count(calendar, applied, due - DAY) == limit - 1


@given(calendars(), days, limits)
def test_holidays_and_days_off_never_count(
    calendar: WorkCalendar, applied: dt.date, limit: int
) -> None:
    due = rules.due_date(applied, limit, calendar)
    assert due is not None
    counted = [d for d in _days_after(applied, due) if calendar.is_working(d)]
    assert len(counted) == limit
    for day in _days_after(applied, due):
        if day in calendar.holidays or day.weekday() not in calendar.working_weekdays:
            assert day not in counted


def _days_after(start: dt.date, end: dt.date) -> list[dt.date]:
    return [start + DAY * i for i in range(1, (end - start).days + 1)]


@given(calendars(), days, limits, days)
def test_adding_a_holiday_never_makes_a_due_date_earlier(
    calendar: WorkCalendar, applied: dt.date, limit: int, holiday: dt.date
) -> None:
    more = WorkCalendar(calendar.working_weekdays, calendar.holidays | {holiday})
    before, after = rules.due_date(applied, limit, calendar), rules.due_date(applied, limit, more)
    assert before is not None and after is not None and after >= before
    fresh = holiday not in calendar.holidays and calendar.is_working(holiday)
    if fresh and applied < holiday <= before:
        assert after > before  # a working day inside the limit became a holiday


@given(calendars(), days, days, days)
def test_working_days_between_adds_up_and_runs_backwards(
    calendar: WorkCalendar, a: dt.date, b: dt.date, c: dt.date
) -> None:
    between = calendar.working_days_between
    assert between(a, b) + between(b, c) == between(a, c)
    assert between(a, b) == -between(b, a)
    if a <= b:
        assert between(a, b) == brute_count(calendar, a, b)


@given(calendars(), days)
def test_the_legal_cutoffs_are_the_working_days_left_as_due_dates(
    calendar: WorkCalendar, today: dt.date
) -> None:
    """What the queries compare (a due date before a cutoff) says what the rules say in
    working days left, for every due date from today on."""
    cut = rules.legal_cutoffs(today, calendar)
    for offset in range(40):
        due = today + DAY * offset
        left = calendar.working_days_between(today, due)
        assert (due < cut.forecast_before) == (left < rules.VISIT_LEAD_WORKING_DAYS)
        assert (due < cut.due_soon_before) == (left <= rules.DUE_SOON_WORKING_DAYS)


def test_a_calendar_needs_a_working_day_and_known_day_names() -> None:
    with pytest.raises(ValueError, match="at least one"):
        WorkCalendar(frozenset())
    with pytest.raises(ValueError, match="not one of"):
        WorkCalendar.of(["mon", "funday"])
    with pytest.raises(ValueError):
        MON_SAT.add_working_days(FIRST, -1)


# --- examples checked by hand ------------------------------------------------------------------


def test_a_friday_application_skips_the_sunday_and_a_holiday() -> None:
    """Friday 18 Dec 2026, three working days, Monday to Saturday: Sat 19 (1), Sun 20 off,
    Mon 21 (2), Tue 22 (3). With Monday 21 a holiday: Sat 19, Tue 22, Wed 23."""
    friday = dt.date(2026, 12, 18)
    assert friday.weekday() == 4
    assert rules.due_date(friday, 3, MON_SAT) == dt.date(2026, 12, 22)
    with_holiday = WorkCalendar.of(MON_SAT_NAMES, [dt.date(2026, 12, 21)])
    assert rules.due_date(friday, 3, with_holiday) == dt.date(2026, 12, 23)
    assert with_holiday.working_days_between(friday, dt.date(2026, 12, 23)) == 3


MON_SAT_NAMES = ["mon", "tue", "wed", "thu", "fri", "sat"]


def test_christmas_eve_with_two_working_days_is_due_on_monday() -> None:
    """Thu 24 Dec 2026, two working days: Fri 25 Christmas, Sat 26 (1), Sun 27 off, Mon 28."""
    calendar = WorkCalendar.of(MON_SAT_NAMES, [dt.date(2026, 12, 25)])
    assert rules.due_date(dt.date(2026, 12, 24), 2, calendar) == dt.date(2026, 12, 28)
    assert rules.due_date(dt.date(2026, 12, 24), None, calendar) is None


def test_a_calendar_knows_when_its_holidays_run_out() -> None:
    """Holidays are loaded a year or two at a time: past the last one on record a due date
    takes no holiday off, and the calendar says so."""
    christmas, republic_day = dt.date(2027, 12, 25), dt.date(2027, 1, 26)
    calendar = WorkCalendar.of(MON_SAT_NAMES, [republic_day, christmas])
    assert calendar.last_holiday == christmas
    assert calendar.knows_holidays_after(dt.date(2027, 12, 24))
    assert not calendar.knows_holidays_after(christmas)
    assert not calendar.knows_holidays_after(dt.date(2028, 1, 3))
    assert MON_SAT.last_holiday is None and not MON_SAT.knows_holidays_after(republic_day)


def test_the_request_rules_count_the_states_working_days() -> None:
    """`legal_due_date` is this arithmetic: with a calendar it counts working days; without
    one every day counts (the plain calendar days it counted before calendars existed)."""
    monday = dt.date(2026, 11, 2)
    assert request_rules.legal_due_date(monday, 15, MON_SAT) == dt.date(2026, 11, 19)
    assert request_rules.legal_due_date(monday, 15) == dt.date(2026, 11, 17)
    assert request_rules.legal_due_date(monday, None, MON_SAT) is None


# --- the two clocks ---------------------------------------------------------------------------


def at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=IST).astimezone(dt.UTC)


@st.composite
def open_requests(draw: st.DrawFn, *, limited_and_windowed: bool = False) -> OpenRequest:
    """Any open request; with `limited_and_windowed`, only those with a legal limit and a
    window (drawn so, not filtered: filtering most draws away makes Hypothesis give up)."""
    applied = draw(st.dates(min_value=dt.date(2026, 3, 1), max_value=dt.date(2026, 9, 30)))
    days_to_due = st.integers(0, 40).map(lambda n: applied + DAY * n)
    due = draw(days_to_due if limited_and_windowed else st.none() | days_to_due)
    stage = draw(st.sampled_from(list(Stage)))
    window_start = window_end = arrival = None
    if limited_and_windowed or draw(st.booleans()):
        day = applied + DAY * draw(st.integers(0, 45))
        window_start = at(day, draw(st.integers(9, 15)))
        window_end = window_start + dt.timedelta(hours=2)
        if draw(st.booleans()):
            arrival = window_start + dt.timedelta(minutes=draw(st.integers(-60, 240)))
    return OpenRequest(
        application_day=applied,
        due_date=due,
        stage=stage,
        window_start=window_start,
        window_end=window_end,
        planned_arrival=arrival,
        at_risk=draw(st.booleans()),
    )


moments = st.datetimes(
    min_value=dt.datetime(2026, 3, 1), max_value=dt.datetime(2026, 12, 31), timezones=st.just(IST)
)


@given(open_requests(), calendars(), moments, moments)
def test_the_legal_clock_never_runs_backwards(
    request: OpenRequest, calendar: WorkCalendar, a: dt.datetime, b: dt.datetime
) -> None:
    """For a request nobody touches, time only makes its legal state worse or leaves it:
    once breached always breached, once forecast never back to on time."""
    earlier, later = sorted([a, b])
    first = rules.legal_state(request, now=earlier, tz=IST, calendar=calendar)
    then = rules.legal_state(request, now=later, tz=IST, calendar=calendar)
    if request.due_date is None:
        assert first is then is LegalState.NO_LIMIT
        return
    assert rules.SEVERITY[first] <= rules.SEVERITY[then]
    assert (then is LegalState.BREACHED) == (later.date() > request.due_date)


@given(open_requests(), moments, moments)
def test_the_promise_clock_never_runs_backwards(
    request: OpenRequest, a: dt.datetime, b: dt.datetime
) -> None:
    earlier, later = sorted([a, b])
    rank = {
        PromiseState.NO_WINDOW: 0,
        PromiseState.ON_TRACK: 0,
        PromiseState.AT_RISK: 1,
        PromiseState.MISSED: 2,
    }
    first, then = rules.promise_state(request, now=earlier), rules.promise_state(request, now=later)
    assert rank[first] <= rank[then]
    assert (first is PromiseState.NO_WINDOW) == (then is PromiseState.NO_WINDOW)
    if request.window_end is not None and request.stage is Stage.PLANNED:
        assert (then is PromiseState.MISSED) == (later > request.window_end)


@given(open_requests(limited_and_windowed=True), calendars(), moments)
def test_a_visit_planned_after_the_due_date_is_forecast_to_breach(
    request: OpenRequest, calendar: WorkCalendar, now: dt.datetime
) -> None:
    planned = OpenRequest(
        application_day=request.application_day,
        due_date=request.due_date,
        stage=Stage.PLANNED,
        window_start=request.window_start,
        window_end=request.window_end,
        planned_arrival=request.planned_arrival,
    )
    state = rules.legal_state(planned, now=now, tz=IST, calendar=calendar)
    visit = planned.planned_visit()
    assert visit is not None and request.due_date is not None
    late_visit = visit.astimezone(IST).date() > request.due_date
    if now.date() > request.due_date:
        assert state is LegalState.BREACHED
    elif planned.has_live_window(now) and late_visit:
        assert state is LegalState.FORECAST
    elif planned.has_live_window(now):
        assert state in (LegalState.ON_TIME, LegalState.DUE_SOON)


def test_the_legal_clock_by_hand() -> None:
    """Due Tuesday 22 Dec 2026 (Mon-Sat week): on Friday 18 there are three working days
    left (Sat, Mon, Tue): on time; on Saturday two: due soon; a visit planned for Wednesday
    23 is forecast to breach; unscheduled on the due day itself, it is forecast too; on
    Wednesday it is breached."""
    due = dt.date(2026, 12, 22)
    waiting = OpenRequest(dt.date(2026, 12, 14), due, Stage.WAITING)

    def state(request: OpenRequest, day: dt.date, hour: int = 10) -> LegalState:
        return rules.legal_state(request, now=at(day, hour), tz=IST, calendar=MON_SAT)

    assert state(waiting, dt.date(2026, 12, 18)) is LegalState.ON_TIME
    assert state(waiting, dt.date(2026, 12, 19)) is LegalState.DUE_SOON
    assert state(waiting, dt.date(2026, 12, 21)) is LegalState.DUE_SOON
    assert state(waiting, due) is LegalState.FORECAST
    assert state(waiting, dt.date(2026, 12, 23)) is LegalState.BREACHED
    late = OpenRequest(
        dt.date(2026, 12, 14),
        due,
        Stage.PLANNED,
        window_start=at(dt.date(2026, 12, 23), 9),
        window_end=at(dt.date(2026, 12, 23), 11),
    )
    assert state(late, dt.date(2026, 12, 16)) is LegalState.FORECAST
    in_time = OpenRequest(
        dt.date(2026, 12, 14),
        due,
        Stage.PLANNED,
        window_start=at(due, 9),
        window_end=at(due, 11),
    )
    assert state(in_time, due, 8) is LegalState.DUE_SOON  # visit today, in time
    assert state(in_time, due, 12) is LegalState.FORECAST  # the window went by, nobody came
    at_door = OpenRequest(dt.date(2026, 12, 14), due, Stage.AT_DOOR)
    assert state(at_door, due) is LegalState.DUE_SOON
    assert state(OpenRequest(dt.date(2026, 12, 14), None, Stage.WAITING), due) is (
        LegalState.NO_LIMIT
    )


def test_the_promise_clock_by_hand() -> None:
    day = dt.date(2026, 12, 18)
    start, end = at(day, 9), at(day, 11)
    planned = OpenRequest(day, None, Stage.PLANNED, window_start=start, window_end=end)
    assert rules.promise_state(planned, now=at(day, 8)) is PromiseState.ON_TRACK
    assert rules.promise_state(planned, now=end) is PromiseState.ON_TRACK
    assert rules.promise_state(planned, now=end + dt.timedelta(seconds=1)) is PromiseState.MISSED
    late = OpenRequest(
        day, None, Stage.PLANNED, window_start=start, window_end=end, planned_arrival=at(day, 12)
    )
    assert rules.promise_state(late, now=at(day, 8)) is PromiseState.AT_RISK
    flagged = OpenRequest(
        day, None, Stage.PLANNED, window_start=start, window_end=end, at_risk=True
    )
    assert rules.promise_state(flagged, now=at(day, 8)) is PromiseState.AT_RISK
    waiting = OpenRequest(day, None, Stage.WAITING, window_start=start, window_end=end)
    assert rules.promise_state(waiting, now=at(day, 12)) is PromiseState.NO_WINDOW
    there = OpenRequest(day, None, Stage.AT_DOOR, window_start=start, window_end=end)
    assert rules.promise_state(there, now=at(day, 12)) is PromiseState.ON_TRACK


# --- age bands ------------------------------------------------------------------------------


@given(st.integers(0, 2000))
def test_every_age_is_in_exactly_one_band(days_old: int) -> None:
    holding = [band for band in AGE_BANDS if band.holds(days_old)]
    assert holding == [rules.age_band(days_old)]


@pytest.mark.parametrize(
    ("days_old", "key"),
    [
        *[(0, "0-2"), (2, "0-2"), (3, "3-7"), (7, "3-7"), (8, "8-15"), (15, "8-15")],
        *[(16, "16-30"), (30, "16-30"), (31, "31+"), (400, "31+")],
    ],
)
def test_band_boundaries(days_old: int, key: str) -> None:
    assert rules.age_band(days_old).key == key


@given(days, days)
def test_age_is_calendar_days_and_never_negative(applied: dt.date, today: dt.date) -> None:
    age = rules.age_days(applied, today)
    assert age == max(0, (today - applied).days)
    oldest = dict(rules.band_oldest_days(today))
    band = rules.age_band(age)
    # the band's "applied on or before" day holds the request, the next band's does not
    assert applied <= oldest[band] or age == 0
    later = [b for b in AGE_BANDS if b.low > band.low]
    if later:
        assert applied > oldest[later[0]]


# --- on-time rates ----------------------------------------------------------------------------


@st.composite
def completions(draw: st.DrawFn) -> Completion:
    day = draw(st.dates(min_value=dt.date(2026, 8, 1), max_value=dt.date(2026, 12, 1)))
    due = draw(st.none() | st.integers(-5, 5).map(lambda n: day + DAY * n))
    start = at(day, 10)
    arrived = draw(st.none() | st.integers(-90, 200).map(lambda m: start + dt.timedelta(minutes=m)))
    windowed = draw(st.booleans())
    return Completion(
        completed_day=day,
        due_date=due,
        arrived_at=arrived,
        window_start=start if windowed else None,
        window_end=start + dt.timedelta(hours=2) if windowed else None,
    )


@given(st.lists(completions(), max_size=60))
def test_weekly_rates_count_each_completion_once_in_its_week(done: list[Completion]) -> None:
    today = dt.date(2026, 12, 1)
    weeks = rules.weekly_rates(done, today=today)
    assert [w.week for w in weeks] == rules.rate_weeks(today)
    assert all(w.week.weekday() == 0 for w in weeks) and weeks[-1].week <= today
    inside = [c for c in done if weeks[0].week <= c.completed_day <= today]
    whole = rules.overall(weeks)
    assert whole.completed == len(inside)
    assert whole.legal_counted == sum(c.due_date is not None for c in inside)
    assert whole.legal_on_time == sum(
        c.due_date is not None and c.completed_day <= c.due_date for c in inside
    )
    for week in weeks:
        assert week.legal_on_time <= week.legal_counted <= week.completed
        assert week.promise_kept <= week.promise_counted <= week.completed
        for rate in (week.legal_rate, week.promise_rate):
            assert rate is None or 0 <= rate <= 100


def test_on_time_by_hand() -> None:
    due = dt.date(2026, 11, 24)
    assert rules.legal_on_time(due, due) and not rules.legal_on_time(due + DAY, due)
    start, end = at(due, 9), at(due, 11)
    assert rules.promise_kept(start, start, end) and rules.promise_kept(end, start, end)
    assert rules.promise_kept(end + dt.timedelta(minutes=1), start, end) is False
    assert rules.promise_kept(start - dt.timedelta(minutes=30), start, end), "early is kept"
    assert rules.promise_kept(None, start, end) is None
    week = rules.weekly_rates(
        [
            Completion(due, due, start, start, end),
            Completion(due, due - DAY, end + dt.timedelta(hours=1), start, end),
        ],
        today=dt.date(2026, 11, 26),
    )[-1]
    assert (week.week, week.completed, week.legal_rate, week.promise_rate) == (
        dt.date(2026, 11, 23),
        2,
        50.0,
        50.0,
    )

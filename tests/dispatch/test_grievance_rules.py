"""The pure rules of feedback and grievances: which ratings open a grievance, the closing note,
overdue, and the arithmetic of ratings over weeks (property tests: counts add up, averages stay
within 1-5, every rating lands in the week holding its day). Every outcome a citizen may be
told fits the registered DLT template in every language."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dispatch.config import REPO_ROOT
from dispatch.errors import InvalidInput
from dispatch.grievances import rules
from dispatch.notifications import dlt, segments, texts

FOLDER = REPO_ROOT / "seed_data" / "messages"
TEXTS = texts.load(FOLDER)
REGISTERED = dlt.load(FOLDER)

stars = st.integers(min_value=1, max_value=5)
days = st.dates(min_value=dt.date(2020, 1, 1), max_value=dt.date(2040, 12, 31))


def test_only_ratings_of_one_and_two_open_a_grievance() -> None:
    assert [rules.opens_grievance(s) for s in rules.STARS] == [True, True, False, False, False]
    for wrong in (0, 6, -1):
        with pytest.raises(InvalidInput):
            rules.opens_grievance(wrong)


def test_an_open_grievance_is_overdue_after_seven_days_a_closed_one_never() -> None:
    opened = dt.datetime(2037, 6, 1, 10, tzinfo=dt.UTC)
    week = dt.timedelta(days=7)
    assert not rules.is_overdue(opened_at=opened, closed=False, now=opened + week)
    assert rules.is_overdue(opened_at=opened, closed=False, now=opened + week + dt.timedelta(1))
    assert not rules.is_overdue(opened_at=opened, closed=True, now=opened + 4 * week)
    assert rules.age_words(opened, opened + dt.timedelta(minutes=42)) == "42 min"
    assert rules.age_words(opened, opened + dt.timedelta(hours=30)) == "30 h"
    assert rules.age_words(opened, opened + dt.timedelta(days=9, hours=5)) == "9 days"


@given(st.text(max_size=1200))
def test_a_note_is_trimmed_never_empty_never_too_long(text: str) -> None:
    try:
        note = rules.clean_note(text)
    except InvalidInput as refused:
        assert refused.field == "note"
        return
    assert note and note == note.strip() and len(note) <= rules.MOST_NOTE_CHARS
    assert "\n\n\n" not in note
    assert rules.clean_note(note) == note  # cleaning twice changes nothing


def test_the_outcome_and_weeks_are_chosen_from_fixed_lists() -> None:
    assert rules.outcome(" put_right ") is rules.Outcome.PUT_RIGHT
    with pytest.raises(InvalidInput):
        rules.outcome("refund the citizen")
    assert rules.weeks_choice("26") == 26
    assert rules.weeks_choice("13") == rules.DEFAULT_WEEKS
    assert rules.weeks_choice("") == rules.DEFAULT_WEEKS
    assert rules.weeks_choice("9" * 40) == rules.DEFAULT_WEEKS


@given(days)
def test_a_day_belongs_to_the_week_of_the_monday_before_it(day: dt.date) -> None:
    monday = rules.week_of(day)
    assert monday.weekday() == 0 and 0 <= (day - monday).days <= 6


@given(days, st.integers(min_value=1, max_value=60))
def test_the_last_weeks_are_consecutive_mondays_ending_with_this_one(
    today: dt.date, count: int
) -> None:
    weeks = rules.last_weeks(today, count)
    assert len(weeks) == count and weeks[-1] == rules.week_of(today)
    assert all(b - a == dt.timedelta(weeks=1) for a, b in itertools.pairwise(weeks))


@given(st.lists(stars, max_size=200))
def test_a_tally_counts_every_rating_and_its_average_stays_within_one_to_five(
    ratings: list[int],
) -> None:
    counted = rules.tally(ratings)
    assert counted.count == len(ratings) and counted.total == sum(ratings)
    assert counted.poor == sum(1 for r in ratings if r <= 2)
    if ratings:
        assert counted.average is not None and 1 <= counted.average <= 5
        assert counted.average == pytest.approx(sum(ratings) / len(ratings))
        assert counted.poor_share is not None and 0 <= counted.poor_share <= 1
    else:
        assert counted.average is None and counted.poor_share is None
    one_by_one = rules.Tally()
    for rating in ratings:
        one_by_one = one_by_one.added(rating)
    assert one_by_one == counted


@given(
    st.lists(st.tuples(st.sampled_from("abc"), days, stars), max_size=150),
    days,
    st.integers(min_value=1, max_value=20),
)
def test_weekly_tallies_count_each_rating_in_its_week_and_nothing_outside(
    rows: list[tuple[str, dt.date, int]], today: dt.date, count: int
) -> None:
    weeks = rules.last_weeks(today, count)
    per_key = rules.weekly(rows, weeks)
    inside = [(k, d, r) for k, d, r in rows if weeks[0] <= d < weeks[-1] + dt.timedelta(days=7)]
    assert sum(t.count for tallies in per_key.values() for t in tallies) == len(inside)
    for key, tallies in per_key.items():
        assert len(tallies) == count
        for monday, counted in zip(weeks, tallies, strict=True):
            expected = [r for k, d, r in inside if k == key and rules.week_of(d) == monday]
            assert counted == rules.tally(expected)
    by_key = rules.tally_by((k, r) for k, _d, r in rows)
    assert sum(t.count for t in by_key.values()) == len(rows)


@pytest.mark.parametrize("language", sorted(TEXTS.by_language))
@pytest.mark.parametrize("outcome", list(rules.Outcome))
def test_every_outcome_fits_the_closing_messages_template(
    language: str, outcome: rules.Outcome
) -> None:
    """The outcome is a DLT variable run (three variables, 90 characters): every outcome's
    words, in every language, with the longest reference, match the registered template; in
    English the whole SMS stays GSM-7."""
    registration = REGISTERED.get("grievance_closed", language)
    assert registration is not None
    words = TEXTS.text(outcome.message_key, language)
    body = TEXTS.text(
        "grievance_closed",
        language,
        service_name="DigiDost 1447",
        reference="JK-26-999999-9",
        outcome=words,
    )
    assert registration.admits(body), body
    if language == "en":
        assert segments.is_gsm(body)

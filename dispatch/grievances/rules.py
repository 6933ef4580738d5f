"""Pure rules of feedback and grievances: which ratings open a grievance, when an open one is
overdue, what a closing note may be, the outcomes a citizen may be told, and the arithmetic of
ratings over weeks (averages, counts, the 1-5 distribution). No database and no clock here:
the service passes in the rows and the moment.

What this module does not hold: the queries (`service`, `ratings`), the words of the SMS
(`seed_data/messages/`, keys `grievance_opened`, `grievance_closed` and `outcome_*`).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from dispatch.errors import InvalidInput

STARS = (1, 2, 3, 4, 5)
#: A rating at or below this opens a grievance.
POOR_AT_MOST = 2
#: An open grievance older than this is overdue (the supervision pages mark it).
OVERDUE_AFTER = dt.timedelta(days=7)
#: The longest closing note (the internal record of what was found and done).
MOST_NOTE_CHARS = 1000
#: Weeks the ratings pages may look back; the default is `DEFAULT_WEEKS`.
WEEK_CHOICES = (4, 8, 12, 26, 52)
DEFAULT_WEEKS = 12

K = TypeVar("K", bound=Hashable)


class Outcome(StrEnum):
    """What the citizen is told when their grievance is closed. Each has its words in every
    language's message texts (`outcome_<value>`), inside the registered DLT template of
    `grievance_closed`: a fixed choice, never text typed at the console, so the SMS is in the
    citizen's language, fits its template, and carries nothing internal."""

    PUT_RIGHT = "put_right"
    AGENT_SPOKEN_TO = "agent_spoken_to"
    WILL_CALL = "will_call"
    NO_FAULT = "no_fault"

    @property
    def message_key(self) -> str:
        return f"outcome_{self.value}"

    @property
    def label(self) -> str:
        """How the console names the choice (the English words of the SMS are beside it)."""
        return {
            Outcome.PUT_RIGHT: "Put right",
            Outcome.AGENT_SPOKEN_TO: "Agent spoken to",
            Outcome.WILL_CALL: "We will call the citizen",
            Outcome.NO_FAULT: "No fault found",
        }[self]


def opens_grievance(rating: int) -> bool:
    """A rating of 1 or 2 opens a grievance; 3 to 5 do not."""
    if rating not in STARS:
        raise InvalidInput("rating", rating, "a rating is 1 to 5")
    return rating <= POOR_AT_MOST


def is_overdue(*, opened_at: dt.datetime, closed: bool, now: dt.datetime) -> bool:
    """An open grievance is overdue once it has waited longer than `OVERDUE_AFTER`."""
    return not closed and now - opened_at > OVERDUE_AFTER


def age_words(opened_at: dt.datetime, until: dt.datetime) -> str:
    """How long a grievance has been (or was) open, as a page says it: "3 h", "5 days"."""
    seconds = max(0, int((until - opened_at).total_seconds()))
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} days"


def clean_note(text: str | None) -> str:
    """The closing note: required, trimmed (inner line breaks kept, runs of blank lines and
    trailing spaces dropped), at most `MOST_NOTE_CHARS`."""
    lines = [" ".join(line.split()) for line in (text or "").strip().splitlines()]
    kept: list[str] = []
    for line in lines:
        if line or (kept and kept[-1]):
            kept.append(line)
    note = "\n".join(kept).strip()
    if not note:
        raise InvalidInput("note", text, "write what was found and done")
    if len(note) > MOST_NOTE_CHARS:
        raise InvalidInput("note", text, f"at most {MOST_NOTE_CHARS} characters ({len(note)})")
    return note


def outcome(value: str | None) -> Outcome:
    """The outcome chosen on the form."""
    try:
        return Outcome((value or "").strip())
    except ValueError:
        raise InvalidInput("outcome", value, "choose what the citizen is told") from None


def weeks_choice(value: str | None) -> int:
    """The number of weeks a page looks back: one of `WEEK_CHOICES`, else the default."""
    text = (value or "").strip()
    weeks = int(text) if text.isdigit() and len(text) <= 3 else DEFAULT_WEEKS
    return weeks if weeks in WEEK_CHOICES else DEFAULT_WEEKS


# --- ratings over weeks ------------------------------------------------------------------------


def week_of(day: dt.date) -> dt.date:
    """The Monday that starts `day`'s week."""
    return day - dt.timedelta(days=day.weekday())


def last_weeks(today: dt.date, count: int) -> list[dt.date]:
    """The Mondays of the last `count` weeks, oldest first, the current (partial) week last."""
    if count < 1:
        raise InvalidInput("weeks", count, "at least one week")
    this = week_of(today)
    return [this - dt.timedelta(weeks=n) for n in range(count - 1, -1, -1)]


@dataclass(frozen=True, slots=True)
class Tally:
    """Ratings counted: how many of each star (`by_star[0]` is 1 star)."""

    by_star: tuple[int, int, int, int, int] = (0, 0, 0, 0, 0)

    @property
    def count(self) -> int:
        return sum(self.by_star)

    @property
    def total(self) -> int:
        return sum(star * n for star, n in zip(STARS, self.by_star, strict=True))

    @property
    def average(self) -> float | None:
        """The mean rating, None when nothing was rated."""
        return self.total / self.count if self.count else None

    @property
    def poor(self) -> int:
        """Ratings of 1 or 2 (those that open grievances)."""
        return sum(self.by_star[:POOR_AT_MOST])

    @property
    def poor_share(self) -> float | None:
        """The share of poor ratings, 0-1; None when nothing was rated."""
        return self.poor / self.count if self.count else None

    def added(self, rating: int) -> Tally:
        if rating not in STARS:
            raise InvalidInput("rating", rating, "a rating is 1 to 5")
        counts = list(self.by_star)
        counts[rating - 1] += 1
        return Tally((counts[0], counts[1], counts[2], counts[3], counts[4]))


def tally(ratings: Iterable[int]) -> Tally:
    counts = [0, 0, 0, 0, 0]
    for rating in ratings:
        if rating not in STARS:
            raise InvalidInput("rating", rating, "a rating is 1 to 5")
        counts[rating - 1] += 1
    return Tally((counts[0], counts[1], counts[2], counts[3], counts[4]))


def tally_by(rows: Iterable[tuple[K, int]]) -> dict[K, Tally]:
    """Ratings counted per key (`(key, rating)` pairs): a service, an agent, a district."""
    grouped: dict[K, list[int]] = defaultdict(list)
    for key, rating in rows:
        grouped[key].append(rating)
    return {key: tally(ratings) for key, ratings in grouped.items()}


def weekly(
    rows: Iterable[tuple[K, dt.date, int]], weeks: Sequence[dt.date]
) -> dict[K, list[Tally]]:
    """Per key, one `Tally` per week of `weeks` (Mondays, oldest first) from `(key, local day,
    rating)` rows; a row outside those weeks is not counted, a week without ratings is empty."""
    index = {monday: n for n, monday in enumerate(weeks)}
    grouped: dict[K, list[list[int]]] = {}
    for key, day, rating in rows:
        n = index.get(week_of(day))
        if n is None:
            continue
        grouped.setdefault(key, [[] for _ in weeks])[n].append(rating)
    return {key: [tally(week) for week in per_week] for key, per_week in grouped.items()}

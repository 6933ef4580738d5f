"""Pure rules of a field agent's record: what a valid agent is (name, phone, skills, languages,
working days, shift and break, daily cap, travel mode) and what a valid stretch of leave is.

Every check of a form is made at once, so a person sees every field that needs a change, not
the first one only: `check_agent` returns the typed values or raises `InvalidAgent`, whose
`problems` name each field with its reason. Nothing here reads the database or the clock: the
skills and languages that exist, and today, are passed in; uniqueness (a CSC id, a phone) is
the service's.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass

from dispatch import validation
from dispatch.agents.models import WEEKDAYS, TravelMode
from dispatch.errors import InvalidInput

#: A day's visits an agent may be given: at least one, at most what a doorstep day can hold.
MOST_VISITS = 30
#: The shortest shift worth planning.
SHORTEST_SHIFT_MIN = 60
#: A break is a few minutes to two hours.
BREAK_MINUTES = (5, 120)
#: Leave is put in for at most this many days at once (a longer absence: switch the agent off).
LONGEST_LEAVE_DAYS = 31
MOST_REASON_CHARS = 200
TRAVEL_MODES = frozenset(m.value for m in TravelMode)


class InvalidAgent(InvalidInput):
    """An agent's form with one or more bad fields: `problems` maps each to its reason (the
    error's own field and reason are the first of them)."""

    def __init__(self, problems: dict[str, str]) -> None:
        field, reason = next(iter(problems.items()))
        super().__init__(field, None, reason)
        self.problems = dict(problems)

    def __str__(self) -> str:
        return "; ".join(f"{field}: {reason}" for field, reason in self.problems.items())


@dataclass(frozen=True)
class AgentForm:
    """An agent's fields as typed into a form (or read from a seed file)."""

    name: str
    phone: str
    skills: Sequence[str]
    languages: Sequence[str]
    working_days: Sequence[str]
    shift_start: str
    shift_end: str
    #: "" for no break.
    break_start: str
    break_minutes: str | int
    daily_cap: str | int
    travel_mode: str


@dataclass(frozen=True)
class AgentValues:
    """A checked agent: the phone in E.164, times in local minutes, lists in a stable order."""

    name: str
    phone: str
    skills: list[str]
    languages: list[str]
    working_days: list[str]
    shift_start_min: int
    shift_end_min: int
    break_start_min: int | None
    break_minutes: int
    daily_cap: int
    travel_mode: TravelMode


class Problems:
    """Collects each field's first problem while a form is checked."""

    def __init__(self) -> None:
        self.found: dict[str, str] = {}

    def add(self, field: str, reason: str) -> None:
        self.found.setdefault(field, reason)

    def caught(self, exc: InvalidInput) -> None:
        self.add(exc.field, exc.reason)


def hhmm(minutes: int | None) -> str:
    """Local minutes as `HH:MM` (the form's way); "" for none."""
    if minutes is None:
        return ""
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _minutes(value: str, field: str, problems: Problems) -> int | None:
    try:
        return validation.minutes_of_day(value or "", field=field)
    except InvalidInput as exc:
        problems.caught(exc)
        return None


def _integer(value: str | int, field: str, low: int, high: int, problems: Problems) -> int | None:
    try:
        return validation.integer(value, field=field, low=low, high=high)
    except InvalidInput as exc:
        problems.caught(exc)
        return None


def _chosen(
    values: Sequence[str], field: str, allowed: Collection[str], problems: Problems, what: str
) -> list[str]:
    unknown = [v for v in values if v not in allowed]
    if unknown:
        problems.add(field, f"unknown {what}: {', '.join(unknown)}")
    return [v for v in dict.fromkeys(values) if v in allowed]


def check_agent(
    form: AgentForm, *, skills: Collection[str], languages: Collection[str]
) -> AgentValues:
    """The typed agent, or `InvalidAgent` naming every bad field. `skills` are those that
    exist, `languages` the state's."""
    problems = Problems()
    name = ""
    try:
        name = validation.text(form.name, field="name", max_length=120)
    except InvalidInput as exc:
        problems.caught(exc)
    phone = ""
    try:
        phone = validation.phone(form.phone or "")
    except InvalidInput as exc:
        problems.caught(exc)
    chosen_skills = sorted(_chosen(form.skills, "skills", skills, problems, "skill"))
    chosen_languages = sorted(_chosen(form.languages, "languages", languages, problems, "language"))
    if not form.languages:
        problems.add("languages", "choose at least one language the agent speaks")
    days = _chosen(form.working_days, "working_days", WEEKDAYS, problems, "weekday")
    if not form.working_days:
        problems.add("working_days", "choose at least one working day")
    start = _minutes(form.shift_start, "shift_start", problems)
    end = _minutes(form.shift_end, "shift_end", problems)
    if start is not None and end is not None:
        if end <= start:
            problems.add("shift_end", "the shift must end after it starts")
        elif end - start < SHORTEST_SHIFT_MIN:
            problems.add("shift_end", "the shift must be at least an hour long")
    break_start: int | None = None
    break_minutes = 0
    if (form.break_start or "").strip():
        break_start = _minutes(form.break_start, "break_start", problems)
        low, high = BREAK_MINUTES
        break_minutes = _integer(form.break_minutes, "break_minutes", low, high, problems) or 0
        if break_start is not None and start is not None and end is not None and end > start:
            if break_start < start:
                problems.add("break_start", "the break must start within the shift")
            elif break_minutes and break_start + break_minutes > end:
                problems.add("break_start", "the break must end by the end of the shift")
    cap = _integer(form.daily_cap, "daily_cap", 1, MOST_VISITS, problems)
    if form.travel_mode not in TRAVEL_MODES:
        problems.add("travel_mode", f"expected one of {', '.join(sorted(TRAVEL_MODES))}")
    if problems.found:
        raise InvalidAgent(problems.found)
    assert start is not None and end is not None and cap is not None
    return AgentValues(
        name=name,
        phone=phone,
        skills=chosen_skills,
        languages=chosen_languages,
        working_days=[d for d in WEEKDAYS if d in days],
        shift_start_min=start,
        shift_end_min=end,
        break_start_min=break_start,
        break_minutes=break_minutes,
        daily_cap=cap,
        travel_mode=TravelMode(form.travel_mode),
    )


def default_break(start_min: int, end_min: int) -> int | None:
    """Where a break goes when none is given: mid-shift, for a shift of six hours or more."""
    return (start_min + end_min) // 2 if end_min - start_min >= 6 * 60 else None


# --- leave -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LeaveDays:
    """A checked stretch of leave: every day from `first` to `last`, and why."""

    first: dt.date
    last: dt.date
    reason: str

    def days(self) -> Iterator[dt.date]:
        day = self.first
        while day <= self.last:
            yield day
            day += dt.timedelta(days=1)


def check_leave(
    first: dt.date | None, last: dt.date | None, reason: str, *, today: dt.date
) -> LeaveDays:
    """A stretch of leave from `first` to `last` (one day when `last` is None), not before
    `today`, at most `LONGEST_LEAVE_DAYS` days, with a reason; else `InvalidAgent` naming
    every bad field."""
    problems = Problems()
    last = last or first
    if first is None:
        problems.add("first", "choose the first day of leave")
    elif first < today:
        problems.add("first", "leave cannot start before today")
    if first is not None and last is not None:
        if last < first:
            problems.add("last", "the last day must not be before the first")
        elif (last - first).days + 1 > LONGEST_LEAVE_DAYS:
            problems.add(
                "last",
                f"at most {LONGEST_LEAVE_DAYS} days at once (switch the agent off for longer)",
            )
    why = " ".join((reason or "").split())
    if not why:
        problems.add("reason", "say why (sick, training, personal...)")
    elif len(why) > MOST_REASON_CHARS:
        problems.add("reason", f"longer than {MOST_REASON_CHARS} characters")
    if problems.found:
        raise InvalidAgent(problems.found)
    assert first is not None and last is not None
    return LeaveDays(first, last, why)

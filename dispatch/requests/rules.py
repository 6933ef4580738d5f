"""Pure rules of the doorstep request: lifecycle transitions, reference numbers, deadlines.

No database, no clock: callers pass times in. The lifecycle is

    logged -> scheduled -> assigned -> en_route -> arrived -> completed

with `failed` (a reason is required), `no_show`, `cancelled` and `rescheduled` beside it.
A rescheduled request waits for a new window (-> scheduled) or is cancelled.
"""

from __future__ import annotations

import datetime as dt
import re
from enum import StrEnum

from dispatch.errors import InvalidReference, InvalidTransition
from dispatch.pendency.rules import WorkCalendar, due_date


class RequestStatus(StrEnum):
    LOGGED = "logged"
    SCHEDULED = "scheduled"
    ASSIGNED = "assigned"
    EN_ROUTE = "en_route"
    ARRIVED = "arrived"
    COMPLETED = "completed"
    FAILED = "failed"
    NO_SHOW = "no_show"
    CANCELLED = "cancelled"
    RESCHEDULED = "rescheduled"


class Channel(StrEnum):
    IVR = "ivr"
    CONSOLE = "console"
    API = "api"


S = RequestStatus

ALLOWED: dict[RequestStatus, frozenset[RequestStatus]] = {
    S.LOGGED: frozenset({S.SCHEDULED, S.CANCELLED}),
    S.SCHEDULED: frozenset({S.ASSIGNED, S.RESCHEDULED, S.CANCELLED}),
    S.ASSIGNED: frozenset({S.EN_ROUTE, S.SCHEDULED, S.RESCHEDULED, S.CANCELLED, S.FAILED}),
    S.EN_ROUTE: frozenset({S.ARRIVED, S.FAILED, S.NO_SHOW, S.CANCELLED, S.ASSIGNED}),
    S.ARRIVED: frozenset({S.COMPLETED, S.FAILED, S.NO_SHOW}),
    S.COMPLETED: frozenset(),
    S.FAILED: frozenset({S.RESCHEDULED, S.CANCELLED}),
    S.NO_SHOW: frozenset({S.RESCHEDULED, S.CANCELLED}),
    S.CANCELLED: frozenset(),
    S.RESCHEDULED: frozenset({S.SCHEDULED, S.CANCELLED}),
}

TERMINAL = frozenset(s for s, nxt in ALLOWED.items() if not nxt)
OPEN = frozenset(RequestStatus) - TERMINAL
#: Statuses in which a request holds a place in the day's plan.
PLANNED = frozenset({S.SCHEDULED, S.ASSIGNED, S.EN_ROUTE, S.ARRIVED})
#: Statuses in which the agent already knows about the visit: the plan must not move it.
PINNED = frozenset({S.EN_ROUTE, S.ARRIVED})
NEEDS_REASON = frozenset({S.FAILED, S.CANCELLED, S.NO_SHOW, S.RESCHEDULED})


def check_transition(current: RequestStatus, new: RequestStatus, reason: str | None) -> None:
    """Raise `InvalidTransition` unless `current -> new` is allowed (with a reason if needed)."""
    if new not in ALLOWED[current]:
        allowed = ", ".join(sorted(ALLOWED[current])) or "none: it is final"
        raise InvalidTransition(current, new, f"allowed from {current}: {allowed}")
    if new in NEEDS_REASON and not (reason and reason.strip()):
        raise InvalidTransition(current, new, "a reason is required")


# --- reference numbers ------------------------------------------------------------------
# Verhoeff's dihedral check digit catches every single-digit error and every swap of two
# adjacent digits: exactly the mistakes made on a phone keypad.
_D = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 2, 3, 4, 0, 6, 7, 8, 9, 5),
    (2, 3, 4, 0, 1, 7, 8, 9, 5, 6),
    (3, 4, 0, 1, 2, 8, 9, 5, 6, 7),
    (4, 0, 1, 2, 3, 9, 5, 6, 7, 8),
    (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
    (6, 5, 9, 8, 7, 1, 0, 4, 3, 2),
    (7, 6, 5, 9, 8, 2, 1, 0, 4, 3),
    (8, 7, 6, 5, 9, 3, 2, 1, 0, 4),
    (9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
)
_P = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 5, 7, 6, 2, 8, 3, 0, 9, 4),
    (5, 8, 0, 3, 7, 9, 6, 1, 4, 2),
    (8, 9, 1, 6, 0, 4, 3, 5, 2, 7),
    (9, 4, 5, 3, 1, 2, 6, 8, 7, 0),
    (4, 2, 8, 6, 5, 7, 3, 9, 0, 1),
    (2, 7, 9, 3, 8, 0, 6, 4, 1, 5),
    (7, 0, 4, 6, 9, 1, 3, 2, 5, 8),
)
_INV = (0, 4, 3, 2, 1, 5, 6, 7, 8, 9)

SEQUENCE_DIGITS = 6
KEYPAD_DIGITS = 2 + SEQUENCE_DIGITS + 1  # year, sequence, check digit


def verhoeff_digit(digits: str) -> int:
    c = 0
    for i, ch in enumerate(reversed(digits)):
        c = _D[c][_P[(i + 1) % 8][int(ch)]]
    return _INV[c]


def verhoeff_valid(digits: str) -> bool:
    c = 0
    for i, ch in enumerate(reversed(digits)):
        c = _D[c][_P[i % 8][int(ch)]]
    return c == 0


def make_reference(state_code: str, year: int, sequence: int) -> str:
    """`JK-26-000123-7`: state, two-digit year, sequence, Verhoeff check digit."""
    if not 0 < sequence < 10**SEQUENCE_DIGITS:
        raise ValueError(f"sequence {sequence} out of range")
    body = f"{year % 100:02d}{sequence:0{SEQUENCE_DIGITS}d}"
    return f"{state_code}-{body[:2]}-{body[2:]}-{verhoeff_digit(body)}"


def keypad_digits(reference: str) -> str:
    """The digits a caller keys for `reference` (everything but the state prefix)."""
    return "".join(ch for ch in reference if ch.isdigit())


_REF = re.compile(r"^\s*(?:([A-Za-z]{2,4})\s*-?\s*)?([\d\s-]+)$")


def parse_reference(text: str, *, default_state: str) -> str:
    """Normalise a reference typed or keyed by a person; raise if its check digit fails."""
    match = _REF.match(text or "")
    if not match:
        raise InvalidReference("reference", text, "expected e.g. JK-26-000123-7")
    state = (match.group(1) or default_state).upper()
    digits = re.sub(r"\D", "", match.group(2))
    if len(digits) != KEYPAD_DIGITS:
        raise InvalidReference("reference", text, f"expected {KEYPAD_DIGITS} digits")
    if not verhoeff_valid(digits):
        raise InvalidReference("reference", text, "check digit does not match: mistyped?")
    return f"{state}-{digits[:2]}-{digits[2:-1]}-{digits[-1]}"


# --- deadlines and priority ---------------------------------------------------------------


def legal_due_date(
    logged_on: dt.date, time_limit_days: int | None, calendar: WorkCalendar | None = None
) -> dt.date | None:
    """The date by which the service-guarantee act requires delivery (None: no limit): the
    end of the `time_limit_days`-th working day of the state's `calendar` after the day the
    request was logged (`dispatch.pendency.rules.due_date`). Without a calendar every day
    counts."""
    return due_date(logged_on, time_limit_days, calendar or WorkCalendar.every_day())


def pendency_days(logged_on: dt.date, today: dt.date) -> int:
    return max(0, (today - logged_on).days)


def visit_priority(*, senior: bool, disabled: bool, due: dt.date | None, visit_day: dt.date) -> int:
    """0 (normal) .. 3: elderly or disabled citizens and requests near their legal limit."""
    priority = 0
    if senior or disabled:
        priority += 1
    if due is not None:
        days_left = (due - visit_day).days
        if days_left <= 0:
            priority += 2
        elif days_left <= 2:
            priority += 1
    return min(priority, 3)

"""The arithmetic of alerts, pure (no database, no clock: every day and calendar is passed in).

**Legal time limits.** A request's limit is counted in the state's working days
(`dispatch.pendency.rules.WorkCalendar`) from the day after its application day; its due date is
the day the last of them ends (`dispatch.pendency.rules.due_date`, stored on the request when it
is logged). On a local day `today`, the working days *gone* are those after the application day
up to and including today (`WorkCalendar.working_days_between`): on the due date all of the limit
is gone. So, for an undelivered request:

- `NEAR` once the share gone reaches the state's warning share (`deadline_warn_share`, 0.75:
  a 4-day limit warns on its 3rd working day, a 7-day limit on its 6th since 5.25 is not yet
  reached on the 5th), before the due date;
- `REACHED` on the due date itself: the supervisor is alerted again (escalated);
- `PASSED` from the day after: the request is marked for the state's appeal.

Only the stage a request is in is raised: a stage the scheduler never saw (it was stopped over
those days) is not raised late, the later alert saying more. A limit of 0 working days is due on
the application day (reached at once); a limit of 1 is reached on the next working day with no
warning before it (no working day of it is gone before then). The share is compared exactly
(fractions), so 3 of 4 days is exactly 0.75.

**Fees.** Yesterday's agent-days are reconciled once the state's local time reaches
`fees_reconcile_at`; a day before yesterday that was missed (the scheduler was stopped from that
hour till midnight, or its runs failed) is caught up, up to `FEES_LOOKBACK_DAYS` back.

Keys make each alert once: `deadline_near:r123`, `deadline_reached:r123`, `appeal:r123`,
`fees:<agent>:<day>`.

Not here: finding the requests and raising the alerts (`dispatch.alerts.deadlines`, `fees`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction

from dispatch.alerts.models import AlertKind
from dispatch.pendency.rules import WorkCalendar


class Stage(StrEnum):
    """Where an undelivered request stands against its legal time limit."""

    NEAR = "near"
    REACHED = "reached"
    PASSED = "passed"

    @property
    def kind(self) -> AlertKind:
        return {
            Stage.NEAR: AlertKind.DEADLINE_NEAR,
            Stage.REACHED: AlertKind.DEADLINE_REACHED,
            Stage.PASSED: AlertKind.APPEAL,
        }[self]


@dataclass(frozen=True)
class Progress:
    """Working days of a request's limit gone by a day, of how many."""

    gone: int
    limit: int

    @property
    def share(self) -> Fraction:
        """The share of the limit gone: above 1 past the due date; 1 for a limit of 0 (all of
        it gone on the application day)."""
        return Fraction(self.gone, self.limit) if self.limit > 0 else Fraction(1)


def progress(
    application_day: dt.date, due: dt.date, today: dt.date, calendar: WorkCalendar
) -> Progress:
    """Working days gone by the end of `today`, of the limit that ends on `due`."""
    return Progress(
        gone=max(calendar.working_days_between(application_day, today), 0),
        limit=max(calendar.working_days_between(application_day, due), 0),
    )


def reaches(share: Fraction, warn_share: float) -> bool:
    """Whether `share` is at or past the warning share, exactly (0.75 is 3/4, not 0.7499...)."""
    return share >= Fraction(str(warn_share))


def stage(
    application_day: dt.date,
    due: dt.date,
    today: dt.date,
    calendar: WorkCalendar,
    warn_share: float,
) -> Stage | None:
    """The stage of an undelivered request on the local day `today` (None: nothing to say)."""
    if today > due:
        return Stage.PASSED
    if today == due:
        return Stage.REACHED
    if reaches(progress(application_day, due, today, calendar).share, warn_share):
        return Stage.NEAR
    return None


def request_key(kind: AlertKind, request_id: int) -> str:
    """The alert's unique key for a request (`deadline_near:r123`)."""
    return f"{kind.value}:r{request_id}"


def fees_key(agent_id: int, day: dt.date) -> str:
    """The alert's unique key for an agent-day (`fees:7:2030-06-02`)."""
    return f"{AlertKind.FEES.value}:{agent_id}:{day.isoformat()}"


#: How many days back a missed fee reconciliation is caught up (older days: the fees pages).
FEES_LOOKBACK_DAYS = 7


def fees_days_due(
    local_now: dt.datetime, at: dt.time, lookback: int = FEES_LOOKBACK_DAYS
) -> list[dt.date]:
    """The days whose fees may be reconciled at `local_now` (the state's local time), oldest
    first: the `lookback` days before today, yesterday only once the reconciliation time `at`
    has come (each earlier day's came on the day after it). Which of them are still to do is
    the caller's to know."""
    today = local_now.date()
    nearest = 1 if local_now.time() >= at else 2
    return [today - dt.timedelta(days=n) for n in range(lookback, nearest - 1, -1)]


def clipped(text: str, most: int) -> str:
    """`text` cut to `most` characters, an ellipsis marking the cut."""
    return text if len(text) <= most else text[: most - 1] + "…"

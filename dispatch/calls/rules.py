"""Pure rules of the console's queue: how a call-back ends, who may hold or take it, and how long
a transfer counts as a caller still waiting. No database here; `service.py` applies them."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

#: A claim this old may be taken over by someone else (its holder went home, or forgot it).
CLAIM_LAPSES_AFTER = dt.timedelta(minutes=20)
#: A transfer not ended after this long is a call whose end was never reported (a lost status
#: callback), not a caller still on hold: the queue stops showing it.
WAITING_AT_MOST = dt.timedelta(hours=2)


class CallbackOutcome(StrEnum):
    """How a call-back ended. `NO_ANSWER` gives up on the caller; to try again later, a person
    releases the call-back instead of closing it."""

    BOOKED = "booked"  # a request was booked for the caller (its reference may go in the note)
    RESOLVED_ON_PHONE = "resolved_on_phone"  # answered or sorted out on the call, nothing booked
    NOT_NEEDED = "not_needed"  # the caller no longer needs it (already booked, called again)
    NO_ANSWER = "no_answer"  # rang, nobody answered: given up
    WRONG_NUMBER = "wrong_number"  # the number is not the caller's, or does not ring

    @property
    def label(self) -> str:
        return {
            CallbackOutcome.BOOKED: "Booked",
            CallbackOutcome.RESOLVED_ON_PHONE: "Resolved on the phone",
            CallbackOutcome.NOT_NEEDED: "Not needed any more",
            CallbackOutcome.NO_ANSWER: "No answer (give up)",
            CallbackOutcome.WRONG_NUMBER: "Wrong number",
        }[self]


def lapsed(claimed_at: dt.datetime | None, *, now: dt.datetime, lapse: dt.timedelta) -> bool:
    """Whether a claim made at `claimed_at` is old enough to be taken over."""
    return claimed_at is None or claimed_at + lapse <= now


def may_hold(
    *,
    claimed_by: str | None,
    claimed_at: dt.datetime | None,
    actor: str,
    now: dt.datetime,
    lapse: dt.timedelta,
) -> bool:
    """Whether `actor` may claim (or close) a call-back: nobody holds it, `actor` does, or the
    holder's claim has lapsed."""
    return claimed_by is None or claimed_by == actor or lapsed(claimed_at, now=now, lapse=lapse)

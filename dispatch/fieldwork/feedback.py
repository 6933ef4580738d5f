"""The feedback call: a citizen who has not answered the feedback SMS within a day is called
once by the line, which asks for the same 1-5 rating by keypad (`ivr.steps.feedback`).

A call is claimed by a conditional update (`call_placed_at` from empty to now), so two runs of
the task never both call; a call that could not be placed is unclaimed for the next run.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlmodel import Session, col, select

from dispatch.citizens.models import Citizen
from dispatch.fieldwork.models import Feedback
from dispatch.requests.models import DoorstepRequest
from dispatch.states.models import State


def awaiting_call(*, session: Session, asked_before: dt.datetime, most: int) -> list[int]:
    """Feedback requests unanswered since before `asked_before` and not called yet."""
    stmt = (
        select(col(Feedback.id))
        .where(
            col(Feedback.rating).is_(None),
            col(Feedback.call_placed_at).is_(None),
            col(Feedback.asked_at) <= asked_before,
        )
        .order_by(col(Feedback.asked_at))
        .limit(most)
    )
    return [int(i) for i in session.exec(stmt) if i is not None]


def claim_call(*, session: Session, feedback_id: int, now: dt.datetime) -> str | None:
    """Claim the call of this feedback request; the number to call, or None when it is not to
    be called (answered or claimed meanwhile, the citizen said STOP, a number not called)."""
    found = session.exec(
        select(Citizen, State)
        .select_from(Feedback)
        .join(DoorstepRequest, col(DoorstepRequest.id) == col(Feedback.request_id))
        .join(Citizen, col(Citizen.id) == col(DoorstepRequest.citizen_id))
        .join(State, col(State.code) == col(DoorstepRequest.state_code))
        .where(Feedback.id == feedback_id)
    ).first()
    if found is None:
        return None
    citizen, state = found
    table = Feedback.__table__  # type: ignore[attr-defined]
    claimed = session.execute(
        sa.update(table)
        .where(
            table.c.id == feedback_id, table.c.call_placed_at.is_(None), table.c.rating.is_(None)
        )
        .values(call_placed_at=now)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return None
    if citizen.sms_opt_out or not state.may_message(citizen.phone):
        return None  # claimed all the same: never to be called
    return citizen.phone


def unclaim_call(*, session: Session, feedback_id: int) -> None:
    table = Feedback.__table__  # type: ignore[attr-defined]
    session.execute(sa.update(table).where(table.c.id == feedback_id).values(call_placed_at=None))


def called_about(*, session: Session, phone: str) -> Feedback | None:
    """The feedback request a call to `phone` was placed for and is still unanswered."""
    return session.exec(
        select(Feedback)
        .join(DoorstepRequest, col(DoorstepRequest.id) == col(Feedback.request_id))
        .join(Citizen, col(Citizen.id) == col(DoorstepRequest.citizen_id))
        .where(
            Citizen.phone == phone,
            col(Feedback.call_placed_at).is_not(None),
            col(Feedback.rating).is_(None),
        )
        .order_by(col(Feedback.call_placed_at).desc())
    ).first()

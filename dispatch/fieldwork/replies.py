"""Citizens' replies by SMS: STOP / START (non-essential messages off and on again) and a
rating of 1-5 for their last completed visit.

The sender's number is all a reply proves: it is matched to the citizens registered with it;
nothing here reveals anything about a request to the sender.
"""

from __future__ import annotations

import datetime as dt

from sqlmodel import Session, col, select

from dispatch import validation
from dispatch.audit import service as audit
from dispatch.citizens.models import Citizen
from dispatch.config import Settings
from dispatch.errors import InvalidInput
from dispatch.fieldwork.models import Feedback
from dispatch.grievances import service as grievances
from dispatch.requests.models import DoorstepRequest
from dispatch.visits import messages


def citizens_with(*, session: Session, phone: str) -> list[Citizen]:
    try:
        number = validation.phone(phone)
    except InvalidInput:
        return []
    return list(session.exec(select(Citizen).where(Citizen.phone == number)))


def set_opt_out(
    *,
    session: Session,
    settings: Settings,
    phone: str,
    stop: bool,
    now: dt.datetime,
    key: str | None = None,
) -> int | None:
    """STOP (`stop`) or START from `phone`: every citizen with that number; the confirmation
    goes once per `key` (the inbound message's id), about their latest request (if any)."""
    found = citizens_with(session=session, phone=phone)
    for citizen in found:
        if citizen.sms_opt_out != stop:
            citizen.sms_opt_out = stop
            session.add(citizen)
            audit.record(
                session=session,
                actor="citizen:sms",
                entity="citizen",
                entity_id=citizen.id,
                action="sms_stop" if stop else "sms_start",
                at=now,
            )
    session.flush()
    latest = _latest_request(session, [c.id for c in found if c.id is not None])
    if latest is None:
        return None
    return messages.tell_citizen(
        session=session,
        settings=settings,
        request=latest,
        key="stopped" if stop else "started",
        kind="opt_out" if stop else "opt_in",
        now=now,
        idempotency_key=f"sms:{'stop' if stop else 'start'}:{latest.id}:{key or now.isoformat()}",
    )


def _latest_request(session: Session, citizen_ids: list[int]) -> DoorstepRequest | None:
    if not citizen_ids:
        return None
    return session.exec(
        select(DoorstepRequest)
        .where(col(DoorstepRequest.citizen_id).in_(citizen_ids))
        .order_by(col(DoorstepRequest.id).desc())
    ).first()


def rate(
    *,
    session: Session,
    settings: Settings,
    phone: str,
    stars: int,
    comment: str,
    channel: str,
    now: dt.datetime,
) -> int | None:
    """Record a rating for the latest unanswered feedback request of the citizen(s) with this
    number, and thank them; None when nothing awaits a rating (a stray digit changes nothing)."""
    if not 1 <= stars <= 5:
        raise InvalidInput("rating", stars, "a rating is 1 to 5")
    ids = [c.id for c in citizens_with(session=session, phone=phone) if c.id is not None]
    if not ids:
        return None
    pending = session.exec(
        select(Feedback)
        .join(DoorstepRequest, col(DoorstepRequest.id) == col(Feedback.request_id))
        .where(col(DoorstepRequest.citizen_id).in_(ids), col(Feedback.rating).is_(None))
        .order_by(col(Feedback.asked_at).desc())
    ).first()
    if pending is None:
        return None
    return record_rating(
        session=session,
        settings=settings,
        feedback=pending,
        stars=stars,
        comment=comment,
        channel=channel,
        now=now,
    )


def record_rating(
    *,
    session: Session,
    settings: Settings,
    feedback: Feedback,
    stars: int,
    comment: str,
    channel: str,
    now: dt.datetime,
) -> int | None:
    """Record the rating and thank the citizen (the SMS's id); a rating of 1-2 opens a
    grievance, whose message is the thanks (`dispatch.grievances.service.open_for_rating`)."""
    feedback.rating = stars
    feedback.comment = comment[:500]
    feedback.channel = channel
    feedback.answered_at = now
    session.add(feedback)
    audit.record(
        session=session,
        actor=f"citizen:{channel}",
        entity="request",
        entity_id=feedback.request_id,
        action="rated",
        at=now,
        stars=stars,
    )
    session.flush()
    opened = grievances.open_for_rating(
        session=session, settings=settings, feedback=feedback, now=now
    )
    if opened is not None:  # a rating of 1-2: its message thanks and says what happens next
        return opened.message_id
    request = session.get(DoorstepRequest, feedback.request_id)
    assert request is not None
    return messages.tell_citizen(
        session=session,
        settings=settings,
        request=request,
        key="feedback_thanks",
        kind="feedback_thanks",
        now=now,
        idempotency_key=f"sms:feedback_thanks:{request.id}",
        stars=stars,
    )

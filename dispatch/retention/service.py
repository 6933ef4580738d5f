"""The retention purge: blanks personal data older than `retention_days` (what is blanked and
what is kept: `dispatch.retention.rules`), one transaction, one summary audit entry per run
(counts only). `purge_due` is the daily scheduled task (`web.worker`'s `retention-purge`).

Idempotent: a record once purged is not counted again (a masked number carries a "•", a purged
phone its `purged:` prefix, a blank text is left alone), so a second run finds nothing.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from dispatch import validation
from dispatch.audit import service as audit
from dispatch.audit.models import AuditEntry
from dispatch.calls import service as call_service
from dispatch.calls.models import Callback, CallbackStatus, CallSession
from dispatch.citizens.models import Address, Citizen
from dispatch.clock import clock_for, time_of_day
from dispatch.config import Settings
from dispatch.db import engine_for, write_session
from dispatch.fieldwork.models import Feedback
from dispatch.geography.models import Village
from dispatch.grievances.models import Grievance, GrievanceStatus
from dispatch.notifications.models import MessageStatus, OutboxMessage
from dispatch.requests.models import DoorstepRequest, RequestEvent
from dispatch.requests.rules import OPEN, RequestStatus
from dispatch.retention import rules
from dispatch.retention.rules import ACTOR, Purged

ENTITY = "retention"
ACTION = "purge"
#: Messages still on their way keep their body (the sender needs it).
_UNSETTLED = (MessageStatus.QUEUED, MessageStatus.SENDING)
_MASK = "•"


def _masked(number: str) -> str:
    """A number as it is kept after the purge: masked, and marked as purged even when empty."""
    masked = validation.mask_phone(number)
    return masked if _MASK in masked else _MASK


def purge(*, session: Session, now: dt.datetime, days: int, actor: str = ACTOR) -> Purged:
    """Blank what is older than `days` before `now`; record one summary audit entry. The
    caller's transaction commits it."""
    cut = rules.cutoff(now, days)
    calls, answers = _calls(session, cut)
    citizens, addresses, requests = _citizens(session, cut)
    done = Purged(
        calls=calls,
        call_answers=answers,
        messages=_messages(session, cut),
        feedback=_feedback(session, cut),
        grievances=_grievances(session, cut),
        callbacks=_callbacks(session, cut),
        citizens=citizens,
        addresses=addresses,
        requests=requests,
    )
    audit.record(
        session=session,
        actor=actor,
        entity=ENTITY,
        entity_id=rules.local_day(now).isoformat(),
        action=ACTION,
        at=now,
        days=days,
        cutoff=cut.isoformat(),
        **done.counts(),
    )
    session.flush()
    return done


def last_run(*, session: Session) -> dt.datetime | None:
    """When the last purge ran (its audit entry), if ever."""
    stmt = select(sa.func.max(AuditEntry.at)).where(
        AuditEntry.entity == ENTITY, AuditEntry.action == ACTION
    )
    found: dt.datetime | None = session.exec(stmt).one()
    if found is not None and found.tzinfo is None:  # SQLite's aggregate loses the type
        found = found.replace(tzinfo=dt.UTC)
    return found


def purge_due(*, engine: Engine, settings: Settings, now: dt.datetime) -> int:
    """Scheduled task: the day's purge once `retention_purge_at` has passed (India's time);
    returns how many records it blanked (0 when it was not due)."""
    with write_session(engine) as session:
        at = time_of_day(settings.retention_purge_at)
        if not rules.due(now=now, at=at, last_run=last_run(session=session)):
            return 0
        return purge(session=session, now=now, days=settings.retention_days).total


# --- each kind of record ----------------------------------------------------------------------


def _calls(session: Session, cut: dt.datetime) -> tuple[int, int]:
    rows = session.exec(
        select(CallSession).where(
            col(CallSession.started_at) < cut, col(CallSession.from_number).not_like(f"%{_MASK}%")
        )
    ).all()
    for call in rows:
        call.from_number = _masked(call.from_number)
        call.data = {}
        session.add(call)
    # The hourly forget-answers task keeps them a day; any left (the task stopped) go here.
    return len(rows), call_service.forget_answers(session=session, before=cut)


def _messages(session: Session, cut: dt.datetime) -> int:
    rows = session.exec(
        select(OutboxMessage).where(
            col(OutboxMessage.created_at) < cut,
            col(OutboxMessage.status).not_in(_UNSETTLED),
            col(OutboxMessage.to).not_like(f"%{_MASK}%"),
        )
    ).all()
    for message in rows:
        message.to = _masked(message.to)
        message.body = ""
        session.add(message)
    return len(rows)


def _feedback(session: Session, cut: dt.datetime) -> int:
    rows = session.exec(
        select(Feedback).where(col(Feedback.asked_at) < cut, col(Feedback.comment) != "")
    ).all()
    for feedback in rows:
        feedback.comment = ""
        session.add(feedback)
    return len(rows)


def _grievances(session: Session, cut: dt.datetime) -> int:
    rows = session.exec(
        select(Grievance).where(
            col(Grievance.opened_at) < cut,
            Grievance.status == GrievanceStatus.CLOSED,
            sa.or_(col(Grievance.comment) != "", col(Grievance.note) != ""),
        )
    ).all()
    for grievance in rows:
        grievance.comment = grievance.note = ""
        session.add(grievance)
    return len(rows)


def _callbacks(session: Session, cut: dt.datetime) -> int:
    rows = session.exec(
        select(Callback).where(
            col(Callback.created_at) < cut,
            Callback.status == CallbackStatus.DONE,
            col(Callback.phone).not_like(f"%{_MASK}%"),
        )
    ).all()
    for callback in rows:
        callback.phone = _masked(callback.phone)
        callback.note = None
        session.add(callback)
    return len(rows)


def _citizens(session: Session, cut: dt.datetime) -> tuple[int, int, int]:
    """Citizens with no open request or grievance and nothing of theirs newer than `cut`: their
    name, phone, addresses' landmarks and coordinates, and their cancelled requests' reasons."""
    request = sa.orm.aliased(DoorstepRequest)
    event = sa.orm.aliased(RequestEvent)
    mine = col(request.citizen_id) == col(Citizen.id)
    recent_or_open = sa.exists().where(
        mine, sa.or_(col(request.status).in_(list(OPEN)), col(request.logged_at) >= cut)
    )
    recent_event = sa.exists().where(
        mine, col(event.request_id) == col(request.id), col(event.at) >= cut
    )
    recent_address = sa.exists().where(
        col(Address.citizen_id) == col(Citizen.id), col(Address.last_used_at) >= cut
    )
    waiting = sa.exists().where(
        col(Callback.citizen_id) == col(Citizen.id), col(Callback.status) == CallbackStatus.OPEN
    )
    grievance = sa.orm.aliased(Grievance)
    open_or_recent_grievance = sa.exists().where(
        mine,
        col(grievance.request_id) == col(request.id),
        sa.or_(col(grievance.status) == GrievanceStatus.OPEN, col(grievance.opened_at) >= cut),
    )
    recent_call = sa.exists().where(
        col(CallSession.citizen_id) == col(Citizen.id), col(CallSession.started_at) >= cut
    )
    citizens = session.exec(
        select(Citizen).where(
            col(Citizen.created_at) < cut,
            col(Citizen.phone).not_like(f"{rules.PURGED_PHONE_PREFIX}%"),
            ~recent_or_open,
            ~recent_event,
            ~recent_address,
            ~waiting,
            ~open_or_recent_grievance,
            ~recent_call,
        )
    ).all()
    addresses = requests = 0
    for citizen in citizens:
        assert citizen.id is not None
        citizen.name = ""
        citizen.phone = rules.purged_phone(citizen.id)
        session.add(citizen)
        for address in session.exec(select(Address).where(Address.citizen_id == citizen.id)):
            village = session.get(Village, address.village_id)
            address.landmark = ""
            if village is not None:
                address.lat, address.lon = village.lat, village.lon
            session.add(address)
            addresses += 1
        requests += _cancel_reasons(session, citizen.id)
    return len(citizens), addresses, requests


def _cancel_reasons(session: Session, citizen_id: int) -> int:
    """Blank the reasons given for cancelling the citizen's requests (their own words)."""
    cancelled = session.exec(
        select(DoorstepRequest).where(
            DoorstepRequest.citizen_id == citizen_id,
            DoorstepRequest.status == RequestStatus.CANCELLED,
        )
    ).all()
    for request in cancelled:
        request.status_reason = None
        session.add(request)
        for event in session.exec(
            select(RequestEvent).where(
                RequestEvent.request_id == request.id,
                RequestEvent.to_status == RequestStatus.CANCELLED,
            )
        ):
            event.reason = None
            session.add(event)
    return len(cancelled)


def purge_task(settings: Settings) -> int:
    """The scheduler's entry (`web.worker.TASKS`, hourly): `purge_due` on the settings'
    database at the product's clock."""
    return purge_due(
        engine=engine_for(settings.database_url), settings=settings, now=clock_for(settings).now()
    )

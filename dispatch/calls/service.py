"""Call sessions: start, lock, advance, settle and end a call; replay stored answers;
record call-backs and queue waits, and estimate the wait for a person. The console's side of
call-backs (the queue, claims, closing with an outcome) is `dispatch.calls.queue`; the outcomes
and claim rules themselves are pure data in `rules.py`.

Every function flushes and leaves the commit to the caller's unit of work (one webhook = one
transaction). The conversation itself (prompts, menus, TwiML) lives in the IVR adapter; this
module only keeps its state in the database, so any process can answer the next step.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from dispatch import validation
from dispatch.calls.models import (
    SETTLED,
    CallAnswer,
    Callback,
    CallbackReason,
    CallSession,
    CallStatus,
    QueueWait,
)
from dispatch.db import utcnow
from dispatch.errors import InvalidPhone, InvalidTransition, NotFound
from dispatch.requests.models import DoorstepRequest
from dispatch.states import service as state_service

#: How far back queue-wait observations count towards the estimate, and how many at most.
WAIT_LOOKBACK = dt.timedelta(minutes=30)
WAIT_SAMPLES = 20


def find(*, session: Session, call_sid: str) -> CallSession | None:
    return session.exec(select(CallSession).where(CallSession.call_sid == call_sid)).first()


def get_for_update(*, session: Session, call_sid: str) -> CallSession:
    """The call, locked until the transaction ends (PostgreSQL row lock; SQLite's
    BEGIN IMMEDIATE already serialises writers), so two deliveries of one webhook queue up."""
    stmt = select(CallSession).where(CallSession.call_sid == call_sid).with_for_update()
    call = session.exec(stmt).first()
    if call is None:
        raise NotFound("call", call_sid)
    return call


def start(
    *,
    session: Session,
    call_sid: str,
    state_code: str,
    from_number: str,
    to_number: str,
    language: str,
    citizen_id: int | None = None,
    now: dt.datetime | None = None,
) -> CallSession:
    """Open the session of a new call; a call already known is returned unchanged (also when
    a duplicate delivery of the first webhook opened it a moment ago)."""
    existing = find(session=session, call_sid=call_sid)
    if existing is not None:
        return existing
    now = now or utcnow()
    call = CallSession(
        call_sid=call_sid,
        state_code=state_code,
        from_number=from_number[:32],
        to_number=to_number[:32],
        citizen_id=citizen_id,
        language=language,
        started_at=now,
        updated_at=now,
    )
    try:
        with session.begin_nested():  # flushed here: a duplicate fails now, not at commit
            session.add(call)
    except sa.exc.IntegrityError:
        found = find(session=session, call_sid=call_sid)
        if found is None:
            raise
        return found
    return call


def advance(
    *,
    session: Session,
    call: CallSession,
    step: str,
    data: dict[str, Any],
    language: str | None = None,
    citizen_id: int | None = None,
    now: dt.datetime | None = None,
) -> CallSession:
    """Record that the call now waits at `step` with `data`; one more turn taken."""
    call.step = step
    call.turn += 1
    call.data = dict(data)  # a new object, so the JSON column is seen as changed
    if language is not None:
        call.language = language
    if citizen_id is not None:
        call.citizen_id = citizen_id
    call.updated_at = now or utcnow()
    session.add(call)
    session.flush()
    return call


def settle(
    *, session: Session, call: CallSession, status: CallStatus, request_id: int | None = None
) -> CallSession:
    """Record what the call achieved (booked, transferred, ...); ending it is `end`'s job."""
    if status is CallStatus.ACTIVE or status is CallStatus.ABANDONED:
        raise InvalidTransition(call.status, status, "only the end of a call can abandon it")
    call.status = status
    if request_id is not None:
        call.request_id = request_id
    session.add(call)
    session.flush()
    return call


def resume(*, session: Session, call: CallSession) -> CallSession:
    """A caller who heard their request's status (INFORMED) starts to act on it: until that
    is settled, hanging up abandons the call again."""
    if call.status is CallStatus.INFORMED:
        call.status = CallStatus.ACTIVE
        session.add(call)
        session.flush()
    return call


def count_error(*, session: Session, call_sid: str) -> int:
    """Count one failed step of a call; returns how many it has had (0 if the call is unknown)."""
    call = find(session=session, call_sid=call_sid)
    if call is None:
        return 0
    call.errors += 1
    session.add(call)
    session.flush()
    return call.errors


def end(
    *,
    session: Session,
    call_sid: str,
    duration_s: int | None = None,
    now: dt.datetime | None = None,
) -> CallSession | None:
    """The provider says the call is over. A call that settled nothing is abandoned at the
    step it had reached. Idempotent; an unknown call (it never reached us) is ignored."""
    call = session.exec(
        select(CallSession).where(CallSession.call_sid == call_sid).with_for_update()
    ).first()
    if call is None:
        return None
    if call.ended_at is not None:
        return call
    now = now or utcnow()
    call.ended_at = now
    call.ended_step = call.step
    call.duration_s = duration_s
    if call.status not in SETTLED:
        call.status = CallStatus.ABANDONED
    session.add(call)
    session.flush()
    return call


# --- replaying answers ----------------------------------------------------------------------


def stored_answer(
    *, session: Session, call_sid: str, step: str, turn: int, input_hash: str
) -> str | None:
    stmt = select(CallAnswer.answer).where(
        CallAnswer.call_sid == call_sid,
        CallAnswer.step == step,
        CallAnswer.turn == turn,
        CallAnswer.input_hash == input_hash,
    )
    found: str | None = session.exec(stmt).first()
    return found


def store_answer(
    *,
    session: Session,
    call_sid: str,
    step: str,
    turn: int,
    input_hash: str,
    answer: str,
    now: dt.datetime | None = None,
) -> CallAnswer:
    row = CallAnswer(
        call_sid=call_sid,
        step=step,
        turn=turn,
        input_hash=input_hash,
        answer=answer,
        at=now or utcnow(),
    )
    session.add(row)
    session.flush()
    return row


def forget_answers(*, session: Session, before: dt.datetime) -> int:
    """Delete stored answers older than `before` (retries come within seconds; the answers
    are large). Returns how many were deleted. Meant for a daily scheduled task."""
    table = CallAnswer.__table__  # type: ignore[attr-defined]
    result = session.execute(sa.delete(table).where(table.c.at < before))
    return int(result.rowcount)  # type: ignore[attr-defined]


# --- call-backs -----------------------------------------------------------------------------


def request_callback(
    *,
    session: Session,
    call: CallSession,
    phone: str,
    reason: CallbackReason,
    service_id: int | None = None,
    address_id: int | None = None,
    request_id: int | None = None,
    now: dt.datetime | None = None,
) -> Callback:
    """Promise the caller a call-back (one per call: asking twice returns the first), only to
    a number the state rings back (`State.may_message`; `InvalidPhone` otherwise)."""
    existing = session.exec(select(Callback).where(Callback.call_sid == call.call_sid)).first()
    if existing is not None:
        return existing
    if not state_service.get(session=session, code=call.state_code).may_message(phone):
        raise InvalidPhone("phone", validation.mask_phone(phone), "not a number this state calls")
    callback = Callback(
        state_code=call.state_code,
        call_sid=call.call_sid,
        phone=phone[:32],
        citizen_id=call.citizen_id,
        language=call.language,
        reason=reason,
        service_id=service_id,
        address_id=address_id,
        request_id=request_id,
        created_at=now or utcnow(),
    )
    session.add(callback)
    settle(session=session, call=call, status=CallStatus.CALLBACK)
    return callback


def find_callback(*, session: Session, key: str) -> Callback | None:
    """The call-back opened under `key` (a call's SID, or a planner's key), if any."""
    return session.exec(select(Callback).where(Callback.call_sid == key)).first()


def callback_for_request(
    *,
    session: Session,
    request: DoorstepRequest,
    phone: str,
    reason: CallbackReason,
    key: str,
    now: dt.datetime | None = None,
) -> Callback | None:
    """Open a call-back about `request` that no call asked for (the planner needs the citizen
    to choose a time): once per `key` (asking again returns the first); None for a number the
    state does not ring."""
    existing = find_callback(session=session, key=key)
    if existing is not None:
        return existing
    if not state_service.get(session=session, code=request.state_code).may_message(phone):
        return None
    callback = Callback(
        state_code=request.state_code,
        call_sid=key[:64],
        phone=phone[:32],
        citizen_id=request.citizen_id,
        language=request.language,
        reason=reason,
        service_id=request.service_id,
        address_id=request.address_id,
        request_id=request.id,
        created_at=now or utcnow(),
    )
    session.add(callback)
    session.flush()
    return callback


# --- the wait for a person --------------------------------------------------------------------


def record_queue_wait(
    *,
    session: Session,
    queue: str,
    waited_s: int,
    result: str,
    call_sid: str | None = None,
    now: dt.datetime | None = None,
) -> QueueWait:
    """One observation: a caller left the queue after `waited_s`, or the provider reported its
    average wait (`result="reported"`)."""
    row = QueueWait(
        queue=queue,
        call_sid=call_sid,
        waited_s=max(0, waited_s),
        result=result[:24],
        at=now or utcnow(),
    )
    session.add(row)
    session.flush()
    return row


def estimated_wait_seconds(*, session: Session, queue: str, now: dt.datetime) -> int:
    """The expected wait for a person: the mean of the latest observations of the last half
    hour (0 when there are none: an idle queue answers at once)."""
    stmt = (
        select(QueueWait.waited_s)
        .where(QueueWait.queue == queue, col(QueueWait.at) >= now - WAIT_LOOKBACK)
        .order_by(col(QueueWait.at).desc(), col(QueueWait.id).desc())
        .limit(WAIT_SAMPLES)
    )
    waits = list(session.exec(stmt))
    return round(sum(waits) / len(waits)) if waits else 0

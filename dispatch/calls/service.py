"""Call sessions: start, lock, advance, settle and end a call; replay stored answers;
record call-backs and queue waits, and estimate the wait for a person. For the console: the
callers waiting on the line, what they gave it, and call-backs claimed, released and closed
with an outcome (each audited; claims are conditional updates, so two people cannot both hold
one). The outcomes and claim rules themselves are pure data in `rules.py`.

Every function flushes and leaves the commit to the caller's unit of work (one webhook = one
transaction; one console form = one transaction). The conversation itself (prompts, menus,
TwiML) lives in the IVR adapter; this module only keeps its state in the database, so any
process can answer the next step.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from dispatch import validation
from dispatch.audit import service as audit
from dispatch.calls import rules
from dispatch.calls.models import (
    SETTLED,
    CallAnswer,
    Callback,
    CallbackReason,
    CallbackStatus,
    CallSession,
    CallStatus,
    QueueWait,
)
from dispatch.catalogue.models import Service
from dispatch.citizens.models import Address, Citizen
from dispatch.db import utcnow
from dispatch.errors import Conflict, InvalidInput, InvalidPhone, InvalidTransition, NotFound
from dispatch.geography.models import Block, District, Village
from dispatch.requests import service as request_service
from dispatch.states import service as state_service

#: How far back queue-wait observations count towards the estimate, and how many at most.
WAIT_LOOKBACK = dt.timedelta(minutes=30)
WAIT_SAMPLES = 20
#: The audit log's name for a call-back, and the longest note a closed one keeps (its column).
CALLBACK = "callback"
NOTE_LENGTH = 500


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


def open_callbacks(*, session: Session, state_code: str) -> list[Callback]:
    stmt = (
        select(Callback)
        .where(Callback.state_code == state_code, Callback.status == CallbackStatus.OPEN)
        .order_by(col(Callback.created_at))
    )
    return list(session.exec(stmt))


def get_callback(*, session: Session, callback_id: int) -> Callback:
    callback = session.get(Callback, callback_id)
    if callback is None:
        raise NotFound(CALLBACK, callback_id)
    return callback


def claim_callback(
    *,
    session: Session,
    callback_id: int,
    actor: str,
    now: dt.datetime | None = None,
    lapse: dt.timedelta = rules.CLAIM_LAPSES_AFTER,
) -> Callback:
    """`actor` takes an open call-back to ring the caller back. One person holds it at a time:
    while someone else's claim is younger than `lapse`, `Conflict`; an older one is taken over.
    Claiming one's own again renews it; a closed call-back cannot be claimed
    (`InvalidTransition`). Conditional, so two people claiming at once cannot both win."""
    now = now or utcnow()
    callback = get_callback(session=session, callback_id=callback_id)
    if callback.status is not CallbackStatus.OPEN:
        raise InvalidTransition(callback.status, "claimed", "the call-back is closed")
    before = callback.claimed_by
    if not rules.may_hold(
        claimed_by=before, claimed_at=callback.claimed_at, actor=actor, now=now, lapse=lapse
    ):
        raise Conflict(CALLBACK, callback_id, f"{holder_name(before)} is ringing this caller back")
    _conditional_update(session, callback, claimed_by=actor, claimed_at=now)
    action = "claimed" if before in (None, actor) else "taken_over"
    audit.record(
        session=session,
        actor=actor,
        entity=CALLBACK,
        entity_id=callback_id,
        action=action,
        at=now,
        **({"from": before} if action == "taken_over" else {}),
    )
    return callback


def release_callback(
    *, session: Session, callback_id: int, actor: str, now: dt.datetime | None = None
) -> Callback:
    """`actor` gives their call-back back to the queue (to try again later, or for someone
    else). Releasing one nobody holds changes nothing; one held by someone else is a
    `Conflict` (it was taken over meanwhile)."""
    callback = get_callback(session=session, callback_id=callback_id)
    if callback.status is not CallbackStatus.OPEN or callback.claimed_by is None:
        return callback
    if callback.claimed_by != actor:
        raise Conflict(CALLBACK, callback_id, f"{holder_name(callback.claimed_by)} holds it now")
    _conditional_update(session, callback, claimed_by=None, claimed_at=None)
    audit.record(
        session=session,
        actor=actor,
        entity=CALLBACK,
        entity_id=callback_id,
        action="released",
        at=now or utcnow(),
    )
    return callback


def close_callback(
    *,
    session: Session,
    callback_id: int,
    actor: str,
    outcome: rules.CallbackOutcome | None = None,
    note: str | None = None,
    reference: str | None = None,
    now: dt.datetime | None = None,
    lapse: dt.timedelta = rules.CLAIM_LAPSES_AFTER,
) -> Callback:
    """Close a call-back with how it ended (`outcome`; None only for callers that do not say)
    and a note. With outcome `BOOKED`, `reference` names the request booked: checked, and put
    at the start of the note. Idempotent: a closed call-back stays as it was closed. Refused
    (`Conflict`) while someone else holds an unlapsed claim; one nobody holds anyone may close
    (the caller called again, say)."""
    now = now or utcnow()
    callback = get_callback(session=session, callback_id=callback_id)
    if callback.status is CallbackStatus.DONE:
        return callback
    text = validation.text(note, field="note", max_length=NOTE_LENGTH, required=False)
    if reference and reference.strip():
        if outcome is not rules.CallbackOutcome.BOOKED:
            raise InvalidInput("reference", reference, "only a booked call-back names a request")
        booked = request_service.get_by_reference(
            session=session, reference=reference, default_state=callback.state_code
        )
        text = f"{booked.reference} {text}".strip()
        if len(text) > NOTE_LENGTH:
            raise InvalidInput("note", note, f"longer than {NOTE_LENGTH} characters")
    if not rules.may_hold(
        claimed_by=callback.claimed_by,
        claimed_at=callback.claimed_at,
        actor=actor,
        now=now,
        lapse=lapse,
    ):
        raise Conflict(CALLBACK, callback_id, f"{holder_name(callback.claimed_by)} holds it now")
    try:
        _conditional_update(
            session,
            callback,
            status=CallbackStatus.DONE.value,
            done_at=now,
            done_by=actor,
            outcome=outcome.value if outcome else None,
            note=text or None,
        )
    except Conflict:
        current = get_callback(session=session, callback_id=callback_id)  # as refreshed
        if current.status is CallbackStatus.DONE:  # closed by someone else meanwhile
            return current
        raise
    audit.record(
        session=session,
        actor=actor,
        entity=CALLBACK,
        entity_id=callback_id,
        action="closed",
        at=now,
        outcome=outcome.value if outcome else None,
    )
    return callback


def holder_name(actor: str | None) -> str:
    """A claimer as people know them: `staff:anita` -> `anita`."""
    return (actor or "someone").removeprefix("staff:")


def _conditional_update(session: Session, callback: Callback, **values: Any) -> None:
    """Write `values` only if the call-back is still open and held as it was read: a second
    writer that read the same row finds it changed and gets `Conflict` (SQLite serialises
    writers anyway; on PostgreSQL the UPDATE re-checks the row once the first commits)."""
    table = Callback.__table__  # type: ignore[attr-defined]
    held = (
        table.c.claimed_by.is_(None)
        if callback.claimed_by is None
        else sa.and_(
            table.c.claimed_by == callback.claimed_by, table.c.claimed_at == callback.claimed_at
        )
    )
    result = session.execute(
        sa.update(table)
        .where(table.c.id == callback.id, table.c.status == CallbackStatus.OPEN.value, held)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    session.refresh(callback)
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict(
            CALLBACK, callback.id, f"{holder_name(callback.claimed_by)} changed it first"
        )


# --- the console's queue: who waits, and what they told the line -------------------------


def waiting_calls(
    *,
    session: Session,
    state_code: str,
    now: dt.datetime,
    within: dt.timedelta = rules.WAITING_AT_MOST,
) -> list[CallSession]:
    """Calls put through to the call-agent queue and not ended, longest waiting first (a
    transfer is a call's last step: `updated_at` is when it joined the queue). A caller already
    talking to a person is among them: the line learns of the pick-up only when the call ends."""
    stmt = (
        select(CallSession)
        .where(*_waiting(state_code, now, within))
        .order_by(col(CallSession.updated_at), col(CallSession.id))
    )
    return list(session.exec(stmt))


def _waiting(state_code: str, now: dt.datetime, within: dt.timedelta) -> tuple[Any, ...]:
    return (
        CallSession.state_code == state_code,
        CallSession.status == CallStatus.TRANSFERRED,
        col(CallSession.ended_at).is_(None),
        col(CallSession.updated_at) >= now - within,
    )


def queue_length(
    *,
    session: Session,
    state_code: str,
    now: dt.datetime,
    within: dt.timedelta = rules.WAITING_AT_MOST,
) -> int:
    """Callers waiting on the line plus open call-backs (for a count in the navigation)."""
    waiting = session.exec(
        select(sa.func.count()).select_from(CallSession).where(*_waiting(state_code, now, within))
    ).one()
    callbacks = session.exec(
        select(sa.func.count())
        .select_from(Callback)
        .where(Callback.state_code == state_code, Callback.status == CallbackStatus.OPEN)
    ).one()
    return int(waiting) + int(callbacks)


@dataclass(frozen=True)
class CallerDetails:
    """What a caller gave the line, as the things themselves (each None when not given)."""

    service: Service | None = None
    village: Village | None = None
    block: Block | None = None
    district: District | None = None
    citizen: Citizen | None = None

    @property
    def place(self) -> str:
        """`Village, Block, District`, as far as the caller got."""
        return ", ".join(p.name for p in (self.village, self.block, self.district) if p)


def caller_details(
    *,
    session: Session,
    citizen_id: int | None = None,
    service_id: int | None = None,
    address_id: int | None = None,
    village_id: int | None = None,
    block_id: int | None = None,
    district_id: int | None = None,
) -> CallerDetails:
    """The service, place and citizen behind the ids a call or call-back recorded; the place
    as precise as known (an address gives its village, a village its block and district)."""
    if address_id is not None and village_id is None:
        address = session.get(Address, address_id)
        village_id = address.village_id if address else None
    village = session.get(Village, village_id) if village_id is not None else None
    block_id = village.block_id if village else block_id
    block = session.get(Block, block_id) if block_id is not None else None
    district_id = block.district_id if block else district_id
    district = session.get(District, district_id) if district_id is not None else None
    return CallerDetails(
        service=session.get(Service, service_id) if service_id is not None else None,
        village=village,
        block=block,
        district=district,
        citizen=session.get(Citizen, citizen_id) if citizen_id is not None else None,
    )


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

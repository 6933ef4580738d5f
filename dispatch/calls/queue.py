"""The console's call-back queue in the domain: the callers waiting on the line for a person and
what they gave it (as names), open call-backs, and a call-back claimed by one person at a time,
released, and closed with an outcome — by hand, or as booked once the console's intake books
for its caller. Each command is audited; claims and closes are conditional updates, so two
people cannot both hold or both close one. The outcomes and claim rules are pure data in
`rules.py`.

Not here: recording a call-back or a call (`dispatch.calls.service`, the phone line's side);
the booking itself (`dispatch.visits.service.book_visit`). Every function flushes and leaves
the commit to the caller (one console form = one transaction).
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
from dispatch.calls.models import Callback, CallbackStatus, CallSession, CallStatus
from dispatch.catalogue.models import Service
from dispatch.citizens.models import Address, Citizen
from dispatch.db import utcnow
from dispatch.errors import Conflict, InvalidInput, InvalidTransition, NotFound
from dispatch.geography.models import Block, District, Village
from dispatch.requests import service as request_service
from dispatch.requests.models import DoorstepRequest

#: The audit log's name for a call-back, and the longest note a closed one keeps (its column).
CALLBACK = "callback"
NOTE_LENGTH = 500
#: No row has an id beyond this (32-bit keys on PostgreSQL); a larger one is not looked up at
#: all (SQLite cannot even bind one past 2**63), it is simply not found.
MOST_ID = 2**31 - 1
#: Why a request named as booked is refused for a call-back.
NOT_THIS_CALLERS = "booked for another caller (neither this caller nor their number)"


# --- call-backs -----------------------------------------------------------------------------


def open_callbacks(*, session: Session, state_code: str) -> list[Callback]:
    stmt = (
        select(Callback)
        .where(Callback.state_code == state_code, Callback.status == CallbackStatus.OPEN)
        .order_by(col(Callback.created_at))
    )
    return list(session.exec(stmt))


def get_callback(*, session: Session, callback_id: int) -> Callback:
    callback = session.get(Callback, callback_id) if 0 < callback_id <= MOST_ID else None
    if callback is None:
        raise NotFound(CALLBACK, callback_id)
    return callback


class ClaimChangedMeanwhile(Conflict):
    """A claim or release from a form drawn before the call-back was last claimed, released
    or closed (the form sent again, or left open): nothing done."""

    def __init__(self, callback_id: int) -> None:
        super().__init__(CALLBACK, callback_id, "claimed or released since this page was drawn")


def callback_version(*, session: Session, callback_id: int) -> int:
    """The version of a call-back's claim a claim or release form carries: the id of its
    latest audit entry (0 before any)."""
    return audit.latest_id(session=session, entity=CALLBACK, entity_id=callback_id)


def _stale(session: Session, callback: Callback, version: int | None) -> bool:
    assert callback.id is not None
    return version is not None and version != callback_version(
        session=session, callback_id=callback.id
    )


def claim_callback(
    *,
    session: Session,
    callback_id: int,
    actor: str,
    now: dt.datetime | None = None,
    lapse: dt.timedelta = rules.CLAIM_LAPSES_AFTER,
    version: int | None = None,
) -> Callback:
    """`actor` takes an open call-back to ring the caller back. One person holds it at a time:
    while someone else's claim is younger than `lapse`, `Conflict`; an older one is taken over.
    Claiming one's own again renews it; a closed call-back cannot be claimed
    (`InvalidTransition`). Conditional, so two people claiming at once cannot both win.

    With `version` (the `callback_version` the form was drawn at), a call-back claimed,
    released or closed since is left as it is: held by `actor` already, it is returned as it
    is (a double click renews nothing); otherwise `ClaimChangedMeanwhile` (an old claim sent
    again after the release does not take the call-back back)."""
    now = now or utcnow()
    callback = get_callback(session=session, callback_id=callback_id)
    if callback.status is not CallbackStatus.OPEN:
        raise InvalidTransition(callback.status, "claimed", "the call-back is closed")
    if _stale(session, callback, version):
        if callback.claimed_by == actor:
            return callback
        raise ClaimChangedMeanwhile(callback_id)
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
    *,
    session: Session,
    callback_id: int,
    actor: str,
    now: dt.datetime | None = None,
    version: int | None = None,
) -> Callback:
    """`actor` gives their call-back back to the queue (to try again later, or for someone
    else). Releasing one nobody holds changes nothing; one held by someone else is a
    `Conflict` (it was taken over meanwhile). With `version`, a call-back claimed or released
    since the form was drawn is left as it is (`ClaimChangedMeanwhile`: an old release sent
    again does not release a later claim)."""
    callback = get_callback(session=session, callback_id=callback_id)
    if callback.status is not CallbackStatus.OPEN or callback.claimed_by is None:
        return callback
    if _stale(session, callback, version):
        raise ClaimChangedMeanwhile(callback_id)
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
    and a note. With outcome `BOOKED`, `reference` names the request booked: it must exist
    (`NotFound`) and be the call-back's caller's, of its state (`InvalidInput` otherwise, as
    `close_booked`), and is put at the start of the note. Idempotent: a closed call-back stays
    as it was closed. Refused (`Conflict`) while someone else holds an unlapsed claim; one
    nobody holds anyone may close (the caller called again, say)."""
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
        if not _for_caller_of(session, callback, booked):
            raise InvalidInput("reference", reference, NOT_THIS_CALLERS)
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


def close_booked(
    *,
    session: Session,
    callback_id: int,
    state_code: str,
    request_id: int,
    actor: str,
    now: dt.datetime | None = None,
) -> Callback:
    """Close a call-back as `BOOKED`, naming the request just booked for its caller (the
    console books first and closes after, in a transaction of its own, so a refusal here
    never undoes the booking). Idempotent like `close_callback`: a retried booking finds it
    closed and changes nothing. Refused with `NotFound` for another state's call-back,
    `InvalidInput` when the request is not for the call-back's caller (neither its citizen
    nor its number), and `Conflict` while someone else holds an unlapsed claim."""
    callback = get_callback(session=session, callback_id=callback_id)
    if callback.state_code != state_code:
        raise NotFound(CALLBACK, callback_id)
    if callback.status is CallbackStatus.DONE:
        return callback
    booked = request_service.get(session=session, request_id=request_id)
    if not _for_caller_of(session, callback, booked):
        raise InvalidInput("request", booked.reference, NOT_THIS_CALLERS)
    return close_callback(
        session=session,
        callback_id=callback_id,
        actor=actor,
        outcome=rules.CallbackOutcome.BOOKED,
        reference=booked.reference,
        now=now,
    )


def _for_caller_of(session: Session, callback: Callback, booked: DoorstepRequest) -> bool:
    """Whether a request was booked for the call-back's caller: the citizen the line knew, or
    the number it was asked to ring."""
    if booked.state_code != callback.state_code:
        return False
    if callback.citizen_id is not None and booked.citizen_id == callback.citizen_id:
        return True
    citizen = session.get(Citizen, booked.citizen_id)
    return citizen is not None and citizen.phone == callback.phone


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


def transferred_call(*, session: Session, call_id: int, state_code: str) -> CallSession:
    """A call of the state that the line put through to a person (`NotFound` otherwise: a call
    that never reached the queue is nobody's to book for), ended or not — the agent may still
    be booking when the caller hangs up."""
    call = session.get(CallSession, call_id) if 0 < call_id <= MOST_ID else None
    if call is None or call.state_code != state_code or call.status != CallStatus.TRANSFERRED:
        raise NotFound("call", call_id)
    return call


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

"""The console's queue in the domain: call-backs claimed by one person at a time (a lapsed claim
taken over), released, closed with an outcome (idempotently, audited), and the callers waiting
on the line with what they told it."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from dispatch.audit import service as audit
from dispatch.calls import queue as callback_queue
from dispatch.calls import rules
from dispatch.calls import service as call_service
from dispatch.calls.models import Callback, CallbackReason, CallbackStatus, CallSession, CallStatus
from dispatch.calls.rules import CallbackOutcome
from dispatch.citizens import service as citizen_service
from dispatch.db import write_session
from dispatch.errors import Conflict, InvalidInput, InvalidTransition, NotFound
from dispatch.requests import rules as request_rules
from tests import factories
from tests.conftest import unique_phone

NOW = dt.datetime(2030, 6, 3, 6, 0, tzinfo=dt.UTC)
ANITA, BILAL = "staff:anita", "staff:bilal"


def _call(session: Session, *, at: dt.datetime, language: str = "hi") -> CallSession:
    return call_service.start(
        session=session,
        call_sid=f"CA{uuid.uuid4().hex}",
        state_code="JK",
        from_number=unique_phone(),
        to_number="1447",
        language=language,
        now=at,
    )


def make_callback(
    session: Session,
    *,
    at: dt.datetime = NOW,
    language: str = "hi",
    reason: CallbackReason = CallbackReason.LONG_WAIT,
    details: bool = True,
) -> Callback:
    """An open call-back as the IVR leaves it: a known citizen, their address and a service."""
    call = _call(session, at=at, language=language)
    service_id = address_id = None
    if details:
        person = factories.citizen(session)
        address = citizen_service.last_address(session=session, citizen_id=person.id or 0)
        call.citizen_id, address_id = person.id, address.id if address else None
        service_id = factories.service(session).id
    callback = call_service.request_callback(
        session=session,
        call=call,
        phone=call.from_number,
        reason=reason,
        service_id=service_id,
        address_id=address_id,
        now=at,
    )
    session.flush()
    return callback


def make_transfer(
    session: Session, *, at: dt.datetime = NOW, language: str = "hi", **choices: Any
) -> CallSession:
    """A caller put through to the call-agent queue at `at` (what they chose in `data`)."""
    call = _call(session, at=at, language=language)
    call_service.advance(session=session, call=call, step="queue", data=choices, now=at)
    call_service.settle(session=session, call=call, status=CallStatus.TRANSFERRED)
    return call


def _actions(session: Session, callback: Callback) -> list[tuple[str, str]]:
    entries = audit.history(session=session, entity="callback", entity_id=callback.id)
    return [(e.actor, e.action) for e in entries]


def test_one_person_holds_a_callback_at_a_time(session: Session) -> None:
    callback = make_callback(session)
    cid = callback.id or 0
    callback_queue.claim_callback(session=session, callback_id=cid, actor=ANITA, now=NOW)
    assert (callback.claimed_by, callback.claimed_at) == (ANITA, NOW)
    with pytest.raises(Conflict, match="anita"):
        callback_queue.claim_callback(session=session, callback_id=cid, actor=BILAL, now=NOW)
    later = NOW + dt.timedelta(minutes=5)
    callback_queue.claim_callback(session=session, callback_id=cid, actor=ANITA, now=later)
    assert (callback.claimed_by, callback.claimed_at) == (ANITA, later)  # renewed
    assert _actions(session, callback) == [(ANITA, "claimed"), (ANITA, "claimed")]


def test_a_lapsed_claim_is_taken_over(session: Session) -> None:
    callback = make_callback(session)
    cid = callback.id or 0
    callback_queue.claim_callback(session=session, callback_id=cid, actor=ANITA, now=NOW)
    almost = NOW + rules.CLAIM_LAPSES_AFTER - dt.timedelta(seconds=1)
    with pytest.raises(Conflict):
        callback_queue.claim_callback(session=session, callback_id=cid, actor=BILAL, now=almost)
    lapsed = NOW + rules.CLAIM_LAPSES_AFTER
    callback_queue.claim_callback(session=session, callback_id=cid, actor=BILAL, now=lapsed)
    assert callback.claimed_by == BILAL
    last = audit.history(session=session, entity="callback", entity_id=cid)[-1]
    assert (last.actor, last.action, last.detail) == (BILAL, "taken_over", {"from": ANITA})
    with pytest.raises(Conflict, match="bilal"):  # Anita's claim is gone: she cannot release
        callback_queue.release_callback(session=session, callback_id=cid, actor=ANITA)


def test_releasing_gives_it_back_to_the_queue(session: Session) -> None:
    callback = make_callback(session)
    cid = callback.id or 0
    callback_queue.release_callback(session=session, callback_id=cid, actor=ANITA)  # not held
    callback_queue.claim_callback(session=session, callback_id=cid, actor=ANITA, now=NOW)
    with pytest.raises(Conflict):
        callback_queue.release_callback(session=session, callback_id=cid, actor=BILAL)
    callback_queue.release_callback(session=session, callback_id=cid, actor=ANITA)
    assert (callback.claimed_by, callback.claimed_at) == (None, None)
    callback_queue.claim_callback(session=session, callback_id=cid, actor=BILAL, now=NOW)
    assert _actions(session, callback) == [
        (ANITA, "claimed"),
        (ANITA, "released"),
        (BILAL, "claimed"),
    ]


def test_closing_records_the_outcome_once(session: Session) -> None:
    callback = make_callback(session)
    cid = callback.id or 0
    callback_queue.claim_callback(session=session, callback_id=cid, actor=ANITA, now=NOW)
    closed = callback_queue.close_callback(
        session=session,
        callback_id=cid,
        actor=ANITA,
        outcome=CallbackOutcome.RESOLVED_ON_PHONE,
        note="  told her the documents  ",
        now=NOW,
    )
    assert closed.status is CallbackStatus.DONE
    assert (closed.outcome, closed.note) == ("resolved_on_phone", "told her the documents")
    assert (closed.done_by, closed.done_at) == (ANITA, NOW)
    assert callback not in callback_queue.open_callbacks(session=session, state_code="JK")
    again = callback_queue.close_callback(
        session=session, callback_id=cid, actor=BILAL, outcome=CallbackOutcome.NO_ANSWER
    )
    assert (again.outcome, again.done_by) == ("resolved_on_phone", ANITA)
    assert _actions(session, callback) == [(ANITA, "claimed"), (ANITA, "closed")]
    history = audit.history(session=session, entity="callback", entity_id=cid)
    assert history[-1].detail == {"outcome": "resolved_on_phone"}
    with pytest.raises(InvalidTransition):
        callback_queue.claim_callback(session=session, callback_id=cid, actor=BILAL, now=NOW)


def test_only_the_holder_closes_a_claimed_callback(session: Session) -> None:
    held = make_callback(session, details=False)
    callback_queue.claim_callback(session=session, callback_id=held.id or 0, actor=ANITA, now=NOW)
    with pytest.raises(Conflict):
        callback_queue.close_callback(
            session=session,
            callback_id=held.id or 0,
            actor=BILAL,
            outcome=CallbackOutcome.NOT_NEEDED,
            now=NOW,
        )
    free = make_callback(session, details=False)  # nobody holds it: anyone may close it
    callback_queue.close_callback(
        session=session, callback_id=free.id or 0, actor=BILAL, outcome=CallbackOutcome.NOT_NEEDED
    )
    assert free.status is CallbackStatus.DONE and free.outcome == "not_needed"
    with pytest.raises(NotFound):
        callback_queue.claim_callback(session=session, callback_id=10**9, actor=ANITA)


def test_a_booked_callback_names_its_request(session: Session) -> None:
    booked = factories.request(session)
    callback = make_callback(session)
    callback.citizen_id = booked.citizen_id  # the call-back's caller is the one booked for
    session.add(callback)
    cid = callback.id or 0
    with pytest.raises(InvalidInput):  # only "booked" names a request
        callback_queue.close_callback(
            session=session,
            callback_id=cid,
            actor=ANITA,
            outcome=CallbackOutcome.NO_ANSWER,
            reference=booked.reference,
        )
    with pytest.raises(InvalidInput):  # a mistyped reference (check digit)
        callback_queue.close_callback(
            session=session,
            callback_id=cid,
            actor=ANITA,
            outcome=CallbackOutcome.BOOKED,
            reference=booked.reference[:-1] + str((int(booked.reference[-1]) + 1) % 10),
        )
    assert callback.status is CallbackStatus.OPEN
    callback_queue.close_callback(
        session=session,
        callback_id=cid,
        actor=ANITA,
        outcome=CallbackOutcome.BOOKED,
        reference=booked.reference.lower(),
        note="income certificate",
    )
    assert callback.note == f"{booked.reference} income certificate"


def test_a_booking_closes_its_callback_once(session: Session) -> None:
    """The console books, then closes the call-back as booked: a retry changes nothing."""
    booked = factories.request(session)
    callback = make_callback(session)
    callback.citizen_id = booked.citizen_id  # the call-back's caller is the one booked for
    session.add(callback)
    cid, request_id = callback.id or 0, booked.id or 0
    callback_queue.claim_callback(session=session, callback_id=cid, actor=ANITA, now=NOW)

    def close(actor: str, state_code: str = "JK") -> Callback:
        return callback_queue.close_booked(
            session=session,
            callback_id=cid,
            state_code=state_code,
            request_id=request_id,
            actor=actor,
            now=NOW,
        )

    with pytest.raises(Conflict, match="anita"):
        close(BILAL)
    with pytest.raises(NotFound):  # another state's call-back is not found
        close(ANITA, state_code="XX")
    closed = close(ANITA)
    assert (closed.status, closed.outcome, closed.note) == ("done", "booked", booked.reference)
    assert close(ANITA).done_at == NOW and close(BILAL).done_by == ANITA  # closed: unchanged
    assert _actions(session, callback) == [(ANITA, "claimed"), (ANITA, "closed")]


def test_a_booking_for_another_caller_does_not_close_a_callback(session: Session) -> None:
    callback = make_callback(session)
    other = factories.request(session)  # a citizen of its own, another number
    with pytest.raises(InvalidInput, match="another caller"):
        callback_queue.close_booked(
            session=session,
            callback_id=callback.id or 0,
            state_code="JK",
            request_id=other.id or 0,
            actor=ANITA,
        )
    assert callback.status is CallbackStatus.OPEN
    by_number = factories.request(session)  # the call-back's number, no citizen known to it
    citizen = citizen_service.get(session=session, citizen_id=by_number.citizen_id)
    unknown = make_callback(session, details=False)
    unknown.phone = citizen.phone
    session.add(unknown)
    closed = callback_queue.close_booked(
        session=session,
        callback_id=unknown.id or 0,
        state_code="JK",
        request_id=by_number.id or 0,
        actor=ANITA,
    )
    assert closed.outcome == "booked"


def test_a_reference_typed_at_a_manual_close_must_be_the_callers(session: Session) -> None:
    """Closing by hand as booked checks the reference as `close_booked` does: the request
    must be the call-back's caller's (their citizen, or their number) and of its state."""
    callback = make_callback(session)
    others = factories.request(session)  # a citizen of its own, another number

    def close(reference: str, cid: int | None = callback.id) -> Callback:
        return callback_queue.close_callback(
            session=session,
            callback_id=cid or 0,
            actor=ANITA,
            outcome=CallbackOutcome.BOOKED,
            reference=reference,
            note="income certificate",
        )

    with pytest.raises(InvalidInput, match="another caller"):
        close(others.reference)
    assert callback.status is CallbackStatus.OPEN and callback.note is None
    with pytest.raises(NotFound):  # a well-formed reference nobody was given
        close(_unused_reference())
    assert callback.status is CallbackStatus.OPEN
    by_number = factories.request(session)  # the call-back's number, no citizen known to it
    citizen = citizen_service.get(session=session, citizen_id=by_number.citizen_id)
    unknown = make_callback(session, details=False)
    unknown.phone = citizen.phone
    session.add(unknown)
    closed = close(by_number.reference, unknown.id)
    assert (closed.outcome, closed.note) == ("booked", f"{by_number.reference} income certificate")
    theirs = factories.request(session)
    callback.citizen_id = theirs.citizen_id  # now the call-back's caller is this citizen
    session.add(callback)
    theirs.state_code = "PB"  # ... but the request is of another state
    session.add(theirs)
    session.flush()
    with pytest.raises(InvalidInput, match="another caller"):
        close(theirs.reference)
    assert callback.status is CallbackStatus.OPEN


def _unused_reference() -> str:
    """A reference with a good check digit that no request holds (nothing is logged in 2099)."""
    return request_rules.make_reference("JK", 99, 999_999)


def test_an_id_past_what_the_database_holds_is_not_found(session: Session) -> None:
    """Not an overflow: SQLite cannot bind an integer past 2**63, so it is never looked up."""
    for huge in (2**31, 2**63, 10**20, 0, -1):
        with pytest.raises(NotFound):
            callback_queue.get_callback(session=session, callback_id=huge)
        with pytest.raises(NotFound):
            callback_queue.transferred_call(session=session, call_id=huge, state_code="JK")


def test_only_a_call_put_through_to_a_person_is_one_to_book_for(session: Session) -> None:
    transferred = make_transfer(session)
    found = callback_queue.transferred_call(
        session=session, call_id=transferred.id or 0, state_code="JK"
    )
    assert found.id == transferred.id
    still_in_the_menus = _call(session, at=NOW)
    for call_id, state in [(still_in_the_menus.id, "JK"), (transferred.id, "XX"), (10**9, "JK")]:
        with pytest.raises(NotFound):
            callback_queue.transferred_call(session=session, call_id=call_id or 0, state_code=state)


def test_callers_waiting_on_the_line_longest_first(session: Session) -> None:
    village = factories.village_in(session)
    before = callback_queue.queue_length(session=session, state_code="JK", now=NOW)
    late = make_transfer(session, at=NOW - dt.timedelta(minutes=2), language="en")
    early = make_transfer(session, at=NOW - dt.timedelta(minutes=9), village_id=village.id)
    ended = make_transfer(session, at=NOW - dt.timedelta(minutes=5))
    call_service.end(session=session, call_sid=ended.call_sid, now=NOW)
    stale = make_transfer(session, at=NOW - rules.WAITING_AT_MOST - dt.timedelta(minutes=1))
    booked = _call(session, at=NOW)
    call_service.settle(session=session, call=booked, status=CallStatus.BOOKED)
    mine = {late.id, early.id, ended.id, stale.id, booked.id}
    waiting = callback_queue.waiting_calls(session=session, state_code="JK", now=NOW)
    assert [c.id for c in waiting if c.id in mine] == [early.id, late.id]
    make_callback(session, details=False)
    assert callback_queue.queue_length(session=session, state_code="JK", now=NOW) == before + 3


def test_what_the_caller_gave_as_names(session: Session) -> None:
    callback = make_callback(session)
    details = callback_queue.caller_details(
        session=session,
        citizen_id=callback.citizen_id,
        service_id=callback.service_id,
        address_id=callback.address_id,
    )
    assert details.citizen is not None and details.citizen.name == "Test Citizen"
    assert details.service is not None and details.service.id == callback.service_id
    assert details.village and details.block and details.district
    assert details.place == f"{details.village.name}, {details.block.name}, {details.district.name}"
    block_only = callback_queue.caller_details(session=session, block_id=details.block.id)
    assert block_only.village is None and block_only.place.endswith(details.district.name)
    assert callback_queue.caller_details(session=session).place == ""


def test_two_people_claiming_at_once_one_wins(engine: Engine) -> None:
    """Two agents press Claim on the same call-back at the same moment: one holds it."""
    with write_session(engine) as s:
        cid = make_callback(s, details=False).id or 0
    barrier = threading.Barrier(2)
    outcomes: list[str] = []
    lock = threading.Lock()

    def claim(actor: str) -> None:
        barrier.wait()
        try:
            with write_session(engine) as s:
                callback_queue.claim_callback(session=s, callback_id=cid, actor=actor)
            result = f"won:{actor}"
        except Conflict:
            result = "conflict"
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=claim, args=(a,)) for a in (ANITA, BILAL)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(o.split(":")[0] for o in outcomes) == ["conflict", "won"]
    winner = next(o for o in outcomes if o.startswith("won")).removeprefix("won:")
    with write_session(engine) as s:
        assert callback_queue.get_callback(session=s, callback_id=cid).claimed_by == winner
        assert [e.actor for e in audit.history(session=s, entity="callback", entity_id=cid)] == [
            winner
        ]

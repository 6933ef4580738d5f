"""The visit use cases (book, reschedule, cancel, status): one call each, all or nothing,
keyed so a retry returns the first result and creates nothing twice, and only for whoever
proves to be the request's citizen or is staff acting for them. Every test runs on SQLite and
PostgreSQL."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from dispatch.audit.models import AuditEntry
from dispatch.citizens import service as citizen_service
from dispatch.citizens.models import Citizen
from dispatch.db import read_session, write_session
from dispatch.errors import NotFound
from dispatch.ledger import service as ledger_service
from dispatch.ledger.models import EntryKind, LedgerEntry
from dispatch.notifications.models import OutboxMessage
from dispatch.planning import service as planning
from dispatch.planning.service import WindowOffer, WindowTaken
from dispatch.requests import service as request_service
from dispatch.requests.models import DoorstepRequest, RequestEvent
from dispatch.requests.rules import Channel, RequestStatus
from dispatch.staff import service as staff_service
from dispatch.staff.models import StaffUser
from dispatch.staff.rules import Role
from dispatch.visits import proof as visit_proof
from dispatch.visits import service as visits
from dispatch.visits.proof import Proof, StaffActing
from dispatch.visits.service import KeyReused, TooLateToChange
from tests import factories
from tests.conftest import unique_phone

IST = ZoneInfo("Asia/Kolkata")
#: A Tuesday far from other tests' days (the live plans are shared by the session's tests).
NOW = dt.datetime(2031, 3, 4, 7, 0, tzinfo=IST)
S = factories.SETTINGS


@pytest.fixture(autouse=True)
def fresh_cache() -> None:
    planning.clear_cache()


def _citizen(session: Session, phone: str | None = None) -> tuple[Citizen, int]:
    person = citizen_service.register(
        session=session, state_code="JK", phone=phone or unique_phone(), name="A", language="en"
    )
    village = factories.village_in(session, "KLG")
    address = citizen_service.add_address(
        session=session, citizen_id=person.id or 0, village_id=village.id or 0
    )
    return person, address.id or 0


def _offer(session: Session, address_id: int, service_id: int, choice: int = 0) -> WindowOffer:
    return planning.offer_windows(
        session=session,
        settings=S,
        address_id=address_id,
        service_id=service_id,
        language="en",
        now=NOW,
    )[choice]


def _book(
    session: Session, key: str, *, phone: str | None = None, offer: bool = True
) -> visits.VisitResult:
    person, address_id = _citizen(session, phone)
    service_id = factories.service(session).id or 0
    return visits.book_visit(
        session=session,
        settings=S,
        idempotency_key=key,
        actor="test",
        channel=Channel.CONSOLE,
        state_code="JK",
        citizen_id=person.id or 0,
        address_id=address_id,
        service_id=service_id,
        offer=_offer(session, address_id, service_id) if offer else None,
        now=NOW,
    )


def _counts(session: Session, request_id: int) -> tuple[int, int, int]:
    """(ledger entries, messages, lifecycle events) of a request."""

    def count(model: type[LedgerEntry] | type[OutboxMessage] | type[RequestEvent]) -> int:
        stmt = select(func.count()).select_from(model).where(model.request_id == request_id)
        return int(session.exec(stmt).one())

    return count(LedgerEntry), count(OutboxMessage), count(RequestEvent)


def _owner(session: Session, result: visits.VisitResult) -> Proof:
    request = request_service.get(session=session, request_id=result.request_id)
    citizen = citizen_service.get(session=session, citizen_id=request.citizen_id)
    return Proof(caller_id=citizen.phone)


# --- booking ----------------------------------------------------------------------------------


def test_a_booking_is_logged_charged_planned_coded_and_confirmed(session: Session) -> None:
    booked = _book(session, "t:book:1")
    request = request_service.get(session=session, request_id=booked.request_id)
    assert request.status in {RequestStatus.SCHEDULED, RequestStatus.ASSIGNED}
    assert booked.window_start == request.window_start and booked.window_start is not None
    assert request.visit_code is not None and len(request.visit_code) == 4
    assert booked.visit_code == request.visit_code and booked.message_id is not None
    message = session.get(OutboxMessage, booked.message_id)
    assert message is not None and request.visit_code in message.body
    assert request.reference in message.body and message.kind == "booking"
    [charge] = ledger_service.entries(session=session, request_id=booked.request_id)
    assert (charge.kind, charge.amount_paise) == (EntryKind.CHARGE, request.fee_paise)
    events = [
        e.to_status for e in request_service.events(session=session, request_id=request.id or 0)
    ]
    assert events[:2] == [RequestStatus.LOGGED, RequestStatus.SCHEDULED]


def test_a_retried_booking_returns_the_first_result_and_creates_nothing(
    session: Session,
) -> None:
    person, address_id = _citizen(session)
    service_id = factories.service(session).id or 0
    offer = _offer(session, address_id, service_id)
    args = dict(
        session=session,
        settings=S,
        idempotency_key="t:book:retry",
        actor="test",
        channel=Channel.CONSOLE,
        state_code="JK",
        citizen_id=person.id or 0,
        address_id=address_id,
        service_id=service_id,
        offer=offer,
        now=NOW,
    )
    first = visits.book_visit(**args)  # type: ignore[arg-type]
    before = _counts(session, first.request_id)
    again = visits.book_visit(**args)  # type: ignore[arg-type]
    assert again.replayed and not first.replayed
    assert (again.request_id, again.reference, again.window_start, again.message_id) == (
        first.request_id,
        first.reference,
        first.window_start,
        first.message_id,
    )
    assert _counts(session, first.request_id) == before
    with pytest.raises(KeyReused):  # the same key for another command is refused
        visits.book_visit(**{**args, "offer": _offer(session, address_id, service_id, 1)})  # type: ignore[arg-type]


def test_a_window_taken_meanwhile_writes_nothing_at_all(session: Session) -> None:
    person, address_id = _citizen(session)
    service_id = factories.service(session).id or 0
    offer = _offer(session, address_id, service_id)
    night = dt.timedelta(hours=12)  # 21:00-23:00: no agent works then
    gone = WindowOffer(**{**offer.__dict__, "start": offer.start + night, "end": offer.end + night})
    requests_before = session.exec(select(func.count()).select_from(DoorstepRequest)).one()
    with pytest.raises(WindowTaken):
        visits.book_visit(
            session=session,
            settings=S,
            idempotency_key="t:book:taken",
            actor="test",
            channel=Channel.CONSOLE,
            state_code="JK",
            citizen_id=person.id or 0,
            address_id=address_id,
            service_id=service_id,
            offer=gone,
            now=NOW,
        )
    assert session.exec(select(func.count()).select_from(DoorstepRequest)).one() == requests_before
    # The key was not used up: the caller may try again with a window that can be met.
    retried = visits.book_visit(
        session=session,
        settings=S,
        idempotency_key="t:book:taken",
        actor="test",
        channel=Channel.CONSOLE,
        state_code="JK",
        citizen_id=person.id or 0,
        address_id=address_id,
        service_id=service_id,
        offer=offer,
        now=NOW,
    )
    assert not retried.replayed and retried.window_start == offer.start


def test_without_a_window_the_request_waits_logged(session: Session) -> None:
    logged = _book(session, "t:book:logged", offer=False)
    assert logged.status is RequestStatus.LOGGED and logged.window_start is None
    message = session.get(OutboxMessage, logged.message_id)
    assert message is not None and "We will send you the visit time" in message.body


def test_no_sms_to_a_number_the_state_does_not_message(session: Session) -> None:
    booked = _book(session, "t:book:uk", phone="+447911123456")
    assert booked.message_id is None and booked.visit_code is not None
    assert _counts(session, booked.request_id)[1] == 0


# --- reschedule and cancel --------------------------------------------------------------------


def test_reschedule_needs_proof_moves_the_visit_and_is_retried_safely(session: Session) -> None:
    booked = _book(session, "t:resched:book")
    request = request_service.get(session=session, request_id=booked.request_id)
    later = _offer(session, request.address_id, request.service_id, 1)
    for stranger in (Proof(), Proof(caller_id=unique_phone()), Proof(visit_code="99999")):
        with pytest.raises(NotFound):
            visits.reschedule_visit(
                session=session,
                settings=S,
                idempotency_key="t:resched:stranger",
                actor="test",
                request_id=booked.request_id,
                proof=stranger,
                offer=later,
                now=NOW,
            )
    args = dict(
        session=session,
        settings=S,
        idempotency_key="t:resched:1",
        actor="test",
        request_id=booked.request_id,
        proof=Proof(visit_code=request.visit_code),
        offer=later,
        now=NOW,
    )
    moved = visits.reschedule_visit(**args)  # type: ignore[arg-type]
    assert moved.window_start == later.start and moved.message_id is not None
    before = _counts(session, booked.request_id)
    again = visits.reschedule_visit(**args)  # type: ignore[arg-type]
    assert again.replayed and again.window_start == later.start
    assert _counts(session, booked.request_id) == before


def test_cancel_refunds_by_rule_and_a_retry_changes_nothing(session: Session) -> None:
    booked = _book(session, "t:cancel:book")
    request = request_service.get(session=session, request_id=booked.request_id)
    ledger_service.collect(  # paid in advance by UPI (unusual, but the rule must hold)
        session=session,
        request_id=booked.request_id,
        agent_id=None,  # type: ignore[arg-type]
        amount_paise=request.fee_paise,
        method="upi",
        upi_reference="UPI123",
        actor="test",
    )
    args = dict(
        session=session,
        settings=S,
        idempotency_key="t:cancel:1",
        actor="test",
        request_id=booked.request_id,
        proof=_owner(session, booked),
        reason="not needed any more",
        now=NOW,
    )
    cancelled = visits.cancel_visit(**args)  # type: ignore[arg-type]
    assert cancelled.status is RequestStatus.CANCELLED and cancelled.message_id is not None
    kinds = [e.kind for e in ledger_service.entries(session=session, request_id=booked.request_id)]
    assert kinds == [EntryKind.CHARGE, EntryKind.COLLECT, EntryKind.REFUND, EntryKind.WAIVE]
    assert ledger_service.balance(session=session, request_id=booked.request_id).outstanding == 0
    before = _counts(session, booked.request_id)
    assert visits.cancel_visit(**args).replayed  # type: ignore[arg-type]
    assert _counts(session, booked.request_id) == before


def test_once_the_agent_is_on_the_way_the_citizen_cannot_change_it(session: Session) -> None:
    booked = _book(session, "t:late:book")
    request = request_service.get(session=session, request_id=booked.request_id)
    if request.status is RequestStatus.SCHEDULED:
        request_service.transition(
            session=session, request_id=booked.request_id, to=RequestStatus.ASSIGNED, actor="t"
        )
    request_service.transition(
        session=session, request_id=booked.request_id, to=RequestStatus.EN_ROUTE, actor="agent"
    )
    with pytest.raises(TooLateToChange):
        visits.cancel_visit(
            session=session,
            settings=S,
            idempotency_key="t:late:cancel",
            actor="test",
            request_id=booked.request_id,
            proof=_owner(session, booked),
            reason="too late",
            now=NOW,
        )


def _staff(session: Session, *, state_code: str = "JK", active: bool = True) -> StaffUser:
    user = staff_service.create(
        session=session,
        state_code=state_code,
        username=f"desk_{uuid.uuid4().hex[:8]}",
        name="Desk",
        role=Role.CALL_AGENT,
        password="correct horse battery",
        actor="test",
    )
    if not active:
        user = staff_service.update(session=session, user_id=user.id or 0, actor="t", active=False)
    return user


def test_staff_act_for_the_citizen_with_their_own_account_checked(session: Session) -> None:
    """Staff need neither the citizen's number nor the code, but a real account that may
    change this state's requests: anything else gets the answer a stranger gets."""
    booked = _book(session, "t:staff:book")
    request = request_service.get(session=session, request_id=booked.request_id)
    later = _offer(session, request.address_id, request.service_id, 1)
    others = (
        StaffActing(0),  # no such account
        StaffActing(_staff(session, active=False).id or 0),
        StaffActing(_staff(session, state_code="PB").id or 0),
    )
    for not_allowed in others:
        with pytest.raises(NotFound):
            visits.reschedule_visit(
                session=session,
                settings=S,
                idempotency_key=f"t:staff:refused:{not_allowed.staff_user_id}",
                actor="staff:someone",
                request_id=booked.request_id,
                proof=not_allowed,
                offer=later,
                now=NOW,
            )
    desk = _staff(session)
    actor = staff_service.actor_of(desk)
    moved = visits.reschedule_visit(
        session=session,
        settings=S,
        idempotency_key="t:staff:resched",
        actor=actor,
        request_id=booked.request_id,
        proof=StaffActing(desk.id or 0),
        offer=later,
        now=NOW,
    )
    assert moved.window_start == later.start and moved.message_id is not None
    [event] = session.exec(
        select(RequestEvent).where(
            RequestEvent.request_id == booked.request_id,
            RequestEvent.to_status == RequestStatus.RESCHEDULED,
        )
    ).all()
    assert event.actor == actor
    cancelled = visits.cancel_visit(
        session=session,
        settings=S,
        idempotency_key="t:staff:cancel",
        actor=actor,
        request_id=booked.request_id,
        proof=StaffActing(desk.id or 0),
        reason="the citizen rang to cancel",
        now=NOW,
    )
    assert cancelled.status is RequestStatus.CANCELLED
    with pytest.raises(TooLateToChange):  # closed: nobody changes it any more
        visits.cancel_visit(
            session=session,
            settings=S,
            idempotency_key="t:staff:again",
            actor=actor,
            request_id=booked.request_id,
            proof=StaffActing(desk.id or 0),
            reason="twice",
            now=NOW,
        )


# --- status and proof -------------------------------------------------------------------------


def test_status_for_the_citizen_only_and_one_answer_otherwise(session: Session) -> None:
    booked = _book(session, "t:status:book")
    request = request_service.get(session=session, request_id=booked.request_id)
    for proof in (_owner(session, booked), Proof(visit_code=f" {request.visit_code} ")):
        status = visits.visit_status(session=session, request_id=booked.request_id, proof=proof)
        assert status.reference == request.reference and status.changeable
    errors = []
    for request_id in (booked.request_id, 10**9):  # not yours, and unknown
        with pytest.raises(NotFound) as caught:
            visits.visit_status(
                session=session, request_id=request_id, proof=Proof(caller_id=unique_phone())
            )
        errors.append(caught.value)
    for reference in (request.reference, "JK-31-999999-"):
        with pytest.raises(NotFound) as caught:
            visit_proof.by_reference(
                session=session,
                reference=reference + ("" if reference == request.reference else "0"),
                default_state="JK",
                proof=Proof(caller_id="anonymous"),
            )
        errors.append(caught.value)
    assert str(errors[2]) == str(errors[3])  # by reference: word for word the same


def test_failed_proofs_are_audited_without_the_number_and_lock_the_caller_id(
    session: Session,
) -> None:
    caller = unique_phone()
    for _ in range(S.proof_failures_allowed - 1):
        visit_proof.record_failure(
            session=session, settings=S, caller=caller, what="visit code", actor="t", now=NOW
        )
    assert not visit_proof.locked_out(session=session, settings=S, caller=caller, now=NOW)
    visit_proof.record_failure(
        session=session, settings=S, caller=caller, what="visit code", actor="t", now=NOW
    )
    assert visit_proof.locked_out(session=session, settings=S, caller=caller, now=NOW)
    assert not visit_proof.locked_out(session=session, settings=S, caller=unique_phone(), now=NOW)
    later = NOW + dt.timedelta(minutes=S.proof_lockout_minutes + 1)
    assert not visit_proof.locked_out(session=session, settings=S, caller=caller, now=later)
    entries = session.exec(
        select(AuditEntry).where(
            AuditEntry.entity == "caller", col(AuditEntry.action) == "proof_failed"
        )
    ).all()
    assert entries and all(caller[3:] not in (e.entity_id + str(e.detail)) for e in entries)


# --- concurrency: the same key at the same moment ----------------------------------------------


def test_two_deliveries_of_one_booking_at_once_make_one_request(engine: Engine) -> None:
    """Two connections run the same keyed booking at the same moment (a double-submitted form,
    a retried webhook): one books, the other waits and returns the same result."""
    with write_session(engine) as session:
        person, address_id = _citizen(session)
        service_id = factories.service(session).id or 0
        offer = _offer(session, address_id, service_id)
    key = f"t:twins:{unique_phone()}"
    barrier = threading.Barrier(2)
    results: list[visits.VisitResult] = []
    failures: list[BaseException] = []

    def deliver() -> None:
        try:
            barrier.wait()
            with write_session(engine) as session:
                results.append(
                    visits.book_visit(
                        session=session,
                        settings=S,
                        idempotency_key=key,
                        actor="test",
                        channel=Channel.API,
                        state_code="JK",
                        citizen_id=person.id or 0,
                        address_id=address_id,
                        service_id=service_id,
                        offer=offer,
                        now=NOW,
                    )
                )
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert failures == [] and len(results) == 2
    assert results[0].request_id == results[1].request_id
    assert sorted(r.replayed for r in results) == [False, True]
    with read_session(engine) as session:
        made = session.exec(
            select(func.count())
            .select_from(DoorstepRequest)
            .where(DoorstepRequest.citizen_id == person.id)
        ).one()
        assert made == 1 and _counts(session, results[0].request_id)[:2] == (1, 1)

"""Field work in the domain: the agent's itinerary and its changes, the reports from the door
(arrived, done with the visit code, failed, no-show) with their money, messages and audit,
and who may report what. Every test runs on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, col, select

from dispatch.agents.models import Agent
from dispatch.audit.models import AuditEntry
from dispatch.citizens import service as citizen_service
from dispatch.errors import InvalidTransition, NotFound
from dispatch.fieldwork import access, itinerary, notices, replies
from dispatch.fieldwork import service as field
from dispatch.fieldwork.commands import FailReason
from dispatch.fieldwork.models import Feedback, Itinerary
from dispatch.ledger import service as ledger_service
from dispatch.ledger.models import EntryKind, LedgerEntry, PaymentMethod
from dispatch.notifications.models import OutboxMessage
from dispatch.planning import service as planning
from dispatch.requests import service as request_service
from dispatch.requests.models import DoorstepRequest, RequestEvent
from dispatch.requests.rules import RequestStatus
from dispatch.visits import service as visits
from dispatch.visits.proof import Proof
from tests import factories

IST = ZoneInfo("Asia/Kolkata")
#: A Tuesday no other test books on (the live plans are shared by the session's tests).
NOW = dt.datetime(2031, 5, 6, 7, 0, tzinfo=IST)
DAY = NOW.date()
S = factories.SETTINGS


@pytest.fixture(autouse=True)
def fresh_cache() -> None:
    planning.clear_cache()


def _book(session: Session, n: int = 1, district: str = "BGM") -> list[DoorstepRequest]:
    """`n` visits booked today in `district`, each in the first window offered at 07:00."""
    booked = []
    for _ in range(n):
        request, _offer = factories.booked_request(session, district_code=district, now=NOW)
        booked.append(request)
    return booked


def _at(hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(DAY, dt.time(hour, minute), IST)


def _messages(session: Session, to: str, kind: str | None = None) -> list[OutboxMessage]:
    stmt = select(OutboxMessage).where(OutboxMessage.to == to)
    if kind:
        stmt = stmt.where(OutboxMessage.kind == kind)
    return list(session.exec(stmt.order_by(col(OutboxMessage.id))))


def _agent(session: Session, request: DoorstepRequest) -> Agent:
    session.refresh(request)
    assert request.agent_id is not None, "the booking put the visit in an agent's route"
    agent = session.get(Agent, request.agent_id)
    assert agent is not None
    return agent


def _citizen_phone(session: Session, request: DoorstepRequest) -> str:
    return citizen_service.get(session=session, citizen_id=request.citizen_id).phone


def _complete(
    session: Session,
    request: DoorstepRequest,
    key: str,
    code: str | None = None,
    upi: str | None = None,
    at: dt.datetime | None = None,
) -> field.Report:
    assert request.id is not None and request.agent_id is not None
    return field.complete(
        session=session,
        settings=S,
        idempotency_key=key,
        agent_id=request.agent_id,
        request_id=request.id,
        visit_code=code or request.visit_code or "",
        upi_reference=upi,
        now=at or _at(10),
    )


# --- itineraries ------------------------------------------------------------------------------


def test_the_morning_itinerary_lists_the_day_once_and_tells_each_citizen_who_comes(
    session: Session,
) -> None:
    (request,) = _book(session)
    agent = _agent(session, request)
    assert agent.id is not None
    ids = itinerary.send_day(session=session, settings=S, agent_id=agent.id, on=DAY, now=_at(7, 30))
    to_agent = _messages(session, agent.phone, "itinerary")
    head, *lines = to_agent
    assert "Your day:" in head.body and f"/a/{agent.id}-" in head.body
    assert any(request.reference in m.body for m in lines)
    visit_line = next(m for m in lines if request.reference in m.body)
    assert "Collect" in visit_line.body and "near the school" in visit_line.body
    told = _messages(session, _citizen_phone(session, request), "assigned")
    assert len(told) == 1 and agent.phone in told[0].body
    assert set(ids) >= {m.id for m in to_agent} | {told[0].id}
    again = itinerary.send_day(
        session=session, settings=S, agent_id=agent.id, on=DAY, now=_at(7, 31)
    )
    assert again == [] and len(_messages(session, agent.phone, "itinerary")) == len(to_agent)


def test_later_changes_go_as_one_short_message_once_settled(session: Session) -> None:
    first, second = _book(session, 2)
    agent = _agent(session, first)
    assert agent.id is not None
    itinerary.send_day(session=session, settings=S, agent_id=agent.id, on=DAY, now=_at(7, 30))
    visits.cancel_visit(
        session=session,
        settings=S,
        idempotency_key=f"cancel:{first.id}",
        actor="test",
        request_id=first.id or 0,
        proof=Proof(visit_code=first.visit_code),
        reason="test",
        now=_at(7, 40),
    )
    # The zone plan changed a moment ago (plans are stamped with the real clock): the burst
    # may not be over, nothing goes yet.
    soon = dt.datetime.now(dt.UTC)
    assert (
        itinerary.send_changes(session=session, settings=S, agent_id=agent.id, on=DAY, now=soon)
        == []
    )
    later = soon + dt.timedelta(minutes=S.itinerary_settle_minutes)
    ids = itinerary.send_changes(session=session, settings=S, agent_id=agent.id, on=DAY, now=later)
    changes = _messages(session, agent.phone, "itinerary_changes")
    assert len(ids) >= 1 and len(changes) == 1
    assert f"{first.reference} cancelled" in changes[0].body
    assert second.reference not in changes[0].body or second.agent_id != agent.id
    assert (
        itinerary.send_changes(session=session, settings=S, agent_id=agent.id, on=DAY, now=later)
        == []
    )


# --- completing a visit -----------------------------------------------------------------------


def test_done_with_the_citizens_code_collects_the_fee_and_sends_receipt_and_feedback(
    session: Session,
) -> None:
    (request,) = _book(session)
    report = _complete(session, request, "done:1")
    assert report.status is RequestStatus.COMPLETED and not report.replayed
    trail = [
        e.to_status for e in request_service.events(session=session, request_id=request.id or 0)
    ]
    assert trail[-3:] == [RequestStatus.EN_ROUTE, RequestStatus.ARRIVED, RequestStatus.COMPLETED]
    entries = ledger_service.entries(session=session, request_id=request.id or 0)
    collected = [e for e in entries if e.kind is EntryKind.COLLECT]
    assert len(collected) == 1 and collected[0].amount_paise == request.fee_paise
    assert collected[0].method is PaymentMethod.CASH and collected[0].agent_id == request.agent_id
    assert ledger_service.balance(session=session, request_id=request.id or 0).outstanding == 0
    phone = _citizen_phone(session, request)
    receipt = _messages(session, phone, "receipt")
    assert len(receipt) == 1 and report.receipt and report.receipt in receipt[0].body
    assert len(_messages(session, phone, "feedback")) == 1
    assert session.exec(select(Feedback).where(Feedback.request_id == request.id)).one()

    again = _complete(session, request, "done:1")
    assert again.replayed and again.receipt == report.receipt
    with pytest.raises(InvalidTransition):  # another report, not a retry: the visit is closed
        _complete(session, request, "done:2", code="0000")
    assert len(ledger_service.entries(session=session, request_id=request.id or 0)) == len(entries)
    assert len(_messages(session, phone, "receipt")) == 1


def test_done_by_upi_records_the_reference(session: Session) -> None:
    (request,) = _book(session)
    _complete(session, request, "done:upi", upi="412345678901")
    entry = session.exec(
        select(LedgerEntry).where(
            LedgerEntry.request_id == request.id, LedgerEntry.kind == EntryKind.COLLECT
        )
    ).one()
    assert entry.method is PaymentMethod.UPI and entry.upi_reference == "412345678901"


def test_a_wrong_code_completes_nothing_is_counted_and_locks_the_agent_out(
    session: Session,
) -> None:
    (request,) = _book(session)
    wrong = f"{(int(request.visit_code or '0') + 1) % 10000:04d}"
    for attempt in range(S.agent_failures_allowed):
        with pytest.raises(field.WrongVisitCode) as caught:
            _complete(session, request, f"wrong:{attempt}", code=wrong)
        assert caught.value.tries_left == S.agent_failures_allowed - attempt - 1
    session.refresh(request)
    assert request.status is RequestStatus.ASSIGNED
    assert not [
        e
        for e in ledger_service.entries(session=session, request_id=request.id or 0)
        if e.kind is EntryKind.COLLECT
    ]
    failures = session.exec(
        select(AuditEntry).where(
            AuditEntry.entity == "agent",
            AuditEntry.action == access.CODE_FAILED,
            AuditEntry.entity_id == str(request.agent_id),
        )
    ).all()
    assert len(failures) == S.agent_failures_allowed
    with pytest.raises(access.AgentLockedOut):
        _complete(session, request, "right-but-locked")
    assert caught.value.reference == request.reference
    # The lockout passes with its window.
    later = _at(10) + dt.timedelta(minutes=S.agent_lockout_minutes + 1)
    assert _complete(session, request, "later", at=later).status is RequestStatus.COMPLETED


def test_an_agent_cannot_report_on_someone_elses_visit(session: Session) -> None:
    (request,) = _book(session)
    other = session.exec(
        select(Agent).where(Agent.id != request.agent_id, Agent.state_code == "JK")
    ).first()
    assert other is not None and other.id is not None
    with pytest.raises(NotFound):
        field.complete(
            session=session,
            settings=S,
            idempotency_key="theirs",
            agent_id=other.id,
            request_id=request.id or 0,
            visit_code=request.visit_code or "",
            now=_at(10),
        )
    with pytest.raises(NotFound):
        field.find_visit(
            session=session, agent_id=other.id, reference=request.reference, default_state="JK"
        )
    with pytest.raises(field.NotToday):
        _complete(session, request, "tomorrow", at=_at(10) + dt.timedelta(days=1))


def test_failure_and_no_show_tell_the_citizen_and_collect_nothing(session: Session) -> None:
    failed, absent = _book(session, 2)
    report = field.fail(
        session=session,
        settings=S,
        idempotency_key="fail:1",
        agent_id=failed.agent_id or 0,
        request_id=failed.id or 0,
        reason=FailReason.DOCS,
        now=_at(10),
    )
    assert report.status is RequestStatus.FAILED
    told = _messages(session, _citizen_phone(session, failed), "failed")
    assert len(told) == 1 and "कागज़ात पूरे नहीं थे" in told[0].body  # in the citizen's Hindi
    gone = field.no_show(
        session=session,
        settings=S,
        idempotency_key="noshow:1",
        agent_id=absent.agent_id or 0,
        request_id=absent.id or 0,
        now=_at(11),
    )
    assert gone.status is RequestStatus.NO_SHOW
    assert len(_messages(session, _citizen_phone(session, absent), "no_show")) == 1
    for r in (failed, absent):
        assert not [
            e
            for e in ledger_service.entries(session=session, request_id=r.id or 0)
            if e.kind is EntryKind.COLLECT
        ]


# --- the plan follows the reports ----------------------------------------------------------


def _two_of_one_agent(session: Session) -> tuple[DoorstepRequest, DoorstepRequest]:
    booked = _book(session, 8)
    by_agent: dict[int, list[DoorstepRequest]] = {}
    for r in booked:
        session.refresh(r)
        by_agent.setdefault(r.agent_id or 0, []).append(r)
    route = max(by_agent.values(), key=len)
    assert len(route) >= 2, "eight bookings in one district give some agent two visits"
    route.sort(key=lambda r: r.planned_arrival or NOW)
    return route[0], route[1]


def test_leaving_a_door_sets_off_for_the_next_citizen_with_the_new_time(session: Session) -> None:
    first, second = _two_of_one_agent(session)
    report = _complete(session, first, "done:first", at=_at(9, 40))
    session.refresh(second)
    assert report.next_reference == second.reference
    assert second.status is RequestStatus.EN_ROUTE
    assert second.planned_arrival is not None and second.planned_arrival >= _at(9, 40)
    on_the_way = _messages(session, _citizen_phone(session, second), "on_the_way")
    assert len(on_the_way) == 1
    assert second.planned_arrival.astimezone(IST).strftime("%H:%M") in on_the_way[0].body


def test_a_late_arrival_re_times_the_day_and_flags_what_can_no_longer_be_met(
    session: Session,
) -> None:
    first, second = _two_of_one_agent(session)
    assert second.window_end is not None
    too_late = second.window_end + dt.timedelta(minutes=30)
    field.arrive(
        session=session,
        settings=S,
        idempotency_key="arr:late",
        agent_id=first.agent_id or 0,
        request_id=first.id or 0,
        now=too_late,
    )
    session.refresh(first)
    session.refresh(second)
    assert first.status is RequestStatus.ARRIVED
    assert second.at_risk


def test_the_first_visit_is_set_off_shortly_before_it(session: Session) -> None:
    (request,) = _book(session)
    session.refresh(request)
    assert request.planned_arrival is not None
    lead = dt.timedelta(minutes=S.on_the_way_lead_minutes)
    early = request.planned_arrival - lead - dt.timedelta(minutes=30)
    assert (
        notices.set_off(
            session=session,
            settings=S,
            agent_id=request.agent_id or 0,
            now=early,
            not_later_than=early + lead,
        )
        is None
    )
    due = request.planned_arrival - lead
    departure = notices.set_off(
        session=session,
        settings=S,
        agent_id=request.agent_id or 0,
        now=due,
        not_later_than=due + lead,
    )
    assert departure is not None and departure.request_id == request.id
    session.refresh(request)
    assert request.status is RequestStatus.EN_ROUTE


# --- citizens' replies -----------------------------------------------------------------------


def test_stop_keeps_only_essential_messages_and_a_rating_is_recorded_once(session: Session) -> None:
    first, second = _two_of_one_agent(session)
    phone = _citizen_phone(session, second)
    replies.set_opt_out(session=session, settings=S, phone=phone, stop=True, now=_at(8))
    assert len(_messages(session, phone, "opt_out")) == 1
    _complete(session, first, "done:stop", at=_at(9, 30))
    assert _messages(session, phone, "on_the_way") == []  # not essential: stopped
    _complete(session, second, "done:stop2", at=_at(11))
    assert len(_messages(session, phone, "receipt")) == 1  # essential: still goes
    assert _messages(session, phone, "feedback") == []

    other = _citizen_phone(session, first)
    assert (
        replies.rate(
            session=session,
            settings=S,
            phone=other,
            stars=4,
            comment="good",
            channel="sms",
            now=_at(12),
        )
        is not None
    )
    feedback = session.exec(select(Feedback).where(Feedback.request_id == first.id)).one()
    assert feedback.rating == 4 and feedback.comment == "good"
    assert (
        replies.rate(
            session=session,
            settings=S,
            phone=other,
            stars=1,
            comment="",
            channel="sms",
            now=_at(13),
        )
        is None
    )
    session.refresh(feedback)
    assert feedback.rating == 4


def test_reminders_go_the_day_before_once(session: Session) -> None:
    (request,) = _book(session)
    the_day_before = DAY - dt.timedelta(days=1)
    evening = dt.datetime.combine(the_day_before, dt.time(18, 0), IST)
    first = notices.reminders(
        session=session,
        settings=S,
        district_ids=[request.district_id],
        day_=DAY,
        tz=IST,
        now=evening,
    )
    again = notices.reminders(
        session=session,
        settings=S,
        district_ids=[request.district_id],
        day_=DAY,
        tz=IST,
        now=evening,
    )
    mine = _messages(session, _citizen_phone(session, request), "reminder")
    assert len(mine) == 1 and mine[0].id in first and mine[0].id in again
    assert "1447" in mine[0].body


# --- agents' proofs -------------------------------------------------------------------------


def test_pins_are_hashed_checked_and_wrong_ones_lock_out(session: Session) -> None:
    agent = session.exec(select(Agent).where(Agent.state_code == "JK")).first()
    assert agent is not None and agent.id is not None
    access.set_pin(session=session, agent_id=agent.id, pin="2468", actor="test")
    assert agent.pin_hash and "2468" not in agent.pin_hash
    now = _at(8)
    assert access.check_pin(session=session, settings=S, agent=agent, pin="2468", now=now)
    for _ in range(S.agent_failures_allowed):
        assert not access.check_pin(session=session, settings=S, agent=agent, pin="1111", now=now)
    with pytest.raises(access.AgentLockedOut):
        access.check_pin(session=session, settings=S, agent=agent, pin="2468", now=now)


def test_day_links_are_signed_for_one_agent_and_day_and_expire() -> None:
    token = access.day_token(settings=S, agent_id=7, day=DAY)
    assert access.read_day_token(settings=S, token=token, today=DAY) == (7, DAY)
    forged = token.replace("7-", "8-", 1)
    assert access.read_day_token(settings=S, token=forged, today=DAY) is None
    assert access.read_day_token(settings=S, token=token, today=DAY + dt.timedelta(days=3)) is None
    assert access.read_day_token(settings=S, token="nonsense", today=DAY) is None


def test_itinerary_rows_per_agent_and_day_are_unique(session: Session) -> None:
    """The table itself refuses a second itinerary for one agent and day."""
    import sqlalchemy as sa

    agent = session.exec(select(Agent)).first()
    assert agent is not None and agent.id is not None
    session.add(Itinerary(agent_id=agent.id, day=DAY, visits=[]))
    session.flush()
    with pytest.raises(sa.exc.IntegrityError), session.begin_nested():
        session.add(Itinerary(agent_id=agent.id, day=DAY, visits=[]))
        session.flush()
    assert RequestEvent  # imported for the trail checks above


def test_an_itinerary_line_names_whole_documents_and_counts_the_rest() -> None:
    docs = ["Aadhaar card", "Ration card", "Salary slip or self-declaration", "Photo"]
    assert notices.short_list(docs, 30) == "Aadhaar card, Ration card +2"
    assert notices.short_list(["Aadhaar card"], 30) == "Aadhaar card"
    assert notices.short_list([], 30) == "-"
    assert len(notices.short_list(["x" * 50], 30)) == 30


def test_a_retried_wrong_code_is_counted_once(session: Session) -> None:
    """The same report sent again (a webhook retry, a form posted twice) is one wrong guess."""
    (request,) = _book(session)
    wrong = f"{(int(request.visit_code or '0') + 1) % 10000:04d}"
    lefts = []
    for _ in range(3):
        with pytest.raises(field.WrongVisitCode) as caught:
            _complete(session, request, "the-same-retry", code=wrong)
        lefts.append(caught.value.tries_left)
    assert lefts == [S.agent_failures_allowed - 1] * 3

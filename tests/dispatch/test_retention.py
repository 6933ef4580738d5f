"""The retention purge (`dispatch.retention`): records just older than `retention_days` are
blanked, those just younger are kept, open requests' citizens are untouched, what statistics and
money need stays, a second run finds nothing, and each run leaves one audit entry of counts.

The test's clock is in 2020, before any other test's rows, so the counts are this test's own."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from dispatch.audit.models import AuditEntry
from dispatch.calls.models import CallAnswer, Callback, CallbackReason, CallbackStatus, CallSession
from dispatch.citizens import service as citizen_service
from dispatch.citizens.models import Address, Citizen
from dispatch.config import Settings
from dispatch.db import write_session
from dispatch.fieldwork.models import Feedback
from dispatch.grievances.models import Grievance
from dispatch.ledger import service as ledger_service
from dispatch.notifications.models import MessageStatus, OutboxMessage
from dispatch.requests import service as request_service
from dispatch.requests.models import DoorstepRequest, RequestEvent
from dispatch.requests.rules import RequestStatus
from dispatch.retention import rules
from dispatch.retention import service as retention
from tests import factories
from tests.conftest import unique_phone

NOW = dt.datetime(2020, 1, 1, 0, 0, tzinfo=dt.UTC)
DAYS = 365
CUT = NOW - dt.timedelta(days=DAYS)
OUTSIDE = CUT - dt.timedelta(hours=1)  # just older than kept: purged
INSIDE = CUT + dt.timedelta(hours=1)  # just younger: kept


def _backdate(session: Session, citizen_id: int, when: dt.datetime) -> None:
    """Everything of the citizen's happened at `when` (the use cases stamp the real time)."""
    session.execute(sa.update(Citizen).where(col(Citizen.id) == citizen_id).values(created_at=when))
    session.execute(
        sa.update(Address)
        .where(col(Address.citizen_id) == citizen_id)
        .values(created_at=when, last_used_at=when)
    )
    ids = select(DoorstepRequest.id).where(DoorstepRequest.citizen_id == citizen_id)
    session.execute(
        sa.update(DoorstepRequest).where(col(DoorstepRequest.id).in_(ids)).values(logged_at=when)
    )
    session.execute(
        sa.update(RequestEvent).where(col(RequestEvent.request_id).in_(ids)).values(at=when)
    )
    session.execute(
        sa.update(OutboxMessage)
        .where(col(OutboxMessage.request_id).in_(ids))
        .values(created_at=when, status=MessageStatus.DELIVERED)
    )
    session.expire_all()


def _citizen_with_request(session: Session, when: dt.datetime, *, close: bool) -> DoorstepRequest:
    request = factories.request(session)
    assert request.id is not None
    if close:
        request_service.transition(
            session=session,
            request_id=request.id,
            to=RequestStatus.CANCELLED,
            actor="test",
            reason="no longer needed, call me on 98765 43210",
        )
    _backdate(session, request.citizen_id, when)
    return request_service.get(session=session, request_id=request.id)


def _call(session: Session, when: dt.datetime) -> CallSession:
    call = CallSession(
        call_sid=f"CA{uuid.uuid4().hex}",
        state_code="JK",
        from_number=unique_phone(),
        to_number="1447",
        data={"phone": unique_phone(), "service_id": 1},
        started_at=when,
    )
    session.add(call)
    session.add(
        CallAnswer(
            call_sid=call.call_sid, step="ask/x", turn=1, input_hash="h", answer="<x/>", at=when
        )
    )
    session.flush()
    return call


def _callback(session: Session, when: dt.datetime, status: CallbackStatus) -> Callback:
    callback = Callback(
        state_code="JK",
        call_sid=f"CA{uuid.uuid4().hex}",
        phone=unique_phone(),
        reason=CallbackReason.NO_WINDOW,
        status=status,
        created_at=when,
        note="rang, will call again",
    )
    session.add(callback)
    session.flush()
    return callback


def _purge(session: Session) -> rules.Purged:
    return retention.purge(session=session, now=NOW, days=DAYS)


def test_old_calls_messages_and_callbacks_are_blanked_young_ones_kept(session: Session) -> None:
    old_call, young_call = _call(session, OUTSIDE), _call(session, INSIDE)
    old_number = old_call.from_number
    old_done = _callback(session, OUTSIDE, CallbackStatus.DONE)
    old_waiting = _callback(session, OUTSIDE, CallbackStatus.OPEN)
    young_done = _callback(session, INSIDE, CallbackStatus.DONE)
    done = _purge(session)
    assert (done.calls, done.call_answers, done.callbacks) == (1, 1, 1)
    assert old_call.data == {} and old_call.from_number != old_number
    assert old_call.from_number.endswith(old_number[-3:]) and "•" in old_call.from_number
    assert old_call.started_at == OUTSIDE and old_call.state_code == "JK"  # statistics stay
    assert young_call.data != {} and "•" not in young_call.from_number
    answers = session.exec(
        select(CallAnswer.call_sid).where(
            col(CallAnswer.call_sid).in_([old_call.call_sid, young_call.call_sid])
        )
    ).all()
    assert answers == [young_call.call_sid]
    assert "•" in old_done.phone and old_done.note is None
    assert "•" not in old_waiting.phone and old_waiting.note  # still to be rung
    assert "•" not in young_done.phone and young_done.note


def test_a_closed_citizen_is_purged_an_open_ones_untouched(session: Session) -> None:
    closed = _citizen_with_request(session, OUTSIDE, close=True)
    still_open = _citizen_with_request(session, OUTSIDE, close=False)
    young = _citizen_with_request(session, INSIDE, close=True)
    fees_before = ledger_service.entries(session=session, request_id=closed.id or 0)
    done = _purge(session)
    assert (done.citizens, done.requests) == (1, 1)
    assert done.messages >= 1  # the closed request's confirmation and cancellation

    citizen = citizen_service.get(session=session, citizen_id=closed.citizen_id)
    assert citizen.name == "" and citizen.phone == rules.purged_phone(citizen.id or 0)
    for address in citizen_service.addresses(session=session, citizen_id=closed.citizen_id):
        assert address.landmark == ""
    request = request_service.get(session=session, request_id=closed.id or 0)
    assert request.status_reason is None
    assert all(
        e.reason is None or "98765" not in e.reason
        for e in request_service.events(session=session, request_id=closed.id or 0)
    )
    # what statistics and money need is kept
    assert (request.status, request.logged_at, request.district_id) == (
        RequestStatus.CANCELLED,
        OUTSIDE,
        closed.district_id,
    )
    assert request.fee_paise == closed.fee_paise
    assert ledger_service.entries(session=session, request_id=closed.id or 0) == fees_before
    messages = session.exec(
        select(OutboxMessage).where(OutboxMessage.request_id == closed.id)
    ).all()
    assert messages and all(m.body == "" and "•" in m.to for m in messages)

    for kept in (still_open, young):
        person = citizen_service.get(session=session, citizen_id=kept.citizen_id)
        assert person.name == "Test Citizen" and person.phone.startswith("+91")
        landmarks = [
            a.landmark
            for a in citizen_service.addresses(session=session, citizen_id=person.id or 0)
        ]
        assert landmarks == ["near the school"]
    young_messages = session.exec(
        select(OutboxMessage).where(OutboxMessage.request_id == young.id)
    ).all()
    assert young_messages and all(m.body for m in young_messages)


def test_a_citizen_whose_grievance_is_open_is_kept(session: Session) -> None:
    """A closed request rated poorly long ago, its grievance still open: the supervisor still
    needs the citizen's name and number, so nothing of theirs is purged."""
    request = _citizen_with_request(session, OUTSIDE, close=True)
    assert request.id is not None
    feedback = Feedback(request_id=request.id, rating=1, asked_at=OUTSIDE, answered_at=OUTSIDE)
    session.add(feedback)
    session.flush()
    assert feedback.id is not None
    session.add(
        Grievance(
            state_code="JK",
            request_id=request.id,
            feedback_id=feedback.id,
            rating=1,
            opened_at=OUTSIDE,
        )
    )
    session.flush()
    assert _purge(session).citizens == 0
    person = citizen_service.get(session=session, citizen_id=request.citizen_id)
    assert person.name == "Test Citizen" and person.phone.startswith("+91")


def test_a_second_run_finds_nothing_and_each_run_is_audited_once(session: Session) -> None:
    closed = _citizen_with_request(session, OUTSIDE, close=True)
    _call(session, OUTSIDE)
    phone = citizen_service.get(session=session, citizen_id=closed.citizen_id).phone
    first = _purge(session)
    second = _purge(session)
    assert first.total > 0 and second.total == 0
    entries = session.exec(
        select(AuditEntry).where(AuditEntry.entity == retention.ENTITY).order_by(col(AuditEntry.id))
    ).all()
    assert [e.detail["citizens"] for e in entries[-2:]] == [1, 0]
    assert entries[-1].detail["cutoff"] == CUT.isoformat() and entries[-1].actor == rules.ACTOR
    assert phone.removeprefix("+91") not in str([e.detail for e in entries])


def test_the_daily_task_runs_once_a_day_from_its_hour(engine: Engine) -> None:
    """`purge_due` at 02:59 India's time does nothing; at 03:00 it runs and is audited; again
    the same day it does nothing; the next day it runs again (committed: the shared database
    holds no retention run but this test's)."""
    settings = Settings(database_url="sqlite://", retention_purge_at="03:00")
    ist = rules.ZONE
    # in 2019, before any other test's rows: the committed purges blank nothing of theirs
    day = dt.datetime(2019, 3, 1, tzinfo=ist)

    def runs() -> int:
        with write_session(engine) as s:
            return len(
                s.exec(
                    select(AuditEntry).where(
                        AuditEntry.entity == retention.ENTITY,
                        col(AuditEntry.at) >= day.astimezone(dt.UTC),
                    )
                ).all()
            )

    for hour, minute, day_offset, expected in [
        (2, 59, 0, 0),
        (3, 0, 0, 1),
        (15, 0, 0, 1),
        (3, 1, 1, 2),
    ]:
        at = day.replace(hour=hour, minute=minute) + dt.timedelta(days=day_offset)
        retention.purge_due(engine=engine, settings=settings, now=at)
        assert runs() == expected


@pytest.mark.parametrize(
    ("local", "last", "expected"),
    [
        ("2030-06-03T02:59", None, False),
        ("2030-06-03T03:00", None, True),
        ("2030-06-03T09:00", "2030-06-03T03:00", False),
        ("2030-06-04T03:00", "2030-06-03T03:00", True),
        ("2030-06-04T00:30", "2030-06-03T03:00", False),  # a new day, not yet its hour
    ],
)
def test_when_the_purge_is_due(local: str, last: str | None, expected: bool) -> None:
    def at(text: str) -> dt.datetime:
        return dt.datetime.fromisoformat(text).replace(tzinfo=rules.ZONE)

    last_run = at(last).astimezone(dt.UTC) if last else None
    now = at(local).astimezone(dt.UTC)
    assert rules.due(now=now, at=dt.time(3, 0), last_run=last_run) is expected


@pytest.mark.parametrize("days", [0, 29, 3651])
def test_the_setting_is_validated(days: int) -> None:
    with pytest.raises(ValueError, match="retention_days"):
        Settings(database_url="sqlite://", retention_days=days)


def test_the_purge_hour_is_validated() -> None:
    with pytest.raises(ValueError, match="retention_purge_at"):
        Settings(database_url="sqlite://", retention_purge_at="3am")

"""A request's history: state changes, calls, SMS (visit code hidden), ledger and audit entries,
merged into one list in time order."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session

from dispatch.calls import service as call_service
from dispatch.calls.models import CallStatus
from dispatch.citizens import service as citizen_service
from dispatch.errors import NotFound
from dispatch.planning import service as planning
from dispatch.requests import timeline
from dispatch.requests.timeline import EntryKind
from dispatch.visits import desk
from dispatch.visits import service as visits
from dispatch.visits.proof import Proof
from tests import factories

IST = ZoneInfo("Asia/Kolkata")
#: A Tuesday no other test plans on.
NOW = dt.datetime(2034, 3, 7, 7, 0, tzinfo=IST)


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    planning.clear_cache()
    yield
    planning.clear_cache()


def _call(session: Session, citizen_id: int, phone: str, request_id: int | None) -> int:
    call = call_service.start(
        session=session,
        call_sid=f"CA{uuid.uuid4().hex}",
        state_code="JK",
        from_number=phone,
        to_number="1447",
        language="hi",
        citizen_id=citizen_id,
        now=NOW + dt.timedelta(minutes=5),
    )
    if request_id is not None:
        call_service.settle(
            session=session, call=call, status=CallStatus.CHANGED, request_id=request_id
        )
    return call.id or 0


def test_a_booked_then_cancelled_request_shows_every_kind_in_time_order(
    session: Session,
) -> None:
    booked, _offer = factories.booked_request(session, district_code="PLW", now=NOW)
    assert booked.id is not None
    citizen = citizen_service.get(session=session, citizen_id=booked.citizen_id)
    visits.cancel_visit(
        session=session,
        settings=factories.SETTINGS,
        idempotency_key=f"t:timeline:{uuid.uuid4().hex}",
        actor="staff:tester",
        request_id=booked.id,
        proof=Proof(caller_id=citizen.phone),
        reason="the citizen went to the office",
    )
    about_it = _call(session, citizen.id or 0, citizen.phone, booked.id)
    other = factories.request(session)  # another citizen's: none of its history shows
    assert other.id is not None
    _call(session, other.citizen_id, "+919999999999", other.id)

    entries = timeline.timeline(session=session, request_id=booked.id)

    assert [e.at for e in entries] == sorted(e.at for e in entries)
    kinds = {e.kind for e in entries}
    assert kinds == set(EntryKind)
    states = [e for e in entries if e.kind is EntryKind.STATE]
    assert states[0].title == "logged" and states[-1].title.endswith("→ cancelled")
    assert states[-1].actor == "staff:tester"
    assert states[-1].detail == "the citizen went to the office"
    sms = [e for e in entries if e.kind is EntryKind.SMS]
    assert len(sms) == 2 and all(e.title.startswith("SMS ") for e in sms)
    assert booked.visit_code is not None
    assert all(booked.visit_code not in e.detail for e in sms)
    assert timeline.HIDDEN_CODE in sms[0].detail  # the confirmation carried the code
    ledger = [(e.title, e.amount_paise) for e in entries if e.kind is EntryKind.LEDGER]
    assert ledger == [("charge", booked.fee_paise), ("waive", booked.fee_paise)]
    audit = [(e.title, e.actor) for e in entries if e.kind is EntryKind.AUDIT]
    assert ("use case book", "test") in audit
    assert ("use case cancel", "staff:tester") in audit
    calls = [e for e in entries if e.kind is EntryKind.CALL]
    assert [e.source_id for e in calls] == [about_it]


def test_the_citizens_calls_about_no_request_since_it_was_logged_are_shown(
    session: Session,
) -> None:
    request = factories.request(session)
    assert request.id is not None
    citizen = citizen_service.get(session=session, citizen_id=request.citizen_id)
    status_check = _call(session, citizen.id or 0, citizen.phone, None)
    entries = timeline.timeline(session=session, request_id=request.id)
    assert [e.source_id for e in entries if e.kind is EntryKind.CALL] == [status_check]


def test_the_visit_code_is_hidden_only_where_it_stands_alone() -> None:
    body = "Ref JK-26-004321-5. Code 4321. Show code 4321 at the door; 143210 is not it."
    hidden = timeline.hide_code(body, "4321")
    assert hidden == (
        "Ref JK-26-004321-5. Code ••••. Show code •••• at the door; 143210 is not it."
    )
    assert timeline.hide_code(body, None) == body


def test_an_unknown_request_has_no_timeline(session: Session) -> None:
    with pytest.raises(NotFound):
        timeline.timeline(session=session, request_id=10**9)


def test_a_desk_change_shows_as_an_audit_line_by_its_staff_member(session: Session) -> None:
    request = factories.request(session)
    assert request.id is not None
    desk.raise_priority(
        session=session,
        idempotency_key=f"t:timeline:{uuid.uuid4().hex}",
        actor="staff:dispatcher1",
        request_id=request.id,
        priority=2,
    )
    [line] = [
        e
        for e in timeline.timeline(session=session, request_id=request.id)
        if e.title == "raise priority"
    ]
    assert line.kind is EntryKind.AUDIT and line.actor == "staff:dispatcher1"
    assert line.detail == "from_priority: 0; to_priority: 2"  # no key, no stored answer

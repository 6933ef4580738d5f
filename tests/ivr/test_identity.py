"""Callers prove who they are before touching anyone's request: a withheld caller ID with a
keyed-in number is a contact for a new booking only; wrong references and codes are counted,
audited and rate-limited; SMS and call-backs go only to the state's allowed numbers."""

from __future__ import annotations

import phonenumbers
import pytest
from fastapi import FastAPI
from sqlalchemy.engine import Engine
from sqlmodel import col, func, select

from dispatch.audit.models import AuditEntry
from dispatch.calls.models import Callback
from dispatch.citizens import service as citizen_service
from dispatch.db import read_session, write_session
from dispatch.notifications.models import OutboxMessage
from dispatch.planning import service as planning_service
from dispatch.requests import rules as request_rules
from dispatch.requests import service as request_service
from dispatch.requests.rules import RequestStatus
from dispatch.visits import proof as visit_proof
from tests import factories
from tests.conftest import unique_phone
from tests.ivr.caller import heard, phone
from tests.ivr.conftest import FixedClock
from tests.ivr.test_robustness import requests_of

WITHHELD = "anonymous"


def foreign_phone() -> str:
    """A valid, unused British mobile number (not one the state messages)."""
    while True:
        candidate = "+4479" + unique_phone()[-8:]
        if phonenumbers.is_valid_number(phonenumbers.parse(candidate)):
            return candidate


def _victim(engine: Engine, clock: FixedClock) -> tuple[int, str, str]:
    """A citizen with a stored address and a booked visit: (request id, phone, reference)."""
    with write_session(engine) as session:
        request, _ = factories.booked_request(session, district_code="ANT", now=clock.now())
        citizen = citizen_service.get(session=session, citizen_id=request.citizen_id)
    return request.id or 0, citizen.phone, request.reference


def test_a_keyed_number_never_unlocks_a_stored_address_or_a_request(
    app: FastAPI, engine: Engine, clock: FixedClock
) -> None:
    """A withheld caller keys in another citizen's number: no name, no stored address, a new
    address kept for this booking only, and the other citizen's visit stays theirs."""
    request_id, victim, reference = _victim(engine, clock)
    call = phone(app, caller=WITHHELD)
    call.dial()
    assert "welcome back" not in heard(call).lower()
    for key in ("2", "1", "2"):
        call.press(key)
    assert "We cannot see your phone number" in heard(call)
    call.press(victim[3:])
    said = heard(call)
    assert "Key in the 6-digit PIN code of your area" in said and "last address" not in said
    assert "Your request for" not in said and "open requests" not in said  # nothing of theirs
    for key in ("192201", "1", "1", "1"):
        call.press(key)  # Achabal's PIN code, that village, no landmark, book the earliest
    assert "Your visit is booked" in heard(call)
    with read_session(engine) as session:
        citizen = citizen_service.find_by_phone(session=session, state_code="JK", phone=victim)
        assert citizen is not None and citizen.id is not None
        last = citizen_service.last_address(session=session, citizen_id=citizen.id)
        own = request_service.get(session=session, request_id=request_id)
        assert last is not None and last.id == own.address_id  # still the citizen's own
    # The same caller now tries to cancel the citizen's earlier visit: the code is asked.
    call.press("2")  # main menu
    call.press("2")  # a request already made
    call.press(request_rules.keypad_digits(reference))
    assert "4-digit visit code" in heard(call)
    call.press("0000" if own.visit_code != "0000" else "1111")
    assert "do not match our records" in heard(call)
    with read_session(engine) as session:
        assert request_service.get(session=session, request_id=request_id).status in {
            RequestStatus.SCHEDULED,
            RequestStatus.ASSIGNED,
        }


def test_three_wrong_tries_on_a_call_put_the_caller_through_to_a_person(
    app: FastAPI, engine: Engine, clock: FixedClock, caller: str
) -> None:
    _, _, reference = _victim(engine, clock)
    call = phone(app, caller=caller)
    call.dial()
    call.press("2")
    call.press("2")
    for attempt in range(3):
        call.press(request_rules.keypad_digits(reference))
        call.press("5" * 4 if attempt % 2 else "6" * 4)
    assert "Let me put you through to a person." in heard(call) and call.queued
    with read_session(engine) as session:
        failures = session.exec(
            select(func.count())
            .select_from(AuditEntry)
            .where(
                AuditEntry.entity == "caller",
                AuditEntry.entity_id == visit_proof.caller_key(app.state.settings, caller),
                col(AuditEntry.action) == "proof_failed",
            )
        ).one()
    assert failures == 3


def test_a_caller_id_that_failed_too_often_is_not_even_asked(
    app: FastAPI, engine: Engine, clock: FixedClock, caller: str
) -> None:
    request_id, _, reference = _victim(engine, clock)
    settings = app.state.settings
    with write_session(engine) as session:
        for _ in range(settings.proof_failures_allowed):
            visit_proof.record_failure(
                session=session,
                settings=settings,
                caller=caller,
                what="visit code",
                actor="test",
                now=clock.now(),
            )
        code = request_service.get(session=session, request_id=request_id).visit_code
    call = phone(app, caller=caller)
    call.dial()
    call.press("2")
    call.press("2")
    call.press(request_rules.keypad_digits(reference))
    said = heard(call)
    assert "too many wrong tries" in said and "put you through to a person" in said
    assert "visit code" not in said and "morning" not in said and call.queued
    assert code is not None  # a right code would not have helped: it is not asked for


def test_a_foreign_caller_books_without_sms_and_hears_the_visit_code(
    app: FastAPI, engine: Engine
) -> None:
    uk = foreign_phone()
    call = phone(app, caller=uk)
    call.dial()
    for key in ("2", "1", "2", "192201", "1", "1", "1"):
        call.press(key)
    said = heard(call)
    assert "Your visit is booked" in said and "Your reference number is" in said
    assert "by SMS" not in said and "Your visit code is" in said
    [request] = requests_of(engine, uk)
    assert request.visit_code is not None
    words = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    assert ", ".join(words[int(d)] for d in request.visit_code) in said
    with read_session(engine) as session:
        sent = session.exec(
            select(func.count()).where(col(OutboxMessage.request_id) == request.id)
        ).one()
    assert sent == 0


def test_no_call_back_is_promised_to_a_number_the_state_does_not_call(
    app: FastAPI, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(planning_service, "offer_windows", lambda **_: [])
    uk = foreign_phone()
    call = phone(app, caller=uk)
    call.dial()
    for key in ("2", "1", "2", "192201", "1", "1"):
        call.press(key)
    said = heard(call)
    assert "no agent is free in the next 3 days" in said and "call you back" not in said
    assert call.queued  # put through to a person instead
    with read_session(engine) as session:
        assert (
            session.exec(select(Callback).where(Callback.call_sid == call.call_sid)).first() is None
        )

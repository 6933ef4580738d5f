"""A request by its reference on the keypad: its status; a changed time or a cancellation by
the phone that made it; a mistyped number caught by its check digit."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from sqlalchemy.engine import Engine

from dispatch.calls.models import CallStatus
from dispatch.citizens import service as citizen_service
from dispatch.db import read_session, write_session
from dispatch.ledger import service as ledger_service
from dispatch.notifications import service as notification_service
from dispatch.planning import service as planning_service
from dispatch.requests import rules as request_rules
from dispatch.requests import service as request_service
from dispatch.requests.models import DoorstepRequest
from dispatch.requests.rules import RequestStatus
from tests import factories
from tests.ivr.caller import heard, phone
from tests.ivr.conftest import FixedClock
from tests.ivr.test_robustness import session_of


def _logged(engine: Engine) -> tuple[DoorstepRequest, str]:
    with write_session(engine) as session:
        request = factories.request(session, district_code="ANT")
        owner = citizen_service.get(session=session, citizen_id=request.citizen_id).phone
    return request, owner


def _booked(engine: Engine, clock: FixedClock) -> tuple[DoorstepRequest, str]:
    request, owner = _logged(engine)
    with write_session(engine) as session:
        offers = planning_service.offer_windows(
            session=session,
            address_id=request.address_id,
            service_id=request.service_id,
            language="hi",
            now=clock.now(),
        )
        booked = planning_service.book(
            session=session, request_id=request.id or 0, offer=offers[0], actor="test"
        )
    return booked, owner


def _key(reference: str) -> str:
    return request_rules.keypad_digits(reference)


def test_status_by_reference(app: FastAPI, engine: Engine, caller: str) -> None:
    request, _ = _logged(engine)
    call = phone(app, caller=caller)
    call.dial()
    call.press("2")
    call.press("2")
    assert "Please key in your 9-digit reference number" in heard(call)
    assert call.gather is not None and call.gather["numDigits"] == "9"
    call.press(_key(request.reference))
    assert "it is logged, and a visit time is still to be fixed" in heard(call)
    assert "For the main menu, press 1, or simply hang up" in heard(call)
    call.silence()
    assert call.ended and "Thank you for calling DigiDost" in heard(call)
    call.hangup()
    assert session_of(engine, call).status is CallStatus.COMPLETED


def test_a_booked_request_says_when_the_agent_comes(
    app: FastAPI, engine: Engine, caller: str, clock: FixedClock
) -> None:
    request, _ = _booked(engine, clock)
    call = phone(app, caller=caller)
    call.dial()
    call.press("1")
    call.press("2")
    call.press(_key(request.reference))
    assert "सोमवार, 3 जून को सुबह 9 बजे से 11 बजे के बीच" in heard(call)


@pytest.mark.parametrize(
    ("mistake", "said"),
    [
        ("swap", "That number does not look right; a digit may be missing or mistyped."),
        ("unknown", "I could not find a request with that number."),
        ("short", "That number does not look right; a digit may be missing or mistyped."),
    ],
)
def test_a_mistyped_reference_is_caught(
    app: FastAPI, engine: Engine, caller: str, mistake: str, said: str
) -> None:
    request, _ = _logged(engine)
    digits = _key(request.reference)
    if mistake == "swap":  # two neighbouring digits swapped: the check digit catches it
        i = next(i for i in range(len(digits) - 1) if digits[i] != digits[i + 1])
        keyed = digits[:i] + digits[i + 1] + digits[i] + digits[i + 2 :]
    elif mistake == "unknown":  # well formed, but no such request
        keyed = _key(request_rules.make_reference("JK", 2030, 999_999))
    else:
        keyed = digits[:5]
    call = phone(app, caller=caller)
    call.dial()
    call.press("2")
    call.press("2")
    call.press(keyed)
    assert heard(call).startswith(said)
    assert "Please key in your 9-digit reference number" in heard(call)  # asked again


def test_the_owner_cancels_and_owes_nothing(app: FastAPI, engine: Engine) -> None:
    request, owner = _logged(engine)
    call = phone(app, caller=owner)
    call.dial()  # a returning caller (Hindi): straight to the main menu
    call.press("3")
    call.press(_key(request.reference))
    assert "समय बदलने के लिए 1 दबाएँ। अनुरोध रद्द करने के लिए 2 दबाएँ।" in heard(call)
    call.press("2")
    assert "सच में रद्द करना चाहते हैं?" in heard(call)
    call.press("1")
    assert "आपका अनुरोध रद्द कर दिया गया है" in heard(call)
    with read_session(engine) as session:
        cancelled = request_service.get(session=session, request_id=request.id or 0)
        balance = ledger_service.balance(session=session, request_id=request.id or 0)
        [sms] = notification_service.for_request(session=session, request_id=request.id or 0)
    assert cancelled.status is RequestStatus.CANCELLED and balance.outstanding == 0
    assert "रद्द" in sms.body and sms.to == owner
    assert session_of(engine, call).status is CallStatus.CHANGED


def test_only_the_phone_that_booked_may_change_a_request(
    app: FastAPI, engine: Engine, caller: str
) -> None:
    request, _ = _logged(engine)
    call = phone(app, caller=caller)
    call.dial()
    call.press("2")
    call.press("3")
    call.press(_key(request.reference))
    assert "can only be changed from the phone number that made it" in heard(call)
    with read_session(engine) as session:
        unchanged = request_service.get(session=session, request_id=request.id or 0)
    assert unchanged.status is RequestStatus.LOGGED


def test_the_owner_moves_a_visit_to_another_window(
    app: FastAPI, engine: Engine, clock: FixedClock
) -> None:
    request, owner = _booked(engine, clock)
    call = phone(app, caller=owner)
    call.dial()
    call.press("3")
    call.press(_key(request.reference))
    call.press("1")
    assert "एजेंट इन समयों पर आ सकते हैं" in heard(call)
    call.press("2")
    assert "नया समय:" in heard(call)
    call.press("1")
    assert "आपकी मुलाक़ात का नया समय तय हो गया" in heard(call)
    assert "आपका संदर्भ नंबर है" in heard(call)
    rid = request.id or 0
    with read_session(engine) as session:
        moved = request_service.get(session=session, request_id=rid)
        trail = [e.to_status for e in request_service.events(session=session, request_id=rid)]
        messages = notification_service.for_request(session=session, request_id=rid)
        charges = ledger_service.entries(session=session, request_id=rid)
    assert moved.window_start is not None and request.window_start is not None
    assert moved.window_start > request.window_start  # the second window offered
    assert moved.status in {RequestStatus.SCHEDULED, RequestStatus.ASSIGNED}
    assert RequestStatus.RESCHEDULED in trail
    assert [m.kind for m in messages] == ["reschedule"]
    assert len(charges) == 1  # moving a visit charges nothing more
    assert session_of(engine, call).status is CallStatus.CHANGED

"""A request by its reference on the keypad: its status, a changed time or a cancellation —
only for its citizen, proven by their own caller ID or by the visit code from their SMS; a
mistyped number caught by its check digit."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from sqlalchemy.engine import Engine

from dispatch.calls.models import CallStatus
from dispatch.citizens import service as citizen_service
from dispatch.db import read_session, write_session
from dispatch.ledger import service as ledger_service
from dispatch.notifications import service as notification_service
from dispatch.requests import rules as request_rules
from dispatch.requests import service as request_service
from dispatch.requests.models import DoorstepRequest
from dispatch.requests.rules import RequestStatus
from tests import factories
from tests.ivr.caller import heard, phone
from tests.ivr.conftest import FixedClock
from tests.ivr.test_robustness import session_of


def logged(engine: Engine) -> tuple[DoorstepRequest, str]:
    """A request logged (no window yet) for a new citizen; with its citizen's phone."""
    with write_session(engine) as session:
        request = factories.request(session, district_code="ANT")
        owner = citizen_service.get(session=session, citizen_id=request.citizen_id).phone
    return request, owner


def booked(engine: Engine, clock: FixedClock) -> tuple[DoorstepRequest, str]:
    with write_session(engine) as session:
        request, _ = factories.booked_request(session, district_code="ANT", now=clock.now())
        owner = citizen_service.get(session=session, citizen_id=request.citizen_id).phone
    return request, owner


def key(reference: str) -> str:
    return request_rules.keypad_digits(reference)


def test_the_owner_hears_the_status_without_a_code(
    app: FastAPI, engine: Engine, clock: FixedClock
) -> None:
    request, owner = booked(engine, clock)
    call = phone(app, caller=owner)
    call.dial()  # a returning caller (Hindi): straight to the main menu
    call.press("2")
    assert call.gather is not None and call.gather["numDigits"] == "9"
    call.press(key(request.reference))
    assert "सोमवार, 3 जून को सुबह 9 बजे से 11 बजे के बीच" in heard(call)
    call.silence()
    assert call.ended
    call.hangup()
    assert session_of(engine, call).status is CallStatus.COMPLETED


def test_another_phone_must_give_the_visit_code(app: FastAPI, engine: Engine, caller: str) -> None:
    request, _ = logged(engine)
    call = phone(app, caller=caller)
    call.dial()
    call.press("2")
    call.press("2")
    assert "Please key in your 9-digit reference number" in heard(call)
    call.press(key(request.reference))
    said = heard(call)
    assert "4-digit visit code" in said and "logged" not in said  # nothing told yet
    assert call.gather is not None and call.gather["numDigits"] == "4"
    call.press(request.visit_code or "")
    assert "it is logged, and a visit time is still to be fixed" in heard(call)
    assert "For the main menu, press 1, or simply hang up" in heard(call)


def test_unknown_and_not_yours_get_the_same_answer(
    app: FastAPI, engine: Engine, caller: str
) -> None:
    """Probing references one by one learns nothing: both are asked for the code, and both
    answers afterwards are word for word the same."""
    request, _ = logged(engine)
    unknown = key(request_rules.make_reference("JK", 2030, 999_999))
    answers = []
    for reference in (key(request.reference), unknown):
        call = phone(app, caller=caller)
        call.dial()
        call.press("2")
        call.press("2")
        call.press(reference)
        asked = heard(call)
        call.press("0000" if request.visit_code != "0000" else "1111")
        answers.append((asked, heard(call)))
    assert answers[0] == answers[1]
    assert answers[0][1].startswith(
        "Sorry, that reference number and visit code do not match our records."
    )
    assert "Please key in your 9-digit reference number" in answers[0][1]  # asked again


@pytest.mark.parametrize("mistake", ["swap", "short"])
def test_a_mistyped_reference_is_caught(
    app: FastAPI, engine: Engine, caller: str, mistake: str
) -> None:
    request, _ = logged(engine)
    digits = key(request.reference)
    if mistake == "swap":  # two neighbouring digits swapped: the check digit catches it
        i = next(i for i in range(len(digits) - 1) if digits[i] != digits[i + 1])
        keyed = digits[:i] + digits[i + 1] + digits[i] + digits[i + 2 :]
    else:
        keyed = digits[:5]
    call = phone(app, caller=caller)
    call.dial()
    call.press("2")
    call.press("2")
    call.press(keyed)
    assert heard(call).startswith(
        "That number does not look right; a digit may be missing or mistyped."
    )
    assert "Please key in your 9-digit reference number" in heard(call)  # asked again


def test_the_owner_cancels_and_owes_nothing(app: FastAPI, engine: Engine) -> None:
    request, owner = logged(engine)
    call = phone(app, caller=owner)
    call.dial()
    call.press("3")
    call.press(key(request.reference))
    assert "समय बदलने के लिए 1 दबाएँ। अनुरोध रद्द करने के लिए 2 दबाएँ।" in heard(call)
    call.press("2")
    assert "सच में रद्द करना चाहते हैं?" in heard(call)
    call.press("1")
    assert "आपका अनुरोध रद्द कर दिया गया है" in heard(call)
    rid = request.id or 0
    with read_session(engine) as session:
        cancelled = request_service.get(session=session, request_id=rid)
        balance = ledger_service.balance(session=session, request_id=rid)
        messages = notification_service.for_request(session=session, request_id=rid)
    assert cancelled.status is RequestStatus.CANCELLED and balance.outstanding == 0
    assert [m.kind for m in messages] == ["booking", "cancellation"]
    assert "रद्द" in messages[1].body and messages[1].to == owner
    assert session_of(engine, call).status is CallStatus.CHANGED


def test_the_visit_code_lets_a_relative_cancel_and_the_citizen_is_told(
    app: FastAPI, engine: Engine, caller: str
) -> None:
    """A son calling from his own phone, with the code from his mother's SMS."""
    request, owner = logged(engine)
    call = phone(app, caller=caller)
    call.dial()
    call.press("2")
    call.press("3")
    call.press(key(request.reference))
    call.press(request.visit_code or "")
    assert "To change the visit time, press 1. To cancel the request, press 2." in heard(call)
    call.press("2")
    call.press("1")
    assert "Your request has been cancelled" in heard(call)
    with read_session(engine) as session:
        messages = notification_service.for_request(session=session, request_id=request.id or 0)
    assert messages[-1].kind == "cancellation" and messages[-1].to == owner  # not the caller


def test_the_owner_moves_a_visit_to_another_window(
    app: FastAPI, engine: Engine, clock: FixedClock
) -> None:
    request, owner = booked(engine, clock)
    call = phone(app, caller=owner)
    call.dial()
    call.press("3")
    call.press(key(request.reference))
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
    assert [m.kind for m in messages] == ["booking", "reschedule"]
    assert len(charges) == 1  # moving a visit charges nothing more
    assert session_of(engine, call).status is CallStatus.CHANGED

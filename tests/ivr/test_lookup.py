"""A caller's own request: its status, a changed time or a cancellation — only for its
citizen, proven by their own caller ID (then the greeting tells their open requests at once,
and a reference keyed in needs no code) or by the visit code from their SMS; a mistyped
reference caught by its check digit."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from fastapi import FastAPI
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from dispatch.calls.models import CallStatus
from dispatch.catalogue import service as catalogue_service
from dispatch.catalogue.models import Service
from dispatch.citizens import service as citizen_service
from dispatch.db import read_session, write_session
from dispatch.ledger import service as ledger_service
from dispatch.notifications import service as notification_service
from dispatch.planning import service as planning
from dispatch.requests import rules as request_rules
from dispatch.requests import service as request_service
from dispatch.requests.models import DoorstepRequest
from dispatch.requests.rules import Channel, RequestStatus
from dispatch.visits import proof as visit_proof
from dispatch.visits import service as visits
from ivr.standin import Call
from tests import factories
from tests.ivr.caller import heard, phone
from tests.ivr.conftest import IST, FixedClock
from tests.ivr.test_robustness import session_of

#: This module's day. The database is shared by every test of a process (in random order), and
#: other tests book Anantnag's first window on the IVR tests' usual Monday: these tests expect
#: that window free for their visits, so they have a Monday of their own.
OWN_MONDAY = dt.datetime(2031, 6, 2, 7, 30, tzinfo=IST)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(OWN_MONDAY)


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


def at_step(call: Call) -> str:
    """The step the call waits at (its <Gather>'s action)."""
    assert call.gather is not None, "the call is not waiting for an answer"
    action = str(call.gather["action"])
    return action.split("/answer/")[1].split("?")[0]


def test_the_owner_hears_the_status_without_a_code(
    app: FastAPI, engine: Engine, clock: FixedClock
) -> None:
    """Caller ID proves the citizen: the greeting tells their one open request, no questions."""
    request, owner = booked(engine, clock)
    with read_session(engine) as session:
        service = catalogue_service.get(session=session, service_id=request.service_id)
    call = phone(app, caller=owner)
    call.dial()  # a returning caller (Hindi): greeted by name, then their request at once
    said = heard(call)
    assert said.startswith("नमस्ते Test Citizen जी!")
    assert f"{service.name_hi} का अनुरोध: " in said
    assert ", आज सुबह 9 बजे से 11 बजे के बीच।" in said  # its window, today
    assert "कोड" not in said and "संदर्भ नंबर" not in said  # no reference, no visit code
    assert at_step(call) == "change_menu"
    assert "समय बदलने के लिए 1 दबाएँ। अनुरोध रद्द करने के लिए 2 दबाएँ।" in said
    assert session_of(engine, call).status is CallStatus.INFORMED
    call.hangup()  # what they called for was told: not an abandoned call
    assert session_of(engine, call).status is CallStatus.INFORMED


def test_the_owner_keys_a_reference_and_hears_it_without_a_code(
    app: FastAPI, engine: Engine, clock: FixedClock
) -> None:
    """A request no longer open is not in the greeting; keyed in by reference from the
    citizen's own phone, its status is told without the visit code."""
    request, owner = booked(engine, clock)
    with write_session(engine) as session:
        visits.cancel_visit(
            session=session,
            settings=app.state.settings,
            idempotency_key=f"test:{uuid.uuid4().hex}",
            actor="test",
            request_id=request.id or 0,
            proof=visit_proof.Proof(caller_id=owner),
            reason="cancelled in the test",
            now=clock.now(),
        )
    call = phone(app, caller=owner)
    call.dial()  # no open request: greeted, then straight to the main menu
    assert at_step(call) == "main_menu" and "अनुरोध:" not in heard(call)
    call.press("2")  # a request already made
    assert at_step(call) == "reference" and call.gather is not None
    assert call.gather["numDigits"] == "9"
    call.press(key(request.reference))
    said = heard(call)
    assert "का अनुरोध: रद्द कर दिया गया है" in said and "कोड" not in said
    assert at_step(call) == "after_status"  # nothing left to change
    call.silence()
    assert call.ended
    call.hangup()
    assert session_of(engine, call).status is CallStatus.COMPLETED


def test_an_owner_with_several_open_requests_picks_one_by_service(
    app: FastAPI, engine: Engine
) -> None:
    with write_session(engine) as session:
        person = factories.citizen(session, district_code="ANT", language="en")
        address = citizen_service.last_address(session=session, citizen_id=person.id or 0)
        assert address is not None
        first, second = list(
            session.exec(
                select(Service)
                .where(Service.state_code == "JK", col(Service.active))
                .order_by(col(Service.popularity))
            )
        )[:2]
        ids = []
        for service in (first, second):
            ids.append(
                visits.book_visit(
                    session=session,
                    settings=app.state.settings,
                    idempotency_key=f"test:{uuid.uuid4().hex}",
                    actor="test",
                    channel=Channel.CONSOLE,
                    state_code="JK",
                    citizen_id=person.id or 0,
                    address_id=address.id or 0,
                    service_id=service.id or 0,
                    offer=None,
                ).request_id
            )
    call = phone(app, caller=person.phone)
    call.dial()
    said = heard(call)
    assert "Hello Test Citizen, welcome back" in said and "You have 2 open requests." in said
    assert at_step(call) == "open_requests"
    # Each told with its status, then listed by service to choose from, newest first; 9 for
    # a new visit instead.
    told = [f"Your request for {s.name_en}: it is logged" for s in (second, first)]
    listed = f"For {second.name_en}, press 1. For {first.name_en}, press 2."
    assert said.index(told[0]) < said.index(told[1]) < said.index(listed)
    assert "For a new visit, press 9." in said
    call.press("2")
    said = heard(call)
    assert said.startswith(f"Your request for {first.name_en}: it is logged")
    assert at_step(call) == "change_menu"
    call.press("2")  # cancel it
    call.press("1")
    assert "Your request has been cancelled" in heard(call)
    with read_session(engine) as session:
        statuses = [request_service.get(session=session, request_id=i).status for i in ids]
    assert statuses == [RequestStatus.CANCELLED, RequestStatus.LOGGED]  # only the one chosen


def test_another_phone_must_give_the_visit_code(app: FastAPI, engine: Engine, caller: str) -> None:
    request, _ = logged(engine)
    call = phone(app, caller=caller)
    call.dial()
    call.press("2")
    assert "For a request you already made, press 2." in heard(call)
    call.press("2")
    assert "Please key in your 9-digit reference number" in heard(call)
    call.press(key(request.reference))
    said = heard(call)
    assert "4-digit visit code" in said and "logged" not in said  # nothing told yet
    assert call.gather is not None and call.gather["numDigits"] == "4"
    call.press(request.visit_code or "")
    said = heard(call)
    assert "it is logged, and a visit time is still to be fixed" in said
    assert "To change its time, press 1. To cancel it, press 2." in said
    assert at_step(call) == "change_menu"
    assert session_of(engine, call).status is CallStatus.INFORMED


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
    call.dial()  # the greeting tells the open request and how to change it
    assert "दर्ज है, मुलाक़ात का समय अभी तय होना है" in heard(call)
    assert "समय बदलने के लिए 1 दबाएँ। अनुरोध रद्द करने के लिए 2 दबाएँ।" in heard(call)
    assert at_step(call) == "change_menu"
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
    call.press("2")
    call.press(key(request.reference))
    call.press(request.visit_code or "")
    assert "To change its time, press 1. To cancel it, press 2." in heard(call)
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
    call.dial()  # the greeting tells the booked visit
    has = "आज सुबह 9 बजे से 11 बजे के बीच"
    assert has in heard(call)
    call.press("1")  # change its time
    said = heard(call)
    assert said.startswith("सबसे जल्दी नया समय") and at_step(call) == "move_offer"
    assert has not in said  # never the time it has
    assert "मुलाक़ात का समय इस पर बदलने के लिए 1 दबाएँ। दूसरे समय के लिए 2 दबाएँ।" in said
    call.press("2")  # other times
    assert "एजेंट इन समयों पर भी आ सकते हैं" in heard(call)
    assert at_step(call) == "move_windows"
    call.press("1")  # moved at once: no second question
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


def test_the_visit_code_lets_a_relative_move_the_visit_to_the_earliest_new_time(
    app: FastAPI, engine: Engine, clock: FixedClock, caller: str
) -> None:
    """One key at the earliest new time moves the visit at once, and the citizen is told."""
    request, owner = booked(engine, clock)
    call = phone(app, caller=caller)
    call.dial()
    call.press("2")
    call.press("2")
    call.press(key(request.reference))
    call.press(request.visit_code or "")
    assert ", today, between 9 and 11 in the morning." in heard(call)  # booked, or assigned
    call.press("1")  # change its time
    offered = heard(call)
    assert offered.startswith("The earliest new time is ") and "today, between 9 and 11" not in (
        offered
    )
    assert "To move your visit to this time, press 1." in offered
    told = offered.removeprefix("The earliest new time is ").split(". ")[0]
    call.press("1")
    said = heard(call)
    assert said.startswith("Your visit has been moved to the new time.")
    assert f"The agent will come {told}." in said  # the time offered, no other
    rid = request.id or 0
    with read_session(engine) as session:
        moved = request_service.get(session=session, request_id=rid)
        messages = notification_service.for_request(session=session, request_id=rid)
    assert moved.window_start is not None and request.window_start is not None
    assert moved.window_start > request.window_start
    assert [m.kind for m in messages] == ["booking", "reschedule"]
    assert messages[-1].to == owner  # the citizen, not the caller
    assert session_of(engine, call).status is CallStatus.CHANGED


def test_a_relative_calling_in_another_language_is_offered_times_the_visit_can_have(
    app: FastAPI, engine: Engine, clock: FixedClock, caller: str
) -> None:
    """The new time is found for an agent who speaks the visit's language, not the caller's:
    once the English-speaking agents' earliest time is taken, a Hindi caller moving an
    English visit is not offered a time only a Hindi-speaking agent could meet."""

    def english_request(session: Session) -> DoorstepRequest:
        person = factories.citizen(session, district_code="ANT", language="en")
        address = citizen_service.last_address(session=session, citizen_id=person.id or 0)
        service = factories.service(session)
        assert address is not None and address.id is not None and service.id is not None
        offer = planning.offer_windows(
            session=session,
            settings=factories.SETTINGS,
            address_id=address.id,
            service_id=service.id,
            language="en",
            now=clock.now(),
        )[0]
        booked = visits.book_visit(
            session=session,
            settings=factories.SETTINGS,
            idempotency_key=f"test:{uuid.uuid4().hex}",
            actor="test",
            channel=Channel.CONSOLE,
            state_code="JK",
            citizen_id=person.id or 0,
            address_id=address.id,
            service_id=service.id,
            offer=offer,
            language="en",
            now=clock.now(),
        )
        return request_service.get(session=session, request_id=booked.request_id)

    with write_session(engine) as session:
        first = clock.now().astimezone(IST).replace(hour=9, minute=0)
        for _ in range(12):  # fill English times until they start later than 9:00
            target = english_request(session)
            assert target.window_start is not None
            if target.window_start > first:
                break
    call = phone(app, caller=caller)
    call.dial()
    for keys in ("1", "2", key(target.reference), target.visit_code or "", "1"):
        call.press(keys)  # Hindi, a request you made, its reference and code, change the time
    assert at_step(call) == "move_offer"
    call.press("1")  # the earliest new time
    assert at_step(call) == "confirmation", heard(call)  # moved, not "just taken" again
    assert session_of(engine, call).status is CallStatus.CHANGED

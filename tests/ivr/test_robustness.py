"""Every way a call can go wrong still gets valid TwiML and never a dead end: silence and wrong
keys, forged signatures, retried webhooks, hang-ups midway, failures inside, no window, a window
taken meanwhile, a long wait for a person."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import col, func, select

from dispatch.calls import service as call_service
from dispatch.calls.models import Callback, CallbackReason, CallSession, CallStatus
from dispatch.citizens import service as citizen_service
from dispatch.db import read_session, write_session
from dispatch.ledger.models import LedgerEntry
from dispatch.notifications.models import OutboxMessage
from dispatch.planning import service as planning_service
from dispatch.planning.service import WindowTaken
from dispatch.requests.models import DoorstepRequest
from ivr import signature
from ivr.standin import Call, signed_headers, twilio_params
from tests.ivr.caller import heard, phone
from tests.ivr.conftest import FixedClock


def session_of(engine: Engine, call: Call) -> CallSession:
    with read_session(engine) as session:
        return session.exec(select(CallSession).where(CallSession.call_sid == call.call_sid)).one()


def requests_of(engine: Engine, phone_number: str) -> list[DoorstepRequest]:
    with read_session(engine) as session:
        citizen = citizen_service.find_by_phone(
            session=session, state_code="JK", phone=phone_number
        )
        if citizen is None:
            return []
        stmt = select(DoorstepRequest).where(DoorstepRequest.citizen_id == citizen.id)
        return list(session.exec(stmt))


def to_windows(call: Call, language_key: str = "2") -> None:
    """Dial and walk a new caller to the window offer (Anantnag, Achabal, no landmark)."""
    call.dial()
    for key in (language_key, "1", "2", "1", "1", "192201", "1"):
        call.press(key)
    assert "/answer/windows" in str(call.gather and call.gather["action"])


# --- silence and wrong keys -------------------------------------------------------------------


def test_silence_is_reprompted_twice_then_a_person(app: FastAPI, caller: str) -> None:
    call = phone(app, caller=caller)
    call.dial()
    call.press("2")
    call.silence()
    assert heard(call).startswith("Sorry, I did not hear anything.")
    assert "To ask for a doorstep visit, press 1" in heard(call)
    call.silence()
    assert heard(call).startswith("Sorry, I did not hear anything.")
    call.silence()
    assert "Let me put you through to a person." in heard(call)
    enqueue = next(v for v in call.verbs if v["verb"] == "enqueue")
    assert call.queued and enqueue["text"] == app.state.settings.call_agent_queue


def test_a_wrong_key_is_named_and_the_menu_repeated(app: FastAPI, caller: str) -> None:
    call = phone(app, caller=caller)
    call.dial()
    call.press("7")
    assert heard(call).startswith("माफ़ कीजिए, यह विकल्प नहीं है।")
    assert "हिंदी के लिए 1 दबाएँ" in heard(call)
    call.press("2")  # a good answer clears the count
    call.press("5")
    call.press("5")
    assert "Sorry, that is not one of the choices." in heard(call)
    assert call.gather is not None  # still asking: the count started again


def test_zero_puts_the_caller_through_to_the_queue(
    app: FastAPI, engine: Engine, caller: str
) -> None:
    call = phone(app, caller=caller)
    call.dial()
    call.press("2")
    call.press("0")
    assert "Connecting you to a person" in heard(call) and call.queued
    enqueue = next(v for v in call.verbs if v["verb"] == "enqueue")
    assert enqueue["waitUrl"].endswith("/ivr/voice/queue/wait")
    assert "You are number 1 in the queue" in heard(call)
    assert session_of(engine, call).status is CallStatus.TRANSFERRED
    call.post(
        str(enqueue["action"]),
        twilio_params(
            call.settings,
            call_sid=call.call_sid,
            caller=caller,
            called="1447",
            QueueResult="bridged",
            QueueTime="42",
        ),
    )
    call.hangup()
    assert session_of(engine, call).status is CallStatus.TRANSFERRED


def test_a_long_wait_offers_a_call_back_instead(
    app: FastAPI, engine: Engine, caller: str, clock: FixedClock
) -> None:
    queue = app.state.settings.call_agent_queue
    with write_session(engine) as session:
        for waited in (400, 500, 600):
            call_service.record_queue_wait(
                session=session,
                queue=queue,
                waited_s=waited,
                result="bridged",
                now=clock.now() - dt.timedelta(minutes=5),
            )
        call_service.record_queue_wait(  # too old to count
            session=session,
            queue=queue,
            waited_s=5,
            result="bridged",
            now=clock.now() - dt.timedelta(hours=2),
        )
    call = phone(app, caller=caller)
    call.dial()
    call.press("2")
    call.press("0")
    assert "The wait for a person is about 9 minutes" in heard(call)
    call.press("1")
    assert "call you back on this number" in heard(call) and call.ended
    with read_session(engine) as session:
        callback = session.exec(select(Callback).where(Callback.call_sid == call.call_sid)).one()
    assert callback.reason is CallbackReason.LONG_WAIT and callback.phone == caller
    assert session_of(engine, call).status is CallStatus.CALLBACK


# --- signatures -------------------------------------------------------------------------------


def _post(app: FastAPI, headers: dict[str, str], params: dict[str, str]) -> Any:
    return TestClient(app).post("/ivr/voice/incoming", data=params, headers=headers)


def test_a_forged_or_missing_signature_is_refused(app: FastAPI, caller: str) -> None:
    settings = app.state.settings
    params = twilio_params(settings, call_sid="CA" + "1" * 32, caller=caller, called="1447")
    url = settings.public_base_url + "/ivr/voice/incoming"
    forged = signature.sign(auth_token="not-the-token", url=url, params=params)
    assert _post(app, {signature.HEADER: forged}, params).status_code == 403
    assert _post(app, {}, params).status_code == 403
    # Signed for the URL the app sees rather than the public one: refused too.
    seen = signed_headers(settings, "http://testserver/ivr/voice/incoming", params)
    assert _post(app, seen, params).status_code == 403
    # Parameters changed after signing.
    good = signed_headers(settings, url, params)
    assert _post(app, good, params | {"From": "+919999999999"}).status_code == 403
    assert _post(app, good, params).status_code == 200


# --- retries and hang-ups -------------------------------------------------------------------


def test_a_retried_webhook_gets_the_same_answer_and_books_once(
    app: FastAPI, engine: Engine, caller: str
) -> None:
    call = phone(app, caller=caller)
    to_windows(call)
    call.press("1")
    assert call.gather is not None
    agree_url = str(call.gather["action"])
    params = twilio_params(
        call.settings, call_sid=call.call_sid, caller=caller, called="1447", Digits="1"
    )
    first = call.post(agree_url, params)
    second = call.post(agree_url, params)  # Twilio retries: same CallSid, step, input
    assert first == second and "Your visit is booked" in first
    [request] = requests_of(engine, caller)
    with read_session(engine) as session:
        charges = session.exec(
            select(func.count()).where(col(LedgerEntry.request_id) == request.id)
        ).one()
        messages = session.exec(
            select(func.count()).where(col(OutboxMessage.request_id) == request.id)
        ).one()
    assert (charges, messages) == (1, 1)


def test_a_hang_up_midway_logs_where_it_ended_and_books_nothing(
    app: FastAPI, engine: Engine, caller: str
) -> None:
    call = phone(app, caller=caller)
    call.dial()
    for key in ("2", "1", "2", "1"):
        call.press(key)  # English, new request, income certificate, Anantnag
    call.hangup(duration_s=48)
    ended = session_of(engine, call)
    assert ended.status is CallStatus.ABANDONED and ended.ended_step == "block"
    assert ended.duration_s == 48 and ended.request_id is None
    assert requests_of(engine, caller) == []
    call.hangup()  # the status callback again: nothing changes
    assert session_of(engine, call).ended_at == ended.ended_at


def test_a_status_callback_for_an_unknown_call_is_answered(app: FastAPI, caller: str) -> None:
    call = phone(app, caller=caller)
    call.hangup()  # never dialled: nothing to end, still a 200 with TwiML


# --- failures inside --------------------------------------------------------------------------


def test_a_failure_inside_apologises_asks_again_then_a_person(
    app: FastAPI, engine: Engine, caller: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(**_: object) -> list[planning_service.WindowOffer]:
        raise RuntimeError("the plan store is down")

    call = phone(app, caller=caller)
    call.dial()
    for key in ("2", "1", "2", "1", "1", "192201"):
        call.press(key)
    monkeypatch.setattr(planning_service, "offer_windows", broken)
    call.press("1")  # no landmark: the window offer fails
    said = heard(call)
    assert said.startswith("Sorry, something went wrong on our side. Let us try again.")
    # The apology redirected to ask the landmark again (where the call stood).
    assert any(v["verb"] == "redirect" for v in call.verbs)
    assert "Now say a landmark" in said
    call.press("1")
    call.press("1")  # failing again: now a person
    assert "Let me put you through to a person." in heard(call) and call.queued
    assert requests_of(engine, caller) == []


def test_no_window_in_the_horizon_records_a_call_back(
    app: FastAPI, engine: Engine, caller: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(planning_service, "offer_windows", lambda **_: [])
    call = phone(app, caller=caller)
    call.dial()
    for key in ("2", "1", "2", "1", "1", "192201", "1"):
        call.press(key)
    assert "no agent is free in the next 3 days" in heard(call)
    assert "call you back" in heard(call) and call.ended
    with read_session(engine) as session:
        callback = session.exec(select(Callback).where(Callback.call_sid == call.call_sid)).one()
    assert callback.reason is CallbackReason.NO_WINDOW
    assert callback.service_id is not None and callback.address_id is not None
    assert requests_of(engine, caller) == []


def test_a_window_taken_meanwhile_charges_nothing_and_offers_again(
    app: FastAPI, engine: Engine, caller: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_book = planning_service.book
    taken = {"times": 0}

    def book_once_taken(**kwargs: Any) -> DoorstepRequest:
        if taken["times"] == 0:
            taken["times"] += 1
            raise WindowTaken("JK-30-000000-0", dt.datetime.now(dt.UTC))
        return real_book(**kwargs)

    monkeypatch.setattr(planning_service, "book", book_once_taken)
    call = phone(app, caller=caller)
    to_windows(call)
    call.press("1")
    call.press("1")
    assert "Sorry, that time was just taken." in heard(call)
    assert "An agent can come at these times" in heard(call)
    assert requests_of(engine, caller) == []  # the logged request and its charge rolled back
    call.press("2")
    call.press("1")
    assert "Your visit is booked" in heard(call)
    [request] = requests_of(engine, caller)
    assert (request.idempotency_key or "").startswith(f"ivr:{call.call_sid}:fee:")


def test_a_caller_without_caller_id_keys_in_a_mobile_number(
    app: FastAPI, engine: Engine, caller: str
) -> None:
    call = phone(app, caller="anonymous")
    call.dial()
    for key in ("2", "1", "2"):
        call.press(key)
    assert "We cannot see your phone number" in heard(call)
    call.press("12345")
    assert "That mobile number does not look right" in heard(call)
    call.press(caller[3:])  # the ten digits
    assert "Which is your district?" in heard(call)
    for key in ("1", "1", "192201", "1"):
        call.press(key)
    call.press("1")
    call.press("1")
    assert "Your visit is booked" in heard(call)
    [request] = requests_of(engine, caller)
    with read_session(engine) as session:
        [sms] = session.exec(
            select(OutboxMessage).where(OutboxMessage.request_id == request.id)
        ).all()
    assert sms.to == caller


def test_a_queue_that_cannot_take_the_call_leads_to_a_call_back(
    app: FastAPI, engine: Engine, caller: str
) -> None:
    call = phone(app, caller=caller)
    call.dial()
    call.press("2")
    call.press("0")
    enqueue = next(v for v in call.verbs if v["verb"] == "enqueue")
    params = twilio_params(
        call.settings,
        call_sid=call.call_sid,
        caller=caller,
        called="1447",
        QueueResult="queue-full",
        QueueTime="0",
    )
    answer = call.post(str(enqueue["action"]), params)
    assert "no one is free to take your call" in answer and "call you back" in answer
    assert answer.rstrip().endswith("<Hangup /></Response>")
    with read_session(engine) as session:
        callback = session.exec(select(Callback).where(Callback.call_sid == call.call_sid)).one()
    assert callback.reason is CallbackReason.NO_AGENT


def test_an_unknown_step_or_a_request_without_a_call_still_gets_twiml(
    app: FastAPI, caller: str
) -> None:
    call = phone(app, caller=caller)
    call.dial()
    base = call.settings.public_base_url
    params = twilio_params(call.settings, call_sid=call.call_sid, caller=caller, called="1447")
    answer = call.post(f"{base}/ivr/voice/answer/no-such-step?t=1", params)
    assert "something went wrong" in answer or "कुछ गड़बड़" in answer
    assert "<Redirect" in answer  # back to where the call stood
    no_call = {k: v for k, v in params.items() if k != "CallSid"}
    answer = call.post(f"{base}/ivr/voice/incoming", no_call)
    assert "<Hangup />" in answer

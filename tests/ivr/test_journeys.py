"""Whole calls through the signed webhooks of `create_app()`: a new caller books a visit in
Hindi, English and Urdu; a returning caller is greeted by name and offered the last address.
Each ends with the request in the database, its charge, its trail, the SMS in the outbox."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from fastapi import FastAPI
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from dispatch.calls.models import CallSession, CallStatus
from dispatch.citizens import service as citizen_service
from dispatch.db import read_session, write_session
from dispatch.ledger import service as ledger_service
from dispatch.ledger.models import EntryKind
from dispatch.notifications import service as notification_service
from dispatch.notifications.models import MessageStatus, OutboxMessage
from dispatch.requests import rules as request_rules
from dispatch.requests import service as request_service
from dispatch.requests.models import DoorstepRequest
from dispatch.requests.rules import Channel, RequestStatus
from ivr.standin import Call
from tests import factories
from tests.ivr.caller import heard, phone, say_languages
from tests.ivr.conftest import IST, MONDAY_MORNING


@dataclass
class Booked:
    call: CallSession
    request: DoorstepRequest
    charges: list[tuple[EntryKind, int]]
    trail: list[tuple[RequestStatus | None, RequestStatus]]
    sms: list[OutboxMessage]


def booked(engine: Engine, call: Call) -> Booked:
    with read_session(engine) as session:
        session_row = session.exec(
            select(CallSession).where(CallSession.call_sid == call.call_sid)
        ).one()
        assert session_row.request_id is not None
        request = request_service.get(session=session, request_id=session_row.request_id)
        assert request.id is not None
        return Booked(
            call=session_row,
            request=request,
            charges=[
                (e.kind, e.amount_paise)
                for e in ledger_service.entries(session=session, request_id=request.id)
            ],
            trail=[
                (e.from_status, e.to_status)
                for e in request_service.events(session=session, request_id=request.id)
            ],
            sms=notification_service.for_request(session=session, request_id=request.id),
        )


def finish_booking(call: Call) -> str:
    """From the window offer: first window, agree to the fee; returns the confirmation."""
    assert call.gather is not None and "/answer/windows" in str(call.gather["action"])
    call.press("1")
    assert "/answer/fee" in str(call.gather and call.gather["action"])
    call.press("1")
    assert "/answer/confirmation" in str(call.gather and call.gather["action"])
    return heard(call)


def assert_booked(engine: Engine, call: Call, *, caller: str, language: str) -> Booked:
    result = booked(engine, call)
    request = result.request
    assert result.call.status is CallStatus.BOOKED
    assert request.channel is Channel.IVR and request.language == language
    assert (request.idempotency_key or "").startswith(f"ivr:{call.call_sid}:fee:")
    assert request.status in {RequestStatus.SCHEDULED, RequestStatus.ASSIGNED}
    assert request.window_start is not None and request.window_end is not None
    assert request.window_start.astimezone(IST).date() == MONDAY_MORNING.date()
    assert result.charges == [(EntryKind.CHARGE, request.fee_paise)]
    assert result.trail[0] == (None, RequestStatus.LOGGED)
    assert result.trail[1][1] == RequestStatus.SCHEDULED
    [sms] = result.sms
    assert sms.to == caller and sms.status is MessageStatus.SENT
    assert request.reference in sms.body and "09:00-11:00" in sms.body
    assert request.visit_code is not None and request.visit_code in sms.body
    assert request.visit_code not in " ".join(call.said)  # the code goes by SMS only
    return result


def test_a_new_caller_books_in_hindi_by_keypad(app: FastAPI, engine: Engine, caller: str) -> None:
    call = phone(app, caller=caller)
    call.dial()
    assert "DigiDost" in heard(call) and "हिंदी के लिए 1 दबाएँ" in heard(call)
    assert {"hi-IN", "en-IN", "ur-IN"} <= say_languages(call)  # each language in its voice
    call.press("1")
    assert "नया अनुरोध दर्ज कराने के लिए 1 दबाएँ" in heard(call)
    call.press("1")
    assert "आय प्रमाण पत्र के लिए 2 दबाएँ" in heard(call)
    call.press("2")
    assert "आपने चुना है: आय प्रमाण पत्र" in heard(call)
    assert "आधार कार्ड, राशन कार्ड" in heard(call)  # the documents to keep ready
    assert "अनंतनाग के लिए 1 दबाएँ" in heard(call) and "9 दबाएँ" in heard(call)
    call.press("1")  # Anantnag
    call.press("1")  # block Anantnag
    call.press("192201")  # Achabal's PIN code
    assert "पहचान" in heard(call)
    call.say("सरकारी स्कूल के पास")
    offer = heard(call)
    assert "Achabal, पहचान: सरकारी स्कूल के पास" in offer
    assert "आज, सोमवार, 3 जून, सुबह 9 बजे से 11 बजे तक के लिए 1 दबाएँ" in offer
    call.press("1")
    fee = heard(call)
    assert "50 रुपये" in fee and "नकद या यूपीआई" in fee and "रसीद" in fee
    call.press("1")
    confirmation = heard(call)
    assert "आपकी बुकिंग पक्की हो गई" in confirmation
    result = assert_booked(engine, call, caller=caller, language="hi")
    digits = request_rules.keypad_digits(result.request.reference)
    words = ["शून्य", "एक", "दो", "तीन", "चार", "पाँच", "छह", "सात", "आठ", "नौ"]
    assert ", ".join(words[int(d)] for d in digits) in confirmation  # digit by digit
    assert "सुबह 9 बजे से 11 बजे के बीच" in confirmation
    assert "एसएमएस" in confirmation
    call.press("1")  # hear it again
    assert ", ".join(words[int(d)] for d in digits) in heard(call)
    call.silence()
    assert call.ended and "धन्यवाद" in heard(call)
    call.hangup()
    assert booked(engine, call).call.status is CallStatus.BOOKED  # not downgraded
    assert "आय प्रमाण पत्र" in result.sms[0].body and "₹50" in result.sms[0].body


def test_a_new_caller_books_in_english_by_speech_and_paged_menus(
    app: FastAPI, engine: Engine, caller: str
) -> None:
    call = phone(app, caller=caller)
    call.dial()
    call.press("2")
    assert "To ask for a doorstep visit, press 1" in heard(call)
    call.press("1")
    assert call.gather is not None and call.gather["input"] == "dtmf speech"
    assert call.gather["language"] == "en-IN"
    call.say("I need an income certificate please")
    assert "Did you say Income Certificate?" in heard(call)
    call.press("1")
    assert "Please keep these documents ready for the agent: Aadhaar card" in heard(call)
    call.press("9")  # the next page of districts
    assert "For Kishtwar, press 1" in heard(call)
    call.press("9")
    assert "For Srinagar, press 3" in heard(call)
    call.press("9")  # back to the first page
    assert "For Jammu, press 7" in heard(call)
    call.press("7")
    call.say("Jammu")  # the block, by name
    call.say("Gandhi Nagar")  # the village, by name
    call.press("1")  # no landmark
    offer = heard(call)
    assert "Thank you. The address is Gandhi Nagar." in offer
    assert "For today, Monday 3 June, 9 to 11 in the morning, press 1" in offer
    confirmation = finish_booking(call)
    assert "Your reference number is:" in confirmation
    assert "between 9 and 11 in the morning" in confirmation
    assert_booked(engine, call, caller=caller, language="en")


def test_a_new_caller_books_in_urdu(app: FastAPI, engine: Engine, caller: str) -> None:
    call = phone(app, caller=caller)
    call.dial()
    call.press("3")
    assert "نئی درخواست درج کرانے کے لیے 1 دبائیں" in heard(call)
    assert say_languages(call) == {"ur-IN"}
    call.press("1")
    assert call.gather is not None and call.gather["language"] == "ur-IN"
    call.say("آمدنی سرٹیفکیٹ")
    assert "کیا آپ نے آمدنی سرٹیفکیٹ کہا؟" in heard(call)
    call.press("1")
    assert "hi-IN" in say_languages(call)  # the documents exist in Hindi only: Hindi voice
    call.press("9")
    call.press("9")
    call.press("3")  # Srinagar
    assert "Srinagar کے لیے 4 دبائیں" in heard(call)  # the blocks, by name
    call.press("4")
    call.press("190008")  # shared by two villages: a short menu of them
    assert "Jawahar Nagar کے لیے 1 دبائیں" in heard(call)
    call.press("2")  # Rajbagh
    call.say("مسجد کے پاس")
    assert "Rajbagh، نشانی: مسجد کے پاس" in heard(call)
    confirmation = finish_booking(call)
    assert "آپ کی بکنگ پکی ہو گئی" in confirmation and "حوالہ نمبر" in confirmation
    result = assert_booked(engine, call, caller=caller, language="ur")
    assert "درخواست" in result.sms[0].body


def test_a_returning_caller_is_greeted_by_name_and_offered_the_last_address(
    app: FastAPI, engine: Engine
) -> None:
    with write_session(engine) as session:
        person = factories.citizen(session, district_code="JMU", language="en")
        earlier = factories.request(session, district_code="JMU")
        earlier_phone = _phone_of(session, earlier.citizen_id)
    call = phone(app, caller=person.phone)
    call.dial()
    greeting = heard(call)
    assert "Hello Test Citizen, welcome back to DigiDost." in greeting
    assert "To ask for a doorstep visit, press 1" in greeting  # no language menu
    call.press("1")
    call.press("2")  # Income Certificate (second most requested)
    assert "Shall the agent come to your last address" in heard(call)
    assert "landmark: near the school" in heard(call)
    call.press("1")
    assert "An agent can come at these times" in heard(call)
    finish_booking(call)
    assert_booked(engine, call, caller=person.phone, language="en")
    # Someone with an open request hears about it (in Hindi, that citizen's language).
    other = phone(app, caller=earlier_phone)
    other.dial()
    assert "आपका एक अनुरोध अभी चल रहा है" in heard(other)
    assert "दर्ज है, मुलाक़ात का समय अभी तय होना है" in heard(other)


def _phone_of(session: Session, citizen_id: int) -> str:
    return citizen_service.get(session=session, citizen_id=citizen_id).phone


@pytest.mark.parametrize("language_key", ["1", "2"])
def test_a_second_booking_on_the_same_call_is_a_second_request(
    app: FastAPI, engine: Engine, caller: str, language_key: str
) -> None:
    call = phone(app, caller=caller)
    call.dial()
    call.press(language_key)
    call.press("1")
    call.press("2")
    for key in ("1", "1", "192201"):
        call.press(key)
    call.press("1")  # no landmark
    finish_booking(call)
    first = booked(engine, call).request
    call.press("2")  # main menu
    call.press("1")
    call.press("1")  # another service
    call.press("1")  # the address just given
    finish_booking(call)
    second = booked(engine, call).request
    assert second.id != first.id and second.idempotency_key != first.idempotency_key


def test_the_number_dialled_picks_the_state(app: FastAPI, caller: str) -> None:
    """Punjab's 1076 (dialled as +911076): its service name, its languages with a voice."""
    call = phone(app, caller=caller, called="+911076")
    call.dial()
    assert "Tuhade Dwar" in heard(call)
    assert "For English, press 2" in heard(call) and "اردو" not in heard(call)
    unknown = phone(app, caller=caller, called="+911800000000")
    unknown.dial()
    assert "DigiDost" in heard(unknown)  # an unknown number: the default state

"""Whole calls through the signed webhooks of `create_app()`: a new caller books a visit in
Hindi, English and Urdu; a returning caller is greeted by name and offered the last address.
Each ends with the request in the database, its charge, its trail, the SMS in the outbox."""

from __future__ import annotations

import re
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
    """From the offer of the earliest window (told with the fee): one key books it; returns
    the confirmation."""
    assert call.gather is not None and "/answer/offer" in str(call.gather["action"])
    call.press("1")
    assert "/answer/confirmation" in str(call.gather and call.gather["action"])
    return heard(call)


def assert_booked(engine: Engine, call: Call, *, caller: str, language: str) -> Booked:
    result = booked(engine, call)
    request = result.request
    assert result.call.status is CallStatus.BOOKED
    assert request.channel is Channel.IVR and request.language == language
    assert (request.idempotency_key or "").startswith(f"ivr:{call.call_sid}:offer:")
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
    assert "घर पर सेवा के लिए 1 दबाएँ" in heard(call)
    call.press("1")
    assert "आय प्रमाण पत्र के लिए 2 दबाएँ" in heard(call)
    call.press("2")
    assert "आपने चुना है: आय प्रमाण पत्र" in heard(call)
    assert "कागज़ात" not in heard(call)  # the documents come with the confirmation
    assert "6 अंकों का पिन कोड दबाएँ" in heard(call)
    call.press("192201")  # Achabal's PIN code
    assert "यह पिन कोड अनंतनाग का है" in heard(call)
    assert "अच्छाबल के लिए 1 दबाएँ" in heard(call)
    call.press("1")  # Achabal
    assert "पहचान" in heard(call)
    call.say("सरकारी स्कूल के पास")
    offer = heard(call)
    assert "आपका पता: अच्छाबल, पहचान: सरकारी स्कूल के पास" in offer
    assert "सबसे जल्दी मुलाक़ात आज सुबह 9 बजे से 11 बजे के बीच हो सकती है" in offer
    assert "50 रुपये" in offer and "नकद या यूपीआई" in offer and "रसीद" in offer  # the fee
    assert "यह समय पक्का करने के लिए 1 दबाएँ" in offer
    call.press("1")
    confirmation = heard(call)
    assert "आपकी बुकिंग पक्की हो गई" in confirmation
    result = assert_booked(engine, call, caller=caller, language="hi")
    digits = request_rules.keypad_digits(result.request.reference)
    words = ["शून्य", "एक", "दो", "तीन", "चार", "पाँच", "छह", "सात", "आठ", "नौ"]
    assert ", ".join(words[int(d)] for d in digits) in confirmation  # digit by digit
    assert "सुबह 9 बजे से 11 बजे के बीच" in confirmation
    assert "आधार कार्ड, राशन कार्ड" in confirmation  # the documents to keep ready
    assert confirmation.index("कागज़ात तैयार रखिए") < confirmation.index("एसएमएस")
    call.press("1")  # hear it again
    assert ", ".join(words[int(d)] for d in digits) in heard(call)
    call.silence()
    assert call.ended and "धन्यवाद" in heard(call)
    call.hangup()
    assert booked(engine, call).call.status is CallStatus.BOOKED  # not downgraded
    assert "आय प्रमाण पत्र" in result.sms[0].body and "₹50" in result.sms[0].body


def _districts_on_page(call: Call) -> list[str]:
    """The districts read out on this page of the district menu, in order."""
    return re.findall(r"For ([^.]+?), press [1-8]\.", heard(call))


def test_a_new_caller_books_in_english_by_speech_and_paged_menus(
    app: FastAPI, engine: Engine, caller: str
) -> None:
    call = phone(app, caller=caller)
    call.dial()
    call.press("2")
    assert "For a doorstep visit, press 1" in heard(call)
    call.press("1")
    assert call.gather is not None and call.gather["input"] == "dtmf speech"
    assert call.gather["language"] == "en-IN"
    call.say("I need an income certificate please")
    assert "Income Certificate: is that right?" in heard(call)
    call.press("1")
    assert "Keep these documents ready" not in heard(call)  # told with the confirmation
    assert "Key in the 6-digit PIN code of your area" in heard(call)
    call.say("Delhi")  # no district of the state: the district menu, page by page
    assert heard(call).startswith("Sorry, I could not find that district.")
    assert "Which is your district?" in heard(call)
    pages = [_districts_on_page(call)]
    for _ in range(3):
        assert "For more choices, press 9" in heard(call)
        call.press("9")
        pages.append(_districts_on_page(call))
    assert [len(page) for page in pages[:3]] == [8, 8, 4]  # the state's 20 districts
    assert pages[3] == pages[0]  # after the last page, the first again
    named = [name for page in pages[:3] for name in page]
    assert len(set(named)) == 20 and {"Jammu", "Srinagar", "Kishtwar"} <= set(named)
    call.say("Jammu")  # the district, by name at the menu
    assert "Which is your block or tehsil in Jammu?" in heard(call)
    call.say("Jammu")  # the block, by name
    call.say("Gandhi Nagar")  # the village, by name
    call.press("1")  # no landmark
    offer = heard(call)
    assert "The address is Gandhi Nagar." in offer
    assert "The earliest visit is today, between 9 and 11 in the morning." in offer
    assert "The fee is 50 rupees." in offer and "To book this visit, press 1." in offer
    confirmation = finish_booking(call)
    assert "Your reference number is:" in confirmation
    assert "Keep these documents ready for the agent: Aadhaar card" in confirmation
    assert "between 9 and 11 in the morning" in confirmation
    assert_booked(engine, call, caller=caller, language="en")


def test_a_new_caller_books_in_urdu(app: FastAPI, engine: Engine, caller: str) -> None:
    call = phone(app, caller=caller)
    call.dial()
    call.press("3")
    assert "گھر پر خدمت کے لیے 1 دبائیں" in heard(call)
    assert say_languages(call) == {"ur-IN"}
    call.press("1")
    assert call.gather is not None and call.gather["language"] == "ur-IN"
    call.say("آمدنی سرٹیفکیٹ")
    assert "آمدنی سرٹیفکیٹ، کیا یہ درست ہے؟ ہاں کے لیے 1 دبائیں" in heard(call)
    call.press("1")
    assert say_languages(call) == {"ur-IN"}  # the documents come with the confirmation
    call.press("190008")  # shared by two villages: a short menu of them, in Urdu script
    assert "یہ پن کوڈ سرینگر کا ہے" in heard(call)
    assert "جواہر نگر کے لیے 1 دبائیں" in heard(call)
    assert "راج باغ کے لیے 2 دبائیں" in heard(call)
    assert "Rajbagh" not in heard(call) and "Srinagar" not in heard(call)
    call.press("2")  # Rajbagh
    call.say("مسجد کے پاس")
    assert "راج باغ، نشانی: مسجد کے پاس" in heard(call)
    confirmation = finish_booking(call)
    assert "آپ کی بکنگ پکی ہو گئی" in confirmation and "حوالہ نمبر" in confirmation
    assert "ایجنٹ کے لیے یہ کاغذات تیار رکھیں" in confirmation
    assert "hi-IN" in say_languages(call)  # the documents exist in Hindi only: Hindi voice
    result = assert_booked(engine, call, caller=caller, language="ur")
    assert "درخواست" in result.sms[0].body
    with read_session(engine) as session:
        address = citizen_service.get_address(session=session, address_id=result.request.address_id)
    assert address.landmark == "مسجد کے پاس"


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
    assert "For a doorstep visit, press 1" in greeting  # no language menu, no open request
    call.press("1")
    call.press("2")  # Income Certificate (second most requested)
    assert "Shall the agent come to your last address" in heard(call)
    assert "landmark: near the school" in heard(call)
    call.press("1")
    assert "The earliest visit is today" in heard(call)
    finish_booking(call)
    assert_booked(engine, call, caller=person.phone, language="en")
    # Someone with an open request hears about it at once (in Hindi, that citizen's language).
    other = phone(app, caller=earlier_phone)
    other.dial()
    assert "नमस्ते Test Citizen जी!" in heard(other)
    assert "का अनुरोध: दर्ज है, मुलाक़ात का समय अभी तय होना है" in heard(other)
    assert "समय बदलने के लिए 1 दबाएँ। अनुरोध रद्द करने के लिए 2 दबाएँ।" in heard(other)


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
    call.press("192201")  # Achabal's PIN code
    call.press("1")  # Achabal
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

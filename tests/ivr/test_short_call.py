"""The shortened call (issue #16), through the signed webhooks of `create_app()`: an address
by its PIN code, place names heard and read in the caller's own script, a returning caller
taken straight to their open requests, the earliest window offered with its fee in one turn,
and every question's prompts inside its <Gather> so that a key can interrupt them."""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import select

from dispatch.calls.models import CallSession, CallStatus
from dispatch.citizens import service as citizen_service
from dispatch.config import REPO_ROOT, Settings
from dispatch.db import read_session, write_session
from dispatch.geography import service as geography_service
from dispatch.planning import service as planning_service
from dispatch.planning.service import WindowOffer
from dispatch.requests import service as request_service
from dispatch.requests.models import DoorstepRequest
from dispatch.requests.rules import Channel, RequestStatus
from dispatch.visits import service as visits
from ivr.prompts import Prompts
from ivr.speech import Speech
from ivr.standin import Call
from ivr.steps import location
from tests import factories
from tests.ivr.caller import Line, heard, say_languages
from tests.ivr.conftest import FixedClock

#: The answers (keys or speech) a new caller who knows their PIN code needs to book at most.
MOST_ANSWERS = 10
#: Windows as the line speaks them.
PROMPTS = Prompts(REPO_ROOT / "seed_data" / "prompts")
HINDI = Speech(PROMPTS, "hi", "Asia/Kolkata")
ENGLISH = Speech(PROMPTS, "en", "Asia/Kolkata")


def dial_in(app: FastAPI, caller: str) -> tuple[Call, Line]:
    """A caller on the line, with the line that keeps every raw TwiML answer."""
    settings: Settings = app.state.settings
    line = Line(TestClient(app), settings)
    return Call(post=line.post, settings=settings, caller=caller, called="1447"), line


def step(call: Call) -> str:
    """The step the call waits at: the last part of its <Gather>'s action URL."""
    assert call.gather is not None, heard(call)
    return str(call.gather["action"]).split("?")[0].rsplit("/", 1)[-1]


def to_pincode(call: Call, language_key: str) -> None:
    """A new caller: language, a doorstep visit, Income Certificate; at the address."""
    call.dial()
    for key in (language_key, "1", "2"):
        call.press(key)
    assert step(call) == "pincode"


def session_of(engine: Engine, call: Call) -> CallSession:
    with read_session(engine) as session:
        return session.exec(select(CallSession).where(CallSession.call_sid == call.call_sid)).one()


def request_of(engine: Engine, call: Call) -> DoorstepRequest:
    request_id = session_of(engine, call).request_id
    assert request_id is not None
    with read_session(engine) as session:
        return request_service.get(session=session, request_id=request_id)


def village_of(engine: Engine, request: DoorstepRequest) -> str:
    with read_session(engine) as session:
        address = citizen_service.get_address(session=session, address_id=request.address_id)
        return geography_service.get_village(session=session, village_id=address.village_id).name


def booked_owner(engine: Engine, clock: FixedClock) -> tuple[DoorstepRequest, str]:
    """A citizen (Hindi) with one request, booked into the earliest window the live plan
    offers (in Baramulla, where other tests book little)."""
    with write_session(engine) as session:
        request, _ = factories.booked_request(session, district_code="BRM", now=clock.now())
        owner = citizen_service.get(session=session, citizen_id=request.citizen_id).phone
    assert request.status in {RequestStatus.SCHEDULED, RequestStatus.ASSIGNED}
    return request, owner


def window_words(request: DoorstepRequest, clock: FixedClock) -> str:
    """The request's visit window as the line says it in Hindi."""
    assert request.window_start is not None and request.window_end is not None
    return HINDI.window(request.window_start, request.window_end, now=clock.now())


def offers_of(engine: Engine, call: Call) -> list[WindowOffer]:
    """The windows offered on the call's last turn, earliest first."""
    return [WindowOffer.from_json(o) for o in session_of(engine, call).data["offers"]]


# --- the address by its PIN code --------------------------------------------------------------


def test_a_pin_code_names_the_place_and_one_key_picks_the_village(
    app: FastAPI, engine: Engine, caller: str
) -> None:
    call, line = dial_in(app, caller)
    to_pincode(call, "2")
    assert "Key in the 6-digit PIN code of your area, or say the name of your district." in (
        heard(call)
    )
    call.press("190003")
    assert step(call) == "pin_village"
    assert "That PIN code is in Srinagar." in heard(call)
    assert "For Rainawari, press 1." in heard(call)
    assert "press 2" not in heard(call)  # Rainawari is the only village with it
    call.press("1")
    assert step(call) == "landmark"
    call.press("1")  # no landmark
    assert "The address is Rainawari." in heard(call) and step(call) == "offer"
    call.press("1")
    assert step(call) == "confirmation" and "Your visit is booked." in heard(call)
    answers = len(line.answers) - 1  # every answer after the dial (no redirects on this walk)
    assert answers <= MOST_ANSWERS, answers
    request = request_of(engine, call)
    assert session_of(engine, call).status is CallStatus.BOOKED
    assert request.channel is Channel.IVR
    assert village_of(engine, request) == "Rainawari"


def test_a_pin_code_shared_by_several_villages_lists_them_all(
    app: FastAPI, engine: Engine, caller: str
) -> None:
    call, _ = dial_in(app, caller)
    to_pincode(call, "2")
    call.press("181102")
    said = heard(call)
    assert "That PIN code is in Jammu." in said
    for key, village in enumerate(("Badyal Brahmana", "Kotli Shah Dola", "Suchetgarh"), 1):
        assert f"For {village}, press {key}." in said
    call.press("3")  # Suchetgarh
    call.press("1")  # no landmark
    assert "The address is Suchetgarh." in heard(call)
    call.press("1")
    assert village_of(engine, request_of(engine, call)) == "Suchetgarh"


def test_an_unknown_pin_code_falls_back_to_the_district_menu(app: FastAPI, caller: str) -> None:
    call, _ = dial_in(app, caller)
    to_pincode(call, "2")
    call.press("110001")  # New Delhi: a PIN code, but of no place of this state
    assert heard(call).startswith("Sorry, I do not know that PIN code.")
    assert "Which is your district?" in heard(call) and step(call) == "district"
    call.say("Srinagar")  # the menu still takes a name
    assert "Which is your block or tehsil in Srinagar?" in heard(call)


@pytest.mark.parametrize("said", ["Mumbai", "Pune", "Bangalore", "Timbuktu"])
def test_a_place_outside_the_state_said_aloud_is_not_taken_for_a_district_that_sounds_like_it(
    app: FastAPI, caller: str, said: str
) -> None:
    """Pune is not Poonch, Mumbai is not Samba: a name matched only loosely, or tied with
    another, sends the caller to the menu instead of to the wrong district's blocks."""
    call, _ = dial_in(app, caller)
    to_pincode(call, "2")
    call.say(said)
    assert heard(call).startswith("Sorry, I could not find that district.")
    assert step(call) == "district"


@pytest.mark.parametrize(
    ("said", "district"),
    [("Shrinagar", "Srinagar"), ("Islamabad", "Anantnag"), ("Kathwa", "Kathua")],
)
def test_a_district_said_as_callers_say_it_is_found(
    app: FastAPI, caller: str, said: str, district: str
) -> None:
    call, _ = dial_in(app, caller)
    to_pincode(call, "2")
    call.say(said)
    assert heard(call) == f"{district}: is that right? Press 1 for yes, or 2 for no."
    assert step(call) == "district_heard"
    call.press("1")
    assert f"Which is your block or tehsil in {district}?" in heard(call)


@pytest.mark.parametrize("keyed", ["12345", "012345", "1900031"])
def test_a_malformed_pin_code_is_asked_again(app: FastAPI, caller: str, keyed: str) -> None:
    call, _ = dial_in(app, caller)
    to_pincode(call, "2")
    call.press(keyed)
    assert heard(call).startswith("That does not look like a PIN code.")
    assert "Key in the 6-digit PIN code of your area" in heard(call)
    assert step(call) == "pincode"
    call.press("190003")  # the right one still works
    assert "That PIN code is in Srinagar." in heard(call)


# --- place names in the caller's own script ---------------------------------------------------


def test_a_hindi_caller_names_the_district_and_village_in_devanagari(
    app: FastAPI, engine: Engine, caller: str
) -> None:
    with read_session(engine) as session:
        [rainawari] = [
            p.village
            for p in geography_service.places_with_pincode(
                session=session, state_code="JK", pincode="190003"
            )
        ]
    # "रैनावारी" is only the village's Devanagari name, neither its Latin name nor an alias.
    assert rainawari.name_hi == "रैनावारी" and "रैनावारी" not in rainawari.aliases
    call, _ = dial_in(app, caller)
    to_pincode(call, "1")
    assert call.gather is not None and call.gather["language"] == "hi-IN"
    call.say("श्रीनगर")
    assert step(call) == "district_heard"
    assert "श्रीनगर, क्या यह सही है?" in heard(call) and "Srinagar" not in heard(call)
    call.press("1")
    assert step(call) == "block"
    assert "श्रीनगर में आपकी तहसील या ब्लॉक कौन सा है?" in heard(call)
    assert "खानयार के लिए" in heard(call) and "Khanyar" not in heard(call)
    call.say("खानयार")
    assert step(call) == "village"
    call.say("रैनावारी")
    assert step(call) == "landmark"
    call.press("1")  # no landmark
    assert "आपका पता: रैनावारी।" in heard(call) and "Rainawari" not in heard(call)
    call.press("1")
    assert village_of(engine, request_of(engine, call)) == "Rainawari"


def test_hindi_prompts_read_place_names_in_devanagari(app: FastAPI, caller: str) -> None:
    call, _ = dial_in(app, caller)
    to_pincode(call, "1")
    call.press("181102")
    said = heard(call)
    assert "यह पिन कोड जम्मू का है।" in said
    assert "सुचेतगढ़ के लिए 3 दबाएँ।" in said
    assert "Suchetgarh" not in said and "Jammu" not in said
    assert say_languages(call) == {"hi-IN"}
    call.say("सुचेतगढ़")  # or the village's name, said in Hindi
    assert step(call) == "landmark"
    call.press("1")  # no landmark
    assert "आपका पता: सुचेतगढ़।" in heard(call)


def test_urdu_prompts_read_place_names_in_urdu_script(app: FastAPI, caller: str) -> None:
    call, _ = dial_in(app, caller)
    to_pincode(call, "3")
    call.press("190003")
    said = heard(call)
    assert "یہ پن کوڈ سرینگر کا ہے۔" in said
    assert "رعناواری کے لیے 1 دبائیں۔" in said
    assert "Rainawari" not in said and "Srinagar" not in said
    assert say_languages(call) == {"ur-IN"}
    other, _ = dial_in(app, caller)
    to_pincode(other, "3")
    other.say("سرینگر")  # the district said in Urdu
    assert "سرینگر، کیا یہ درست ہے؟" in heard(other)
    other.press("1")
    assert "سرینگر میں آپ کی تحصیل یا بلاک کون سا ہے؟" in heard(other)


# --- a returning caller with open requests ----------------------------------------------------


def test_one_open_request_is_told_in_the_greeting_and_moved_with_two_keys(
    app: FastAPI, engine: Engine, clock: FixedClock
) -> None:
    request, owner = booked_owner(engine, clock)
    call, _ = dial_in(app, owner)
    call.dial()
    greeting = heard(call)
    current = window_words(request, clock)
    assert "नमस्ते Test Citizen जी!" in greeting and "हिंदी के लिए" not in greeting
    assert "का अनुरोध: " in greeting and current in greeting  # its status and window
    assert "समय बदलने के लिए 1 दबाएँ। अनुरोध रद्द करने के लिए 2 दबाएँ।" in greeting
    assert "नई सेवा के लिए 9 दबाएँ।" in greeting
    assert step(call) == "change_menu"
    call.press("1")
    assert step(call) == "move_offer"
    offer = heard(call)
    assert "सबसे जल्दी नया समय" in offer and "मुलाक़ात का समय इस पर बदलने के लिए 1 दबाएँ" in offer
    earliest = offers_of(engine, call)[0]
    assert earliest.start != request.window_start  # never the window the visit has
    assert current not in offer
    assert HINDI.window(earliest.start, earliest.end, now=clock.now()) in offer
    call.press("1")  # moved at once: no further question
    assert "आपकी मुलाक़ात का नया समय तय हो गया" in heard(call)
    assert step(call) == "confirmation"
    with read_session(engine) as session:
        moved = request_service.get(session=session, request_id=request.id or 0)
    assert moved.window_start == earliest.start and moved.window_start != request.window_start
    assert moved.status in {RequestStatus.SCHEDULED, RequestStatus.ASSIGNED}
    assert session_of(engine, call).status is CallStatus.CHANGED


def test_one_open_request_other_times_and_cancel(
    app: FastAPI, engine: Engine, clock: FixedClock
) -> None:
    request, owner = booked_owner(engine, clock)
    call, _ = dial_in(app, owner)
    call.dial()
    call.press("1")
    call.press("2")  # other times
    assert step(call) == "move_windows"
    assert "एजेंट इन समयों पर भी आ सकते हैं।" in heard(call)
    assert "1 दबाएँ" in heard(call)
    offers = offers_of(engine, call)
    assert len(offers) > 1 and request.window_start not in {o.start for o in offers}
    cancel, _ = dial_in(app, owner)
    cancel.dial()
    cancel.press("2")
    assert step(cancel) == "cancel_confirm"
    assert "सच में रद्द करना चाहते हैं?" in heard(cancel)
    with read_session(engine) as session:  # nothing changed by either call
        same = request_service.get(session=session, request_id=request.id or 0)
    assert same.window_start == request.window_start and same.status is request.status


def test_several_open_requests_are_listed_by_service(
    app: FastAPI, engine: Engine, clock: FixedClock
) -> None:
    with write_session(engine) as session:
        person = factories.citizen(session, district_code="ANT", language="en")
        address = citizen_service.last_address(session=session, citizen_id=person.id or 0)
        assert person.id is not None and address is not None and address.id is not None
        for days_ago, code in ((2, "DOMICILE_CERT"), (1, "INCOME_CERT")):
            visits.book_visit(
                session=session,
                settings=factories.SETTINGS,
                idempotency_key=f"test:{person.phone}:{code}",
                actor="test",
                channel=Channel.CONSOLE,
                state_code="JK",
                citizen_id=person.id,
                address_id=address.id,
                service_id=factories.service(session, code).id or 0,
                offer=None,
                now=clock.now() - dt.timedelta(days=days_ago),
            )
    call, _ = dial_in(app, person.phone)
    call.dial()
    listed = heard(call)
    assert "Hello Test Citizen, welcome back to DigiDost." in listed
    assert "You have 2 open requests." in listed
    assert "For Income Certificate, press 1." in listed  # the newest first
    assert "For Domicile Certificate, press 2." in listed
    assert "For a new visit, press 9." in listed
    assert step(call) == "open_requests"
    call.press("2")
    assert "Your request for Domicile Certificate: it is logged" in heard(call)
    assert "To change its time, press 1. To cancel it, press 2." in heard(call)
    assert step(call) == "change_menu"
    again, _ = dial_in(app, person.phone)
    again.dial()
    again.press("9")
    assert step(again) == "service_menu"
    assert "Which service do you need?" in heard(again)


def test_a_kashmiri_speaker_is_greeted_in_urdu_by_name(app: FastAPI, engine: Engine) -> None:
    """No recordings configured: Kashmiri is not spoken on the line, and Urdu is understood."""
    assert not app.state.settings.prompt_audio_base_url
    with write_session(engine) as session:
        person = factories.citizen(session, language="ks")
    call, _ = dial_in(app, person.phone)
    call.dial()
    assert "السلام علیکم Test Citizen جی!" in heard(call)
    assert say_languages(call) == {"ur-IN"}
    assert step(call) == "main_menu"  # no language menu
    assert "گھر پر خدمت کے لیے 1 دبائیں۔" in heard(call)
    assert session_of(engine, call).language == "ur"


def test_a_caller_who_hangs_up_after_the_status_was_informed(
    app: FastAPI, engine: Engine, clock: FixedClock, caller: str
) -> None:
    _, owner = booked_owner(engine, clock)
    call, _ = dial_in(app, owner)
    call.dial()
    assert "का अनुरोध: " in heard(call)
    call.hangup()
    assert session_of(engine, call).status is CallStatus.INFORMED
    # Hanging up before hearing anything settled is still abandoning the call.
    other, _ = dial_in(app, caller)
    other.dial()
    other.hangup()
    assert session_of(engine, other).status is CallStatus.ABANDONED


# --- the earliest window with its fee, and prompts inside the question ------------------------


def test_the_offer_tells_the_fee_and_one_key_books(
    app: FastAPI, engine: Engine, clock: FixedClock, caller: str
) -> None:
    call, _ = dial_in(app, caller)
    to_pincode(call, "2")
    call.press("193101")  # Sheeri, in Baramulla: the one village with that PIN code
    call.press("1")
    call.press("1")  # no landmark
    assert step(call) == "offer"
    said = call.said
    offer = heard(call)
    earliest = offers_of(engine, call)[0]
    window = ENGLISH.window(earliest.start, earliest.end, now=clock.now())
    first = said.index(f"The earliest visit is {window}.")
    fee = said.index("The fee is 50 rupees.")
    assert "Pay the agent at your door, in cash or by UPI, and take a receipt." in offer
    book = said.index("To book this visit, press 1.")
    assert first < fee < book  # the fee before the key that agrees to it, in one turn
    assert "For other times, press 2." in said and "To talk to a person, press 0." in said
    call.press("1")
    assert step(call) == "confirmation"
    request = request_of(engine, call)
    assert session_of(engine, call).status is CallStatus.BOOKED
    assert ":offer:" in (request.idempotency_key or "")
    assert (request.idempotency_key or "").startswith(f"ivr:{call.call_sid}:offer:")
    assert request.status in {RequestStatus.SCHEDULED, RequestStatus.ASSIGNED}
    assert request.window_start == earliest.start and request.window_end == earliest.end
    assert village_of(engine, request) == "Sheeri"


def _prompts_outside_a_gather(xml: str) -> list[str]:
    """Tags of prompts said directly under <Response> before a <Gather> (should be none)."""
    root = ET.fromstring(xml)
    children = list(root)
    gathers = [i for i, el in enumerate(children) if el.tag == "Gather"]
    if not gathers:
        return []
    return [el.tag for el in children[: gathers[-1]] if el.tag in {"Say", "Play", "Pause"}]


def test_every_prompt_before_a_question_is_inside_its_gather(app: FastAPI, caller: str) -> None:
    call, line = dial_in(app, caller)
    to_pincode(call, "2")
    call.press("190003")
    call.press("1")
    call.say("near the Jamia Masjid")
    assert step(call) == "offer"
    offer_turn = ET.fromstring(line.answers[-1])
    assert [el.tag for el in offer_turn] == ["Gather"]  # nothing said outside it
    inside = [el.text or "" for el in offer_turn[0] if el.tag == "Say"]
    assert inside[0] == "The address is Rainawari, landmark: near the Jamia Masjid."
    assert any(text.startswith("The earliest visit is") for text in inside)
    assert any(text.startswith("The fee is") for text in inside)
    call.press("1")
    for xml in line.answers:  # and so on every turn of the call
        assert _prompts_outside_a_gather(xml) == [], xml


# --- review fixes (b7edd80): the PIN question, "haan", the main menu key, statuses ------------


@pytest.mark.parametrize("answer", ["silence", "hash"])
def test_silence_at_the_pin_code_goes_straight_to_the_district_menu(
    app: FastAPI, caller: str, answer: str
) -> None:
    """A caller without a PIN code (or who keys # alone: Twilio then posts no digits) is not
    asked again: the district menu finds the place by keys."""
    call, _ = dial_in(app, caller)
    to_pincode(call, "2")
    if answer == "silence":
        call.silence()
    else:
        call.press("")  # "#" is the Gather's finishOnKey: it ends the input with no digits
    said = heard(call)
    assert step(call) == "district"
    assert said.startswith("Which is your district? Say its name, or choose from the list.")
    assert "Sorry" not in said and "Key in the 6-digit PIN code" not in said
    assert re.search(r"For [A-Z][a-z]+, press 1\.", said) and "For more choices, press 9." in said


@pytest.mark.parametrize(
    ("language_key", "spoken"),
    [
        ("2", "one nine zero zero zero three"),
        ("2", "190003"),
        ("2", "1 9 0 0 0 3"),
        ("1", "१९०००३"),  # Devanagari digits
        ("1", "एक नौ शून्य शून्य शून्य तीन"),
        ("3", "ایک نو صفر صفر صفر تین"),
    ],
)
def test_a_pin_code_said_aloud_is_taken_as_the_pin_code(
    app: FastAPI, engine: Engine, caller: str, language_key: str, spoken: str
) -> None:
    call, _ = dial_in(app, caller)
    to_pincode(call, language_key)
    call.say(spoken)
    assert step(call) == "pin_village"  # Rainawari's PIN code: Srinagar, its one village
    said = heard(call)
    assert {
        "1": "यह पिन कोड श्रीनगर का है।",
        "2": "That PIN code is in Srinagar.",
        "3": "یہ پن کوڈ سرینگر کا ہے۔",
    }[language_key] in said
    call.press("1")
    call.press("1")  # no landmark
    call.press("1")
    assert step(call) == "confirmation"
    assert village_of(engine, request_of(engine, call)) == "Rainawari"


def test_a_short_number_said_aloud_is_a_malformed_pin_code(app: FastAPI, caller: str) -> None:
    call, _ = dial_in(app, caller)
    to_pincode(call, "2")
    call.say("one nine zero")
    assert heard(call).startswith("That does not look like a PIN code.")
    assert step(call) == "pincode"


@pytest.mark.parametrize(
    ("language_key", "spoken"),
    [
        ("2", "I don't know my PIN code"),
        ("2", "I do not know"),
        ("1", "मुझे पिन कोड नहीं पता"),
        ("1", "pin code pata nahi"),
        ("3", "مجھے پن کوڈ معلوم نہیں"),
    ],
)
def test_a_caller_who_does_not_know_the_pin_code_gets_the_district_menu(
    app: FastAPI, caller: str, language_key: str, spoken: str
) -> None:
    call, _ = dial_in(app, caller)
    to_pincode(call, language_key)
    call.say(spoken)
    assert step(call) == "district"
    said = heard(call)
    for not_found in (
        "Sorry, I could not find that district.",
        "यह ज़िला नहीं मिला",
        "یہ ضلع نہیں ملا",
    ):
        assert not_found not in said  # not taken for a district name that was not found
    assert call.gather is not None and call.gather["input"] == "dtmf speech"


def test_a_district_heard_is_confirmed_by_one_key(app: FastAPI, caller: str) -> None:
    """1 goes on to the district's blocks; 2 to the district menu; anything else asks again."""
    call, _ = dial_in(app, caller)
    to_pincode(call, "2")
    call.say("Anantnag")
    assert step(call) == "district_heard"
    assert heard(call) == "Anantnag: is that right? Press 1 for yes, or 2 for no."
    assert call.gather is not None and call.gather["input"] == "dtmf"  # keys only
    call.press("5")
    assert heard(call).startswith("Sorry, that is not one of the choices.")
    assert "Anantnag: is that right?" in heard(call) and step(call) == "district_heard"
    call.press("1")
    assert step(call) == "block"
    assert "Which is your block or tehsil in Anantnag?" in heard(call)
    wrong, _ = dial_in(app, caller)
    to_pincode(wrong, "2")
    wrong.say("Islamabad")  # Anantnag's other name: but the caller meant another district
    assert "Anantnag: is that right?" in heard(wrong)
    wrong.press("2")
    assert step(wrong) == "district"
    assert heard(wrong).startswith("Which is your district? Say its name, or choose from the list.")
    first = re.findall(r"For ([^.]+?), press 1\.", heard(wrong))[0]  # menus follow demand
    wrong.press("1")  # a district chosen by key: its blocks, with no second question
    assert step(wrong) == "block"
    assert f"Which is your block or tehsil in {first}?" in heard(wrong)


@pytest.mark.parametrize(
    ("language_key", "acknowledgements"),
    [
        ("2", ["haan", "ok", "yes"]),
        ("1", ["हाँ जी", "ठीक है", "जी"]),
        ("3", ["جی ہاں", "ہاں", "جی"]),
    ],
)
def test_haan_over_the_pin_question_asks_it_again_without_counting_a_retry(
    app: FastAPI, caller: str, language_key: str, acknowledgements: list[str]
) -> None:
    call, _ = dial_in(app, caller)
    to_pincode(call, language_key)
    question = heard(call).split(" ")[-6:]  # the end of the PIN question, as first asked
    for said in acknowledgements:  # three in a row: more than the retries a caller gets
        call.say(said)
        assert step(call) == "pincode" and not call.queued
        assert heard(call).split(" ")[-6:] == question
        assert len(call.said) == 1  # the question again, with no apology before it
    # Nothing was counted: two wrong answers are still only asked again, the third a person.
    for _ in range(2):
        call.press("12")
        assert step(call) == "pincode" and not call.queued
    call.press("12")
    assert call.queued


def test_haan_at_the_landmark_is_not_taken_for_a_landmark(
    app: FastAPI, engine: Engine, caller: str
) -> None:
    call, _ = dial_in(app, caller)
    to_pincode(call, "1")
    call.press("190003")
    call.press("1")
    assert step(call) == "landmark"
    call.say("हाँ जी")
    assert step(call) == "landmark" and "पहचान न बतानी हो तो 1 दबाएँ।" in heard(call)
    call.press("1")  # no landmark
    assert heard(call).startswith("आपका पता: रैनावारी।")
    call.press("1")
    with read_session(engine) as session:
        address = citizen_service.get_address(
            session=session, address_id=request_of(engine, call).address_id
        )
    assert address.landmark == ""


def test_the_documents_are_told_with_the_confirmation(
    app: FastAPI, engine: Engine, caller: str
) -> None:
    call, _ = dial_in(app, caller)
    call.dial()
    for key in ("2", "1", "2"):  # English, a doorstep visit, Income Certificate
        call.press(key)
    assert heard(call).startswith("You chose Income Certificate.")
    assert "documents" not in heard(call)
    call.press("190003")
    call.press("1")
    call.press("1")  # no landmark
    assert "documents" not in heard(call)  # nor with the offer
    call.press("1")
    said = call.said
    assert step(call) == "confirmation"
    documents = said.index(
        "Keep these documents ready for the agent: Aadhaar card, Ration card, Salary slip or "
        "self-declaration of income and Passport photo."
    )
    fee = next(i for i, s in enumerate(said) if s.startswith("Please pay 50 rupees"))
    sms = said.index("We are also sending you all this by SMS.")
    assert said.index("Your visit is booked.") < fee < documents < sms
    call.press("1")  # heard again: the documents too
    assert any(s.startswith("Keep these documents ready") for s in call.said)


# --- a returning caller: the main menu key, statuses, informed or abandoned -------------------


def test_the_change_menu_offers_the_main_menu_with_8(
    app: FastAPI, engine: Engine, clock: FixedClock
) -> None:
    request, owner = booked_owner(engine, clock)
    call, _ = dial_in(app, owner)
    call.dial()
    assert step(call) == "change_menu"
    said = call.said
    assert said.index("नई सेवा के लिए 9 दबाएँ।") < said.index("मुख्य मेनू के लिए 8 दबाएँ।")
    assert said.index("मुख्य मेनू के लिए 8 दबाएँ।") < said.index("हमारे सहायक से बात करने के लिए 0 दबाएँ।")
    call.press("8")
    assert step(call) == "main_menu"
    assert "घर पर सेवा के लिए 1 दबाएँ।" in heard(call)
    call.press("1")
    assert step(call) == "service_menu"  # a new visit from the main menu
    with read_session(engine) as session:
        same = request_service.get(session=session, request_id=request.id or 0)
    assert same.status is request.status and same.window_start == request.window_start


def _open_requests(
    engine: Engine, clock: FixedClock, codes: list[str], *, booked: str | None = None
) -> tuple[str, WindowOffer | None]:
    """An English-speaking citizen with a logged request for each service code (the first
    the oldest), and if `booked`, a newest one for that service booked into the earliest
    window; returns their phone and that window."""
    with write_session(engine) as session:
        person = factories.citizen(session, district_code="ANT", language="en")
        address = citizen_service.last_address(session=session, citizen_id=person.id or 0)
        assert person.id is not None and address is not None and address.id is not None
        made = [(code, False) for code in codes]
        if booked is not None:
            made.append((booked, True))
        offer = None
        for n, (code, with_window) in enumerate(made):
            service = factories.service(session, code)
            if with_window:
                offer = planning_service.offer_windows(
                    session=session,
                    settings=factories.SETTINGS,
                    address_id=address.id,
                    service_id=service.id or 0,
                    language="en",
                    now=clock.now(),
                )[0]
            visits.book_visit(
                session=session,
                settings=factories.SETTINGS,
                idempotency_key=f"test:{person.phone}:{n}",
                actor="test",
                channel=Channel.CONSOLE,
                state_code="JK",
                citizen_id=person.id,
                address_id=address.id,
                service_id=service.id or 0,
                offer=offer if with_window else None,
                now=clock.now() - dt.timedelta(hours=len(made) - n),
            )
        return person.phone, offer


def test_several_open_requests_are_told_with_their_status_and_the_call_is_informed(
    app: FastAPI, engine: Engine, clock: FixedClock
) -> None:
    """The newest three are told before the list; two of one service are told apart in it by
    their status and time; hanging up after hearing them is not abandoning the call."""
    owner, offer = _open_requests(
        engine, clock, ["BIRTH_CERT", "DOMICILE_CERT", "INCOME_CERT"], booked="INCOME_CERT"
    )
    assert offer is not None
    call, _ = dial_in(app, owner)
    call.dial()
    said = call.said
    assert step(call) == "open_requests"
    logged = "it is logged, and a visit time is still to be fixed"
    assert said[:2] == [
        "Hello Test Citizen, welcome back to DigiDost.",
        "You have 4 open requests.",
    ]
    newest = said[2]
    assert newest.startswith("Your request for Income Certificate: ")
    window = ENGLISH.window(offer.start, offer.end, now=clock.now())
    assert newest.endswith(f", {window}.") and logged not in newest  # booked: with its time
    assert said[3:5] == [
        f"Your request for Income Certificate: {logged}.",
        f"Your request for Domicile Certificate: {logged}.",
    ]
    assert not any("Birth Certificate:" in s for s in said)  # only the newest three told
    status = newest.removeprefix("Your request for Income Certificate: ").removesuffix(".")
    assert said[5:9] == [
        f"For Income Certificate, {status}, press 1.",
        f"For Income Certificate, {logged}, press 2.",
        "For Domicile Certificate, press 3.",
        "For Birth Certificate, press 4.",
    ]
    assert said[9:] == [
        "For a new visit, press 9.",
        "For the main menu, press 8.",
        "For another request, by its reference number, press 7.",
        "To talk to a person, press 0.",
    ]
    assert session_of(engine, call).status is CallStatus.INFORMED
    call.hangup()
    assert session_of(engine, call).status is CallStatus.INFORMED


def test_open_requests_list_at_most_six_8_is_the_main_menu_and_7_a_reference(
    app: FastAPI, engine: Engine, clock: FixedClock
) -> None:
    codes = [
        "DOMICILE_CERT",
        "INCOME_CERT",
        "OLD_AGE_PENSION",
        "AYUSHMAN_CARD",
        "BIRTH_CERT",
        "WIDOW_PENSION",
        "RBA_CERT",
        "ST_CERT",
    ]
    owner, _ = _open_requests(engine, clock, codes)
    call, _ = dial_in(app, owner)
    call.dial()
    said = heard(call)
    assert "You have 8 open requests." in said
    listed = re.findall(r"For ([^.]+?), press ([1-9])\.", said)
    assert [key for _, key in listed] == ["1", "2", "3", "4", "5", "6", "9", "8", "7"]
    assert "For Domicile Certificate" not in said and "For Income Certificate" not in said
    assert "For the main menu, press 8." in said
    assert "For more choices" not in said
    call.press("8")
    assert step(call) == "main_menu"
    assert "For a doorstep visit, press 1. For a request you already made, press 2." in heard(call)
    call.press("2")  # their own requests again, listed (not told again), no reference asked
    assert step(call) == "open_requests" and "You have" not in heard(call)
    call.press("7")  # the oldest two are still found by their reference
    assert step(call) == "reference"


@pytest.mark.parametrize("key", ["1", "2", "9"])
def test_a_caller_who_starts_a_change_and_hangs_up_abandons_the_call(
    app: FastAPI, engine: Engine, clock: FixedClock, key: str
) -> None:
    """1 (a new time), 2 (cancel) and 9 (a new visit) start something: hanging up before it
    is done is abandoning, though the status was heard."""
    request, owner = booked_owner(engine, clock)
    call, _ = dial_in(app, owner)
    call.dial()
    assert session_of(engine, call).status is CallStatus.INFORMED
    call.press(key)
    assert step(call) == {"1": "move_offer", "2": "cancel_confirm", "9": "service_menu"}[key]
    assert session_of(engine, call).status is CallStatus.ACTIVE
    call.hangup()
    assert session_of(engine, call).status is CallStatus.ABANDONED
    with read_session(engine) as session:
        same = request_service.get(session=session, request_id=request.id or 0)
    assert same.status is request.status and same.window_start == request.window_start


def test_new_visit_from_several_open_requests_then_hang_up_abandons(
    app: FastAPI, engine: Engine, clock: FixedClock
) -> None:
    owner, _ = _open_requests(engine, clock, ["DOMICILE_CERT", "INCOME_CERT"])
    call, _ = dial_in(app, owner)
    call.dial()
    assert session_of(engine, call).status is CallStatus.INFORMED
    call.press("9")
    assert step(call) == "service_menu"
    call.hangup()
    assert session_of(engine, call).status is CallStatus.ABANDONED


def test_not_cancelling_after_all_leaves_the_call_informed(
    app: FastAPI, engine: Engine, clock: FixedClock
) -> None:
    request, owner = booked_owner(engine, clock)
    call, _ = dial_in(app, owner)
    call.dial()
    call.press("2")
    assert session_of(engine, call).status is CallStatus.ACTIVE
    call.press("2")  # do not cancel
    assert heard(call).startswith("ठीक है, अनुरोध रद्द नहीं किया गया।")
    assert step(call) == "after_status"
    assert session_of(engine, call).status is CallStatus.INFORMED
    call.hangup()
    assert session_of(engine, call).status is CallStatus.INFORMED
    with read_session(engine) as session:
        same = request_service.get(session=session, request_id=request.id or 0)
    assert same.status is request.status


def test_a_caller_who_goes_from_the_status_to_the_main_menu_and_books_is_acting_again(
    app: FastAPI, engine: Engine, clock: FixedClock
) -> None:
    """8 (the main menu) after the status, then 1 (a visit): hanging up half-way through that
    booking abandons the call, as it would from 9."""
    _, owner = booked_owner(engine, clock)
    call, _ = dial_in(app, owner)
    call.dial()
    call.press("8")
    assert session_of(engine, call).status is CallStatus.INFORMED  # only looking, so far
    call.press("1")
    assert step(call) == "service_menu"
    call.hangup()
    assert session_of(engine, call).status is CallStatus.ABANDONED


@pytest.mark.parametrize(
    ("spoken", "digits"),
    [
        ("my pin code is one nine zero zero zero three", "190003"),
        ("one nine double zero zero three", "190003"),
        ("१९०००३", "190003"),
        ("triple five", "555"),  # a number, if not a PIN code: asked again
        ("mera pata Srinagar hai", ""),  # "pata" is also "address": a district, not a number
        ("I live in ward 12", ""),
    ],
)
def test_a_number_said_aloud(spoken: str, digits: str) -> None:
    assert location.spoken_number(spoken) == digits


def test_my_address_is_srinagar_in_hinglish_is_a_district(app: FastAPI, caller: str) -> None:
    call, _ = dial_in(app, caller)
    to_pincode(call, "2")
    call.say("mera pata Srinagar hai")
    assert step(call) == "district_heard" and heard(call).startswith("Srinagar: is that right?")


def test_two_logged_requests_for_one_service_are_told_apart_by_their_references(
    app: FastAPI, engine: Engine, clock: FixedClock
) -> None:
    owner, _ = _open_requests(engine, clock, ["INCOME_CERT", "INCOME_CERT"])
    call, _ = dial_in(app, owner)
    call.dial()
    assert step(call) == "open_requests"
    options = re.findall(r"For ([^.]+?), press [12]\.", heard(call))
    assert len(options) == 2 and options[0] != options[1]
    assert all(o.startswith("Income Certificate, ") and "reference ending" in o for o in options)


# --- a caller with keys only, and other ways out --------------------------------------------


def test_a_keys_only_caller_without_a_pin_code_reaches_their_village_by_menus(
    app: FastAPI, engine: Engine, caller: str
) -> None:
    """Silence at the PIN code, keys through district and block, silence at the village
    question: the block's villages as a menu, then the booking goes on."""
    call, _ = dial_in(app, caller)
    to_pincode(call, "2")
    call.silence()
    assert step(call) == "district"
    call.press("1")
    assert step(call) == "block"
    call.press("1")
    assert step(call) == "village"
    call.silence()
    assert step(call) == "village_menu" and "Choose your village." in heard(call)
    call.press("1")
    assert step(call) == "landmark"


def test_a_village_not_in_the_pin_codes_list_is_found_in_its_block(
    app: FastAPI, caller: str
) -> None:
    call, _ = dial_in(app, caller)
    to_pincode(call, "2")
    call.press("190003")  # Rainawari alone: the caller lives in another part of the block
    assert "If your village is not in this list, press 8." in heard(call)
    call.press("8")
    assert step(call) == "village_menu"
    assert "For Rainawari, press" in heard(call)  # the whole block now
    assert len(re.findall(r"press [1-8]\.", heard(call))) > 2


@pytest.mark.parametrize("said", ["one", "एक", "1"])
def test_a_key_said_aloud_is_that_key(app: FastAPI, engine: Engine, caller: str, said: str) -> None:
    call, _ = dial_in(app, caller)
    to_pincode(call, "2")
    call.press("190003")
    call.say(said)  # "one" for "For Rainawari, press 1"
    assert step(call) == "landmark"
    call.press("1")
    assert "The address is Rainawari." in heard(call)


@pytest.mark.parametrize("keys", [["1", "8"], ["1", "2", "8"]])
def test_a_caller_who_would_change_the_time_may_keep_it_after_all(
    app: FastAPI, engine: Engine, clock: FixedClock, keys: list[str]
) -> None:
    """8 at the earliest new time, or at the other times: the visit keeps its time, the
    caller hears it again, and the call counts as informed."""
    request, owner = booked_owner(engine, clock)
    call, _ = dial_in(app, owner)
    call.dial()
    for key in keys[:-1]:
        call.press(key)
    assert "पहले वाला समय ही रखना हो तो 8 दबाएँ।" in heard(call)
    call.press(keys[-1])
    assert step(call) == "after_status"
    assert window_words(request, clock) in heard(call)
    assert session_of(engine, call).status is CallStatus.INFORMED
    with read_session(engine) as session:
        same = request_service.get(session=session, request_id=request.id or 0)
    assert same.window_start == request.window_start and same.version == request.version

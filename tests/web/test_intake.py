"""The console's intake (`/intake`): each step's template and context, the type-ahead, the
pickers, windows from the same planning service as the phone line, the booking through the
use case (console channel, the agent as actor, the SMS queued), a form posted twice booking
once, a window taken meanwhile, and who may open it. Every test runs on SQLite and PostgreSQL
through `create_app()` with a fixed clock, on a day and in a district no other test books."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi import FastAPI
from httpx import Response
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from dispatch.audit import service as audit
from dispatch.audit.models import AuditEntry
from dispatch.calls import queue as callback_queue
from dispatch.calls import service as call_service
from dispatch.calls.models import Callback, CallbackReason, CallStatus
from dispatch.catalogue import service as catalogue_service
from dispatch.citizens import service as citizen_service
from dispatch.db import read_session, write_session
from dispatch.geography import service as geography_service
from dispatch.notifications import service as notification_service
from dispatch.planning import service as planning_service
from dispatch.requests import service as request_service
from dispatch.requests.models import DoorstepRequest
from dispatch.requests.rules import PLANNED, Channel
from dispatch.staff.rules import Role
from dispatch.validation import mask_phone
from dispatch.visits.models import VisitCommand
from tests import factories
from tests.conftest import unique_phone
from tests.console import Console, signed_in
from tests.ivr.conftest import FixedClock

IST = ZoneInfo("Asia/Kolkata")
#: 07:30 on a Monday no other test books on; Bandipora's plans are this module's alone.
MONDAY = dt.datetime(2032, 3, 1, 7, 30, tzinfo=IST)
DISTRICT = "BDP"


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(MONDAY)


@pytest.fixture
def agent(app: FastAPI, engine: Engine) -> Console:
    return signed_in(app, engine, Role.CALL_AGENT)


@dataclass(frozen=True)
class Known:
    citizen_id: int
    phone: str
    address_id: int
    village_id: int


def _known(engine: Engine) -> Known:
    """A citizen of Bandipora with one address (committed: the app reads it)."""
    with write_session(engine) as session:
        person = factories.citizen(session, district_code=DISTRICT)
        assert person.id is not None
        address = citizen_service.addresses(session=session, citizen_id=person.id)[0]
        assert address.id is not None
        return Known(person.id, person.phone, address.id, address.village_id)


def _service_id(engine: Engine, code: str = "INCOME_CERT") -> int:
    with read_session(engine) as session:
        service = catalogue_service.get_by_code(session=session, state_code="JK", code=code)
        assert service.id is not None
        return service.id


def _page(response: Response) -> Any:
    return response.context["p"]  # type: ignore[attr-defined]


def _template(response: Response) -> str:
    name: str = response.template.name  # type: ignore[attr-defined]
    return name


def _form(agent: Console, known: Known, engine: Engine, **extra: Any) -> dict[str, Any]:
    """Steps 1-3 as a call agent fills them for a known caller: their phone, an income
    certificate, their address; with the key the page made."""
    key = _page(agent.get("/intake")).form.key
    return {
        "key": key,
        "phone": known.phone,
        "language": "hi",
        "service_q": "income",
        "suggested_for": "income",
        "service_id": _service_id(engine),
        "address": str(known.address_id),
        **extra,
    }


def _windows(agent: Console, data: dict[str, Any]) -> Response:
    response = agent.submit("/intake/windows", data)
    assert response.status_code == 200, response.text
    return response


def _confirm_data(data: dict[str, Any], windows: Response, choice: int = 0) -> dict[str, Any]:
    """The form as it comes back from "Show windows", with a window chosen."""
    page = _page(windows)
    return {
        **data,
        "address": page.form.address,
        "windows_for": page.form.windows_for,
        "offer": page.offers[choice].value,
    }


# --- the page and who may open it -------------------------------------------------------------


def test_the_page_is_one_labelled_form_with_a_fresh_key(agent: Console) -> None:
    response = agent.get("/intake")
    assert response.status_code == 200 and _template(response) == "intake/page.html"
    page = _page(response)
    assert len(page.form.key) == 32 and page.result is None and page.offers == []
    assert page.suggestions and page.form.service_id is None  # the most requested, unchosen
    html = response.text
    for field in ("phone", "reference", "language", "service_q", "district_id", "landmark"):
        assert f'<label for="{field}">' in html and f'id="{field}"' in html
    assert 'name="csrftoken"' in html and f'name="key" value="{page.form.key}"' in html
    # Enter in a field presses the form's first button: "Show windows" until they are shown.
    default = html[html.index('class="default-action"') :]
    assert default.index('formaction="/intake/windows"') < default.index("</button>")
    assert _page(agent.get("/intake")).form.key != page.form.key


def test_a_dispatcher_is_refused_and_nobody_gets_in_without_signing_in(
    app: FastAPI, engine: Engine
) -> None:
    dispatcher = signed_in(app, engine, Role.DISPATCHER)
    for method, url in [
        ("GET", "/intake"),
        ("GET", "/intake/services?service_q=inc"),
        ("GET", "/intake/blocks?district_id=1"),
        ("POST", "/intake/citizen"),
        ("POST", "/intake/windows"),
        ("POST", "/intake/book"),
    ]:
        if method == "GET":
            response = dispatcher.get(url)
        else:
            response = dispatcher.submit(url, {"phone": "9876543210"})
        assert response.status_code == 403, (method, url)
    anonymous = Console(app, follow_redirects=False, headers={"accept": "text/html"})
    response = anonymous.get("/intake?callback=7")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Fintake%3Fcallback%3D7"
    assert anonymous.submit("/intake/book", {"key": "x"}).status_code == 303


# --- step 1: the caller -----------------------------------------------------------------------


def test_a_known_caller_shows_with_addresses_and_open_requests(
    agent: Console, engine: Engine
) -> None:
    with write_session(engine) as session:
        logged = factories.request(session, district_code=DISTRICT)  # open, no window yet
        citizen = citizen_service.get(session=session, citizen_id=logged.citizen_id)
        known = Known(citizen.id or 0, citizen.phone, logged.address_id, 0)
        reference, request_id = logged.reference, logged.id
    response = agent.htmx("POST", "/intake/citizen", data={"phone": known.phone[3:]})
    assert _template(response) == "intake/_citizen_lookup.html"
    caller = _page(response).caller
    assert caller.citizen.id == known.citizen_id and caller.phone == known.phone
    assert [a.id for a in caller.addresses] == [known.address_id]
    assert [(r.reference, r.status) for r in caller.open_requests] == [(reference, "logged")]
    html = response.text
    assert f'href="/requests/{request_id}"' in html
    assert 'id="known-addresses" class="choices" hx-swap-oob="true"' in html
    assert f'value="{known.address_id}" checked' in html  # their address is the default


def test_a_reference_finds_the_caller_and_fills_in_their_phone(
    agent: Console, engine: Engine
) -> None:
    with write_session(engine) as session:
        request = factories.request(session, district_code=DISTRICT)
        reference, citizen_id = request.reference, request.citizen_id
    typed = reference.removeprefix("JK-").replace("-", " ")
    response = agent.htmx("POST", "/intake/citizen", data={"reference": typed})
    page = _page(response)
    assert page.caller.citizen.id == citizen_id and page.caller.found_by_reference
    assert 'id="phone"' in response.text and 'hx-swap-oob="true"' in response.text
    assert f'value="{page.caller.phone}"' in response.text


def test_an_unknown_number_asks_for_a_name_a_wrong_one_says_so(agent: Console) -> None:
    response = agent.htmx("POST", "/intake/citizen", data={"phone": unique_phone()})
    assert _page(response).caller.citizen is None
    assert 'id="name"' in response.text and "New caller" in response.text
    still_typing = _page(agent.htmx("POST", "/intake/citizen", data={"phone": "98765"}))
    assert still_typing.caller.error == "" and still_typing.caller.phone == ""
    wrong = _page(agent.htmx("POST", "/intake/citizen", data={"phone": "5555555555"}))
    assert "Not a valid phone number" in wrong.caller.error


# --- step 2: the service type-ahead -----------------------------------------------------------


@pytest.mark.parametrize("typed", ["income cer", "आय प्रमाण", "aay praman patra"])
def test_the_type_ahead_finds_by_english_hindi_and_alias(agent: Console, typed: str) -> None:
    response = agent.get("/intake/services", params={"service_q": typed, "language": "en"})
    assert _template(response) == "intake/_services.html"
    page = _page(response)
    best = page.suggestions[0].service
    assert best.code == "INCOME_CERT" and page.form.service_id == best.id  # chosen
    html = response.text
    assert f'value="{best.id}" checked' in html
    assert "₹50" in html and "legal limit 15 days" in html
    assert "Documents: Aadhaar card; Ration card" in html
    assert f'name="suggested_for" value="{typed}"' in html
    if typed == "aay praman patra":
        assert "“aay praman patra”" in html  # the alias that matched is shown


# --- step 3: the pickers ----------------------------------------------------------------------


def test_the_pickers_list_a_districts_blocks_and_a_blocks_villages(
    agent: Console, engine: Engine
) -> None:
    with read_session(engine) as session:
        district = geography_service.get_district_by_code(session=session, code=DISTRICT)
        assert district.id is not None
        blocks = geography_service.blocks(session=session, district_id=district.id)
        assert blocks[0].id is not None
        villages = geography_service.villages(session=session, block_id=blocks[0].id)
    response = agent.get("/intake/blocks", params={"district_id": district.id})
    assert _template(response) == "intake/_blocks_and_villages.html"
    assert [b.id for b in _page(response).blocks] == [b.id for b in blocks]
    assert _page(response).villages == []
    response = agent.get(
        "/intake/villages", params={"district_id": district.id, "block_id": blocks[0].id}
    )
    assert _template(response) == "intake/_villages.html"
    assert [v.id for v in _page(response).villages] == [v.id for v in villages]
    assert all(f'<option value="{v.id}">' in response.text for v in villages)


# --- a call-back or transfer opens it pre-filled ----------------------------------------------


def _callback_for(engine: Engine, known: Known, *, service: str = "BIRTH_CERT") -> int:
    """An open call-back as the phone line leaves it for a known caller (committed)."""
    with write_session(engine) as session:
        callback = Callback(
            state_code="JK",
            call_sid=f"CA{uuid.uuid4().hex}",
            phone=known.phone,
            citizen_id=known.citizen_id,
            language="ur",
            reason=CallbackReason.NO_WINDOW,
            service_id=_service_id(engine, service),
            address_id=known.address_id,
        )
        session.add(callback)
        session.flush()
        assert callback.id is not None
        return callback.id


def _transfer(engine: Engine, *, from_number: str, **choices: Any) -> int:
    """A caller the phone line put through to a person, with what they chose (committed)."""
    with write_session(engine) as session:
        call = call_service.start(
            session=session,
            call_sid=f"CA{uuid.uuid4().hex}",
            state_code="JK",
            from_number=from_number,
            to_number="1447",
            language="en",
        )
        call_service.advance(session=session, call=call, step="queue", data=choices)
        call_service.settle(session=session, call=call, status=CallStatus.TRANSFERRED)
        assert call.id is not None
        return call.id


def test_a_link_prefills_service_village_and_language_never_a_phone(
    agent: Console, engine: Engine
) -> None:
    """A number in a URL would stay in the access log: the page does not take one from there."""
    known = _known(engine)
    query = {"phone": known.phone, "service": "income_cert", "village": known.village_id}
    response = agent.get("/intake", params={**query, "language": "en"})
    page = _page(response)
    assert page.form.phone == "" and page.caller.citizen is None
    assert page.form.service_id == _service_id(engine) and page.form.language == "en"
    assert page.form.village_id == known.village_id and page.form.block_id is not None
    assert page.form.address == "new"
    assert known.phone not in response.text


def test_a_caller_on_the_line_prefills_what_they_gave_the_phone_line(
    agent: Console, engine: Engine
) -> None:
    known = _known(engine)
    service_id = _service_id(engine, "BIRTH_CERT")
    call_id = _transfer(
        engine, from_number=known.phone, service_id=service_id, village_id=known.village_id
    )
    response = agent.get("/intake", params={"call": call_id})
    page = _page(response)
    assert page.form.phone == known.phone and page.caller.citizen.id == known.citizen_id
    assert page.form.language == "en" and page.form.service_id == service_id
    assert page.form.address == str(known.address_id)  # their own address in that village
    assert page.from_call.found and 'id="call-note"' in response.text
    assert 'name="call"' not in response.text  # only the link names the call
    # Caller ID withheld: the number they keyed in.
    typed = unique_phone()
    withheld = _transfer(engine, from_number="anonymous", phone=typed)
    assert _page(agent.get("/intake", params={"call": withheld})).form.phone == typed


def test_a_call_not_put_through_to_a_person_fills_nothing(agent: Console, engine: Engine) -> None:
    known = _known(engine)
    with write_session(engine) as session:
        call = call_service.start(
            session=session,
            call_sid=f"CA{uuid.uuid4().hex}",
            state_code="JK",
            from_number=known.phone,
            to_number="1447",
            language="en",
        )
        call_id = call.id
    for missing in (call_id, 10**9):
        response = agent.get("/intake", params={"call": missing})
        page = _page(response)
        assert response.status_code == 200 and not page.from_call.found
        assert page.form.phone == "" and known.phone not in response.text


def test_a_callback_prefills_its_number_only_for_its_holder(
    app: FastAPI, agent: Console, engine: Engine
) -> None:
    known = _known(engine)
    callback_id = _callback_for(engine, known)
    birth = _service_id(engine, "BIRTH_CERT")

    unclaimed = agent.get("/intake", params={"callback": callback_id})
    page = _page(unclaimed)
    assert page.form.phone == "" and not page.from_callback.mine
    assert page.form.language == "ur" and page.form.service_id == birth
    assert page.form.village_id == known.village_id  # the place, not the caller's address
    assert known.phone not in unclaimed.text and "is not claimed" in unclaimed.text
    assert mask_phone(known.phone) in unclaimed.text

    assert agent.submit(f"/callbacks/{callback_id}/claim").status_code == 303
    mine = agent.get("/intake", params={"callback": callback_id})
    page = _page(mine)
    assert page.form.phone == known.phone and page.caller.citizen.id == known.citizen_id
    assert page.form.language == "ur" and page.form.service_id == birth
    assert page.form.address == str(known.address_id) and page.from_callback.mine
    assert f'name="callback" value="{callback_id}"' in mine.text
    assert "(yours)" in mine.text and "closes it as booked" in mine.text

    other = signed_in(app, engine, Role.CALL_AGENT)
    theirs = other.get("/intake", params={"callback": callback_id})
    page = _page(theirs)
    assert page.form.phone == "" and page.caller.citizen is None
    assert page.form.service_id == birth and page.form.village_id == known.village_id
    assert f"is claimed by {agent.user.username}" in theirs.text
    assert known.phone not in theirs.text and mask_phone(known.phone) in theirs.text


# --- a booking for a call-back closes it --------------------------------------------------------


def _book_for_callback(agent: Console, engine: Engine, known: Known, callback_id: int) -> Any:
    """Steps 1-4 for the call-back's caller, the form carrying the call-back: the form to post."""
    data = _form(agent, known, engine, callback=callback_id)
    return _confirm_data(data, _windows(agent, data))


def test_a_booking_from_a_callback_closes_it_as_booked_once(agent: Console, engine: Engine) -> None:
    known = _known(engine)
    callback_id = _callback_for(engine, known)
    agent.submit(f"/callbacks/{callback_id}/claim")
    booking = _book_for_callback(agent, engine, known, callback_id)
    first = agent.submit("/intake/book", booking)
    assert first.status_code == 200, first.text
    result, closing = _page(first).result, _page(first).callback_closing
    assert closing.closed and closing.message == (
        f"Call-back #{callback_id} closed as booked ({result.reference})."
    )
    assert 'id="result-callback"' in first.text and "closed as booked" in first.text
    again = agent.submit("/intake/book", booking)  # a double click, a browser retry
    assert again.status_code == 200 and _page(again).result.replayed
    assert _page(again).callback_closing.closed
    actor = f"staff:{agent.user.username}"
    with read_session(engine) as session:
        closed = callback_queue.get_callback(session=session, callback_id=callback_id)
        history = audit.history(session=session, entity="callback", entity_id=callback_id)
    assert (closed.status, closed.outcome, closed.done_by) == ("done", "booked", actor)
    assert closed.note == result.reference
    assert [(e.actor, e.action) for e in history] == [(actor, "claimed"), (actor, "closed")]


def test_a_callback_held_by_another_agent_stays_open_and_the_booking_stands(
    app: FastAPI, agent: Console, engine: Engine
) -> None:
    known = _known(engine)
    callback_id = _callback_for(engine, known)
    holder = signed_in(app, engine, Role.CALL_AGENT)
    holder.submit(f"/callbacks/{callback_id}/claim")
    booking = _book_for_callback(agent, engine, known, callback_id)
    booking["phone"] = known.phone  # typed by the agent: the page did not fill it in for them
    response = agent.submit("/intake/book", booking)
    assert response.status_code == 200, response.text
    result, closing = _page(response).result, _page(response).callback_closing
    assert result is not None and not closing.closed
    assert f"claimed by {holder.user.username}" in closing.message
    assert 'id="result-reference"' in response.text and 'id="result-callback"' in response.text
    with read_session(engine) as session:
        callback = callback_queue.get_callback(session=session, callback_id=callback_id)
        assert callback.status == "open" and callback.claimed_by.endswith(holder.user.username)
        booked = request_service.get(session=session, request_id=result.request_id)
        assert booked.citizen_id == known.citizen_id


def test_a_callback_for_another_caller_is_not_closed(agent: Console, engine: Engine) -> None:
    known, someone_else = _known(engine), _known(engine)
    callback_id = _callback_for(engine, someone_else)
    agent.submit(f"/callbacks/{callback_id}/claim")
    response = agent.submit("/intake/book", _book_for_callback(agent, engine, known, callback_id))
    assert response.status_code == 200 and _page(response).result is not None
    closing = _page(response).callback_closing
    assert not closing.closed and "booked for another caller" in closing.message
    with read_session(engine) as session:
        assert (
            callback_queue.get_callback(session=session, callback_id=callback_id).status == "open"
        )


# --- step 4: windows and the booking ----------------------------------------------------------


def test_windows_are_the_planning_services_offers(
    agent: Console, engine: Engine, app: FastAPI, clock: FixedClock
) -> None:
    known = _known(engine)
    response = _windows(agent, _form(agent, known, engine))
    assert _template(response) == "intake/page.html"
    page = _page(response)
    with read_session(engine) as session:
        expected = planning_service.offer_windows(
            session=session,
            settings=app.state.settings,
            address_id=known.address_id,
            service_id=_service_id(engine),
            language="hi",
            now=clock.now(),
            limit=3,
        )
    assert len(expected) == 3
    assert [json.loads(o.value) for o in page.offers] == [o.to_json() for o in expected]
    assert page.offers[0].label == "Today 09:00–11:00"
    assert page.form.offer == page.offers[0].value  # the earliest is chosen
    assert page.form.windows_for == f"{known.citizen_id}:{known.address_id}:{_service_id(engine)}"
    html = response.text
    assert 'id="confirm"' in html and "autofocus" in html.split('name="offer"')[1]
    # Enter now confirms: the form's first button books.
    default = html[html.index('class="default-action"') :]
    assert default.index('formaction="/intake/book"') < default.index("</button>")


def test_confirm_books_through_the_use_case_and_a_second_post_books_nothing_more(
    agent: Console, engine: Engine
) -> None:
    known = _known(engine)
    data = _form(agent, known, engine)
    booking = _confirm_data(data, _windows(agent, data), choice=1)
    first = agent.submit("/intake/book", booking)
    assert first.status_code == 200 and _template(first) == "intake/page.html"
    result = _page(first).result
    assert result.reference.startswith("JK-") and len(result.visit_code) == 4
    assert result.sms_queued and not result.replayed and result.fee_paise == 5000
    assert result.window == "Today 11:00–13:00"
    html = first.text
    assert f'id="result-reference">{result.reference}<' in html
    assert f'id="result-code">{result.visit_code}<' in html and "SMS queued" in html
    assert f'href="/requests/{result.request_id}"' in html

    again = agent.submit("/intake/book", booking)  # a double click, a browser retry
    assert again.status_code == 200
    assert _page(again).result.reference == result.reference and _page(again).result.replayed
    assert _page(again).result.visit_code == result.visit_code

    actor = f"staff:{agent.user.username}"
    with read_session(engine) as session:
        requests = session.exec(
            select(DoorstepRequest).where(DoorstepRequest.citizen_id == known.citizen_id)
        ).all()
        assert [r.reference for r in requests] == [result.reference]
        request = requests[0]
        assert request.channel is Channel.CONSOLE and request.status in PLANNED
        events = request_service.events(session=session, request_id=result.request_id)
        assert events and {e.actor for e in events} == {actor}
        audited = session.exec(select(AuditEntry).where(AuditEntry.actor == actor)).all()
        assert "plan" in {e.entity for e in audited}  # the live plan saved, by the agent
        command = session.exec(
            select(VisitCommand).where(VisitCommand.request_id == request.id)
        ).one()
        assert command.actor == actor and command.idempotency_key.endswith(data["key"])
        messages = notification_service.for_request(session=session, request_id=request.id or 0)
        assert len(messages) == 1 and messages[0].to == known.phone
        assert result.visit_code in messages[0].body and result.reference in messages[0].body


def test_a_new_caller_is_registered_then_booked(agent: Console, engine: Engine) -> None:
    village = _known(engine).village_id
    with read_session(engine) as session:
        place = geography_service.place_of_village(session=session, village_id=village)
    phone = unique_phone()
    data = {
        "key": _page(agent.get("/intake")).form.key,
        "phone": phone[3:],
        "name": "Parveena Akhter",
        "language": "ur",
        "senior": "on",
        "service_q": "आय",
        "suggested_for": "",  # Enter before the type-ahead answered: the best match is taken
        "address": "new",
        "district_id": place.district.id,
        "block_id": place.block.id,
        "village_id": village,
        "landmark": "behind the mosque",
    }
    windows = _windows(agent, data)
    page = _page(windows)
    assert page.caller.citizen is not None and page.caller.citizen.name == "Parveena Akhter"
    assert page.suggestions[0].service.code == "INCOME_CERT"
    assert page.form.address == str(page.caller.addresses[0].id)
    booked = agent.submit("/intake/book", _confirm_data(data, windows))
    assert booked.status_code == 200, booked.text
    result = _page(booked).result
    with read_session(engine) as session:
        citizen = citizen_service.find_by_phone(session=session, state_code="JK", phone=phone)
        assert citizen is not None and citizen.id is not None
        assert (citizen.name, citizen.language, citizen.senior) == ("Parveena Akhter", "ur", True)
        address = citizen_service.addresses(session=session, citizen_id=citizen.id)[0]
        assert address.landmark == "behind the mosque" and address.proven
        request = request_service.get(session=session, request_id=result.request_id)
        assert request.citizen_id == citizen.id and request.address_id == address.id
        assert request.language == "ur"
        registered = session.exec(
            select(AuditEntry).where(
                AuditEntry.entity == "citizen", AuditEntry.entity_id == str(citizen.id)
            )
        ).all()
        assert {e.actor for e in registered} == {f"staff:{agent.user.username}"}


def test_a_window_taken_meanwhile_brings_fresh_windows_and_writes_nothing(
    agent: Console, engine: Engine
) -> None:
    known = _known(engine)
    data = _form(agent, known, engine)
    booking = _confirm_data(data, _windows(agent, data))
    stale = json.loads(booking["offer"])  # a window the plan cannot meet (after the shifts)
    stale["start"] = MONDAY.replace(hour=20, minute=0).isoformat()
    stale["end"] = MONDAY.replace(hour=22, minute=0).isoformat()
    response = agent.submit("/intake/book", {**booking, "offer": json.dumps(stale)})
    assert response.status_code == 409 and _template(response) == "intake/page.html"
    page = _page(response)
    assert page.error == "That window has just been taken: choose another."
    assert page.result is None and len(page.offers) == 3
    assert page.form.phone == known.phone  # the form is kept
    with read_session(engine) as session:
        assert request_service.open_for_citizen(session=session, citizen_id=known.citizen_id) == []


def test_windows_shown_for_another_service_are_offered_again(
    agent: Console, engine: Engine
) -> None:
    known = _known(engine)
    data = _form(agent, known, engine)
    booking = _confirm_data(data, _windows(agent, data))
    birth = _service_id(engine, "BIRTH_CERT")
    changed = {**booking, "service_q": "birth", "suggested_for": "birth", "service_id": birth}
    response = agent.submit("/intake/book", changed)
    assert response.status_code == 409
    page = _page(response)
    assert "changed after the windows were shown" in page.error and page.offers
    assert page.form.windows_for == f"{known.citizen_id}:{known.address_id}:{birth}"
    with read_session(engine) as session:
        assert request_service.open_for_citizen(session=session, citizen_id=known.citizen_id) == []


def test_a_missing_step_is_a_clear_message_and_the_form_is_kept(
    agent: Console, engine: Engine
) -> None:
    known = _known(engine)
    data = _form(agent, known, engine, service_q="", suggested_for="", service_id="")
    response = agent.submit("/intake/windows", {**data, "landmark": "by the bridge"})
    assert response.status_code == 422 and _template(response) == "intake/page.html"
    page = _page(response)
    assert page.error == "Service: choose a service." and page.offers == []
    assert page.focus_id == "service_q"  # the cursor goes where it can be put right
    assert "autofocus" in response.text.split('id="service_q"')[1].split(">")[0]
    assert f'value="{known.phone}"' in response.text and 'value="by the bridge"' in response.text
    response = agent.submit("/intake/book", _form(agent, known, engine))
    assert response.status_code == 422 and "Window" in _page(response).error
    new_caller = {**data, "phone": unique_phone(), "address": "new", "service_id": ""}
    new_caller.update(service_q="income", suggested_for="income")
    response = agent.submit("/intake/windows", new_caller)
    assert _page(response).error == "Address: choose the district, block and village."


def test_htmx_gets_the_part_it_swaps_always_with_200(agent: Console, engine: Engine) -> None:
    """An htmx answer is swapped only when 2xx: errors come as 200 with their message."""
    known = _known(engine)
    data = _form(agent, known, engine, service_id="", service_q="")
    response = agent.htmx("POST", "/intake/windows", data=data)
    assert response.status_code == 200 and _template(response) == "intake/_page.html"
    assert _page(response).error and "<html" not in response.text
    assert 'id="intake-page"' in response.text


def test_the_same_key_for_another_booking_is_refused(agent: Console, engine: Engine) -> None:
    known = _known(engine)
    data = _form(agent, known, engine)
    booking = _confirm_data(data, _windows(agent, data))
    assert agent.submit("/intake/book", booking).status_code == 200
    other = _confirm_data(data, _windows(agent, data), choice=1)  # the form sent back (no JS)
    response = agent.submit("/intake/book", other)
    assert response.status_code == 409 and "already booked" in _page(response).error
    with read_session(engine) as session:
        count = session.exec(
            select(DoorstepRequest).where(col(DoorstepRequest.citizen_id) == known.citizen_id)
        ).all()
        assert len(count) == 1


def test_an_address_for_a_number_the_caller_is_not_on_is_not_offered_back(
    agent: Console, engine: Engine
) -> None:
    """As on the phone line: it serves this booking, and is never shown as the citizen's own."""
    known = _known(engine)
    with read_session(engine) as session:
        place = geography_service.place_of_village(session=session, village_id=known.village_id)
    data = _form(
        agent,
        known,
        engine,
        address="new",
        other_number="on",
        district_id=place.district.id,
        block_id=place.block.id,
        village_id=known.village_id,
        landmark="the daughter's house",
    )
    windows = _windows(agent, data)
    page = _page(windows)
    new_address = int(page.form.address)
    assert new_address != known.address_id
    assert new_address in [a.id for a in page.caller.addresses]  # this form keeps it
    booked = agent.submit("/intake/book", _confirm_data(data, windows))
    assert booked.status_code == 200 and _page(booked).result is not None
    later = _page(agent.htmx("POST", "/intake/citizen", data={"phone": known.phone}))
    assert [a.id for a in later.caller.addresses] == [known.address_id]
    with read_session(engine) as session:
        assert not citizen_service.get_address(session=session, address_id=new_address).proven

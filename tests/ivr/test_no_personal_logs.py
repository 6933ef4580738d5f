"""No personal data in logs: a whole booking call (a landmark spoken), an SMS exchange (a
citizen's rating with a comment), a console intake booking (a new caller's name and landmark)
and an API booking, each with every logger at DEBUG, leave no phone number, citizen name or
landmark in any record — its message, its arguments or its exception text.

The journeys are shared with `tests/ivr/test_aadhaar_paths.py` (the same paths, an Aadhaar
number typed or spoken in them)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import select

from dispatch.citizens import service as citizen_service
from dispatch.config import Settings
from dispatch.db import read_session, write_session
from dispatch.fieldwork.models import Feedback
from dispatch.geography import service as geography_service
from dispatch.staff.rules import Role
from ivr.standin import signed_headers
from tests import factories
from tests.api.conftest import make_client
from tests.conftest import unique_phone
from tests.console import signed_in
from tests.ivr.caller import phone
from tests.ivr.test_journeys import booked, finish_booking


@dataclass(frozen=True)
class Said:
    """What a person gave on one path: their number and their words."""

    phone: str
    name: str
    words: str  # a landmark or a comment


def ivr_booking(app: FastAPI, engine: Engine, words: str) -> Said:
    """A new caller books by keypad, the landmark spoken; returns what they gave."""
    caller = unique_phone()
    call = phone(app, caller=caller)
    call.dial()
    call.press("1")  # Hindi
    call.press("1")  # a doorstep visit
    call.press("2")  # the income certificate
    call.press("192201")  # Achabal's PIN code
    call.press("1")  # Achabal
    call.say(words)
    finish_booking(call)
    call.hangup()
    assert booked(engine, call).request.id is not None
    return Said(caller, "", words)


def sms_rating(app: FastAPI, engine: Engine, words: str) -> Said:
    """A citizen asked for feedback answers by SMS: `2 <words>` (a low rating: a grievance)."""
    with write_session(engine) as session:
        request = factories.request(session)
        citizen = citizen_service.get(session=session, citizen_id=request.citizen_id)
        session.add(Feedback(request_id=request.id or 0, agent_id=request.agent_id))
        number, name = citizen.phone, citizen.name
    settings: Settings = app.state.settings
    params = {
        "MessageSid": f"SM{uuid.uuid4().hex}",
        "AccountSid": settings.twilio_account_sid,
        "From": number,
        "To": settings.twilio_from_number,
        "Body": f"2 {words}",
        "NumSegments": "1",
    }
    url = f"{settings.public_base_url}/ivr/sms/incoming"
    with TestClient(app) as client:
        response = client.post(
            "/ivr/sms/incoming", data=params, headers=signed_headers(settings, url, params)
        )
    assert response.status_code == 200, response.text
    with read_session(engine) as session:
        feedback = session.exec(select(Feedback).where(Feedback.request_id == request.id)).one()
        assert feedback.rating == 2
    return Said(number, name, words)


def console_booking(app: FastAPI, engine: Engine, name: str, words: str) -> Said:
    """A call agent registers a new caller (name, landmark) and books them."""
    agent = signed_in(app, engine, Role.CALL_AGENT)
    with read_session(engine) as session:
        village = factories.village_in(session, "BDP")
        place = geography_service.place_of_village(session=session, village_id=village.id or 0)
        service = factories.service(session, "INCOME_CERT")
    number = unique_phone()
    data: dict[str, Any] = {
        "key": agent.get("/intake").context["p"].form.key,  # type: ignore[attr-defined]
        "phone": number[3:],
        "name": name,
        "language": "hi",
        "service_q": "income",
        "suggested_for": "income",
        "service_id": service.id,
        "address": "new",
        "district_id": place.district.id,
        "block_id": place.block.id,
        "village_id": village.id,
        "landmark": words,
    }
    windows = agent.submit("/intake/windows", data)
    assert windows.status_code == 200, windows.text
    page = windows.context["p"]  # type: ignore[attr-defined]
    confirm = {
        **data,
        "address": page.form.address,
        "windows_for": page.form.windows_for,
        "offer": page.offers[0].value,
    }
    done = agent.submit("/intake/book", confirm)
    assert done.status_code == 200 and done.context["p"].result is not None  # type: ignore[attr-defined]
    return Said(number, name, words)


def api_booking(app: FastAPI, engine: Engine, name: str, words: str) -> Said:
    """A channel books for a new citizen through /api/v1 (offers, then the request)."""
    key = make_client(engine)
    api = TestClient(app, headers={"Authorization": f"Bearer {key.key}"})
    number = unique_phone()
    with read_session(engine) as session:
        village_id = factories.village_in(session).id
    citizen = {"phone": number, "phone_verified": True, "language": "hi"}
    address = {"village_id": village_id, "landmark": words}
    offers = api.post(
        "/api/v1/offers", json={"service": "INCOME_CERT", "citizen": citizen, "address": address}
    )
    assert offers.status_code == 200, offers.text
    body = {
        "service": "INCOME_CERT",
        "citizen": {**citizen, "name": name},
        "address": address,
        "offer_id": offers.json()["windows"][0]["offer_id"],
    }
    made = api.post("/api/v1/requests", json=body, headers={"Idempotency-Key": str(uuid.uuid4())})
    assert made.status_code == 201, made.text
    return Said(number, name, words)


# --- the logs ---------------------------------------------------------------------------------


class Everything(logging.Handler):
    """Keeps every record of every logger (at DEBUG), formatted as a handler would."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.setFormatter(logging.Formatter("%(name)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def texts(self) -> Iterator[str]:
        for record in self.records:
            yield self.format(record)  # the message with its args, and the exception's text
            yield repr(record.args)
            yield repr(record.msg)
            if record.exc_info and record.exc_info[1] is not None:
                yield repr(record.exc_info[1].args)


@pytest.fixture
def logs() -> Iterator[Everything]:
    handler = Everything()
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def _personal(said: Said) -> list[str]:
    national = said.phone.removeprefix("+91")
    found = [said.phone, national, f"{national[:5]} {national[5:]}", said.words]
    return [*found, said.name] if said.name else found


def _leaks(logs: Everything, said: Said) -> list[str]:
    return [
        f"{value!r} in {text[:200]!r}"
        for text in logs.texts()
        for value in _personal(said)
        if value in text
    ]


LANDMARK = "Zainab Manzil, behind the Jamia Masjid"
NAME = "Rukhsana Wani"


def test_a_whole_booking_call_logs_nothing_personal(
    app: FastAPI, engine: Engine, logs: Everything
) -> None:
    said = ivr_booking(app, engine, LANDMARK)
    assert logs.records  # something was logged at DEBUG: the test looks at real output
    assert _leaks(logs, said) == []


def test_an_sms_exchange_logs_nothing_personal(
    app: FastAPI, engine: Engine, logs: Everything
) -> None:
    said = sms_rating(app, engine, "the agent asked Rukhsana for money")
    assert _leaks(logs, said) == []


def test_a_console_booking_logs_nothing_personal(
    app: FastAPI, engine: Engine, logs: Everything
) -> None:
    said = console_booking(app, engine, NAME, LANDMARK)
    assert _leaks(logs, said) == []


def test_an_api_booking_logs_nothing_personal(
    app: FastAPI, engine: Engine, logs: Everything
) -> None:
    said = api_booking(app, engine, NAME, LANDMARK)
    assert _leaks(logs, said) == []


def test_the_check_sees_a_leak() -> None:
    """The check itself: a record quoting a number in its args is found."""
    handler = Everything()
    logger = logging.getLogger("test.leak")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        logger.debug("sms to %s", "+919812345678")
    finally:
        logger.removeHandler(handler)
    assert _leaks(handler, Said("+919812345678", "", "x-none-x")) != []

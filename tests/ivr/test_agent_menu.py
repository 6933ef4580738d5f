"""The field agents' menu on the toll-free number: recognised by caller ID and PIN, the next
visit read out, the outcome keyed, completion proven by the citizen's visit code. Wrong PINs
and codes are counted; someone else's visit is refused; a retried webhook reports nothing
twice. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from fastapi import FastAPI
from sqlalchemy.engine import Engine
from sqlmodel import select

from dispatch.agents.models import Agent
from dispatch.audit.models import AuditEntry
from dispatch.citizens.models import Address
from dispatch.config import Settings
from dispatch.db import read_session, write_session
from dispatch.fieldwork import access
from dispatch.geography.models import Village
from dispatch.ledger.models import EntryKind, LedgerEntry
from dispatch.notifications.models import OutboxMessage
from dispatch.requests.models import DoorstepRequest
from dispatch.requests.rules import RequestStatus, keypad_digits
from ivr.deps import get_clock
from ivr.standin import twilio_params
from tests import factories
from tests.conftest import build_app, unique_phone
from tests.ivr.caller import heard, phone
from tests.ivr.conftest import FixedClock

IST = ZoneInfo("Asia/Kolkata")
BOOKED_AT = dt.datetime(2031, 7, 8, 7, 0, tzinfo=IST)
AT_THE_DOOR = dt.datetime(2031, 7, 8, 10, 30, tzinfo=IST)
DISTRICT = "KPW"
PIN = "4826"


@pytest.fixture
def app(engine: Engine, settings: Settings) -> FastAPI:
    application = build_app(settings, engine)
    application.dependency_overrides[get_clock] = lambda: FixedClock(AT_THE_DOOR)
    return application


def _visit(engine: Engine) -> tuple[DoorstepRequest, Agent]:
    """A visit booked (committed) for the day, its agent given the test PIN."""
    with write_session(engine) as session:
        request, _ = factories.booked_request(session, district_code=DISTRICT, now=BOOKED_AT)
        session.refresh(request)
        agent = session.get(Agent, request.agent_id)
        assert agent is not None and agent.id is not None
        access.set_pin(session=session, agent_id=agent.id, pin=PIN, actor="test")
        session.expunge_all()
        return request, agent


def _status(engine: Engine, request_id: int | None) -> RequestStatus:
    with read_session(engine) as session:
        found = session.get(DoorstepRequest, request_id)
        assert found is not None
        return found.status


def _collected(engine: Engine, request_id: int | None) -> list[LedgerEntry]:
    with read_session(engine) as session:
        return list(
            session.exec(
                select(LedgerEntry).where(
                    LedgerEntry.request_id == request_id, LedgerEntry.kind == EntryKind.COLLECT
                )
            )
        )


def test_an_agent_completes_a_visit_by_phone_with_the_citizens_code(
    app: FastAPI, engine: Engine, settings: Settings
) -> None:
    request, agent = _visit(engine)
    call = phone(app, caller=agent.phone)
    call.dial()
    assert "Key your PIN" in heard(call)
    call.press(PIN)
    assert "next visit, press 1" in heard(call)
    call.press("2")
    call.press(keypad_digits(request.reference))
    assert "paid in cash, press 2" in heard(call)
    call.press("2")
    assert "visit code" in heard(call)
    answer_url = str(call.gather["action"]) if call.gather else ""
    call.press(request.visit_code or "")
    assert "Done." in heard(call) and "collected" in heard(call)
    assert _status(engine, request.id) is RequestStatus.COMPLETED
    # Twilio retries the same webhook: nothing happens twice.
    params = twilio_params(
        settings,
        call_sid=call.call_sid,
        caller=agent.phone,
        called="1447",
        Digits=request.visit_code or "",
    )
    call.post(answer_url, params)
    assert len(_collected(engine, request.id)) == 1
    with read_session(engine) as session:
        receipts = session.exec(
            select(OutboxMessage).where(
                OutboxMessage.request_id == request.id, OutboxMessage.kind == "receipt"
            )
        ).all()
    assert len(receipts) == 1


def test_next_visit_arrival_and_a_wrong_code_that_is_counted(app: FastAPI, engine: Engine) -> None:
    request, agent = _visit(engine)
    call = phone(app, caller=agent.phone)
    call.dial()
    call.press(PIN)
    call.press("1")  # the next visit: read out with its reference
    assert "Visit" in heard(call)
    call.press("1")  # arrived
    assert "Arrival noted." in heard(call)
    call.press("2")
    call.press(keypad_digits(request.reference))
    call.press("2")
    wrong = f"{(int(request.visit_code or '0') + 3) % 10000:04d}"
    call.press(wrong)
    assert "does not match" in heard(call)
    assert _status(engine, request.id) is RequestStatus.ARRIVED
    assert _collected(engine, request.id) == []
    with read_session(engine) as session:
        counted = session.exec(
            select(AuditEntry).where(
                AuditEntry.entity == "agent",
                AuditEntry.entity_id == str(agent.id),
                AuditEntry.action == access.CODE_FAILED,
            )
        ).all()
    assert len(counted) >= 1


def test_someone_elses_visit_and_wrong_pins(app: FastAPI, engine: Engine) -> None:
    request, agent = _visit(engine)
    mine, other = _visit(engine)
    if other.id == agent.id:  # the same agent got both: take another agent for the check
        with write_session(engine) as session:
            found = session.exec(select(Agent).where(Agent.id != agent.id)).first()
            assert found is not None and found.id is not None
            access.set_pin(session=session, agent_id=found.id, pin=PIN, actor="test")
            session.expunge_all()
            other = found
    call = phone(app, caller=other.phone)
    call.dial()
    call.press(PIN)
    call.press("2")
    call.press(keypad_digits(request.reference))
    assert "not one of your visits" in heard(call)
    assert _status(engine, request.id) is RequestStatus.ASSIGNED
    assert mine.id is not None

    stranger = phone(app, caller=agent.phone)
    stranger.dial()
    for _ in range(3):
        stranger.press("0000")
    assert "not right" in heard(stranger) and stranger.ended


def test_a_citizen_is_not_offered_the_agent_menu(app: FastAPI) -> None:
    call = phone(app, caller=unique_phone())
    call.dial()
    assert "PIN" not in heard(call)


def test_an_agent_hears_the_village_in_the_script_of_the_agents_language(
    engine: Engine, settings: Settings
) -> None:
    """Agents who hear Hindi prompts hear the village in Devanagari, as Hindi callers do (a
    Latin name read by the Hindi voice is mangled)."""
    hindi = settings.model_copy(update={"agent_language": "hi"})
    application = build_app(hindi, engine)
    application.dependency_overrides[get_clock] = lambda: FixedClock(AT_THE_DOOR)
    request, agent = _visit(engine)
    with read_session(engine) as session:
        address = session.get(Address, request.address_id)
        assert address is not None
        village = session.get(Village, address.village_id)
        assert village is not None
    assert village.name_hi and village.name_hi != village.name
    call = phone(application, caller=agent.phone)
    call.dial()
    call.press(PIN)
    call.press("1")  # the next visit, read out
    said = heard(call)
    assert said.startswith("मुलाक़ात ") and f": Test, {village.name_hi}, लगभग " in said
    assert village.name not in said


def test_0_in_the_agents_menu_is_the_agents_own_choice_not_the_citizens_queue(
    app: FastAPI, engine: Engine
) -> None:
    """The agents' prompts offer 0 (and hash) for the citizens' menu at the PIN, and 0 to end
    the call at their menu: neither puts a field agent in the call agents' queue."""
    _, agent = _visit(engine)
    call = phone(app, caller=agent.phone)
    call.dial()
    call.press(PIN)
    call.press("0")  # end the call
    assert call.ended and not call.queued
    citizen_side = phone(app, caller=agent.phone)
    citizen_side.dial()
    citizen_side.press("0")  # "0 and hash": the citizens' menu
    assert not citizen_side.queued and citizen_side.gather is not None
    assert "/answer/main_menu" in str(citizen_side.gather["action"])

"""Agents' and citizens' SMS through the signed inbound webhook: reports from the door on the
agent's own visits only, the visit code as proof, one effect per MessageSid however often the
provider retries, a helpful reply to a malformed command, STOP, and 403 for a forged request.
Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import uuid
from zoneinfo import ZoneInfo

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from dispatch.agents.models import Agent
from dispatch.citizens.models import Citizen
from dispatch.config import Settings
from dispatch.db import read_session, write_session
from dispatch.ledger.models import EntryKind, LedgerEntry
from dispatch.notifications.models import OutboxMessage
from dispatch.requests.models import DoorstepRequest
from dispatch.requests.rules import RequestStatus
from ivr.deps import get_clock
from ivr.standin import signed_headers
from tests import factories
from tests.conftest import build_app
from tests.ivr.conftest import FixedClock

IST = ZoneInfo("Asia/Kolkata")
#: A Tuesday no other test books on, in a district of its own.
BOOKED_AT = dt.datetime(2031, 6, 10, 7, 0, tzinfo=IST)
AT_THE_DOOR = dt.datetime(2031, 6, 10, 10, 30, tzinfo=IST)
DISTRICT = "PLW"


@pytest.fixture
def app(engine: Engine, settings: Settings) -> FastAPI:
    application = build_app(settings, engine)
    application.dependency_overrides[get_clock] = lambda: FixedClock(AT_THE_DOOR)
    return application


def _visit(engine: Engine) -> tuple[int, str, str, str, str]:
    """A visit booked (committed) for the day: request id, reference, code, agent's and
    citizen's phones."""
    with write_session(engine) as session:
        request, _ = factories.booked_request(session, district_code=DISTRICT, now=BOOKED_AT)
        session.refresh(request)
        agent = session.get(Agent, request.agent_id)
        citizen = session.get(Citizen, request.citizen_id)
        assert agent is not None and citizen is not None and request.id is not None
        return request.id, request.reference, request.visit_code or "", agent.phone, citizen.phone


def _sms(app: FastAPI, settings: Settings, sender: str, body: str, sid: str | None = None) -> int:
    params = {
        "MessageSid": sid or f"SM{uuid.uuid4().hex}",
        "AccountSid": settings.twilio_account_sid,
        "From": sender,
        "To": settings.twilio_from_number,
        "Body": body,
        "NumSegments": "1",
    }
    url = f"{settings.public_base_url}/ivr/sms/incoming"
    with TestClient(app) as client:
        response = client.post(
            "/ivr/sms/incoming", data=params, headers=signed_headers(settings, url, params)
        )
    if response.status_code == 200:
        assert response.text.strip().endswith("<Response />") or "<Response/>" in response.text
    return response.status_code


def _to(engine: Engine, phone: str, kind: str | None = None) -> list[OutboxMessage]:
    with read_session(engine) as session:
        stmt = select(OutboxMessage).where(OutboxMessage.to == phone)
        if kind:
            stmt = stmt.where(OutboxMessage.kind == kind)
        return list(session.exec(stmt.order_by(col(OutboxMessage.id))))


def _request(engine: Engine, request_id: int) -> DoorstepRequest:
    with read_session(engine) as session:
        found = session.get(DoorstepRequest, request_id)
        assert found is not None
        return found


def _collections(engine: Engine, request_id: int) -> int:
    with read_session(engine) as session:
        return len(
            session.exec(
                select(LedgerEntry).where(
                    LedgerEntry.request_id == request_id, LedgerEntry.kind == EntryKind.COLLECT
                )
            ).all()
        )


def test_done_by_sms_completes_once_however_often_the_webhook_comes(
    app: FastAPI, settings: Settings, engine: Engine
) -> None:
    request_id, reference, code, agent_phone, citizen_phone = _visit(engine)
    sid = f"SM{uuid.uuid4().hex}"
    for _ in range(3):
        assert _sms(app, settings, agent_phone, f"done {reference} {code}", sid) == 200
    assert _request(engine, request_id).status is RequestStatus.COMPLETED
    assert _collections(engine, request_id) == 1
    replies = [m for m in _to(engine, agent_phone, "agent_reply") if reference in m.body]
    assert len(replies) == 1 and "done" in replies[0].body
    assert len(_to(engine, citizen_phone, "receipt")) == 1


def test_a_wrong_code_completes_nothing_and_says_so(
    app: FastAPI, settings: Settings, engine: Engine
) -> None:
    request_id, reference, code, agent_phone, _ = _visit(engine)
    wrong = f"{(int(code) + 5) % 10000:04d}"
    assert _sms(app, settings, agent_phone, f"DONE {reference} {wrong}") == 200
    assert _request(engine, request_id).status is RequestStatus.ASSIGNED
    assert _collections(engine, request_id) == 0
    reply = _to(engine, agent_phone, "agent_reply")[-1]
    assert "does not match" in reply.body and "tries left" in reply.body


def test_another_agents_visit_is_not_found_and_unchanged(
    app: FastAPI, settings: Settings, engine: Engine
) -> None:
    request_id, reference, code, agent_phone, _ = _visit(engine)
    with read_session(engine) as session:
        other = session.exec(
            select(Agent).where(Agent.phone != agent_phone, Agent.state_code == "JK")
        ).first()
        assert other is not None
    assert _sms(app, settings, other.phone, f"ARR {reference}") == 200
    assert _sms(app, settings, other.phone, f"DONE {reference} {code}") == 200
    assert _request(engine, request_id).status is RequestStatus.ASSIGNED
    replies = _to(engine, other.phone, "agent_reply")[-2:]
    assert all("not one of your visits" in m.body for m in replies)


def test_arrival_then_a_malformed_command_gets_a_helpful_reply(
    app: FastAPI, settings: Settings, engine: Engine
) -> None:
    request_id, reference, _, agent_phone, _ = _visit(engine)
    assert _sms(app, settings, agent_phone, f"arr {reference}") == 200
    assert _request(engine, request_id).status is RequestStatus.ARRIVED
    assert _sms(app, settings, agent_phone, "DONE please") == 200
    reply = _to(engine, agent_phone, "agent_reply")[-1]
    assert reply.body.startswith("Not understood.") and "DONE" in reply.body
    assert _sms(app, settings, agent_phone, "HELP") == 200
    assert "NOSHOW" in _to(engine, agent_phone, "agent_reply")[-1].body


def test_stop_from_a_citizen_and_silence_for_strangers(
    app: FastAPI, settings: Settings, engine: Engine
) -> None:
    _, reference, _, _, citizen_phone = _visit(engine)
    assert _sms(app, settings, citizen_phone, "STOP") == 200
    with read_session(engine) as session:
        citizen = session.exec(select(Citizen).where(Citizen.phone == citizen_phone)).one()
        assert citizen.sms_opt_out
    stranger = f"+9196{uuid.uuid4().int % 10**8:08d}"
    assert _sms(app, settings, stranger, f"ARR {reference}") == 200
    assert _to(engine, stranger) == []


def test_a_forged_request_is_refused(app: FastAPI, settings: Settings, engine: Engine) -> None:
    _, reference, code, agent_phone, _ = _visit(engine)
    params = {"MessageSid": "SMforged", "From": agent_phone, "Body": f"DONE {reference} {code}"}
    with TestClient(app) as client:
        response = client.post(
            "/ivr/sms/incoming", data=params, headers={"X-Twilio-Signature": "forged"}
        )
    assert response.status_code == 403

"""A whole day, as the issue's "done when" tells it, through the real app and its signed
webhooks: a citizen books by phone -> the agent's morning itinerary is in the outbox -> the
agent completes the visit through the phone menu with the citizen's visit code -> the ledger
shows the collection -> the citizen's receipt and feedback request are in the outbox (and on
the outbox page). Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import uuid
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine
from sqlmodel import col, select

from dispatch.agents.models import Agent
from dispatch.calls.models import CallSession
from dispatch.config import Settings
from dispatch.db import read_session, write_session
from dispatch.demo import DEMO_AGENT_PIN
from dispatch.fieldwork import access, tasks
from dispatch.ledger import service as ledger_service
from dispatch.ledger.models import EntryKind
from dispatch.notifications.models import OutboxMessage
from dispatch.planning import service as planning
from dispatch.requests.models import DoorstepRequest
from dispatch.requests.rules import RequestStatus
from dispatch.staff.rules import Role
from ivr.deps import get_clock
from tests.conftest import build_app, unique_phone
from tests.console import signed_in
from tests.ivr.caller import heard, phone

IST = ZoneInfo("Asia/Kolkata")
#: A Monday no other test books on.
MORNING = dt.datetime(2031, 9, 1, 7, 0, tzinfo=IST)


class MovableClock:
    def __init__(self, at: dt.datetime) -> None:
        self.at = at

    def now(self) -> dt.datetime:
        return self.at.astimezone(dt.UTC)


def _outbox(
    engine: Engine, *, to: str | None = None, request_id: int | None = None
) -> list[OutboxMessage]:
    with read_session(engine) as session:
        stmt = select(OutboxMessage)
        if to is not None:
            stmt = stmt.where(OutboxMessage.to == to)
        if request_id is not None:
            stmt = stmt.where(OutboxMessage.request_id == request_id)
        return list(session.exec(stmt.order_by(col(OutboxMessage.id))))


def test_a_whole_day_from_the_call_to_the_receipt(engine: Engine, settings: Settings) -> None:
    planning.clear_cache()
    clock = MovableClock(MORNING)
    app = build_app(settings, engine)
    app.dependency_overrides[get_clock] = lambda: clock
    citizen = unique_phone()

    # 07:00 - a citizen books by phone, in Hindi, by keypad.
    call = phone(app, caller=citizen)
    call.dial()
    call.press("1")  # Hindi
    call.press("1")  # a new request
    call.press("2")  # income certificate
    call.press("192201")  # Achabal's PIN code
    assert "यह पिन कोड अनंतनाग का है" in heard(call)
    call.press("1")  # Achabal, the one village on it
    call.say("सरकारी स्कूल के पास")
    assert "सबसे जल्दी मुलाक़ात" in heard(call)  # the earliest window, with the fee
    call.press("1")  # book it
    assert "आपकी बुकिंग पक्की हो गई" in heard(call)
    with read_session(engine) as session:
        booked = session.exec(
            select(CallSession).where(CallSession.call_sid == call.call_sid)
        ).one()
        request = session.get(DoorstepRequest, booked.request_id)
        assert request is not None and request.agent_id is not None
        agent = session.get(Agent, request.agent_id)
        assert agent is not None and agent.id is not None
    with write_session(engine) as session:
        access.set_pin(session=session, agent_id=agent.id, pin=DEMO_AGENT_PIN, actor="test")

    # 07:30 - the morning itinerary goes to the agent.
    clock.at = MORNING.replace(hour=7, minute=30)
    tasks.inform_agents(engine=engine, settings=settings, now=clock.now())
    itinerary = [m for m in _outbox(engine, to=agent.phone) if m.kind == "itinerary"]
    assert any(request.reference in m.body for m in itinerary)
    assert any(f"/a/{agent.id}-" in m.body for m in itinerary)  # the signed day page

    # At the door - the agent reports through the phone menu with the citizen's code.
    assert request.planned_arrival is not None
    clock.at = request.planned_arrival.astimezone(IST) + dt.timedelta(minutes=20)
    menu = phone(app, caller=agent.phone, call_sid=f"CA{uuid.uuid4().hex}")
    menu.dial()
    menu.press(DEMO_AGENT_PIN)
    menu.press("1")  # the next visit
    assert "Visit" in heard(menu)
    menu.press("2")  # done, paid in cash
    menu.press(request.visit_code or "")
    assert "Done." in heard(menu)

    # The ledger shows the collection; the citizen's receipt and feedback request are queued.
    with read_session(engine) as session:
        done = session.get(DoorstepRequest, request.id)
        assert done is not None and done.status is RequestStatus.COMPLETED
        entries = ledger_service.entries(session=session, request_id=request.id or 0)
        balance = ledger_service.balance(session=session, request_id=request.id or 0)
    assert [e.amount_paise for e in entries if e.kind is EntryKind.COLLECT] == [request.fee_paise]
    assert balance.outstanding == 0
    kinds = [m.kind for m in _outbox(engine, to=citizen)]
    assert kinds[0] == "booking" and "assigned" in kinds
    assert "receipt" in kinds and "feedback" in kinds
    page = signed_in(app, engine, Role.SUPERVISOR).get("/outbox")
    assert page.status_code == 200 and request.reference in page.text

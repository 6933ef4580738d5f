"""The feedback call: a citizen who leaves the feedback SMS unanswered for a day is called once
(claimed, so two runs never both call; not at all after STOP); the call asks for the rating by
keypad and records it. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import pytest
from fastapi import FastAPI
from sqlalchemy.engine import Engine
from sqlmodel import select

from dispatch.citizens.models import Citizen
from dispatch.config import Settings
from dispatch.db import read_session, write_session
from dispatch.fieldwork import replies, tasks
from dispatch.fieldwork import service as fieldwork
from dispatch.fieldwork.models import Feedback
from ivr.deps import get_clock
from tests import factories
from tests.conftest import build_app
from tests.ivr.caller import heard, phone
from tests.ivr.conftest import FixedClock

IST = ZoneInfo("Asia/Kolkata")
BOOKED_AT = dt.datetime(2031, 8, 5, 7, 0, tzinfo=IST)
DONE_AT = dt.datetime(2031, 8, 5, 11, 0, tzinfo=IST)
A_DAY_LATER = DONE_AT + dt.timedelta(hours=25)
DISTRICT = "GBL"


@dataclass
class RecordingPlacer:
    called: list[str] = field(default_factory=list)
    fail: bool = False

    def place(self, *, to: str) -> str:
        if self.fail:
            raise RuntimeError("provider down")
        self.called.append(to)
        return f"CA{len(self.called):032d}"


def _completed_visit(engine: Engine, settings: Settings) -> tuple[int, str]:
    """A visit done (committed) with its feedback request sent: request id, citizen's phone."""
    with write_session(engine) as session:
        request, _ = factories.booked_request(session, district_code=DISTRICT, now=BOOKED_AT)
        session.refresh(request)
        fieldwork.complete(
            session=session,
            settings=settings,
            idempotency_key=f"done:{request.id}",
            agent_id=request.agent_id or 0,
            request_id=request.id or 0,
            visit_code=request.visit_code or "",
            now=DONE_AT,
        )
        citizen = session.get(Citizen, request.citizen_id)
        assert citizen is not None and request.id is not None
        return request.id, citizen.phone


def _feedback(engine: Engine, request_id: int) -> Feedback:
    with read_session(engine) as session:
        return session.exec(select(Feedback).where(Feedback.request_id == request_id)).one()


def test_an_unanswered_request_gets_one_call_and_the_call_records_the_rating(
    engine: Engine, settings: Settings
) -> None:
    request_id, citizen_phone = _completed_visit(engine, settings)
    placer = RecordingPlacer()
    too_soon = DONE_AT + dt.timedelta(hours=2)
    tasks.place_feedback_calls(engine=engine, settings=settings, placer=placer, now=too_soon)
    assert citizen_phone not in placer.called
    tasks.place_feedback_calls(engine=engine, settings=settings, placer=placer, now=A_DAY_LATER)
    tasks.place_feedback_calls(engine=engine, settings=settings, placer=placer, now=A_DAY_LATER)
    assert placer.called.count(citizen_phone) == 1

    app: FastAPI = build_app(settings, engine)
    app.dependency_overrides[get_clock] = lambda: FixedClock(A_DAY_LATER)
    call = phone(
        app, caller=settings.twilio_from_number, called=citizen_phone, direction="outbound-api"
    )
    call.dial()
    assert "How was the agent's visit" in heard(call) or "मुलाक़ात कैसी रही" in heard(call)
    call.press("5")
    assert call.ended
    assert _feedback(engine, request_id).rating == 5
    assert _feedback(engine, request_id).channel == "call"


def test_no_call_after_stop_and_a_failed_call_is_tried_again(
    engine: Engine, settings: Settings
) -> None:
    stopped_id, stopped_phone = _completed_visit(engine, settings)
    other_id, other_phone = _completed_visit(engine, settings)
    with write_session(engine) as session:
        replies.set_opt_out(
            session=session, settings=settings, phone=stopped_phone, stop=True, now=DONE_AT
        )
    failing = RecordingPlacer(fail=True)
    tasks.place_feedback_calls(engine=engine, settings=settings, placer=failing, now=A_DAY_LATER)
    assert _feedback(engine, other_id).call_placed_at is None  # unclaimed: tried again
    placer = RecordingPlacer()
    tasks.place_feedback_calls(engine=engine, settings=settings, placer=placer, now=A_DAY_LATER)
    assert other_phone in placer.called and stopped_phone not in placer.called
    assert _feedback(engine, stopped_id).rating is None


@pytest.mark.parametrize("digits", ["7", ""])
def test_a_wrong_key_on_the_feedback_call_is_asked_again(
    engine: Engine, settings: Settings, digits: str
) -> None:
    request_id, citizen_phone = _completed_visit(engine, settings)
    tasks.place_feedback_calls(
        engine=engine, settings=settings, placer=RecordingPlacer(), now=A_DAY_LATER
    )
    app: FastAPI = build_app(settings, engine)
    app.dependency_overrides[get_clock] = lambda: FixedClock(A_DAY_LATER)
    call = phone(
        app, caller=settings.twilio_from_number, called=citizen_phone, direction="outbound-api"
    )
    call.dial()
    call.press(digits) if digits else call.silence()
    assert not call.ended and call.gather is not None
    assert _feedback(engine, request_id).rating is None

"""Every webhook of the line replayed: a call that books, a call put through to the queue and
one that asks for a call-back, the status callbacks of calls and SMS, agents' and citizens'
SMS; each POST sent again 1-3 times in order, shuffled and a day later, exactly as Twilio
would retry it. The replays change nothing: one request per booking, one charge, one SMS,
one audit entry per change, no status moved back."""

from __future__ import annotations

import uuid

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from dispatch.agents.models import Agent
from dispatch.calls import service as call_service
from dispatch.citizens.models import Citizen
from dispatch.config import Settings
from dispatch.db import read_session, write_session
from dispatch.notifications import service as notification_service
from dispatch.notifications.models import OutboxMessage
from ivr.standin import signed_headers, twilio_params
from tests import factories
from tests.conftest import unique_phone
from tests.ivr.caller import heard, phone
from tests.ivr.conftest import FixedClock
from tests.replay import Mode, assert_replays_change_nothing, record

#: The routes these scenarios record (tests/web/test_replay_routes.py checks every POST route
#: of the app is some scenario's).
COVERED = {
    "/ivr/voice/incoming",
    "/ivr/voice/ask/{step}",
    "/ivr/voice/answer/{step}",
    "/ivr/voice/status",
    "/ivr/voice/queue/wait",
    "/ivr/sms/status",
    "/ivr/sms/incoming",
}
SEEDS = (7, 2030)


class SidSender:
    """An SMS provider that answers each message with a new SID."""

    def send(
        self, *, to: str, body: str, template_id: str | None = None, reference: str | None = None
    ) -> str:
        return f"SM{uuid.uuid4().hex}"


def _signed(client: TestClient, settings: Settings, path: str, params: dict[str, str]) -> None:
    """`params` posted to `path` as Twilio sends them (signed for the public URL): a 200."""
    headers = signed_headers(settings, settings.public_base_url + path, params)
    response = client.post(path, data=params, headers=headers)
    assert response.status_code == 200, response.text


def _sms(client: TestClient, settings: Settings, sender: str, body: str) -> None:
    params = {
        "MessageSid": f"SM{uuid.uuid4().hex}",
        "AccountSid": settings.twilio_account_sid,
        "From": sender,
        "To": settings.twilio_from_number,
        "Body": body,
        "NumSegments": "1",
    }
    _signed(client, settings, "/ivr/sms/incoming", params)


def _report(client: TestClient, settings: Settings, sid: str, status: str) -> None:
    params = {
        "AccountSid": settings.twilio_account_sid,
        "ApiVersion": "2010-04-01",
        "MessageSid": sid,
        "SmsSid": sid,
        "MessageStatus": status,
        "SmsStatus": status,
    }
    _signed(client, settings, "/ivr/sms/status", params)


def _calls(app: FastAPI, engine: Engine, clock: FixedClock) -> None:
    """A booking call, a call queued for a person (its hold music and its end), a call-back
    asked for after a long wait."""
    settings: Settings = app.state.settings
    booking = phone(app, caller=unique_phone())
    booking.dial()
    for key in ("2", "1", "2", "192201", "1", "1"):
        booking.press(key)
    booking.press("1")
    assert "Your visit is booked" in heard(booking)
    booking.hangup()

    queued = phone(app, caller=unique_phone())
    queued.dial()
    assert queued.gather is not None
    first = str(queued.gather["action"])
    queued.press("2")
    queued._turn(first, {"Digits": "1"})  # a late answer to a step gone by: asked again
    assert queued.gather is not None and "/answer/main_menu" in str(queued.gather["action"])
    queued.press("0")
    assert queued.queued
    enqueue = next(v for v in queued.verbs if v["verb"] == "enqueue")
    hold = {"QueueSid": "QU" + "1" * 32, "QueueTime": "30", "QueuePosition": "1"}
    extra = {"Direction": "inbound"}
    for url, more in ((enqueue["waitUrl"], hold), (enqueue["action"], {"QueueResult": "bridged"})):
        params = twilio_params(
            settings, call_sid=queued.call_sid, caller=queued.caller, called="1447", **extra
        )
        queued.post(str(url), params | more)
    queued.hangup()

    with write_session(engine) as session:  # a long wait: 0 offers a call-back
        for waited in (900, 1000):
            call_service.record_queue_wait(
                session=session,
                queue=settings.call_agent_queue,
                waited_s=waited,
                result="bridged",
                now=clock.now(),
            )
    later = phone(app, caller=unique_phone())
    later.dial()
    later.press("2")
    later.press("0")
    later.press("1")
    assert "call you back on this number" in heard(later)


def _messages(app: FastAPI, engine: Engine, clock: FixedClock) -> None:
    """An agent's arrival, a wrong visit code then the right one, a malformed report and
    HELP; a citizen's rating, STOP and START; a message's delivery reports."""
    settings: Settings = app.state.settings
    client = TestClient(app)
    with write_session(engine) as session:
        request, _ = factories.booked_request(session, district_code="PLW", now=clock.now())
        session.refresh(request)
        agent = session.get(Agent, request.agent_id)
        citizen = session.get(Citizen, request.citizen_id)
        assert agent is not None and citizen is not None
        ref, code, agent_phone, citizen_phone = (
            request.reference,
            request.visit_code,
            agent.phone,
            citizen.phone,
        )
    wrong = f"{(int(code or 0) + 1) % 10000:04d}"
    for body in (f"ARR {ref}", "DONE", f"DONE {ref} {wrong}", f"DONE {ref} {code}", "HELP"):
        _sms(client, settings, agent_phone, body)
    for body in ("5", "STOP", "START"):
        _sms(client, settings, citizen_phone, body)
    with write_session(engine) as session:
        message = notification_service.queue(
            session=session, to=unique_phone(), body="Your visit is booked.", kind="test"
        )
        message_id = message.id
    assert message_id is not None
    notification_service.send(engine=engine, message_id=message_id, sender=SidSender())
    with read_session(engine) as session:
        sid = session.get(OutboxMessage, message_id).provider_id  # type: ignore[union-attr]
    assert sid is not None
    for status in ("queued", "sent", "delivered"):
        _report(client, settings, sid, status)


@pytest.mark.parametrize("mode", list(Mode))
@pytest.mark.parametrize("seed", SEEDS)
def test_every_webhook_replayed_changes_nothing(
    app: FastAPI, engine: Engine, clock: FixedClock, mode: Mode, seed: int
) -> None:
    recorder = record(app)
    _calls(app, engine, clock)
    _messages(app, engine, clock)
    assert_replays_change_nothing(
        app, engine, clock, recorder, covered=COVERED, mode=mode, seed=seed
    )

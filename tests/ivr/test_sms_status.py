"""Delivery reports (POST /ivr/sms/status) through `create_app`, signed the way Twilio signs
them: they move a message forward only (a replayed or late report changes nothing), settle a
message whose SID we never learned by the reference in the URL, refuse a forged signature
(403), and answer 200 for a message we do not know."""

from __future__ import annotations

import urllib.parse

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from twilio.request_validator import RequestValidator

from dispatch.config import Settings
from dispatch.db import read_session, write_session
from dispatch.notifications import service as notification_service
from dispatch.notifications.models import MessageStatus, OutboxMessage
from dispatch.ports import SmsOutcomeUnknown
from tests.conftest import unique_phone

PATH = "/ivr/sms/status"


class FakeSender:
    """Answers with a new SID each time, or times out after 'sending' while `timing_out`."""

    def __init__(self, *, timing_out: bool = False) -> None:
        self.timing_out = timing_out
        self.count = 0

    def send(
        self, *, to: str, body: str, template_id: str | None = None, reference: str | None = None
    ) -> str:
        if self.timing_out:
            raise SmsOutcomeUnknown("read timed out")
        self.count += 1
        return f"SM{unique_phone()[-10:]}{self.count:022d}"


def _message(engine: Engine, *, timing_out: bool = False) -> tuple[int, str | None]:
    with write_session(engine) as session:
        message = notification_service.queue(
            session=session, to=unique_phone(), body="Your visit is booked.", kind="test"
        )
        assert message.id is not None
        message_id = message.id
    notification_service.send(
        engine=engine, message_id=message_id, sender=FakeSender(timing_out=timing_out)
    )
    return message_id, _stored(engine, message_id).provider_id


def _stored(engine: Engine, message_id: int) -> OutboxMessage:
    with read_session(engine) as session:
        found = session.get(OutboxMessage, message_id)
        assert found is not None
        return found


def _report(
    client: TestClient,
    settings: Settings,
    *,
    sid: str,
    status: str,
    error: str | None = None,
    ref: str | None = None,
    signature: str | None = None,
) -> int:
    """POST a delivery report as Twilio does: form fields, signed over the public URL."""
    query = f"?{urllib.parse.urlencode({'ref': ref})}" if ref else ""
    params = {
        "AccountSid": "AC" + "0" * 32,
        "ApiVersion": "2010-04-01",
        "From": "+911447000000",
        "To": "+919876543210",
        "MessageSid": sid,
        "SmsSid": sid,
        "MessageStatus": status,
        "SmsStatus": status,
    }
    if error:
        params["ErrorCode"] = error
    url = settings.public_base_url + PATH + query
    token = settings.twilio_auth_token.get_secret_value()
    signed = signature or RequestValidator(token).compute_signature(url, params)
    response = client.post(PATH + query, data=params, headers={"X-Twilio-Signature": signed})
    return response.status_code


def test_reports_move_the_message_forward_and_keep_the_error_code(
    app: FastAPI, engine: Engine, settings: Settings
) -> None:
    client = TestClient(app)
    message_id, sid = _message(engine)
    assert sid is not None
    assert _report(client, settings, sid=sid, status="sent") == 200
    assert _stored(engine, message_id).provider_status == "sent"
    assert _report(client, settings, sid=sid, status="undelivered", error="30003") == 200
    message = _stored(engine, message_id)
    assert message.status is MessageStatus.UNDELIVERED and message.error_code == "30003"


def test_a_replayed_or_late_report_never_moves_a_message_back(
    app: FastAPI, engine: Engine, settings: Settings
) -> None:
    client = TestClient(app)
    message_id, sid = _message(engine)
    assert sid is not None
    assert _report(client, settings, sid=sid, status="delivered") == 200
    for late in ("delivered", "sent", "queued", "failed"):
        assert _report(client, settings, sid=sid, status=late) == 200
    message = _stored(engine, message_id)
    assert message.status is MessageStatus.DELIVERED and message.provider_status == "delivered"


def test_a_forged_signature_is_refused_and_changes_nothing(
    app: FastAPI, engine: Engine, settings: Settings
) -> None:
    client = TestClient(app)
    message_id, sid = _message(engine)
    assert sid is not None
    assert _report(client, settings, sid=sid, status="failed", signature="forged") == 403
    message = _stored(engine, message_id)
    assert message.status is MessageStatus.SENT and message.provider_status is None


def test_a_signature_over_another_reference_is_refused(
    app: FastAPI, engine: Engine, settings: Settings
) -> None:
    """The query is signed too: a report cannot be pointed at another message."""
    client = TestClient(app)
    message_id, _ = _message(engine, timing_out=True)
    token = settings.twilio_auth_token.get_secret_value()
    params = {"MessageSid": "SM" + "c" * 32, "MessageStatus": "delivered"}
    other = RequestValidator(token).compute_signature(
        settings.public_base_url + PATH + "?ref=1.1", params
    )
    response = client.post(
        f"{PATH}?ref={message_id}.1", data=params, headers={"X-Twilio-Signature": other}
    )
    assert response.status_code == 403
    assert _stored(engine, message_id).status is MessageStatus.UNCERTAIN


def test_a_report_about_an_unknown_message_is_answered_and_ignored(
    app: FastAPI, settings: Settings
) -> None:
    client = TestClient(app)
    assert _report(client, settings, sid="SM" + "d" * 32, status="delivered") == 200
    assert _report(client, settings, sid="SM" + "d" * 32, status="sent", ref="999999999.1") == 200


def test_our_reference_settles_a_message_whose_sid_we_never_learned(
    app: FastAPI, engine: Engine, settings: Settings
) -> None:
    client = TestClient(app)
    message_id, sid = _message(engine, timing_out=True)
    assert sid is None and _stored(engine, message_id).status is MessageStatus.UNCERTAIN
    late_sid = "SM" + "9" * 32
    assert _report(client, settings, sid=late_sid, status="sent", ref=f"{message_id}.1") == 200
    message = _stored(engine, message_id)
    assert message.status is MessageStatus.SENT and message.provider_id == late_sid
    assert _report(client, settings, sid=late_sid, status="delivered") == 200  # by SID now
    assert _stored(engine, message_id).status is MessageStatus.DELIVERED

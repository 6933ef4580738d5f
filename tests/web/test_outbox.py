"""The SMS outbox page (development only): every message newest first with its masked
recipient, segments, status and DLT template; a status filter; a re-send button (a plain form)
for messages given up on or uncertain, which queues them again and sends them."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from dispatch.audit import service as audit_service
from dispatch.config import Settings
from dispatch.db import read_session, write_session
from dispatch.notifications import service as notification_service
from dispatch.notifications.models import MessageStatus, OutboxMessage
from dispatch.ports import SmsOutcomeUnknown
from dispatch.staff.rules import Role
from dispatch.validation import mask_phone
from tests.conftest import registered_seed_dir, unique_phone
from tests.console import signed_in
from web.app import create_app

HINDI = "डिजीदोस्त: अनुरोध JK-26-000123-7 रद्द कर दिया गया है। कोई शुल्क नहीं लगेगा।"


class TimingOut:
    def send(self, *, to: str, body: str) -> str:
        raise SmsOutcomeUnknown("read timed out")


def _queued(session: Session, body: str, **extra: str) -> OutboxMessage:
    return notification_service.queue(
        session=session, to=unique_phone(), body=body, kind="cancelled", **extra
    )


def _uncertain(engine: Engine) -> OutboxMessage:
    with write_session(engine) as session:
        message = _queued(session, HINDI, template="cancelled", language="hi")
    assert message.id is not None
    notification_service.send(engine=engine, message_id=message.id, sender=TimingOut())
    return message


def test_the_page_lists_messages_newest_first_with_masked_numbers(
    app: FastAPI, engine: Engine
) -> None:
    with write_session(engine) as session:
        older = _queued(session, "Your visit is booked.")
        newer = _queued(session, HINDI, template="cancelled", language="hi")
    response = signed_in(app, engine, Role.CALL_AGENT).get("/outbox")
    assert response.status_code == 200
    assert response.template.name == "outbox/index.html"  # type: ignore[attr-defined]
    shown = [m.id for m in response.context["messages"]]  # type: ignore[attr-defined]
    assert shown.index(newer.id) < shown.index(older.id)
    html = response.text
    assert mask_phone(newer.to) in html and newer.to not in html
    assert HINDI in html and "UCS-2" in html and "DEV-cancelled-hi" in html
    assert 'href="/outbox"' in html  # in the navigation


def test_the_page_filters_by_status(app: FastAPI, engine: Engine) -> None:
    uncertain = _uncertain(engine)
    with write_session(engine) as session:
        queued = _queued(session, "still queued")
    client = signed_in(app, engine, Role.CALL_AGENT)
    response = client.get("/outbox", params={"status": "uncertain"})
    shown = {m.id for m in response.context["messages"]}  # type: ignore[attr-defined]
    assert uncertain.id in shown and queued.id not in shown
    assert all(m.status is MessageStatus.UNCERTAIN for m in response.context["messages"])  # type: ignore[attr-defined]
    assert client.get("/outbox", params={"status": "nonsense"}).status_code == 200  # all


def test_a_person_resends_an_uncertain_message_from_the_page(app: FastAPI, engine: Engine) -> None:
    message = _uncertain(engine)
    client = signed_in(app, engine, Role.CALL_AGENT)
    page = client.get("/outbox", params={"status": "uncertain"}).text
    assert f'action="/outbox/{message.id}/resend"' in page
    response = client.submit(f"/outbox/{message.id}/resend", {"status": "uncertain"})
    assert response.status_code == 303
    assert response.headers["location"] == f"/outbox?status=uncertain&resent={message.id}"
    with read_session(engine) as session:
        stored = notification_service.get(session=session, message_id=message.id or 0)
        # the development sender (the outbox) took it after the answer went out
        assert stored.status is MessageStatus.SENT and stored.attempts == 2
        [entry] = audit_service.history(
            session=session, entity="outbox_message", entity_id=message.id
        )
        assert entry.action == "resend" and entry.actor == f"staff:{client.user.username}"
    assert "is queued again" in client.get(response.headers["location"]).text


def test_a_sent_message_cannot_be_resent(app: FastAPI, engine: Engine) -> None:
    with write_session(engine) as session:
        message = _queued(session, "fine already")
    assert message.id is not None
    notification_service.send(
        engine=engine, message_id=message.id, sender=notification_service.OutboxSender()
    )
    client = signed_in(app, engine, Role.DISPATCHER)
    response = client.submit(f"/outbox/{message.id}/resend")
    assert response.status_code == 409
    page = client.get("/outbox").text
    assert f'action="/outbox/{message.id}/resend"' not in page


def test_production_serves_no_outbox(engine: Engine) -> None:
    production = Settings(
        env="production",
        database_url="sqlite://",
        public_base_url="https://1447.jk.gov.in",
        twilio_account_sid="AC" + "1" * 32,
        twilio_auth_token="a-real-token-from-the-vault",
        secret_key="a-real-secret-key-from-the-vault",
        simulator=False,
        sms_backend="twilio",
        scheduler=False,
        dlt_entity_id="1201160000000000001",
        dlt_header="JKDGDT-G",
        seed_dir=registered_seed_dir(),
    )
    client = TestClient(create_app(settings=production, engine=engine))
    assert client.get("/outbox").status_code == 404
    assert client.post("/outbox/1/resend").status_code in {404, 405}
    assert "/outbox" not in client.get("/").text

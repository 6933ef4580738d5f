"""An SMS provider answering 500s, 429s or timing out: the outbox retries with backoff, loses
nothing and sends nothing twice.

The real `twilio` client (`ivr.sms.TwilioSmsSender`) talks over a real socket to a small local
server standing in for Twilio's Messages resource, told per request to answer 500, 429 (with
`Retry-After`), 201 with a SID, or to take the message and then say nothing until the client
has given up (the provider DID accept it). The outbox's own send (`notification_service.send`,
what the outbox task and the after-the-answer delivery both run) drives it at chosen times.

How the outbox knows after a timeout: it does not guess. A message whose request went out with
no answer is `uncertain` and never sent again by itself; every attempt asks Twilio for delivery
reports at our public URL carrying our reference for that attempt (`?ref=<message>-<attempt>`),
and the signed report settles it as sent (or delivered) under the SID it never saw.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from twilio.request_validator import RequestValidator

from dispatch.config import Settings
from dispatch.db import read_session, write_session
from dispatch.notifications import rules
from dispatch.notifications import service as notification_service
from dispatch.notifications.models import MessageStatus, OutboxMessage
from ivr.sms import STATUS_CALLBACK_PATH, TwilioSmsSender
from tests.conftest import unique_phone
from tests.local_http import serving

T0 = dt.datetime(2035, 9, 3, 4, 0, tzinfo=dt.UTC)
#: The client's timeout here; the silent answer waits past it.
TIMEOUT_S = 0.5
RETRY_AFTER_S = 30


@dataclass
class Provider:
    """What the next requests get ("500", "429", "201", "silent": accepted, then no answer),
    and every request that reached it."""

    base_url: str = ""
    script: list[str] = field(default_factory=list)
    received: list[dict[str, str]] = field(default_factory=list)
    accepted: list[str] = field(default_factory=list)  # the bodies it took

    def took(self, body: str) -> int:
        return self.accepted.count(body)


@pytest.fixture
def provider() -> Iterator[Provider]:
    fake = Provider()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            form = {
                k: v[0] for k, v in urllib.parse.parse_qs(self.rfile.read(length).decode()).items()
            }
            fake.received.append(form)
            how = fake.script.pop(0) if fake.script else "201"
            sid = f"SM{len(fake.received):032d}"
            if how in {"201", "silent"}:
                fake.accepted.append(form["Body"])
            if how == "silent":
                time.sleep(TIMEOUT_S * 3)  # the client has gone: it never hears the SID
                return
            status = int(how)
            if status == 201:
                answer = {"sid": sid, "status": "queued"}
            else:
                answer = {
                    "code": 20429 if status == 429 else 20500,
                    "message": "no",
                    "status": status,
                }
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if status == 429:
                self.send_header("Retry-After", str(RETRY_AFTER_S))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            pass

    with serving(Handler) as base_url:
        fake.base_url = base_url
        yield fake


@pytest.fixture
def sender(provider: Provider, settings: Settings) -> Iterator[TwilioSmsSender]:
    with TwilioSmsSender(
        account_sid="AC" + "0" * 32,
        auth_token="test-auth-token",
        from_number="+911447000000",
        api_base_url=provider.base_url,
        status_callback=settings.public_base_url + STATUS_CALLBACK_PATH,
        timeout=TIMEOUT_S,
    ) as made:
        yield made


def queued(engine: Engine) -> tuple[int, str]:
    body = f"Doorstep test message {unique_phone()}"
    with write_session(engine) as s:
        message = notification_service.queue(
            session=s, to=unique_phone(), body=body, kind="test", now=T0
        )
        assert message.id is not None
        return message.id, body


def stored(engine: Engine, message_id: int) -> OutboxMessage:
    with read_session(engine) as s:
        found = s.get(OutboxMessage, message_id)
        assert found is not None
        return found


def due(engine: Engine, message_id: int, now: dt.datetime) -> bool:
    """Whether the outbox task would pick the message at `now`."""
    with read_session(engine) as s:
        # Every due message of the shared test database (other tests' too), not the first 50.
        due_now = notification_service.pending(session=s, now=now, limit=1_000_000)
        return message_id in [m.id for m in due_now]


def test_500_and_429_are_retried_after_the_backoff_and_sent_once(
    engine: Engine, provider: Provider, sender: TwilioSmsSender
) -> None:
    message_id, body = queued(engine)
    provider.script = ["500", "429", "201"]
    status = notification_service.send(engine=engine, message_id=message_id, sender=sender, now=T0)
    assert status is MessageStatus.QUEUED
    first = stored(engine, message_id)
    assert first.failures == 1 and first.next_attempt_at == T0 + rules.retry_wait(1)
    almost = T0 + rules.retry_wait(1) - dt.timedelta(seconds=1)
    assert not due(engine, message_id, almost)  # not before its backoff
    assert notification_service.send(engine=engine, message_id=message_id, sender=sender,
                                     now=almost) is None  # fmt: skip
    assert len(provider.received) == 1  # nothing reached the provider early
    t1 = T0 + rules.retry_wait(1)
    assert due(engine, message_id, t1)
    status = notification_service.send(engine=engine, message_id=message_id, sender=sender, now=t1)
    assert status is MessageStatus.QUEUED  # 429: refused, queued again
    second = stored(engine, message_id)
    assert second.failures == 2 and second.next_attempt_at == t1 + rules.retry_wait(2)
    # Twilio's Retry-After (30 s here) is not read (the twilio library drops the headers of an
    # error); the backoff is never shorter than it: a minute at first, doubling.
    assert second.next_attempt_at >= t1 + dt.timedelta(seconds=RETRY_AFTER_S)
    t2 = t1 + rules.retry_wait(2)
    status = notification_service.send(engine=engine, message_id=message_id, sender=sender, now=t2)
    assert status is MessageStatus.SENT
    sent = stored(engine, message_id)
    assert sent.provider_id and sent.attempts == 3 and sent.failures == 0
    assert provider.took(body) == 1 and len(provider.received) == 3
    later = t2 + dt.timedelta(days=1)
    assert not due(engine, message_id, later)
    assert notification_service.send(engine=engine, message_id=message_id, sender=sender,
                                     now=later) is None  # fmt: skip
    assert provider.took(body) == 1  # nothing sent twice


def test_a_timeout_after_the_provider_took_it_is_never_sent_again_and_its_report_settles_it(
    engine: Engine, provider: Provider, sender: TwilioSmsSender, app: FastAPI, settings: Settings
) -> None:
    message_id, body = queued(engine)
    provider.script = ["silent"]
    status = notification_service.send(engine=engine, message_id=message_id, sender=sender, now=T0)
    assert status is MessageStatus.UNCERTAIN
    assert stored(engine, message_id).provider_id is None  # the SID never reached us
    for later in (T0 + dt.timedelta(minutes=5), T0 + dt.timedelta(days=1)):
        assert not due(engine, message_id, later)
        assert notification_service.send(engine=engine, message_id=message_id, sender=sender,
                                         now=later) is None  # fmt: skip
    assert provider.took(body) == 1 and len(provider.received) == 1
    # The provider's report comes to the status callback it was given, our reference in it.
    [request] = provider.received
    callback = request["StatusCallback"]
    assert f"ref={rules.reference(message_id, 1)}" in callback
    params = {
        "AccountSid": "AC" + "0" * 32,
        "MessageSid": "SM" + "7" * 32,
        "MessageStatus": "delivered",
        "To": request["To"],
        "From": request["From"],
    }
    signature = RequestValidator("test-auth-token").compute_signature(callback, params)
    path = callback.removeprefix(settings.public_base_url)
    answer = TestClient(app).post(path, data=params, headers={"X-Twilio-Signature": signature})
    assert answer.status_code == 200
    settled = stored(engine, message_id)
    assert settled.status is MessageStatus.DELIVERED and settled.provider_id == "SM" + "7" * 32
    assert provider.took(body) == 1  # sent exactly once

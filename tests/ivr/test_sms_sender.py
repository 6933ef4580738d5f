"""TwilioSmsSender through the real twilio library: against Twilio's own OpenAPI spec served by
a local prism mock (tools/twilio-mock), and against a recording fake for what prism cannot show
(prism keeps no state, so the fields it received cannot be read back from it). Failures come
out as the SMS port's errors: refused or unreachable -> SmsNotAccepted (safe to retry); sent
but unanswered -> SmsOutcomeUnknown (never retried blindly)."""

from __future__ import annotations

import base64
import json
import re
import socket
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator

from dispatch.config import Settings
from dispatch.db import read_session, write_session
from dispatch.notifications import service as notification_service
from dispatch.notifications.models import MessageStatus
from dispatch.ports import SmsNotAccepted, SmsOutcomeUnknown
from ivr import twilio_api
from ivr.deps import make_sms_sender
from ivr.sms import STATUS_CALLBACK_PATH, TwilioSmsSender
from tests.ivr.twilio_mock import running_twilio_mock
from tests.local_http import serving

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "test-auth-token"
FROM_NUMBER = "+15005550006"
CITIZEN = "+919876543210"
MESSAGE_SID = re.compile(r"^SM[0-9a-fA-F]{32}$")


@pytest.fixture(scope="module")
def twilio_mock_url() -> Iterator[str]:
    """One prism process for the module: it takes a few seconds to start."""
    with running_twilio_mock() as base_url:
        yield base_url


@pytest.fixture
def sender(twilio_mock_url: str) -> Iterator[TwilioSmsSender]:
    with TwilioSmsSender(
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        from_number=FROM_NUMBER,
        api_base_url=twilio_mock_url,
        status_callback="https://doorstep.example.in/ivr/sms/status",
    ) as sender:
        yield sender


def test_send_returns_the_message_sid(sender: TwilioSmsSender) -> None:
    sid = sender.send(to=CITIZEN, body="Agent Meena will visit between 10:00 and 12:00.")

    assert MESSAGE_SID.fullmatch(sid)


def test_send_with_a_reference_in_the_status_callback_passes_the_spec(
    sender: TwilioSmsSender,
) -> None:
    """The status callback with our reference in its query is a valid StatusCallback URI."""
    sid = sender.send(
        to=CITIZEN, body="आपका अनुरोध दर्ज हो गया", template_id="DEV-booked-hi", reference="42.1"
    )

    assert MESSAGE_SID.fullmatch(sid)


def test_a_message_goes_through_prism_and_its_signed_report_comes_back(
    twilio_mock_url: str, app: FastAPI, engine: Engine, settings: Settings
) -> None:
    """The contract end to end: the outbox sends through the real twilio client to Twilio's
    spec (prism) with the status callback at our public URL and our reference; Twilio's report
    to that URL, signed with RequestValidator as Twilio signs it, goes through create_app and
    marks the message delivered."""
    callback = settings.public_base_url + STATUS_CALLBACK_PATH
    with write_session(engine) as session:
        message = notification_service.queue(
            session=session, to=CITIZEN, body="आपका अनुरोध दर्ज हो गया", kind="test"
        )
        assert message.id is not None
        message_id = message.id
    with TwilioSmsSender(
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        from_number=FROM_NUMBER,
        api_base_url=twilio_mock_url,
        status_callback=callback,
    ) as sender:
        assert notification_service.send(engine=engine, message_id=message_id, sender=sender) == (
            "sent"
        )
    with read_session(engine) as session:
        sid = notification_service.get(session=session, message_id=message_id).provider_id
    assert sid is not None and MESSAGE_SID.fullmatch(sid)

    url = f"{callback}?ref={message_id}.1"  # what Twilio was given, and so signs
    report = {
        "AccountSid": ACCOUNT_SID,
        "ApiVersion": "2010-04-01",
        "From": FROM_NUMBER,
        "To": CITIZEN,
        "MessageSid": sid,
        "SmsSid": sid,
        "MessageStatus": "delivered",
        "SmsStatus": "delivered",
    }
    assert settings.twilio_auth_token.get_secret_value() == AUTH_TOKEN
    signature = RequestValidator(AUTH_TOKEN).compute_signature(url, report)
    response = TestClient(app).post(
        url.removeprefix(settings.public_base_url),
        data=report,
        headers={"X-Twilio-Signature": signature},
    )

    assert response.status_code == 200
    with read_session(engine) as session:
        stored = notification_service.get(session=session, message_id=message_id)
        assert stored.status is MessageStatus.DELIVERED and stored.provider_status == "delivered"


def test_mock_rejects_a_malformed_account_sid(twilio_mock_url: str) -> None:
    """The AccountSid path parameter is checked against the spec's pattern ^AC[0-9a-f]{32}$."""
    with (
        TwilioSmsSender(
            account_sid="AC-not-a-real-account",
            auth_token=AUTH_TOKEN,
            from_number=FROM_NUMBER,
            api_base_url=twilio_mock_url,
        ) as sender,
        pytest.raises(SmsNotAccepted) as caught,
    ):
        sender.send(to=CITIZEN, body="hello")

    rejected = caught.value.__cause__
    assert isinstance(rejected, twilio_api.TwilioRejected) and rejected.status == 422
    assert isinstance(rejected.__cause__, TwilioRestException)
    assert caught.value.permanent  # the request itself is wrong: sending again cannot help


def test_mock_rejects_a_status_callback_that_is_not_a_url(twilio_mock_url: str) -> None:
    """StatusCallback has format uri in the spec; prism's validation answers 422."""
    with (
        TwilioSmsSender(
            account_sid=ACCOUNT_SID,
            auth_token=AUTH_TOKEN,
            from_number=FROM_NUMBER,
            api_base_url=twilio_mock_url,
            status_callback="not a url",
        ) as sender,
        pytest.raises(SmsNotAccepted) as caught,
    ):
        sender.send(to=CITIZEN, body="hello")

    rejected = caught.value.__cause__
    assert isinstance(rejected, twilio_api.TwilioRejected) and rejected.status == 422


def test_mock_rejects_a_message_without_to_as_twilio_rest_exception(twilio_mock_url: str) -> None:
    """twilio-python's create() makes To mandatory, so go one level down (Version.create) to
    send a request without it: prism answers 422 and twilio raises TwilioRestException."""
    with twilio_api.make_client(
        account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, api_base_url=twilio_mock_url
    ) as api:
        api_2010 = api._client.api.v2010
        with pytest.raises(TwilioRestException) as caught:
            api_2010.create(
                method="POST",
                uri=f"/Accounts/{ACCOUNT_SID}/Messages.json",
                data={"From": FROM_NUMBER, "Body": "hello"},
            )

    assert caught.value.status == 422


# --- a recording fake at a port: what exactly goes over the wire ---------------------------


@dataclass
class RecordedRequest:
    method: str
    path: str
    authorization: str
    form: dict[str, list[str]]


@dataclass
class FakeTwilio:
    """`behaviour`: "answer" (201 and a SID), "error" (500), "silent" (reads the request and
    waits until the client gave up), "hang_up" (reads it and closes the connection)."""

    base_url: str = ""
    requests: list[RecordedRequest] = field(default_factory=list)
    behaviour: str = "answer"


@pytest.fixture
def fake_twilio() -> Iterator[FakeTwilio]:
    """Answers every POST like Twilio's Messages resource and records what it was sent."""
    fake = FakeTwilio()
    recorded = fake.requests

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            form = urllib.parse.parse_qs(self.rfile.read(length).decode())
            recorded.append(
                RecordedRequest(
                    method="POST",
                    path=self.path,
                    authorization=self.headers.get("Authorization", ""),
                    form=form,
                )
            )
            if fake.behaviour == "silent":
                time.sleep(1.0)  # past the client's timeout: it has gone; say nothing
                return
            if fake.behaviour == "hang_up":
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if fake.behaviour == "error":
                answer = json.dumps({"code": 20500, "message": "Internal error", "status": 500})
                self.send_response(500)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer.encode())
                return
            answer = json.dumps({"sid": "SM" + "f" * 32, "status": "queued"}).encode()
            self.send_response(201)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: object) -> None:
            pass  # keep test output quiet

    with serving(Handler) as base_url:
        fake.base_url = base_url
        yield fake


def test_send_posts_the_message_fields_with_basic_auth(fake_twilio: FakeTwilio) -> None:
    with TwilioSmsSender(
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        from_number=FROM_NUMBER,
        api_base_url=fake_twilio.base_url + "/",
        status_callback="https://doorstep.example.in/ivr/sms/status",
    ) as sender:
        sid = sender.send(to=CITIZEN, body="आपका अनुरोध दर्ज हो गया")

    assert sid == "SM" + "f" * 32
    [request] = fake_twilio.requests
    assert request.path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    expected_auth = base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
    assert request.authorization == f"Basic {expected_auth}"
    assert request.form == {
        "To": [CITIZEN],
        "From": [FROM_NUMBER],
        "Body": ["आपका अनुरोध दर्ज हो गया"],
        "StatusCallback": ["https://doorstep.example.in/ivr/sms/status"],
    }


def test_send_without_status_callback_sends_no_such_field(fake_twilio: FakeTwilio) -> None:
    with TwilioSmsSender(
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        from_number=FROM_NUMBER,
        api_base_url=fake_twilio.base_url,
    ) as sender:
        sender.send(to=CITIZEN, body="hello")

    [request] = fake_twilio.requests
    assert "StatusCallback" not in request.form


def test_nothing_listening_is_not_accepted() -> None:
    """A refused connection surfaces as SmsNotAccepted (caused by TwilioUnreachable), not as a
    requests exception: nothing was sent, so it is safe to try again."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # The port was free a moment ago and nothing was started on it.
    with (
        TwilioSmsSender(
            account_sid=ACCOUNT_SID,
            auth_token=AUTH_TOKEN,
            from_number=FROM_NUMBER,
            api_base_url=f"http://127.0.0.1:{port}",
            timeout=2.0,
        ) as sender,
        pytest.raises(SmsNotAccepted) as caught,
    ):
        sender.send(to=CITIZEN, body="hello")

    assert isinstance(caught.value.__cause__, twilio_api.TwilioUnreachable)
    assert not caught.value.permanent


def test_api_base_url_must_be_an_http_url() -> None:
    with pytest.raises(ValueError, match="api_base_url"):
        twilio_api.make_client(
            account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, api_base_url="127.0.0.1:4010"
        )


def test_the_status_callback_carries_our_reference(fake_twilio: FakeTwilio) -> None:
    """Twilio posts delivery reports to the URL as given; our reference for the attempt rides
    in its query, so a report can name a message whose SID we never learned."""
    with TwilioSmsSender(
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        from_number=FROM_NUMBER,
        api_base_url=fake_twilio.base_url,
        status_callback="https://doorstep.example.in/ivr/sms/status",
    ) as sender:
        sender.send(to=CITIZEN, body="hello", template_id="DEV-booked-en", reference="42.3")

    [request] = fake_twilio.requests
    assert request.form["StatusCallback"] == ["https://doorstep.example.in/ivr/sms/status?ref=42.3"]
    assert "DEV-booked-en" not in str(request.form)  # Twilio takes no DLT template ID


def test_make_sms_sender_asks_for_reports_at_the_public_url(fake_twilio: FakeTwilio) -> None:
    settings = Settings(
        sms_backend="twilio",
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN,
        twilio_api_base_url=fake_twilio.base_url,
        public_base_url="https://1447.jk.gov.in/",
        database_url="sqlite://",
    )
    sender = make_sms_sender(settings)
    assert isinstance(sender, TwilioSmsSender)
    with sender:
        sender.send(to=CITIZEN, body="hello", reference="7.1")

    [request] = fake_twilio.requests
    assert request.form["StatusCallback"] == ["https://1447.jk.gov.in/ivr/sms/status?ref=7.1"]


def test_an_error_answer_is_not_accepted_and_may_be_retried(fake_twilio: FakeTwilio) -> None:
    fake_twilio.behaviour = "error"
    with (
        TwilioSmsSender(
            account_sid=ACCOUNT_SID,
            auth_token=AUTH_TOKEN,
            from_number=FROM_NUMBER,
            api_base_url=fake_twilio.base_url,
        ) as sender,
        pytest.raises(SmsNotAccepted) as caught,
    ):
        sender.send(to=CITIZEN, body="hello")

    assert caught.value.code == "20500" and not caught.value.permanent


@pytest.mark.parametrize("behaviour", ["silent", "hang_up"])
def test_no_answer_after_sending_is_an_unknown_outcome(
    fake_twilio: FakeTwilio, behaviour: str
) -> None:
    """The request reached the server, which may have taken the message: never 'not accepted'
    (that would invite a second SMS to the citizen)."""
    fake_twilio.behaviour = behaviour
    with (
        TwilioSmsSender(
            account_sid=ACCOUNT_SID,
            auth_token=AUTH_TOKEN,
            from_number=FROM_NUMBER,
            api_base_url=fake_twilio.base_url,
            timeout=0.5,
        ) as sender,
        pytest.raises(SmsOutcomeUnknown) as caught,
    ):
        sender.send(to=CITIZEN, body="hello")

    assert isinstance(caught.value.__cause__, twilio_api.TwilioNoAnswer)
    assert len(fake_twilio.requests) == 1

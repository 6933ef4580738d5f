"""The feedback call's placer through the real twilio library against Twilio's own OpenAPI
spec served by the local Prism mock: the request it makes is one Twilio accepts."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from ivr import twilio_api
from ivr.calls_out import TwilioCallPlacer
from tests.ivr.twilio_mock import running_twilio_mock

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
CALL_SID = re.compile(r"^CA[0-9a-fA-F]{32}$")


@pytest.fixture(scope="module")
def twilio_mock_url() -> Iterator[str]:
    with running_twilio_mock() as base_url:
        yield base_url


def test_a_feedback_call_is_placed_through_the_calls_api(twilio_mock_url: str) -> None:
    placer = TwilioCallPlacer(
        account_sid=ACCOUNT_SID,
        auth_token="test-auth-token",
        from_number="+15005550006",
        public_base_url="https://1447.example.gov.in",
        api_base_url=twilio_mock_url,
    )
    try:
        assert CALL_SID.match(placer.place(to="+919876543210"))
    finally:
        placer.close()


def test_a_refused_call_is_a_typed_error(twilio_mock_url: str) -> None:
    """Prism checks the request against the spec: a call without a number is refused."""
    client = twilio_api.make_client(
        account_sid=ACCOUNT_SID, auth_token="test-auth-token", api_base_url=twilio_mock_url
    )
    try:
        with pytest.raises(twilio_api.TwilioApiError):
            twilio_api.place_call(
                client, from_="+15005550006", to="", url="not a url", status_callback=None
            )
    finally:
        client.close()

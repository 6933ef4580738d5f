"""Twilio's signature on every Twilio route: the test walks every route of the app under
`/ivr/` (voice steps, incoming SMS, call and SMS status callbacks, the queue's hold music,
whatever is added later) and posts each one unsigned, forged, signed with another account's
token, signed for another URL, and signed for other parameters: 403 every time, and no row of
any table written. A correctly signed post to the same route is not refused (the refusals are
the signature's doing)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from dispatch.config import Settings
from ivr import signature
from ivr.webhooks import twilio_form
from tests.conftest import unique_phone
from tests.replay import api_routes, row_counts

PARAMS = {
    "CallSid": "CA" + "f" * 32,
    "MessageSid": "SM" + "f" * 32,
    "AccountSid": "AC" + "1" * 32,
    "From": "+919876500000",
    "To": "+911447000000",
    "Body": "DONE 1234",
    "Digits": "1",
    "CallStatus": "completed",
    "MessageStatus": "delivered",
}


def _twilio_routes(app: FastAPI) -> list[tuple[str, str]]:
    """(method, URL path) of every route under /ivr/, its path parameters filled in."""
    found = []
    for route in api_routes(app.routes):
        if route.path.startswith("/ivr/"):
            url = re.sub(r"\{[^}]+\}", "menu", route.path)
            found += [(method, url) for method in sorted(route.methods)]
    return found


def _checks_the_signature(route: APIRoute) -> bool:
    def calls(dependant: Any) -> Iterator[Any]:
        for dep in dependant.dependencies:
            yield dep.call
            yield from calls(dep)

    return twilio_form in set(calls(route.dependant))


def _forgeries(settings: Settings, path: str, params: dict[str, str]) -> dict[str, dict[str, str]]:
    url = signature.public_url(settings.public_base_url, path)
    token = settings.twilio_auth_token.get_secret_value()
    return {
        "unsigned": {},
        "empty": {signature.HEADER: ""},
        "garbage": {signature.HEADER: "bm90IGEgc2lnbmF0dXJl"},
        "another account's token": {
            signature.HEADER: signature.sign(auth_token="another-token", url=url, params=params)
        },
        "another URL": {
            signature.HEADER: signature.sign(
                auth_token=token, url=url.replace("/ivr/", "/ivr/x/"), params=params
            )
        },
        "the app's own URL, not the public one": {
            signature.HEADER: signature.sign(
                auth_token=token, url=f"http://testserver{path}", params=params
            )
        },
        "other parameters": {
            signature.HEADER: signature.sign(
                auth_token=token, url=url, params={**params, "Digits": "2"}
            )
        },
    }


def test_every_twilio_route_checks_the_signature(app: FastAPI) -> None:
    routes = [r for r in api_routes(app.routes) if r.path.startswith("/ivr/")]
    assert {r.path for r in routes} >= {
        "/ivr/voice/incoming",
        "/ivr/voice/status",
        "/ivr/sms/incoming",
        "/ivr/sms/status",
    }
    assert [r.path for r in routes if not _checks_the_signature(r)] == []


def test_forged_or_missing_signatures_get_403_and_write_nothing(
    app: FastAPI, engine: Engine, settings: Settings
) -> None:
    client = TestClient(app, raise_server_exceptions=True)
    params = {**PARAMS, "From": unique_phone()}
    before = row_counts(engine)
    answers = []
    routes = _twilio_routes(app)
    for method, path in routes:
        for name, headers in _forgeries(settings, path, params).items():
            status = client.request(method, path, data=params, headers=headers).status_code
            answers.append((method, path, name, status))
    assert len(routes) >= 7
    assert [a for a in answers if a[3] != 403] == []
    assert row_counts(engine) == before


def test_a_correctly_signed_post_is_not_refused(
    app: FastAPI, engine: Engine, settings: Settings
) -> None:
    """The control: what the forgeries lack is the only reason they were refused."""
    client = TestClient(app)
    params = {**PARAMS, "From": unique_phone(), "CallSid": "CA" + "e" * 32}
    for path in ("/ivr/voice/incoming", "/ivr/sms/status"):
        url = signature.public_url(settings.public_base_url, path)
        token = settings.twilio_auth_token.get_secret_value()
        headers = {signature.HEADER: signature.sign(auth_token=token, url=url, params=params)}
        assert client.post(path, data=params, headers=headers).status_code == 200

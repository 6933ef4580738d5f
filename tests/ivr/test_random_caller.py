"""A random caller: many short calls through one app, each answering the line's questions with
random digits, silence, long and unicode speech (Devanagari, Urdu, emoji, 10k characters) and
injection strings (SQL, TwiML-breaking `<Say>`, `]]>`, null bytes, CRLF) in every parameter
Twilio sends (Digits, SpeechResult, From, CallSid); and random SMS bodies from agents,
citizens and strangers. Every answer is a 2xx or 4xx, never a 5xx, and every voice answer is
valid TwiML of Twilio's verbs only."""

from __future__ import annotations

import random
import uuid

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from dispatch.agents.models import Agent
from dispatch.config import Settings
from dispatch.db import write_session
from ivr.standin import parse_twiml, path_of, signed_headers, twilio_params
from tests import factories
from tests.conftest import unique_phone
from tests.ivr.caller import check_twiml
from tests.ivr.conftest import FixedClock

WALKS_PER_SEED = 170  # 1020 calls per database, 2040 a run on both
TURNS = 4
SEEDS = (1, 2, 3, 4, 5, 6)
HOSTILE = [
    "",
    " ",
    "'; DROP TABLE doorstep_request; --",
    "1 OR 1=1",
    "</Say><Hangup/><Say>",
    "<?xml version='1.0'?><Response><Reject/></Response>",
    "]]>",
    "<![CDATA[x]]>",
    "a\x00b",
    "\x00",
    "line\r\nX-Injected: yes",
    "%0d%0aSet-Cookie: x=1",
    "{{7*7}}",
    "${jndi:ldap://x}",
    "मेरा पिन कोड एक नौ दो दो शून्य एक है",
    "میرا پن کوڈ",
    "😀🙏🏽" * 20,
    "x" * 10_000,
    "१९२२०१",
    "\u202eevil",
]
CALL_SIDS = ["CA" + "0" * 32, "", "CA", "CA" + "x" * 200, "CA'--", "CA\x00", "आ"]
FROMS = ["anonymous", "", "+", "+91", "+919876543210", "9876543210", "<x>", "'; --", "+1" * 40]


def _text(rng: random.Random) -> str:
    if rng.random() < 0.6:
        return rng.choice(HOSTILE)
    alphabet = "0123456789*#abcअआकخ😀<>&'\"\r\n\x00 "
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))


def _digits(rng: random.Random) -> str:
    if rng.random() < 0.7:
        return "".join(rng.choice("0123456789*#") for _ in range(rng.randint(0, 8)))
    return _text(rng)


class Line:
    def __init__(self, app: FastAPI) -> None:
        self.settings: Settings = app.state.settings
        self.client = TestClient(app, follow_redirects=False)
        self.base = self.settings.public_base_url.rstrip("/")

    def post(self, url: str, params: dict[str, str]) -> str | None:
        """POST signed; None when refused with a 4xx; the TwiML checked otherwise."""
        response = self.client.post(
            path_of(self.settings, url),
            data=params,
            headers=signed_headers(self.settings, url, params),
        )
        assert response.status_code < 500, (url, params, response.text[:300])
        if response.status_code >= 400:
            return None
        check_twiml(response.text, self.base)
        return response.text


def _walk(line: Line, rng: random.Random) -> None:
    """One call: dial, then a few turns of random answers (following redirects)."""
    sid = rng.choice(CALL_SIDS) if rng.random() < 0.3 else f"CA{uuid.uuid4().hex}"
    caller = rng.choice(FROMS) if rng.random() < 0.3 else unique_phone()
    url: str | None = line.base + "/ivr/voice/incoming"
    extra: dict[str, str] = {}
    for _turn in range(TURNS * 2):
        if url is None:
            return
        params = twilio_params(line.settings, call_sid=sid, caller=caller, called="1447")
        params.update(extra)
        if rng.random() < 0.1:
            params["From"] = _text(rng)
        answer = line.post(url, params)
        if answer is None:
            return
        verbs = parse_twiml(answer)
        url, extra = None, {}
        for verb in verbs:
            if verb["verb"] == "redirect":
                url = str(verb["text"])
            elif verb["verb"] == "gather":
                url = str(verb["action"])
                roll = rng.random()
                if roll < 0.45:
                    extra = {"Digits": _digits(rng)}
                elif roll < 0.85:
                    extra = {"SpeechResult": _text(rng), "Confidence": str(rng.random())}
    status = twilio_params(line.settings, call_sid=sid, caller=caller, called="1447")
    line.post(line.base + "/ivr/voice/status", status | {"CallStatus": "completed"})


@pytest.mark.parametrize("seed", SEEDS)
def test_random_callers_always_get_valid_twiml_and_never_a_server_error(
    app: FastAPI, seed: int
) -> None:
    line = Line(app)
    rng = random.Random(seed)
    for _ in range(WALKS_PER_SEED):
        _walk(line, rng)


def _sms(line: Line, sender: str, body: str, sid: str) -> None:
    params = {
        "MessageSid": sid,
        "AccountSid": line.settings.twilio_account_sid,
        "From": sender,
        "To": line.settings.twilio_from_number,
        "Body": body,
        "NumSegments": "1",
    }
    url = f"{line.base}/ivr/sms/incoming"
    response = line.client.post(
        "/ivr/sms/incoming", data=params, headers=signed_headers(line.settings, url, params)
    )
    assert response.status_code < 500, (params, response.text[:300])
    if response.status_code == 200:
        parse_twiml(response.text)


def test_random_sms_bodies_from_agents_citizens_and_strangers_never_fail(
    app: FastAPI, engine: Engine, clock: FixedClock
) -> None:
    line = Line(app)
    with write_session(engine) as session:
        request, _ = factories.booked_request(session, district_code="ANT", now=clock.now())
        agent = session.get(Agent, request.agent_id)
        assert agent is not None
        reference, agent_phone = request.reference, agent.phone
        citizen = factories.citizen(session).phone
    words = ["ARR", "DONE", "FAIL", "NOSHOW", "HELP", "STOP", "START", "5", "0", reference]
    rng = random.Random(19)
    for _ in range(300):
        sender = rng.choice([agent_phone, citizen, unique_phone(), rng.choice(FROMS)])
        parts = [rng.choice(words + HOSTILE) for _ in range(rng.randint(0, 4))]
        sid = rng.choice(CALL_SIDS) if rng.random() < 0.1 else f"SM{uuid.uuid4().hex}"
        _sms(line, sender, " ".join(parts), sid)

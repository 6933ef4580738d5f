"""The simulator's endpoints play Twilio's part: signed webhooks to the IVR in-process, TwiML
back as verbs, the end of the call reported with how it was logged."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from dispatch.config import Settings
from web.app import create_app


def _turn(client: TestClient, sid: str, caller: str, url: str, **input: str) -> Any:
    body = {"call_sid": sid, "caller": caller, "called": "1447", "url": url, **input}
    response = client.post("/simulator/api/turn", json=body)
    assert response.status_code == 200, response.text
    return response.json()["verbs"]


def test_the_page_is_a_softphone(app: FastAPI) -> None:
    response = TestClient(app).get("/simulator")
    assert response.status_code == 200
    assert response.template.name == "simulator/index.html"  # type: ignore[attr-defined]
    assert response.context["called"] == "1447"  # type: ignore[attr-defined]
    assert 'src="/static/simulator.js"' in response.text and 'data-key="#"' in response.text
    assert TestClient(app).get("/static/simulator.js").status_code == 200


def test_a_call_through_the_simulator_endpoints(app: FastAPI, caller: str) -> None:
    client = TestClient(app)
    dialled = client.post("/simulator/api/dial", json={"caller": caller, "called": "1447"})
    assert dialled.status_code == 200
    sid, verbs = dialled.json()["call_sid"], dialled.json()["verbs"]
    assert sid.startswith("CA") and len(sid) == 34
    gather = verbs[-1]
    assert gather["verb"] == "gather" and gather["numDigits"] == "1"
    welcome, *options = gather["children"]  # the welcome is said inside the language menu
    assert "DigiDost" in welcome["text"]
    assert [c["language"] for c in options] == ["hi-IN", "en-IN", "ur-IN"]
    verbs = _turn(client, sid, caller, gather["action"], digits="2")
    assert verbs[-1]["action"].split("?")[0].endswith("/answer/main_menu")
    assert "For a doorstep visit, press 1" in verbs[-1]["children"][0]["text"]
    verbs = _turn(client, sid, caller, verbs[-1]["action"], digits="0")
    enqueue = next(v for v in verbs if v["verb"] == "enqueue")
    hold = _turn(client, sid, caller, enqueue["waitUrl"])
    assert hold[0]["text"].startswith("You are number 1 in the queue")
    ended = client.post(
        "/simulator/api/hangup", json={"call_sid": sid, "caller": caller, "called": "1447"}
    )
    assert ended.json() == {"status": "transferred", "step": "queue", "reference": None}


def test_the_simulator_only_calls_this_lines_webhooks(app: FastAPI, caller: str) -> None:
    body = {
        "call_sid": "CA" + "0" * 32,
        "caller": caller,
        "called": "1447",
        "url": "https://evil.example.com/ivr/voice/incoming",
    }
    assert TestClient(app).post("/simulator/api/turn", json=body).status_code == 422


def test_the_simulator_can_be_turned_off(engine: Engine, settings: Settings) -> None:
    """In production it must be: it lets anyone choose the caller ID."""
    app = create_app(settings=settings.model_copy(update={"simulator": False}), engine=engine)
    assert TestClient(app).get("/simulator").status_code == 404


def test_the_page_offers_demo_citizens_only(app: FastAPI, engine: Engine) -> None:
    from dispatch.citizens import service as citizen_service
    from dispatch.db import write_session
    from tests.conftest import unique_phone

    with write_session(engine) as session:  # a real caller, registered by the line
        real = citizen_service.register(session=session, state_code="JK", phone=unique_phone())
    response = TestClient(app).get("/simulator")
    known = response.context["known"]  # type: ignore[attr-defined]
    assert known and all(c.demo for c in known)
    assert real.phone not in response.text

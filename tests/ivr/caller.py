"""Test helper: a caller on the line, through `create_app()` with signed Twilio requests.

`phone(app)` gives a `Call` (web.simulator) whose every answer is checked on the way: HTTP 200,
well-formed XML, only Twilio's verbs and attributes (the allow-list below), absolute action
URLs under the public base URL, no empty <Say>.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from dispatch.config import Settings
from ivr.standin import Call, path_of, signed_headers

# Twilio's voice verbs and nouns we may emit, each with the attributes Twilio documents.
ALLOWED: dict[str, set[str]] = {
    "Response": set(),
    "Say": {"voice", "language", "loop"},
    "Play": {"loop", "digits"},
    "Pause": {"length"},
    "Gather": {
        "action",
        "method",
        "timeout",
        "finishOnKey",
        "numDigits",
        "input",
        "language",
        "hints",
        "speechTimeout",
        "actionOnEmptyResult",
        "bargeIn",
        "profanityFilter",
        "speechModel",
        "enhanced",
        "partialResultCallback",
        "partialResultCallbackMethod",
        "maxSpeechTime",
        "debug",
    },
    "Redirect": {"method"},
    "Enqueue": {"action", "method", "waitUrl", "waitUrlMethod", "workflowSid", "maxQueueSize"},
    "Hangup": set(),
}
NESTABLE = {"Gather": {"Say", "Play", "Pause"}, "Response": set(ALLOWED) - {"Response"}}
URL_ATTRIBUTES = {"action", "waitUrl"}
LOCALES = {"hi-IN", "en-IN", "ur-IN"}


def check_twiml(xml: str, base_url: str) -> ET.Element:
    """Parse and check one TwiML answer; return its root."""
    root = ET.fromstring(xml)
    assert root.tag == "Response", xml

    def visit(el: ET.Element, parent: str) -> None:
        assert el.tag in ALLOWED, f"<{el.tag}> is not a verb we allow"
        assert el.tag in NESTABLE.get(parent, set()), f"<{el.tag}> inside <{parent}>"
        extra = set(el.attrib) - ALLOWED[el.tag]
        assert not extra, f"<{el.tag}> has attributes Twilio does not know: {extra}"
        for name in URL_ATTRIBUTES & set(el.attrib):
            assert el.attrib[name].startswith(base_url + "/ivr/voice/"), el.attrib[name]
        if el.tag == "Redirect":
            assert (el.text or "").startswith(base_url + "/ivr/voice/"), el.text
        if el.tag == "Say":
            assert (el.text or "").strip(), "an empty <Say>"
            assert el.attrib.get("language") in LOCALES, el.attrib
        if el.tag == "Gather":
            assert el.attrib.get("actionOnEmptyResult") == "true"
            assert el.attrib["input"] in {"dtmf", "dtmf speech"}
        for child in el:
            visit(child, el.tag)

    for child in root:
        visit(child, "Response")
    return root


@dataclass
class Line:
    """Posts signed requests to the app and keeps every TwiML answer it got."""

    client: TestClient
    settings: Settings
    answers: list[str] = field(default_factory=list)

    def post(self, url: str, params: dict[str, str]) -> str:
        response = self.client.post(
            path_of(self.settings, url),
            data=params,
            headers=signed_headers(self.settings, url, params),
        )
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/xml")
        check_twiml(response.text, self.settings.public_base_url.rstrip("/"))
        self.answers.append(response.text)
        return response.text


def phone(
    app: FastAPI,
    *,
    caller: str,
    called: str = "1447",
    call_sid: str | None = None,
    direction: str = "inbound",
) -> Call:
    settings: Settings = app.state.settings
    line = Line(TestClient(app), settings)
    call = Call(
        post=line.post, settings=settings, caller=caller, called=called, direction=direction
    )
    if call_sid:
        call.call_sid = call_sid
    return call


def heard(call: Call) -> str:
    """Everything said in the last turn, as one string."""
    return " ".join(call.said)


def say_languages(call: Call) -> set[Any]:
    out: set[Any] = set()
    for verb in call.verbs:
        for v in [verb, *verb.get("children", [])]:
            if v["verb"] == "say":
                out.add(v.get("language"))
    return out

"""The phone simulator: try the 1447 line without a phone line.

The page `/simulator` is a softphone (web/templates/simulator/, web/static/simulator.js); its
JSON endpoints play Twilio's part: each builds the parameters Twilio would send, signs them with
the auth token for the configured public URL, posts them to the IVR webhooks of this very app
(in-process, through the ASGI app) and returns the TwiML parsed into plain verbs. The IVR
cannot tell the simulator from Twilio. `Call` does the same from Python, for `doorstep call`
(web/phone.py) and the tests.
"""

from __future__ import annotations

import secrets
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field
from sqlmodel import col, select

from dispatch.calls import service as call_service
from dispatch.citizens.models import Citizen
from dispatch.config import Settings
from dispatch.db import read_session
from dispatch.requests import service as request_service
from dispatch.states import service as state_service
from ivr import signature
from web.deps import EngineDep, ReadSessionDep, SettingsDep
from web.templating import templates

VerbJson = dict[str, Any]
#: Known citizens offered as caller IDs on the page (to hear the returning-caller greeting).
KNOWN_CALLERS = 6
#: Posts signed parameters to a webhook URL and returns the TwiML answered.
Post = Callable[[str, dict[str, str]], str]


def parse_twiml(xml: str) -> list[VerbJson]:
    """TwiML -> verbs as JSON-able dicts (what the browser plays)."""
    root = ET.fromstring(xml)
    if root.tag != "Response":
        raise ValueError(f"not TwiML: <{root.tag}>")
    return [_verb(el) for el in root]


def _verb(el: ET.Element) -> VerbJson:
    name = el.tag.lower()
    verb: VerbJson = {"verb": name, **el.attrib}
    if name == "gather":
        verb["children"] = [_verb(child) for child in el]
    elif el.text and el.text.strip():
        verb["text"] = el.text.strip()
    return verb


def new_call_sid() -> str:
    return "CA" + uuid.uuid4().hex


def twilio_params(
    settings: Settings, *, call_sid: str, caller: str, called: str, **extra: str
) -> dict[str, str]:
    """The parameters Twilio posts for an inbound call, plus `extra` (Digits, ...)."""
    params = {
        "AccountSid": settings.twilio_account_sid,
        "ApiVersion": "2010-04-01",
        "CallSid": call_sid,
        "CallStatus": "in-progress",
        "Direction": "inbound",
        "From": caller,
        "To": called,
        "Caller": caller,
        "Called": called,
    }
    params.update({k: v for k, v in extra.items() if v != ""})
    return params


def signed_headers(settings: Settings, url: str, params: dict[str, str]) -> dict[str, str]:
    sig = signature.sign(auth_token=settings.twilio_auth_token, url=url, params=params)
    return {signature.HEADER: sig}


def path_of(settings: Settings, url: str) -> str:
    """The app-relative path of a webhook URL under the public base URL."""
    base = settings.public_base_url.rstrip("/")
    if not url.startswith(base + "/ivr/voice/"):
        raise ValueError(f"{url!r} is not a webhook of this line")
    return url[len(base) :]


@dataclass
class Call:
    """One simulated call, driven turn by turn: follows <Redirect>, stops at <Gather>,
    <Enqueue> (after one round of hold) and <Hangup>."""

    post: Post
    settings: Settings
    caller: str
    called: str
    call_sid: str = field(default_factory=new_call_sid)
    verbs: list[VerbJson] = field(default_factory=list)  # everything played this turn
    gather: VerbJson | None = None
    queued: bool = False
    ended: bool = False

    def url(self, path: str) -> str:
        return self.settings.public_base_url.rstrip("/") + path

    def dial(self) -> list[VerbJson]:
        return self._turn(self.url("/ivr/voice/incoming"), {})

    def press(self, digits: str) -> list[VerbJson]:
        return self._answer({"Digits": digits})

    def say(self, speech: str) -> list[VerbJson]:
        return self._answer({"SpeechResult": speech, "Confidence": "0.92"})

    def silence(self) -> list[VerbJson]:
        return self._answer({})

    def hangup(self, duration_s: int = 60) -> None:
        extra = {"CallStatus": "completed", "CallDuration": str(duration_s)}
        params = twilio_params(
            self.settings, call_sid=self.call_sid, caller=self.caller, called=self.called
        )
        params.update(extra)
        self.post(self.url("/ivr/voice/status"), params)
        self.ended = True

    def _answer(self, extra: dict[str, str]) -> list[VerbJson]:
        if self.gather is None:
            raise RuntimeError("the line is not waiting for an answer")
        return self._turn(str(self.gather["action"]), extra)

    def _turn(self, url: str, extra: dict[str, str]) -> list[VerbJson]:
        self.verbs, self.gather = [], None
        for _hop in range(10):  # redirects are followed; a loop of them is a bug
            params = twilio_params(
                self.settings,
                call_sid=self.call_sid,
                caller=self.caller,
                called=self.called,
                **extra,
            )
            verbs = parse_twiml(self.post(url, params))
            self.verbs += verbs
            last = verbs[-1] if verbs else {"verb": "hangup"}
            if last["verb"] == "redirect":
                url, extra = str(last["text"]), {}
                continue
            if last["verb"] == "gather":
                self.gather = last
            elif last["verb"] == "enqueue":
                self.queued = True
                hold = self.post(str(last["waitUrl"]), params | {"QueuePosition": "1"})
                self.verbs += parse_twiml(hold)
            else:
                self.ended = True
            return self.verbs
        raise RuntimeError("too many redirects")

    @property
    def said(self) -> list[str]:
        """The words spoken this turn, in order (inside gathers too)."""
        out: list[str] = []
        for verb in self.verbs:
            for v in [verb, *verb.get("children", [])]:
                if v["verb"] == "say":
                    out.append(str(v.get("text", "")))
        return out


# --- the page and its JSON endpoints -----------------------------------------------------------

router = APIRouter(prefix="/simulator", tags=["simulator"])


class Dial(BaseModel):
    caller: str = Field(min_length=3, max_length=20)
    called: str = Field(min_length=3, max_length=20)


class Turn(Dial):
    call_sid: str = Field(min_length=10, max_length=64)
    url: str = ""
    digits: str = Field(default="", max_length=32)
    speech: str = Field(default="", max_length=300)


async def _post_in_process(request: Request, url: str, params: dict[str, str]) -> str:
    settings: Settings = request.app.state.settings
    try:
        path = path_of(settings, url)
    except ValueError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc
    transport = httpx.ASGITransport(app=request.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://simulator") as client:
        response = await client.post(
            path, data=params, headers=signed_headers(settings, url, params)
        )
    if response.status_code != 200:
        raise HTTPException(status_code=502, detail=f"the IVR answered {response.status_code}")
    return response.text


@router.get("", response_class=HTMLResponse)
def page(request: Request, session: ReadSessionDep, settings: SettingsDep) -> HTMLResponse:
    """The softphone; a new caller's number by default, known citizens to pick from."""
    states = state_service.list_all(session=session)
    default = next((s for s in states if s.code == settings.default_state), None)
    known = session.exec(
        select(Citizen)
        .where(Citizen.state_code == settings.default_state)
        .order_by(col(Citizen.id))
        .limit(KNOWN_CALLERS)
    ).all()
    context = {
        "states": states,
        "called": default.toll_free if default else "",
        "caller": f"+9198{secrets.randbelow(10**8):08d}",
        "known": known,
    }
    return templates.TemplateResponse(request, "simulator/index.html", context)


@router.post("/api/dial")
async def dial(body: Dial, request: Request, settings: SettingsDep) -> dict[str, Any]:
    call_sid = new_call_sid()
    params = twilio_params(settings, call_sid=call_sid, caller=body.caller, called=body.called)
    url = settings.public_base_url.rstrip("/") + "/ivr/voice/incoming"
    twiml = await _post_in_process(request, url, params)
    return {"call_sid": call_sid, "verbs": parse_twiml(twiml)}


@router.post("/api/turn")
async def turn(body: Turn, request: Request, settings: SettingsDep) -> dict[str, Any]:
    """Post to a Gather/Redirect URL (with keys or speech) or fetch a queue's hold answer."""
    extra = {"Digits": body.digits, "SpeechResult": body.speech}
    if body.speech:
        extra["Confidence"] = "0.92"
    if body.url.endswith("/ivr/voice/queue/wait"):
        extra["QueuePosition"] = "1"
    params = twilio_params(
        settings, call_sid=body.call_sid, caller=body.caller, called=body.called, **extra
    )
    twiml = await _post_in_process(request, body.url, params)
    return {"verbs": parse_twiml(twiml)}


@router.post("/api/hangup")
async def hangup(
    body: Turn, request: Request, settings: SettingsDep, engine: EngineDep
) -> dict[str, Any]:
    """Twilio's status callback for the end of the call; returns how the call was logged."""
    params = twilio_params(
        settings,
        call_sid=body.call_sid,
        caller=body.caller,
        called=body.called,
        CallStatus="completed",
        CallDuration="60",
    )
    await _post_in_process(
        request, settings.public_base_url.rstrip("/") + "/ivr/voice/status", params
    )
    with read_session(engine) as session:
        call = call_service.find(session=session, call_sid=body.call_sid)
        if call is None:
            return {"status": "unknown"}
        reference = None
        if call.request_id is not None:
            reference = request_service.get(session=session, request_id=call.request_id).reference
        return {"status": call.status.value, "step": call.ended_step, "reference": reference}

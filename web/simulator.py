"""The phone simulator (development only): try the 1447 line without a phone line.

The page `/simulator` is a softphone (web/templates/simulator/, web/static/simulator.js); its
JSON endpoints play Twilio's part through `ivr.standin`: each builds the parameters Twilio
would send, signs them with the auth token for the configured public URL, posts them to the IVR
webhooks of this very app (in-process, through the ASGI app) and returns the TwiML parsed into
plain verbs. Anyone using it picks a caller ID, so `create_app` mounts it only when
`DOORSTEP_SIMULATOR` is on, which production refuses; the page offers demo citizens only.
"""

from __future__ import annotations

import secrets
from typing import Any

import httpx
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field
from sqlmodel import col, select

from dispatch.agents.models import Agent
from dispatch.calls import service as call_service
from dispatch.citizens.models import Citizen
from dispatch.config import Settings
from dispatch.db import read_session
from dispatch.requests import service as request_service
from dispatch.states import service as state_service
from ivr.standin import new_call_sid, parse_twiml, path_of, signed_headers, twilio_params
from web.deps import EngineDep, ReadSessionDep, SettingsDep
from web.templating import templates

#: Demo citizens offered as caller IDs on the page (to hear the returning-caller greeting).
KNOWN_CALLERS = 6

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
    """The softphone; a new caller's number by default, demo citizens (and field agents, for
    their menu) to pick from."""
    states = state_service.list_all(session=session)
    default = next((s for s in states if s.code == settings.default_state), None)
    known = session.exec(
        select(Citizen)
        .where(Citizen.state_code == settings.default_state, col(Citizen.demo))
        .order_by(col(Citizen.id))
        .limit(KNOWN_CALLERS)
    ).all()
    agents = session.exec(
        select(Agent)
        .where(Agent.state_code == settings.default_state, col(Agent.active))
        .order_by(col(Agent.id))
        .limit(KNOWN_CALLERS)
    ).all()
    context = {
        "agents": agents,
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

"""Phone numbers in full only for the roles that ring them: a citizen's for those who ring
callers back (the `callbacks` permission: call agents, supervisors, admins), an agent's for
those who run the day (`dispatch`: dispatchers, admins). Every role walks every GET page it may
open (the permission matrix's routes, with this test's own request, agent, day and citizen in
the addresses) and never sees a full number it has no need of, in any spelling."""

from __future__ import annotations

import datetime as dt
import re
import uuid

import pytest
from fastapi import FastAPI
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from dispatch import validation
from dispatch.agents.models import Agent
from dispatch.calls.models import Callback, CallbackReason
from dispatch.citizens import service as citizen_service
from dispatch.db import write_session
from dispatch.requests.models import DoorstepRequest
from dispatch.staff.rules import Permission, Role, allows
from tests import factories
from tests.console import Console, signed_in
from tests.ivr.conftest import FixedClock
from tests.web.test_permissions import _console_routes


def _spellings(phone: str) -> list[str]:
    """A number as a page might print it: E.164, ten digits, 5 + 5."""
    national = phone.removeprefix("+91")
    return [phone, national, f"{national[:5]} {national[5:]}"]


def _seeded(engine: Engine, clock: FixedClock) -> tuple[DoorstepRequest, Agent | None, Callback]:
    """A citizen's request booked into a window (an agent on it once planned) and a call-back
    waiting for the same citizen."""
    with write_session(engine) as session:
        request, _ = factories.booked_request(session, district_code="SXR", now=clock.at)
        citizen = citizen_service.get(session=session, citizen_id=request.citizen_id)
        callback = Callback(
            state_code="JK",
            call_sid=f"CA{uuid.uuid4().hex}",
            phone=citizen.phone,
            citizen_id=citizen.id,
            reason=CallbackReason.NO_WINDOW,
        )
        session.add(callback)
        session.flush()
        agent = session.get(Agent, request.agent_id) if request.agent_id else None
        if agent is None:  # any agent of the district: its pages show its number
            agent = session.exec(select(Agent).order_by(col(Agent.id))).first()
        return request, agent, callback


def _urls(
    app: FastAPI, request: DoorstepRequest, agent: Agent | None, day: dt.date
) -> dict[str, Permission]:
    values = {
        "request_id": str(request.id),
        "agent_id": str(agent.id if agent else 1),
        "day": day.isoformat(),
        "table": "requests",
        "call_id": "1",
        "run_id": "1",
        "grievance_id": "1",
        "service_id": str(request.service_id),
        "client_id": "1",
    }
    out: dict[str, Permission] = {}
    for method, path, permission in _console_routes(app):
        if method == "GET":
            url = re.sub(r"\{([^}]+)\}", lambda m: values.get(m.group(1), "1"), path)
            out[url] = permission
    district = f"district={request.district_id}&day={day.isoformat()}"
    out[f"/requests?citizen={request.citizen_id}"] = Permission.VIEW_REQUESTS
    out[f"/board?{district}"] = Permission.DISPATCH
    out[f"/board/data?{district}"] = Permission.DISPATCH
    out[f"/board/routes?{district}"] = Permission.DISPATCH
    out[f"/plans?{district}"] = Permission.DISPATCH
    return out


def _walk(console: Console, urls: dict[str, Permission], role: Role) -> dict[str, str]:
    pages = {}
    for url, permission in urls.items():
        if not allows(role, permission):
            continue
        response = console.get(url)
        assert response.status_code < 500, f"{url}: {response.status_code}"
        pages[url] = response.text
    return pages


@pytest.mark.parametrize("role", list(Role))
def test_a_role_sees_a_full_number_only_where_it_needs_it(
    app: FastAPI, engine: Engine, clock: FixedClock, role: Role
) -> None:
    request, agent, callback = _seeded(engine, clock)
    with write_session(engine) as session:
        phone = citizen_service.get(session=session, citizen_id=request.citizen_id).phone
    console = signed_in(app, engine, role)
    day = (request.window_start or clock.at).astimezone(dt.timezone(dt.timedelta(hours=5.5))).date()
    pages = _walk(console, _urls(app, request, agent, day), role)
    assert f"/requests/{request.id}" in pages  # every role may open a request
    leaks = []
    needs_citizen = allows(role, Permission.CALLBACKS)
    needs_agent = allows(role, Permission.DISPATCH)
    for url, html in pages.items():
        if not needs_citizen:
            leaks += [f"{url}: citizen {s}" for s in _spellings(phone) if s in html]
        if not needs_agent and agent is not None:
            leaks += [f"{url}: agent {s}" for s in _spellings(agent.phone) if s in html]
    assert leaks == []
    detail = pages[f"/requests/{request.id}"]
    # and those who ring the citizen do see the number they ring
    assert (f'href="tel:{phone}"' in detail) is needs_citizen
    if not needs_citizen:
        assert validation.mask_phone(phone) in detail  # masked, not left out
    if agent is not None and request.agent_id == agent.id:
        assert (agent.phone in detail) is needs_agent
    callbacks = pages.get("/callbacks/list", "")
    assert (validation.mask_phone(phone) in callbacks) is needs_citizen  # the waiting call-back
    assert callback.id is not None

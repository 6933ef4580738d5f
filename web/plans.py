"""The plan board (read-only): one district's day — each agent's visits in order with ETAs,
and the requests still waiting for a place."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlmodel import Session, col, select

from dispatch.agents.models import Agent
from dispatch.catalogue.models import Service
from dispatch.citizens.models import Address
from dispatch.geography import service as geography_service
from dispatch.geography.models import Village
from dispatch.planning import store
from dispatch.planning.models import ZonePlan
from dispatch.requests.models import DoorstepRequest
from dispatch.requests.rules import PLANNED
from dispatch.states import service as state_service
from web.deps import ReadSessionDep, SettingsDep
from web.templating import templates

router = APIRouter()


@dataclass(frozen=True)
class Row:
    reference: str
    service: str
    village: str
    landmark: str
    window: str
    eta: str
    status: str


def _row(session: Session, req: DoorstepRequest, tz: ZoneInfo) -> Row:
    service = session.get(Service, req.service_id)
    address = session.get(Address, req.address_id)
    village = session.get(Village, address.village_id) if address else None

    def hm(t: dt.datetime | None) -> str:
        return t.astimezone(tz).strftime("%H:%M") if t else "—"

    return Row(
        reference=req.reference,
        service=service.name_en if service else "?",
        village=village.name if village else "?",
        landmark=address.landmark if address else "",
        window=f"{hm(req.window_start)}–{hm(req.window_end)}",
        eta=hm(req.planned_arrival),
        status=req.status.value,
    )


@router.get("/plans", response_class=HTMLResponse)
def plan_board(
    request: Request,
    session: ReadSessionDep,
    settings: SettingsDep,
    district: str | None = None,
    day: dt.date | None = None,
) -> HTMLResponse:
    state = state_service.get(session=session, code=settings.default_state)
    tz = ZoneInfo(state.timezone)
    districts = geography_service.districts(session=session, state_code=state.code)
    chosen = next((d for d in districts if d.code == district), districts[0] if districts else None)
    day = day or dt.datetime.now(tz).date()
    routes: list[tuple[Agent, list[Row]]] = []
    waiting: list[Row] = []
    version = 0
    if chosen is not None and chosen.id is not None:
        zone = session.get(ZonePlan, (chosen.id, day))
        version = zone.version if zone else 0
        stops = store.current_stops(session=session, district_id=chosen.id, day=day)
        by_agent: dict[int, list[Row]] = {}
        placed = set()
        for stop in stops:
            req = session.get(DoorstepRequest, stop.request_id)
            if req is not None:
                by_agent.setdefault(stop.agent_id, []).append(_row(session, req, tz))
                placed.add(stop.request_id)
        for agent_id, rows in by_agent.items():
            agent = session.get(Agent, agent_id)
            if agent is not None:
                routes.append((agent, rows))
        start = dt.datetime.combine(day, dt.time(), tz)
        open_requests = session.exec(
            select(DoorstepRequest).where(
                DoorstepRequest.district_id == chosen.id,
                col(DoorstepRequest.status).in_([s.value for s in PLANNED]),
                col(DoorstepRequest.window_start) >= start,
                col(DoorstepRequest.window_start) < start + dt.timedelta(days=1),
            )
        )
        waiting = [_row(session, r, tz) for r in open_requests if r.id not in placed]
    context = {
        "state": state,
        "districts": districts,
        "district": chosen,
        "day": day,
        "routes": routes,
        "waiting": waiting,
        "version": version,
    }
    return templates.TemplateResponse(request, "plans/board.html", context)

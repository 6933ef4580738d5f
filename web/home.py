"""The home page: which state this is, and what the catalogue, agents and geography hold."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlmodel import col, func, select

from dispatch.agents.models import Agent
from dispatch.catalogue.models import Service
from dispatch.geography.models import District
from dispatch.states import service as state_service
from web.deps import ReadSessionDep, SettingsDep
from web.templating import templates

router = APIRouter()


@router.get("/", response_class=HTMLResponse)
def home(request: Request, session: ReadSessionDep, settings: SettingsDep) -> HTMLResponse:
    state = state_service.get(session=session, code=settings.default_state)

    def count(model: type[Service] | type[Agent] | type[District], *where: object) -> int:
        stmt = select(func.count()).select_from(model).where(*where)  # type: ignore[arg-type]
        return int(session.exec(stmt).one())

    context = {
        "state": state,
        "services": count(Service, Service.state_code == state.code, col(Service.active)),
        "agents": count(Agent, Agent.state_code == state.code, col(Agent.active)),
        "districts": count(District, District.state_code == state.code),
        "other_states": [
            s for s in state_service.list_all(session=session) if s.code != state.code
        ],
    }
    return templates.TemplateResponse(request, "home/index.html", context)

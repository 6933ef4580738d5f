"""The plan board (read-only, development only until sign-in exists): one district's day —
each agent's visits in order with ETAs, and the requests still waiting for a place. Without a
choice it opens on the first day from today with planned visits."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from dispatch.geography import service as geography_service
from dispatch.planning import board as plan_board
from dispatch.states import service as state_service
from web.auth import Dispatcher
from web.deps import ReadSessionDep, SettingsDep
from web.templating import templates

router = APIRouter()


@router.get("/plans", response_class=HTMLResponse)
def plans(
    request: Request,
    user: Dispatcher,
    session: ReadSessionDep,
    settings: SettingsDep,
    district: str | None = None,
    day: dt.date | None = None,
) -> HTMLResponse:
    state = state_service.get(session=session, code=settings.default_state)
    tz = ZoneInfo(state.timezone)
    districts = geography_service.districts(session=session, state_code=state.code)
    today = dt.datetime.now(tz).date()
    if district is None and day is None:
        found = plan_board.next_day_with_visits(
            session=session, state_code=state.code, from_day=today
        )
        district, day = found if found else (None, today)
    day = day or today
    chosen = next((d for d in districts if d.code == district), districts[0] if districts else None)
    shown = None
    if chosen is not None and chosen.id is not None:
        shown = plan_board.board(
            session=session, district_id=chosen.id, day=day, timezone=state.timezone
        )
    context = {
        "state": state,
        "districts": districts,
        "district": chosen,
        "day": day,
        "board": shown,
        "tz": tz,
    }
    return templates.TemplateResponse(request, "plans/board.html", context)

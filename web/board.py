"""The dispatch board (`/board`, dispatchers): one district's day.

- Each agent's route in order (planned times, status, lock), the visits left out and why, and
  a map: Leaflet without any tile layer (nothing is fetched from the internet); it draws the
  district's served area from the seed data, the agents' bases, the visits and the routes.
  The map's data rides in the routes fragment as JSON (`<script type="application/json">`),
  and `/board/data` serves the same as JSON.
- The routes fragment (`/board/routes`) is polled every 10 s: it answers 204 (nothing to swap)
  while the board's stamp is the one the page holds, and re-renders routes, list and map
  data when anything changed.
- "Re-plan now" queues a run (`dispatch.planning.runs`; a hidden idempotency key makes a
  double submit one run) that the worker runs; its panel polls `/board/runs/{id}` every second
  while it is queued or running, then shows distance, lateness and left-out visits before and
  after, and the visits moved, and tells the routes to refresh.
- Lock or unlock an agent's route (audited): re-plans keep a locked route as it is.
- A visit a dispatcher kept with its agent (reassigned) says so, and who kept it.

Without a choice the board opens on the first district-day from today with planned visits.
Everything is of the dispatcher's own state: a district, agent or run of another is not found.
Days are a year either side of today (the product's clock); ids are checked to fit the
database's integers, so odd input gets a 404 or 422 page, never a server error.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy.engine import Engine
from sqlmodel import Session

from dispatch.config import Settings
from dispatch.db import read_session, utcnow, write_session
from dispatch.errors import NotFound
from dispatch.geography import service as geography_service
from dispatch.geography.models import District
from dispatch.planning import board as plan_board
from dispatch.planning import locks as route_locks
from dispatch.planning import runs as replan_runs
from dispatch.planning.models import ReplanRun, ReplanStatus
from dispatch.ports import Clock
from dispatch.staff import service as staff_service
from dispatch.staff.models import StaffUser
from dispatch.states import service as state_service
from dispatch.states.models import State
from ivr.deps import get_clock
from web.auth import Dispatcher
from web.deps import EngineDep, ReadSessionDep, SettingsDep
from web.templating import templates

router = APIRouter()
ClockDep = Annotated[Clock, Depends(get_clock)]
#: The largest id a database integer holds: a larger one is refused as input (422).
MAX_ID = 2**31 - 1
DistrictCode = Annotated[str, Query(max_length=8)]

#: Agents' colours on the map and beside their routes (Tableau 10: tell-apart, print-safe).
PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#59a14f",
    "#b07aa1",
    "#76b7b2",
    "#edc948",
    "#9c755f",
    "#ff9da7",
    "#e15759",
    "#bab0ac",
)
LEFT_OUT_COLOUR = "#6b7280"
#: A run queued this long with no worker taking it: the page says the worker may be off.
STALLED_AFTER_S = 20


@dataclass(frozen=True)
class Where:
    """The board the dispatcher asked for: state, district, local day."""

    state: State
    tz: ZoneInfo
    districts: list[District]
    district: District
    day: dt.date
    today: dt.date


def _where(
    session: Session,
    clock: Clock,
    user: StaffUser,
    district: str | None,
    day: dt.date | None,
) -> Where:
    """The user's state's district and the day asked for (404 for a district of another
    state; 422 for a day more than a year from today)."""
    state = state_service.get(session=session, code=user.state_code)
    tz = ZoneInfo(state.timezone)
    districts = geography_service.districts(session=session, state_code=state.code)
    if not districts:
        raise NotFound("district of state", state.code)
    today = clock.now().astimezone(tz).date()
    if day is not None:
        plan_board.check_day(day=day, today=today)
    if district is None and day is None:
        found = plan_board.next_day_with_visits(
            session=session,
            state_code=state.code,
            from_day=today,
            to_day=plan_board.day_range(today)[1],
        )
        district, day = found if found else (None, today)
    chosen = districts[0]
    if district is not None:
        match = [d for d in districts if d.code == district.upper()]
        if not match:
            raise NotFound("district", district)
        chosen = match[0]
    return Where(state, tz, districts, chosen, day or today, today)


def _hm(when: dt.datetime | None, tz: ZoneInfo) -> str | None:
    return when.astimezone(tz).strftime("%H:%M") if when else None


def colours(board: plan_board.Board) -> dict[int, str]:
    """Each agent's colour, by their place on the board."""
    return {r.agent.id or 0: PALETTE[i % len(PALETTE)] for i, r in enumerate(board.routes)}


def map_data(board: plan_board.Board, tz: ZoneInfo) -> dict[str, Any]:
    """What the map draws: the served area, bases, visits (left-out ones grey) and routes."""
    colour = colours(board)
    visits: list[dict[str, Any]] = []
    routes: list[dict[str, Any]] = []
    bases: list[dict[str, Any]] = []
    for route in board.routes:
        agent_id = route.agent.id or 0
        base = [route.base.lat, route.base.lon]
        bases.append(
            {
                "agent_id": agent_id,
                "name": route.agent.name,
                "place": route.base.name,
                "colour": colour[agent_id],
                "lat": route.base.lat,
                "lon": route.base.lon,
            }
        )
        for position, stop in enumerate(route.stops, start=1):
            visits.append(_visit(stop, tz, agent_id, position, colour[agent_id]))
        if route.stops:
            routes.append(
                {
                    "agent_id": agent_id,
                    "name": route.agent.name,
                    "colour": colour[agent_id],
                    "locked": route.locked,
                    "points": [base, *([s.lat, s.lon] for s in route.stops), base],
                }
            )
    for left in board.left_out:
        visits.append(_visit(left.row, tz, None, None, LEFT_OUT_COLOUR) | {"why": left.why})
    return {
        "district": board.district.name,
        "day": board.day.isoformat(),
        "version": board.version,
        "area": {
            "outline": [list(p) for p in board.area.outline],
            "blocks": [{"name": b.name, "lat": b.lat, "lon": b.lon} for b in board.area.blocks],
            "centre": [board.district.lat, board.district.lon],
        },
        "bases": bases,
        "visits": visits,
        "routes": routes,
    }


def _visit(
    row: plan_board.Row, tz: ZoneInfo, agent_id: int | None, position: int | None, colour: str
) -> dict[str, Any]:
    return {
        "request_id": row.request_id,
        "reference": row.reference,
        "service": row.service,
        "village": row.village,
        "lat": row.lat,
        "lon": row.lon,
        "agent_id": agent_id,
        "position": position,
        "status": row.status,
        "at_risk": row.at_risk,
        "eta": _hm(row.eta, tz),
        "window": f"{_hm(row.window_start, tz)}–{_hm(row.window_end, tz)}",
        "colour": colour,
        "left_out": agent_id is None,
        # A visit kept with its agent by a dispatcher: who kept it (on the map's label).
        "kept_by": _who(row.kept_by) if agent_id and row.kept_with == agent_id else None,
    }


def _who(actor: str | None) -> str:
    """Who did it, as the board names them: the staff account's username."""
    return (actor or "").removeprefix("staff:")


def _board(session: Session, where: Where) -> plan_board.Board:
    assert where.district.id is not None
    return plan_board.board(
        session=session,
        district_id=where.district.id,
        day=where.day,
        timezone=where.state.timezone,
    )


def _routes_context(session: Session, where: Where, board: plan_board.Board) -> dict[str, Any]:
    assert where.district.id is not None
    return {
        # Each lock form carries the version of its route's lock, so an old form sent again
        # after the lock changed does nothing (`route_locks.LockChangedMeanwhile`).
        "lock_versions": {
            r.agent.id: route_locks.route_version(
                session=session, district_id=where.district.id, day=where.day, agent_id=r.agent.id
            )
            for r in board.routes
            if r.agent.id is not None
        },
        "conflict": "",
        "where": where,
        "tz": where.tz,
        "board": board,
        "colours": colours(board),
        "agent_names": {r.agent.id: r.agent.name for r in board.routes},
        "who": _who,
        "map": map_data(board, where.tz),
    }


def _run_context(
    settings: Settings, run: ReplanRun | None, district: District, day: dt.date
) -> dict[str, Any]:
    now = utcnow()
    elapsed = None
    if run is not None:
        since = run.started_at or run.requested_at
        until = run.finished_at or now
        elapsed = max(0.0, (until - since).total_seconds())
    active = run is not None and run.status in replan_runs.ACTIVE
    stalled = (
        run is not None
        and run.status is ReplanStatus.QUEUED
        and (now - run.requested_at).total_seconds() > STALLED_AFTER_S
    )
    return {
        "run": run,
        "active": active,
        "elapsed": elapsed,
        "stalled": stalled,
        "run_district": district,
        "run_day": day,
        "idempotency_key": uuid.uuid4().hex,
        "time_limit_s": settings.replan_seconds,
    }


@router.get("/board", response_class=HTMLResponse)
def board_page(
    request: Request,
    user: Dispatcher,
    session: ReadSessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    district: Annotated[str | None, Query(max_length=8)] = None,
    day: dt.date | None = None,
) -> HTMLResponse:
    where = _where(session, clock, user, district, day)
    return _full_page(request, session, settings, where)


def _full_page(
    request: Request, session: Session, settings: Settings, where: Where, conflict: str = ""
) -> HTMLResponse:
    """The board page (409 with `conflict` said above the routes when a form was stale)."""
    shown = _board(session, where)
    assert where.district.id is not None
    run = replan_runs.latest(session=session, district_id=where.district.id, day=where.day)
    first, last = plan_board.day_range(where.today)
    context = {
        "state": where.state,
        "districts": where.districts,
        "district": where.district,
        "day": where.day,
        "first_day": first,
        "last_day": last,
        **_routes_context(session, where, shown),
        **_run_context(settings, run, where.district, where.day),
        "conflict": conflict,
    }
    status = 409 if conflict else 200
    return templates.TemplateResponse(request, "board/page.html", context, status_code=status)


@router.get("/board/routes", response_class=HTMLResponse)
def board_routes(
    request: Request,
    user: Dispatcher,
    session: ReadSessionDep,
    clock: ClockDep,
    district: DistrictCode,
    day: dt.date,
    seen: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    """The routes fragment; 204 (htmx swaps nothing) while the board is as the page has it."""
    where = _where(session, clock, user, district, day)
    assert where.district.id is not None
    now = plan_board.stamp(
        session=session,
        district_id=where.district.id,
        day=where.day,
        timezone=where.state.timezone,
    )
    if seen and seen == now:
        return Response(status_code=204)
    shown = _board(session, where)
    context = _routes_context(session, where, shown)
    return templates.TemplateResponse(request, "board/_routes.html", context)


@router.get("/board/data")
def board_data(
    user: Dispatcher,
    session: ReadSessionDep,
    clock: ClockDep,
    district: DistrictCode,
    day: dt.date,
) -> JSONResponse:
    """The map's data as JSON, with the board's stamp."""
    where = _where(session, clock, user, district, day)
    shown = _board(session, where)
    return JSONResponse({"stamp": shown.stamp, **map_data(shown, where.tz)})


@router.post("/board/replan", response_class=HTMLResponse)
def board_replan(
    request: Request,
    user: Dispatcher,
    engine: EngineDep,
    settings: SettingsDep,
    clock: ClockDep,
    district: Annotated[str, Form(max_length=8)],
    day: Annotated[dt.date, Form()],
    idempotency_key: Annotated[str, Form(min_length=8, max_length=64)],
) -> Response:
    """Queue a re-plan of the district-day (one per key); the panel then follows it."""
    with write_session(engine) as session:
        where = _where(session, clock, user, district, day)
        assert where.district.id is not None
        run = replan_runs.request(
            session=session,
            district_id=where.district.id,
            day=where.day,
            actor=staff_service.actor_of(user),
            time_limit_s=settings.replan_seconds,
            idempotency_key=f"console:{user.id}:{idempotency_key}",
        )
        run_id = run.id
    if not request.headers.get("hx-request"):
        target = f"/board?district={where.district.code}&day={where.day.isoformat()}"
        return RedirectResponse(target, status_code=303)
    assert run_id is not None
    return _run_panel(request, engine, settings, user, run_id)


def _run_panel(
    request: Request, engine: Engine, settings: Settings, user: StaffUser, run_id: int
) -> Response:
    """The re-plan panel for a run of the user's state (another state's is not found); once
    the run has finished, the routes are told to refresh (`HX-Trigger: board-changed`)."""
    with read_session(engine) as session:
        run = replan_runs.get(session=session, run_id=run_id)
        district = geography_service.get_district(session=session, district_id=run.district_id)
        if district.state_code != user.state_code:
            raise NotFound("re-plan run", run_id)
        context = _run_context(settings, run, district, run.day)
    response = templates.TemplateResponse(request, "board/_replan.html", context)
    if run.status in replan_runs.FINISHED:
        response.headers["HX-Trigger"] = "board-changed"
    return response


@router.get("/board/runs/{run_id}", response_class=HTMLResponse)
def board_run(
    request: Request,
    run_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    user: Dispatcher,
    engine: EngineDep,
    settings: SettingsDep,
) -> Response:
    """The re-plan panel for one run (polled while it is queued or running)."""
    return _run_panel(request, engine, settings, user, run_id)


@router.post("/board/lock", response_class=HTMLResponse)
def board_lock(
    request: Request,
    user: Dispatcher,
    engine: EngineDep,
    settings: SettingsDep,
    clock: ClockDep,
    district: Annotated[str, Form(max_length=8)],
    day: Annotated[dt.date, Form()],
    agent_id: Annotated[int, Form(ge=1, le=MAX_ID)],
    action: Annotated[Literal["lock", "unlock"], Form()],
    version: Annotated[int | None, Form(ge=0, le=2**63 - 1)] = None,
) -> Response:
    """Lock or unlock an agent's route of the district-day (audited; an agent of another
    state is not found, one of another district of the state is refused). A form drawn before
    the route's lock last changed does nothing: the routes as they are now, with a 409."""
    conflict = ""
    with write_session(engine) as session:
        where = _where(session, clock, user, district, day)
        assert where.district.id is not None
        command = route_locks.lock if action == "lock" else route_locks.unlock
        try:
            command(
                session=session,
                district_id=where.district.id,
                day=where.day,
                agent_id=agent_id,
                actor=staff_service.actor_of(user),
                version=version,
            )
        except route_locks.LockChangedMeanwhile:
            session.rollback()
            conflict = (
                "Nothing was changed: this route was locked or unlocked by someone else since "
                "the board was drawn. Here it is as it is now."
            )
    if not conflict and not request.headers.get("hx-request"):
        target = f"/board?district={where.district.code}&day={where.day.isoformat()}"
        return RedirectResponse(f"{target}#route-{agent_id}", status_code=303)
    with read_session(engine) as session:
        where = _where(session, clock, user, district, day)  # afresh: a rollback expired it
        if not request.headers.get("hx-request"):
            return _full_page(request, session, settings, where, conflict)
        shown = _board(session, where)
        # htmx swaps a 200 only: its answer is the routes as they are now, saying so.
        context = {**_routes_context(session, where, shown), "conflict": conflict}
        return templates.TemplateResponse(request, "board/_routes.html", context)

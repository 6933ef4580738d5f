"""The plan board's query: one district's day — each agent's visits in order with their
window, arrival and place, and the requests of the day still waiting for a place — read in a
few joined queries (not one lookup per row), plus the day the board should open on.

Read-only; times stay aware UTC (the page shows them in the state's time zone).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from dispatch.agents.models import Agent
from dispatch.catalogue.models import Service
from dispatch.citizens.models import Address
from dispatch.geography.models import District, Village
from dispatch.planning import store
from dispatch.planning.models import PlanStop, ZonePlan
from dispatch.requests.models import DoorstepRequest
from dispatch.requests.rules import PLANNED


@dataclass(frozen=True)
class Row:
    request_id: int
    reference: str
    service: str
    village: str
    landmark: str
    window_start: dt.datetime | None
    window_end: dt.datetime | None
    eta: dt.datetime | None
    status: str


@dataclass(frozen=True)
class AgentDay:
    agent: Agent
    rows: list[Row]


@dataclass(frozen=True)
class Board:
    district_id: int
    day: dt.date
    version: int
    routes: list[AgentDay]
    waiting: list[Row]

    @property
    def planned(self) -> int:
        return sum(len(r.rows) for r in self.routes)


def _rows(session: Session, *where: object) -> dict[int, Row]:
    stmt = (
        select(DoorstepRequest, col(Service.name_en), col(Village.name), col(Address.landmark))
        .join(Service, col(Service.id) == col(DoorstepRequest.service_id))
        .join(Address, col(Address.id) == col(DoorstepRequest.address_id))
        .join(Village, col(Village.id) == col(Address.village_id))
        .where(*where)  # type: ignore[arg-type]
    )
    out = {}
    for request, service, village, landmark in session.exec(stmt):
        assert request.id is not None
        out[request.id] = Row(
            request_id=request.id,
            reference=request.reference,
            service=service,
            village=village,
            landmark=landmark,
            window_start=request.window_start,
            window_end=request.window_end,
            eta=request.planned_arrival,
            status=request.status.value,
        )
    return out


def board(*, session: Session, district_id: int, day: dt.date, timezone: str) -> Board:
    """The district's plan for the local `day`: routes in order, and who waits for a place."""
    zone = session.get(ZonePlan, (district_id, day))
    version = zone.version if zone else 0
    stops = store.current_stops(session=session, district_id=district_id, day=day)
    start = dt.datetime.combine(day, dt.time(), ZoneInfo(timezone))
    rows = _rows(
        session,
        col(DoorstepRequest.district_id) == district_id,
        col(DoorstepRequest.status).in_([s.value for s in PLANNED]),
        col(DoorstepRequest.window_start) >= start,
        col(DoorstepRequest.window_start) < start + dt.timedelta(days=1),
    )
    placed = {s.request_id for s in stops}
    missing = placed - set(rows)  # planned visits whose window moved off this day meanwhile
    if missing:
        rows.update(_rows(session, col(DoorstepRequest.id).in_(missing)))
    agents = {
        a.id: a
        for a in session.exec(select(Agent).where(col(Agent.id).in_({s.agent_id for s in stops})))
    }
    by_agent: dict[int, list[Row]] = {}
    for stop in stops:
        if stop.request_id in rows:
            by_agent.setdefault(stop.agent_id, []).append(rows[stop.request_id])
    routes = [AgentDay(agents[a], r) for a, r in by_agent.items() if a in agents]
    waiting = sorted(
        (r for rid, r in rows.items() if rid not in placed),
        key=lambda r: (r.window_start or start, r.reference),
    )
    return Board(district_id, day, version, routes, waiting)


def next_day_with_visits(
    *, session: Session, state_code: str, from_day: dt.date
) -> tuple[str, dt.date] | None:
    """The first district (by code) and day from `from_day` on with a saved plan of visits:
    where a board without a choice should open."""
    stmt = (
        select(col(District.code), col(ZonePlan.day))
        .join(District, col(District.id) == col(ZonePlan.district_id))
        .join(
            PlanStop,
            (col(PlanStop.district_id) == col(ZonePlan.district_id))
            & (col(PlanStop.day) == col(ZonePlan.day))
            & (col(PlanStop.version) == col(ZonePlan.version)),
        )
        .where(District.state_code == state_code, col(ZonePlan.day) >= from_day)
        .order_by(col(ZonePlan.day), col(District.code))
        .limit(1)
    )
    found = session.exec(stmt).first()
    return (found[0], found[1]) if found else None

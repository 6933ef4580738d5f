"""The dispatch board's query: one district's day as a dispatcher sees it.

- each agent on duty (and any agent the stored plan still names): their base (the CSC's
  place and block), shift, whether their route is locked, their visits in order with window,
  planned arrival, status and place, and the route's estimated distance and times;
- the day's visits left out of the plan, each with why (`why_left_out`: no agent on duty, none
  with the skill or language, the window cannot be reached, every agent at their daily cap, or
  no room in the plan as it stands — which a re-plan may find);
- the district's served area for an offline map (the convex hull of its villages, and its
  blocks' names and places);
- the plan's version, and a `stamp` that changes whenever any of that may have changed (the
  plan, a lock, any request of the day), cheap enough for the board to poll;
- which days a board may show (`check_day`: a year either side of today).

Read-only, in a few joined queries; times stay aware UTC (the page shows them in the state's
time zone). It does not decide colours or draw: that is the console's.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, func, select

from dispatch.agents import service as agent_service
from dispatch.agents.models import Agent
from dispatch.catalogue.models import Service
from dispatch.citizens.models import Address
from dispatch.errors import InvalidInput
from dispatch.geography.models import Block, District, Village
from dispatch.planning import locks as route_locks
from dispatch.planning import runs, store, zone
from dispatch.planning import service as planning
from dispatch.planning.models import PlanStop, RouteLock, ZonePlan
from dispatch.requests.models import DoorstepRequest
from dispatch.requests.rules import PLANNED
from routing.model import Location, Terrain
from routing.plan import UnassignedReason
from routing.timing import Indexed, schedule

R = UnassignedReason
#: A board shows days this many years either side of today (the plans that matter, and
#: dates any time zone can hold).
YEARS_AROUND = 1
#: A visit whose window moved off the day after it was planned.
OFF_THE_DAY = "off_the_day"
#: Why a visit is left out, in the dispatcher's words.
REASON_TEXT = {
    R.NO_AGENT_ON_DUTY: "No agent of the district is on duty that day.",
    R.NO_AGENT_WITH_SKILL: "No agent on duty has the skill it needs.",
    R.NO_AGENT_WITH_LANGUAGE: "No agent on duty with the skill speaks the citizen's language.",
    R.CAPACITY: "No agent who could do it has capacity left.",
    R.VISIT_CAP: "Every agent who could do it already has their day's number of visits.",
    R.WINDOW_UNREACHABLE: "No agent on duty can reach it within its window.",
    R.PIN_INFEASIBLE: "Its agent is on the way but can no longer make it within the window.",
    R.NO_ROOM: "No agent has room for it in the plan as it stands; a re-plan may place it.",
    OFF_THE_DAY: "Its window is no longer on this day.",
}


@dataclass(frozen=True)
class Row:
    """One visit (a request of the day) as the board lists it."""

    request_id: int
    reference: str
    service: str
    village: str
    landmark: str
    window_start: dt.datetime | None
    window_end: dt.datetime | None
    eta: dt.datetime | None
    status: str
    at_risk: bool
    lat: float
    lon: float
    terrain: str
    #: The agent a dispatcher kept the visit with (`dispatch.planning.reassign`), and who did.
    kept_with: int | None = None
    kept_by: str | None = None

    @property
    def location(self) -> Location:
        return Location(self.lat, self.lon, Terrain(self.terrain))


@dataclass(frozen=True)
class LeftOut:
    """A visit of the day in no route, and why (a `UnassignedReason` value, and in words)."""

    row: Row
    reason: str
    detail: str

    @property
    def why(self) -> str:
        return REASON_TEXT.get(self.reason, self.detail)


@dataclass(frozen=True)
class Place:
    name: str
    lat: float
    lon: float


@dataclass(frozen=True)
class AgentRoute:
    """One agent's day: base, shift, lock, stops in order, estimated distance and times."""

    agent: Agent
    base: Place
    on_duty: bool
    lock: RouteLock | None
    stops: list[Row]
    distance_m: int | None
    leaves: dt.datetime | None
    back: dt.datetime | None

    @property
    def locked(self) -> bool:
        return self.lock is not None

    @property
    def duration_s(self) -> int | None:
        if self.leaves is None or self.back is None:
            return None
        return int((self.back - self.leaves).total_seconds())


@dataclass(frozen=True)
class Area:
    """What the map draws under the routes: the served area and the blocks' names."""

    outline: list[tuple[float, float]]  # (lat, lon), the convex hull of the villages
    blocks: list[Place]


@dataclass(frozen=True)
class Board:
    district: District
    day: dt.date
    version: int
    stamp: str
    routes: list[AgentRoute]
    left_out: list[LeftOut]
    area: Area

    @property
    def planned(self) -> int:
        return sum(len(r.stops) for r in self.routes)


def _rows(session: Session, *where: object) -> dict[int, Row]:
    stmt = (
        select(DoorstepRequest, col(Service.name_en), Address, Village)
        .join(Service, col(Service.id) == col(DoorstepRequest.service_id))
        .join(Address, col(Address.id) == col(DoorstepRequest.address_id))
        .join(Village, col(Village.id) == col(Address.village_id))
        .where(*where)  # type: ignore[arg-type]
    )
    out = {}
    for request, service, address, village in session.exec(stmt):
        assert request.id is not None
        out[request.id] = Row(
            request_id=request.id,
            reference=request.reference,
            service=service,
            village=village.name,
            landmark=address.landmark,
            window_start=request.window_start,
            window_end=request.window_end,
            eta=request.planned_arrival,
            status=request.status.value,
            at_risk=request.at_risk,
            lat=address.lat,
            lon=address.lon,
            terrain=village.terrain.value,
            kept_with=request.pinned_agent_id,
            kept_by=request.pinned_by,
        )
    return out


def _day_bounds(day: dt.date, timezone: str) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(day, dt.time(), ZoneInfo(timezone))
    return start.astimezone(dt.UTC), (start + dt.timedelta(days=1)).astimezone(dt.UTC)


def board(*, session: Session, district_id: int, day: dt.date, timezone: str) -> Board:
    """The district's plan for the local `day`: routes in order, and what is left out, why."""
    district = session.get(District, district_id)
    assert district is not None
    stamp_now = stamp(session=session, district_id=district_id, day=day, timezone=timezone)
    zd = planning.zone_day(session=session, district_id=district_id, day=day)
    stops = store.current_stops(session=session, district_id=district_id, day=day)
    start, end = _day_bounds(day, timezone)
    rows = _rows(
        session,
        col(DoorstepRequest.district_id) == district_id,
        col(DoorstepRequest.status).in_([s.value for s in PLANNED]),
        col(DoorstepRequest.window_start) >= start,
        col(DoorstepRequest.window_start) < end,
    )
    placed = {s.request_id for s in stops}
    if any(not zd.problem.has_visit(zone.visit_id(r)) for r in set(rows) - placed):
        # A request scheduled without a plan save since: the cached zone-day has not seen it.
        zd = zone.load(session, district_id, day)
    missing = placed - set(rows)  # planned visits whose window moved off this day meanwhile
    if missing:
        rows.update(_rows(session, col(DoorstepRequest.id).in_(missing)))
    on_duty = agent_service.available(session=session, district_id=district_id, day=day)
    named = {s.agent_id for s in stops} - {a.id or 0 for a in on_duty}
    extra = list(session.exec(select(Agent).where(col(Agent.id).in_(named)))) if named else []
    by_agent: dict[int, list[Row]] = {}
    for stop in stops:
        if stop.request_id in rows:
            by_agent.setdefault(stop.agent_id, []).append(rows[stop.request_id])
    blocks = {
        b.id: b
        for b in session.exec(select(Block).where(Block.district_id == district_id))
        if b.id is not None
    }
    held = route_locks.of_zone_day(session=session, district_id=district_id, day=day)
    duty_ids = {a.id for a in on_duty}
    routes = [
        _route(zd, agent, agent.id in duty_ids, by_agent.get(agent.id or 0, []), blocks, held)
        for agent in [*on_duty, *sorted(extra, key=lambda a: a.name)]
    ]
    left_out = [
        LeftOut(row, *why_left_out(zd, zone.visit_id(rid)))
        for rid, row in sorted(
            rows.items(), key=lambda item: (item[1].window_start or start, item[1].reference)
        )
        if rid not in placed
    ]
    area = Area(
        outline=_outline(session, district_id),
        blocks=[Place(b.name, b.lat, b.lon) for b in blocks.values()],
    )
    return Board(district, day, zd.version, stamp_now, routes, left_out, area)


def _route(
    zd: zone.ZoneDay,
    agent: Agent,
    on_duty: bool,
    stops: list[Row],
    blocks: dict[int, Block],
    held: dict[int, RouteLock],
) -> AgentRoute:
    block = blocks.get(agent.block_id)
    base = Place(block.name if block else "", agent.lat, agent.lon)
    terrain = Terrain(block.terrain.value) if block else Terrain.PLAINS
    home = Location(agent.lat, agent.lon, terrain)
    distance = runs.path_metres([home, *(r.location for r in stops), home]) if stops else None
    timed = zd.plan.route_of(zone.agent_key(agent.id or 0))
    leaves = back = None
    if timed is not None and timed.stops:
        leaves, back = zd.clock.at(timed.departure), zd.clock.at(timed.arrival)
    return AgentRoute(
        agent=agent,
        base=base,
        on_duty=on_duty,
        lock=held.get(agent.id or 0),
        stops=stops,
        distance_m=distance,
        leaves=leaves,
        back=back,
    )


def why_left_out(zd: zone.ZoneDay, visit_id: str) -> tuple[str, str]:
    """Why the zone-day's plan has no place for the visit: an `UnassignedReason` value (or
    `OFF_THE_DAY`) and a detail. The same tests as the solver's own, on the plan as stored."""
    problem = zd.problem
    if not problem.has_visit(visit_id):
        return OFF_THE_DAY, ""
    if not problem.agents:
        return R.NO_AGENT_ON_DUTY, ""
    v = problem.visit_index(visit_id)
    visit = problem.visits[v]
    if visit.pin is not None:
        return R.PIN_INFEASIBLE, visit.pin.agent_id
    if not any(visit.skills <= a.skills for a in problem.agents):
        return R.NO_AGENT_WITH_SKILL, ", ".join(sorted(visit.skills))
    ix = Indexed.of(problem)
    qualified = sorted(ix.v_allowed[v])
    if not qualified:
        return R.NO_AGENT_WITH_LANGUAGE, visit.language or ""
    alone = [a for a in qualified if ix.fits_counts(a, (v,)) and schedule(ix, a, (v,)) is not None]
    if not alone:
        return R.WINDOW_UNREACHABLE, ""
    lengths = {problem.agent_index(r.agent_id): len(r.stops) for r in zd.plan.routes}
    if all(lengths.get(a, 0) >= ix.a_cap[a] for a in alone):
        return R.VISIT_CAP, ""
    return R.NO_ROOM, ""


def _outline(session: Session, district_id: int) -> list[tuple[float, float]]:
    points = session.exec(
        select(col(Village.lat), col(Village.lon))
        .join(Block, col(Block.id) == col(Village.block_id))
        .where(Block.district_id == district_id)
    ).all()
    return convex_hull([(float(lat), float(lon)) for lat, lon in points])


def convex_hull(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """The convex hull of (lat, lon) points, counter-clockwise (Andrew's monotone chain)."""
    pts = sorted(set(points), key=lambda p: (p[1], p[0]))
    if len(pts) <= 2:
        return pts

    def cross(o: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
        return (a[1] - o[1]) * (b[0] - o[0]) - (a[0] - o[0]) * (b[1] - o[1])

    lower: list[tuple[float, float]] = []
    upper: list[tuple[float, float]] = []
    for p in pts:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    for p in reversed(pts):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    return lower[:-1] + upper[:-1]


def stamp(*, session: Session, district_id: int, day: dt.date, timezone: str) -> str:
    """A short token that changes whenever the board of the zone-day may have changed: the
    plan saved, a route locked or unlocked, any request of the day changed (each change of a
    request raises its version). Three small queries."""
    plan = session.get(ZonePlan, (district_id, day), populate_existing=True)
    locked = sorted(route_locks.locked_agents(session=session, district_id=district_id, day=day))
    start, end = _day_bounds(day, timezone)
    count, versions = session.exec(
        select(func.count(), func.coalesce(func.sum(DoorstepRequest.version), 0)).where(
            DoorstepRequest.district_id == district_id,
            col(DoorstepRequest.window_start) >= start,
            col(DoorstepRequest.window_start) < end,
        )
    ).one()
    saved = plan.updated_at.isoformat() if plan else ""
    seen = f"{plan.version if plan else 0}|{saved}|{locked}|{count}|{versions}"
    return hashlib.sha256(seen.encode()).hexdigest()[:16]


def check_day(*, day: dt.date, today: dt.date) -> dt.date:
    """`day` if a board may show it (`YEARS_AROUND` either side of `today`), else
    `InvalidInput` saying which days may be asked for."""
    first, last = day_range(today)
    if not first <= day <= last:
        raise InvalidInput(
            "day",
            day.isoformat(),
            f"the board shows days from {first.isoformat()} to {last.isoformat()} "
            "(a year either side of today)",
        )
    return day


def day_range(today: dt.date) -> tuple[dt.date, dt.date]:
    """The first and last day a board may show: the same date a year before and after (the
    28th of February for the 29th)."""

    def moved(years: int) -> dt.date:
        day = today.day if (today.month, today.day) != (2, 29) else 28
        return today.replace(year=today.year + years, day=day)

    return moved(-YEARS_AROUND), moved(YEARS_AROUND)


def next_day_with_visits(
    *, session: Session, state_code: str, from_day: dt.date, to_day: dt.date | None = None
) -> tuple[str, dt.date] | None:
    """The first district (by code) and day from `from_day` on (to `to_day`, if given) with a
    saved plan of visits: where a board without a choice should open."""
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
    )
    if to_day is not None:
        stmt = stmt.where(col(ZonePlan.day) <= to_day)
    found = session.exec(stmt.order_by(col(ZonePlan.day), col(District.code)).limit(1)).first()
    return (found[0], found[1]) if found else None

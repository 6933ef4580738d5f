"""A zone-day: one district's agents and visits for one local date as a routing problem.

Turns database rows into `routing` types and back: request ids <-> visit ids, agent ids <->
routing agent ids, aware UTC datetimes <-> integer seconds since local midnight of the day.
Fixed parts of routes become pins: the visits an agent is on the way to or at, and every visit
of a route a dispatcher locked (`dispatch.planning.locks`), are that agent's first stops in
their stored order, so no re-plan moves them. A visit a dispatcher gave to an agent
(`dispatch.planning.reassign`: the request's `pinned_agent_id`) is pinned to that agent with
no position: a re-plan may reorder the route, not give the visit to someone else. So is a
visit already sent to an agent in their itinerary (`dispatch.fieldwork`), unless the agent is
away that day or the visit is at risk (they can no longer make its window).
It reads the database but never writes; `dispatch.planning.service` persists plans.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, replace
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from dispatch.agents import service as agent_service
from dispatch.agents.models import Agent
from dispatch.catalogue.models import Service
from dispatch.citizens.models import Address
from dispatch.fieldwork.models import Itinerary
from dispatch.geography.models import Block, District, Village
from dispatch.planning import locks
from dispatch.planning.models import PlanStop, ZonePlan
from dispatch.requests.models import DoorstepRequest, RequestEvent
from dispatch.requests.rules import PINNED, PLANNED, RequestStatus
from dispatch.states.models import State
from routing.model import (
    Agent as RAgent,
)
from routing.model import (
    Break,
    Location,
    Pin,
    Priority,
    Problem,
    Terrain,
    TimeWindow,
    TravelMode,
    Visit,
)
from routing.plan import Plan, Route
from routing.timing import Indexed, schedule
from routing.travel import HaversineTravel, TravelTimeProvider

DEFAULT_TRAVEL: TravelTimeProvider = HaversineTravel()


def visit_id(request_id: int) -> str:
    return f"r{request_id}"


def request_id_of(visit: str) -> int:
    return int(visit[1:])


def agent_key(agent_id: int) -> str:
    return f"a{agent_id}"


def agent_id_of(key: str) -> int:
    return int(key[1:])


@dataclass(frozen=True)
class Clock:
    """Converts between aware datetimes and seconds since local midnight of `day`."""

    day: dt.date
    tz: ZoneInfo

    @property
    def origin(self) -> dt.datetime:
        return dt.datetime.combine(self.day, dt.time(), self.tz)

    def seconds(self, when: dt.datetime) -> int:
        return int((when - self.origin).total_seconds())

    def at(self, seconds: int) -> dt.datetime:
        return (self.origin + dt.timedelta(seconds=seconds)).astimezone(dt.UTC)


@dataclass(frozen=True)
class ZoneDay:
    """The routing problem of one district and day, with the current persisted plan."""

    district_id: int
    day: dt.date
    version: int
    clock: Clock
    problem: Problem
    plan: Plan
    #: Ids of the requests in the plan's problem, by visit id (ids, not rows: a zone-day is
    #: cached across sessions).
    requests: dict[str, int]


def _priority(level: int) -> Priority:
    return Priority(min(level, int(Priority.URGENT)))


@dataclass(frozen=True)
class Progress:
    """Where an agent really is: at `location` (a visit they reported from) at `seconds`."""

    location: Location
    seconds: int


def routing_agent(agent: Agent, location: Location, progress: Progress | None = None) -> RAgent:
    """The agent as the router sees them; with `progress`, the rest of their day starts from
    their last report (where and when), not from home at the start of the shift."""
    shift = TimeWindow(agent.shift_start_min * 60, agent.shift_end_min * 60)
    start = location
    if progress is not None:
        start = progress.location
        shift = TimeWindow(min(max(shift.start, progress.seconds), shift.end), shift.end)
    brk = None
    if agent.break_start_min is not None and agent.break_minutes > 0:
        # The break may move an hour either way: agents take it between visits.
        earliest = max(shift.start, (agent.break_start_min - 60) * 60)
        latest = min(shift.end - agent.break_minutes * 60, (agent.break_start_min + 60) * 60)
        if earliest <= latest:
            brk = Break(earliest, latest, agent.break_minutes * 60)
    return RAgent(
        id=agent_key(agent.id or 0),
        start=start,
        end=location,
        shift=shift,
        mode=TravelMode(agent.travel_mode.value),
        skills=frozenset(agent.skills),
        languages=frozenset(agent.languages),
        break_=brk,
        max_visits=agent.daily_cap,
    )


def agent_location(session: Session, agent: Agent) -> Location:
    block = session.get(Block, agent.block_id)
    terrain = Terrain(block.terrain.value) if block is not None else Terrain.PLAINS
    return Location(round(agent.lat, 5), round(agent.lon, 5), terrain)


def address_location(session: Session, address: Address) -> Location:
    village = session.get(Village, address.village_id)
    return _location(address, village.terrain.value if village is not None else "plains")


def _location(address: Address, terrain: str) -> Location:
    return Location(round(address.lat, 5), round(address.lon, 5), Terrain(terrain))


def make_visit(
    *,
    vid: str,
    location: Location,
    windows: Sequence[TimeWindow],
    service: Service,
    language: str | None,
    priority: int,
    pin: Pin | None = None,
) -> Visit:
    return Visit(
        id=vid,
        location=location,
        windows=tuple(windows),
        service=service.visit_minutes * 60,
        skills=frozenset([service.required_skill]) if service.required_skill else frozenset(),
        language=language,
        priority=_priority(priority),
        pin=pin,
    )


def visit_language(language: str, agents: Sequence[RAgent]) -> str | None:
    """Require the caller's language only if some agent of the zone speaks it.

    Hindi is understood across the zone; a rarer language no agent speaks must not leave the
    citizen without a visit.
    """
    return language if any(language in a.languages for a in agents) else None


def local_clock(session: Session, district_id: int, day: dt.date) -> Clock:
    district = session.get(District, district_id)
    assert district is not None
    state = session.get(State, district.state_code)
    assert state is not None
    return Clock(day, ZoneInfo(state.timezone))


def current_version(session: Session, district_id: int, day: dt.date) -> int:
    zone = session.get(ZonePlan, (district_id, day))
    return zone.version if zone is not None else 0


def load(
    session: Session, district_id: int, day: dt.date, travel: TravelTimeProvider = DEFAULT_TRAVEL
) -> ZoneDay:
    """Build the zone-day from the database: available agents, planned requests, current plan.

    Visits en route or arrived are pinned to their agent as the first stops; so is the whole
    stored route of an agent whose route is locked, in its stored order. A visit a dispatcher
    gave to an agent, or sent to one in their itinerary (unless at risk), is pinned to them
    anywhere in their route. A pin to an agent who is not
    on duty, or who lacks the visit's skills or language, is not kept (the visit is left free);
    a visit under way with an agent no longer on duty is left out of the problem altogether."""
    clock = local_clock(session, district_id, day)
    version = current_version(session, district_id, day)
    agents_rows = agent_service.available(session=session, district_id=district_id, day=day)
    start, end = clock.origin.astimezone(dt.UTC), (clock.origin + dt.timedelta(days=1))
    where_now = progress(session, district_id, start, end.astimezone(dt.UTC), clock)
    agents = [
        routing_agent(a, agent_location(session, a), where_now.get(a.id or 0)) for a in agents_rows
    ]
    # One query for the requests with what a visit needs: no per-row look-ups.
    rows = session.exec(
        select(DoorstepRequest, Service, Address, Village)
        .join(Service, col(Service.id) == col(DoorstepRequest.service_id))
        .join(Address, col(Address.id) == col(DoorstepRequest.address_id))
        .join(Village, col(Village.id) == col(Address.village_id))
        .where(
            DoorstepRequest.district_id == district_id,
            col(DoorstepRequest.status).in_([s.value for s in PLANNED]),
            col(DoorstepRequest.window_start) >= start,
            col(DoorstepRequest.window_start) < end.astimezone(dt.UTC),
        )
        .order_by(col(DoorstepRequest.id))
    ).all()
    stops = list(
        session.exec(
            select(PlanStop)
            .where(
                PlanStop.district_id == district_id,
                PlanStop.day == day,
                PlanStop.version == version,
            )
            .order_by(col(PlanStop.agent_id), col(PlanStop.position))
        )
    )
    position_of = {s.request_id: (s.agent_id, s.position) for s in stops}
    by_key = {a.id: a for a in agents}
    locked = locks.locked_agents(session=session, district_id=district_id, day=day)
    sent = sent_visits(session, day, [a.id for a in agents_rows if a.id is not None])
    locked_route = {
        s.request_id: s.agent_id
        for s in stops
        if s.agent_id in locked and agent_key(s.agent_id) in by_key
    }
    visits: list[Visit] = []
    by_visit: dict[str, int] = {}
    pinned_seq: dict[int, list[int]] = {}
    for req, service, address, village in rows:
        assert req.id is not None and req.window_start and req.window_end
        vid = visit_id(req.id)
        visit = make_visit(
            vid=vid,
            location=_location(address, village.terrain.value),
            windows=[TimeWindow(clock.seconds(req.window_start), clock.seconds(req.window_end))],
            service=service,
            language=visit_language(req.language, agents),
            priority=req.priority,
        )
        owner, in_order = None, True
        if req.status in PINNED and req.agent_id is not None:
            owner = req.agent_id
        elif req.id in locked_route:
            owner = locked_route[req.id]
        elif req.pinned_agent_id is not None:
            owner, in_order = req.pinned_agent_id, False
        elif req.id in sent and not req.at_risk:
            # The agent was sent this visit in their day: it stays theirs (the order may
            # change) unless they are away (no longer on duty) or cannot make it in time.
            owner, in_order = sent[req.id], False
        # A pin the agent is not qualified for would make the problem invalid: left free.
        agent = by_key.get(agent_key(owner)) if owner is not None else None
        if req.status in PINNED and agent is None:
            # On the way or at the door, but no longer on duty here (leave taken mid-visit):
            # the visit is theirs to finish, not the planner's to give away.
            continue
        if owner is not None and agent is not None and visit.qualified(agent):
            if in_order:
                pinned_seq.setdefault(owner, []).append(req.id)
            visit = replace(visit, pin=Pin(agent.id))
        visits.append(visit)
        by_visit[vid] = req.id
    visits = _sequence_pins(visits, pinned_seq, position_of)
    problem = Problem.build(agents, visits, travel)
    plan = _plan_from_stops(problem, stops, clock, set(by_visit))
    return ZoneDay(district_id, day, version, clock, problem, plan, by_visit)


def sent_visits(session: Session, day: dt.date, agent_ids: Sequence[int]) -> dict[int, int]:
    """The agent (of `agent_ids`: the zone's on duty) each request was last sent to in an
    itinerary for `day`, by request id."""
    out: dict[int, int] = {}
    for agent_id, visits in session.exec(
        select(Itinerary.agent_id, Itinerary.visits)
        .where(Itinerary.day == day, col(Itinerary.agent_id).in_(agent_ids))
        .order_by(col(Itinerary.sent_at), col(Itinerary.id))
    ):  # oldest first: the agent told last of a visit wins
        for item in visits:
            out[int(item["request_id"])] = agent_id
    return out


#: The reports that tell where an agent is: at the door, or just leaving it.
REPORTED = (
    RequestStatus.ARRIVED,
    RequestStatus.COMPLETED,
    RequestStatus.FAILED,
    RequestStatus.NO_SHOW,
)


def progress(
    session: Session, district_id: int, start: dt.datetime, end: dt.datetime, clock: Clock
) -> dict[int, Progress]:
    """Each agent's last report from a door of this zone-day (arrived, done, failed, no-show),
    as where and when the rest of their day begins. One query."""
    stmt = (
        select(DoorstepRequest, RequestEvent, Address, Village)
        .join(RequestEvent, col(RequestEvent.request_id) == col(DoorstepRequest.id))
        .join(Address, col(Address.id) == col(DoorstepRequest.address_id))
        .join(Village, col(Village.id) == col(Address.village_id))
        .where(
            DoorstepRequest.district_id == district_id,
            col(DoorstepRequest.agent_id).is_not(None),
            col(DoorstepRequest.window_start) >= start,
            col(DoorstepRequest.window_start) < end,
            col(RequestEvent.to_status).in_([s.value for s in REPORTED]),
        )
        .order_by(col(RequestEvent.at), col(RequestEvent.id))
    )
    out: dict[int, Progress] = {}
    for request, event, address, village in session.exec(stmt):
        assert request.agent_id is not None
        out[request.agent_id] = Progress(
            _location(address, village.terrain.value), clock.seconds(event.at)
        )
    return out


def _sequence_pins(
    visits: list[Visit], pinned: dict[int, list[int]], position_of: dict[int, tuple[int, int]]
) -> list[Visit]:
    """Pinned visits (on the way to or at; a locked route's) are fixed as their agent's first
    stops, in the order of the stored plan."""
    order: dict[str, int] = {}
    for agent_id, request_ids in pinned.items():
        ranked = sorted(request_ids, key=lambda r: position_of.get(r, (agent_id, 10**6))[1])
        for seq, rid in enumerate(ranked):
            order[visit_id(rid)] = seq
    out = []
    for v in visits:
        if v.id in order and v.pin is not None:
            v = Visit(
                v.id,
                v.location,
                v.windows,
                v.service,
                v.skills,
                v.language,
                v.priority,
                Pin(v.pin.agent_id, order[v.id]),
                v.load,
            )
        out.append(v)
    return out


def _plan_from_stops(
    problem: Problem, stops: Sequence[PlanStop], clock: Clock, known: set[str]
) -> Plan:
    """The persisted sequences, re-timed on today's problem.

    A route that no longer works as stored (an agent's shift changed, say) keeps the longest
    prefix that still does; the rest is left for the next booking or re-plan to place.
    """
    sequences: dict[str, list[int]] = {}
    for s in stops:
        key, vid = agent_key(s.agent_id), visit_id(s.request_id)
        if vid in known and problem.has_agent(key):
            sequences.setdefault(key, []).append(problem.visit_index(vid))
    ix = Indexed.of(problem)
    routes: list[Route] = []
    for key, seq in sequences.items():
        a = problem.agent_index(key)
        route = None
        while seq and (route := schedule(ix, a, seq)) is None:
            seq = seq[:-1]
        if route is not None:
            routes.append(route)
    return Plan(tuple(routes))

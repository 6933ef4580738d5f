"""A dispatcher's hand on a live plan: a planned visit moved to another agent of its
district-day and kept with them, and a zone-day marked for the solver to look at again.

`move_visit` takes the visit out of its agent's route (that route re-timed without it) and
inserts it into the chosen agent's route where it fits its window, by the same exact cheapest
feasible insertion the booking uses (`routing.SlotFinder`); if the chosen agent cannot reach
it within its window (their day is full, their shift or skills do not fit), `AgentCannotTake`
and nothing changes. The new plan is saved as the next version of the zone-day
(`dispatch.planning.store.save`, conditional on the version it was read from: a booking that
lands meanwhile makes it read the plan again). The visit's window, the citizen's promise, is
never changed here.

A moved visit stays moved: `move_visit` records the dispatcher's choice on the request
(`pinned_agent_id`, `pinned_by`), and `dispatch.planning.zone.load` pins the visit to that
agent (`routing.Pin` without a position: the solver may reorder the route, not take the visit
out of it), so neither the scheduled improvement nor a re-plan from the board gives it back to
another agent. `unpin` lets it go (the visit use cases call it when the citizen's visit is
rescheduled or cancelled: the choice was for that window).

`mark_for_replan` tells the scheduled re-plan that the zone-day's plan is no longer the one
the solver last improved (`ZonePlan.improved_version`), without saving a new version: what
changed is in the requests (a priority), not in the stops.

Not here: the use cases that call these with an idempotency key and an audit entry
(`dispatch.visits.desk`), bookings and offers (`dispatch.planning.service`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

import sqlalchemy as sa
from sqlmodel import Session

from dispatch.agents import service as agent_service
from dispatch.agents.models import Agent
from dispatch.audit import service as audit
from dispatch.db import utcnow
from dispatch.errors import Conflict, InvalidInput, InvalidTransition
from dispatch.planning import loop, store, zone
from dispatch.planning.store import PlanOutdated
from dispatch.requests import service as request_service
from dispatch.requests.models import DoorstepRequest
from dispatch.requests.rules import PINNED, PLANNED
from routing import Plan, Priority, Problem, Route, SlotFinder, Visit
from routing.timing import Indexed, schedule

#: The highest priority the planner tells apart (`routing.Priority.URGENT`): higher levels
#: are planned alike, so raising a request past it changes nothing.
MOST_URGENT = int(Priority.URGENT)
ATTEMPTS = 3


#: The cause of a plan change a dispatcher made (`PlanChange.cause`).
DISPATCHER = "dispatcher"


class AgentCannotTake(Conflict):
    """The chosen agent cannot fit the visit into their day within its window."""

    def __init__(self, reference: str, agent_id: int, name: str, start: dt.datetime) -> None:
        super().__init__("agent", name, f"their day has no place for {reference} within its window")
        self.reference = reference
        self.agent_id = agent_id
        self.window_start = start


def visit_day(session: Session, request: DoorstepRequest) -> dt.date | None:
    """The local day of the request's visit, or None when it has no window."""
    if request.window_start is None:
        return None
    clock = zone.local_clock(session, request.district_id, request.window_start.date())
    return request.window_start.astimezone(clock.tz).date()


@dataclass(frozen=True)
class Choice:
    """An agent on duty on the visit's day, and whether their day has a place for it."""

    agent: Agent
    fits: bool
    current: bool


def agents_for(*, session: Session, request_id: int) -> list[Agent]:
    """The agents on duty in the request's district on its visit's day (none without a
    window), in a stable order."""
    request = request_service.get(session=session, request_id=request_id)
    day = visit_day(session, request)
    if day is None:
        return []
    return agent_service.available(session=session, district_id=request.district_id, day=day)


def choices(*, session: Session, request_id: int) -> list[Choice]:
    """Who a dispatcher may move the request's visit to: each agent on duty on its day, with
    whether the live plan has a place for it in their day within its window (one insertion
    query for all of them). Empty when the visit cannot be moved (`movable`)."""
    request = request_service.get(session=session, request_id=request_id)
    day = visit_day(session, request)
    if movable(request) is not None or day is None:
        return []
    zd = zone.load(session, request.district_id, day)
    vid = zone.visit_id(request_id)
    if not zd.problem.has_visit(vid):
        return []
    visit, finder = _taken_out(zd, vid)
    fitting = {o.agent_id for o in finder.offers(visit, visit.windows)}
    current = zd.plan.agent_of(vid)
    return [
        Choice(
            agent=a,
            fits=zone.agent_key(a.id or 0) in fitting,
            current=zone.agent_key(a.id or 0) == current,
        )
        for a in agent_service.available(session=session, district_id=request.district_id, day=day)
    ]


def _taken_out(zd: zone.ZoneDay, vid: str) -> tuple[Visit, SlotFinder]:
    """The visit, free of any pin (the dispatcher's choice overrides the one before, or the
    itinerary's), and a slot finder over the zone-day's plan without it."""
    visit = replace(zd.problem.visits[zd.problem.visit_index(vid)], pin=None)
    without = zd.problem.with_visits([v for v in zd.problem.visits if v.id != vid])
    plan = _plan_without(without, zd.plan, vid)
    return visit, SlotFinder(without, plan, zone.DEFAULT_TRAVEL)


def movable(request: DoorstepRequest) -> str | None:
    """Why the request's visit cannot be moved to another agent, or None when it can."""
    if request.status in PINNED:
        return "the agent is already on the way"
    if request.status not in PLANNED or request.window_start is None:
        return "it has no planned visit"
    return None


def move_visit(
    *, session: Session, request_id: int, agent_id: int, actor: str, cause: str = DISPATCHER
) -> DoorstepRequest:
    """Move the request's planned visit to `agent_id` within its window and save the plan
    (the change recorded with `cause`).

    `InvalidTransition` for a visit the agent is already on the way to, `InvalidInput` for a
    request with no planned visit or an agent not on duty in its district that day,
    `AgentCannotTake` when that agent's day has no place for it in its window."""
    for _attempt in range(ATTEMPTS):
        try:
            with session.begin_nested():
                return _move_once(session, request_id, agent_id, actor, cause)
        except PlanOutdated:
            session.expire_all()  # rows refreshed in the rolled-back savepoint are stale
    request = request_service.get(session=session, request_id=request_id)
    raise Conflict("plan", request.reference, "kept changing while the visit was moved")


def _move_once(
    session: Session, request_id: int, agent_id: int, actor: str, cause: str
) -> DoorstepRequest:
    request = request_service.get(session=session, request_id=request_id)
    why_not = movable(request)
    if why_not is not None:
        if request.status in PINNED:
            raise InvalidTransition(request.status, request.status, why_not)
        raise InvalidInput("request", request.reference, why_not)
    day = visit_day(session, request)
    assert day is not None and request.window_start is not None
    zd = zone.load(session, request.district_id, day)
    target = zone.agent_key(agent_id)
    if not zd.problem.has_agent(target):
        raise InvalidInput("agent_id", agent_id, "not on duty in this district that day")
    vid = zone.visit_id(request_id)
    if not zd.problem.has_visit(vid):
        raise InvalidInput("request", request.reference, "not in its day's plan")
    if zd.plan.agent_of(vid) != target:
        visit, finder = _taken_out(zd, vid)
        options = [o for o in finder.offers(visit, visit.windows) if o.agent_id == target]
        if not options:
            agent = agent_service.get(session=session, agent_id=agent_id)
            raise AgentCannotTake(request.reference, agent_id, agent.name, request.window_start)
        booking = finder.commit(visit, options[0])
        store.save(
            session=session,
            district_id=zd.district_id,
            day=zd.day,
            based_on=zd.version,
            plan=booking.plan,
            clock=zd.clock,
            requests=zd.requests,
            actor=actor,
            cause=cause,
        )
    return keep_with(session=session, request_id=request_id, agent_id=agent_id, actor=actor)


# --- the dispatcher's choice, kept ------------------------------------------------------------


def keep_with(*, session: Session, request_id: int, agent_id: int, actor: str) -> DoorstepRequest:
    """Record that re-plans must keep the request's visit with `agent_id`, as `actor` chose."""
    return _pin(session, request_id, agent_id, actor, actor)


def unpin(*, session: Session, request_id: int, actor: str) -> DoorstepRequest:
    """Forget the agent a dispatcher chose for the request's visit (nothing to do without one):
    re-plans may give it to any agent again."""
    return _pin(session, request_id, None, None, actor)


def _pin(
    session: Session, request_id: int, agent_id: int | None, by: str | None, actor: str
) -> DoorstepRequest:
    """Set the request's pin: a conditional update of its version, audited like any update."""
    request = request_service.get(session=session, request_id=request_id)
    before = {"pinned_agent_id": request.pinned_agent_id, "pinned_by": request.pinned_by}
    after = {"pinned_agent_id": agent_id, "pinned_by": by}
    if before == after:
        return request
    table = DoorstepRequest.__table__  # type: ignore[attr-defined]
    result = session.execute(
        sa.update(table)
        .where(table.c.id == request_id, table.c.version == request.version)
        .values(version=request.version + 1, **after)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict("request", request.reference)
    audit.record(
        session=session,
        actor=actor,
        entity="request",
        entity_id=request_id,
        action="update",
        before=before,
        after=after,
    )
    session.flush()
    session.refresh(request)
    return request


def _plan_without(problem: Problem, plan: Plan, vid: str) -> Plan:
    """`plan` with visit `vid` taken out of its route, that route re-timed without it (on
    `problem`, which no longer holds the visit). Should the shorter route somehow not re-time,
    its old times are kept: leaving a stop out never makes the others late."""
    ix = Indexed.of(problem)
    routes: list[Route] = []
    for route in plan.routes:
        if vid not in route.visit_ids:
            routes.append(route)
            continue
        seq = [problem.visit_index(v) for v in route.visit_ids if v != vid]
        retimed = schedule(ix, problem.agent_index(route.agent_id), seq)
        if retimed is None:
            stops = tuple(s for s in route.stops if s.visit_id != vid)
            retimed = Route(
                route.agent_id, stops, route.departure, route.arrival, route.break_start
            )
        routes.append(retimed)
    return Plan(tuple(routes), tuple(u for u in plan.unassigned if u.visit_id != vid))


def mark_for_replan(*, session: Session, district_id: int, day: dt.date) -> None:
    """Have the dispatch loop re-plan the zone-day again (`dispatch.planning.loop.mark_pending`).
    Nothing to do for a day with no plan yet (the next booking makes one)."""
    loop.mark_pending(session=session, district_id=district_id, day=day, now=utcnow())

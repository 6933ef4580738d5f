"""A visit sent to an agent in their itinerary stays theirs (`dispatch.planning.zone.load`):
pinned to that agent with no position, unless the agent is away that day or the visit is at
risk; and a re-plan keeps it with them even where moving it would save travel. Every test runs
on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from dispatch.agents import service as agent_service
from dispatch.db import read_session, write_session
from dispatch.fieldwork import itinerary
from dispatch.planning import reassign as planning_reassign
from dispatch.planning import service as planning
from dispatch.planning import zone
from dispatch.requests import service as request_service
from dispatch.requests.models import DoorstepRequest
from routing.model import Pin, Visit
from routing.timing import Indexed
from tests import factories

IST = ZoneInfo("Asia/Kolkata")
#: A Tuesday no other test books on (the re-plan's test commits its bookings).
NOW = dt.datetime(2038, 2, 2, 7, 0, tzinfo=IST)
DAY = NOW.date()
S = factories.SETTINGS


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    planning.clear_cache()
    yield
    planning.clear_cache()


def _sent(session: Session, district: str = "SXR") -> DoorstepRequest:
    """A visit booked for DAY and sent to its agent in their morning itinerary."""
    request, _offer = factories.booked_request(session, district_code=district, now=NOW)
    session.refresh(request)
    assert request.agent_id is not None
    sent = itinerary.send_day(
        session=session, settings=S, agent_id=request.agent_id, on=DAY, now=NOW
    )
    assert sent, "the agent was sent their day"
    return request


def _visit(session: Session, request: DoorstepRequest) -> Visit:
    zd = zone.load(session, request.district_id, DAY)
    return zd.problem.visits[zd.problem.visit_index(zone.visit_id(request.id or 0))]


def test_a_visit_sent_to_an_agent_is_pinned_to_them_in_any_order(session: Session) -> None:
    request, _offer = factories.booked_request(session, district_code="SXR", now=NOW)
    session.refresh(request)
    assert _visit(session, request).pin is None  # booked, not yet sent: free
    itinerary.send_day(session=session, settings=S, agent_id=request.agent_id or 0, on=DAY, now=NOW)
    assert _visit(session, request).pin == Pin(zone.agent_key(request.agent_id or 0), None)


def test_a_visit_sent_to_an_agent_away_that_day_is_left_free(session: Session) -> None:
    request = _sent(session)
    agent_service.add_leave(session=session, agent_id=request.agent_id or 0, day=DAY)
    assert _visit(session, request).pin is None


def test_a_visit_at_risk_is_left_free_though_it_was_sent(session: Session) -> None:
    request = _sent(session)
    request_service.update(session=session, request_id=request.id or 0, actor="t", at_risk=True)
    assert _visit(session, request).pin is None


def _lone_cost(zd: zone.ZoneDay, agent_id: int, request_id: int) -> int:
    """What the visit alone costs the agent's day: travel from home to it and back."""
    ix = Indexed.of(zd.problem)
    visit = zd.problem.visit_index(zone.visit_id(request_id))
    return ix.route_cost(zd.problem.agent_index(zone.agent_key(agent_id)), [visit])


def test_a_replan_keeps_a_sent_visit_with_its_agent_where_moving_it_would_pay(
    engine: Engine,
) -> None:
    """The only visit of the zone-day is moved to the agent it costs most and sent to them
    (the dispatcher's own pin then let go): a re-plan leaves it with them, while the same
    zone-day without the itinerary's pin gives it to a nearer agent, since the travel saved
    outweighs the price of moving a visit (`Objective.reassign_cost`)."""
    with write_session(engine) as s:
        request, _offer = factories.booked_request(s, district_code="KTW", now=NOW)
        rid, district_id = request.id or 0, request.district_id
        zd = zone.load(s, district_id, DAY)
        fitting = [
            c.agent.id or 0
            for c in planning_reassign.choices(session=s, request_id=rid)
            if c.fits and not c.current
        ]
        far = max(fitting, key=lambda a: _lone_cost(zd, a, rid))
        planning_reassign.move_visit(session=s, request_id=rid, agent_id=far, actor="t")
        itinerary.send_day(session=s, settings=S, agent_id=far, on=DAY, now=NOW)
        planning_reassign.unpin(session=s, request_id=rid, actor="t")
    with read_session(engine) as s:
        zd = zone.load(s, district_id, DAY)
    nearest = min(
        (zone.agent_id_of(a.id) for a in zd.problem.agents),
        key=lambda a: _lone_cost(zd, a, rid),
    )
    saving = _lone_cost(zd, far, rid) - _lone_cost(zd, nearest, rid)
    assert saving > zd.problem.objective.reassign_cost, "moving it would pay"
    free = zd.problem.with_visits([dataclasses.replace(v, pin=None) for v in zd.problem.visits])
    unpinned = planning.improve(dataclasses.replace(zd, problem=free), time_limit_s=0.5)
    assert unpinned.plan.agent_of(zone.visit_id(rid)) != zone.agent_key(far)

    planning.replan(engine=engine, district_id=district_id, day=DAY, time_limit_s=0.5)

    with read_session(engine) as s:
        kept = request_service.get(session=s, request_id=rid)
        assert kept.agent_id == far and kept.pinned_agent_id is None
        assert zone.load(s, district_id, DAY).plan.agent_of(zone.visit_id(rid)) == (
            zone.agent_key(far)
        )


def test_a_dispatcher_may_still_move_a_visit_the_agent_was_sent(session: Session) -> None:
    """The itinerary's pin keeps the planner from moving it, not the dispatcher (nor their
    own earlier choice: a second move is allowed too)."""
    request = _sent(session)
    first = request.agent_id
    others = [
        c.agent.id or 0
        for c in planning_reassign.choices(session=session, request_id=request.id or 0)
        if c.fits and not c.current
    ]
    assert others, "another agent has room in the window"
    moved = planning_reassign.move_visit(
        session=session, request_id=request.id or 0, agent_id=others[0], actor="t"
    )
    assert moved.agent_id == others[0] != first
    again = planning_reassign.move_visit(
        session=session, request_id=request.id or 0, agent_id=first or 0, actor="t"
    )
    assert again.agent_id == first

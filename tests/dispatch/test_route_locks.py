"""Route locks: a dispatcher's lock is audited, and re-plans keep a locked route's visits with
its agent, in their order, even where the solver would otherwise move them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session

from dispatch.audit import service as audit
from dispatch.errors import InvalidInput
from dispatch.geography import service as geography_service
from dispatch.planning import locks, store, zone
from dispatch.planning import service as planning
from routing.checker import check
from routing.model import Pin
from routing.plan import Plan, Route
from routing.timing import Indexed, schedule
from tests import factories

IST = ZoneInfo("Asia/Kolkata")
#: A Tuesday no other test plans in Anantnag (agents from Anantnag town to Pahalgam).
MORNING = dt.datetime(2032, 3, 2, 7, 0, tzinfo=IST)
ACTOR = "staff:test-dispatcher"


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    planning.clear_cache()
    yield
    planning.clear_cache()


def _booked(session: Session, n: int) -> tuple[int, dt.date]:
    offer = None
    for i in range(n):
        _, offer = factories.booked_request(session, district_code="ANT", now=MORNING, choice=i % 2)
    assert offer is not None
    return offer.district_id, offer.day


def test_lock_and_unlock_are_audited_and_idempotent(session: Session) -> None:
    district_id, day = _booked(session, 1)
    agent_id = store.current_stops(session=session, district_id=district_id, day=day)[0].agent_id
    made = locks.lock(
        session=session, district_id=district_id, day=day, agent_id=agent_id, actor=ACTOR
    )
    again = locks.lock(
        session=session, district_id=district_id, day=day, agent_id=agent_id, actor="staff:other"
    )
    assert again.locked_by == made.locked_by == ACTOR
    assert locks.locked_agents(session=session, district_id=district_id, day=day) == {agent_id}
    assert locks.unlock(
        session=session, district_id=district_id, day=day, agent_id=agent_id, actor=ACTOR
    )
    assert not locks.unlock(
        session=session, district_id=district_id, day=day, agent_id=agent_id, actor=ACTOR
    )
    trail = audit.history(
        session=session, entity="route", entity_id=f"{district_id}/{day}/{agent_id}"
    )
    assert [(e.action, e.actor) for e in trail] == [("lock", ACTOR), ("unlock", ACTOR)]


def test_an_agent_of_another_district_cannot_be_locked(session: Session) -> None:
    district_id, day = _booked(session, 1)
    other = geography_service.get_district_by_code(session=session, code="SXR")
    agent_id = store.current_stops(session=session, district_id=district_id, day=day)[0].agent_id
    assert other.id is not None
    with pytest.raises(InvalidInput):
        locks.lock(session=session, district_id=other.id, day=day, agent_id=agent_id, actor=ACTOR)


def _give_to_far_agent(session: Session, district_id: int, day: dt.date) -> tuple[str, str]:
    """Re-save the plan with one visit moved to the on-duty agent who lives farthest from it
    (and can still make it): a plan the solver would undo. Returns (agent, visit)."""
    zd = zone.load(session, district_id, day)
    problem, ix = zd.problem, Indexed.of(zd.problem)
    sequences = {a.id: list(zd.plan.sequences().get(a.id, ())) for a in problem.agents}
    best: tuple[int, str, str] | None = None
    for visit in problem.visits:
        v = problem.visit_index(visit.id)
        for a, agent in enumerate(problem.agents):
            if zd.plan.agent_of(visit.id) == agent.id or not visit.qualified(agent):
                continue
            trial = [problem.visit_index(x) for x in sequences[agent.id]] + [v]
            if schedule(ix, a, trial) is None:
                continue
            far = ix.a_dur[a][ix.a_start[a]][ix.v_loc[v]]
            if best is None or far > best[0]:
                best = (far, agent.id, visit.id)
    assert best is not None and best[0] > 3600, "no agent far enough to make the test mean it"
    _, far_agent, moved = best
    for seq in sequences.values():
        if moved in seq:
            seq.remove(moved)
    sequences[far_agent].append(moved)
    routes: list[Route] = []
    for agent_id, seq in sequences.items():
        a = problem.agent_index(agent_id)
        route = schedule(ix, a, [problem.visit_index(x) for x in seq])
        assert route is not None
        if route.stops:
            routes.append(route)
    store.save(
        session=session,
        district_id=district_id,
        day=day,
        based_on=zd.version,
        plan=Plan(tuple(routes)),
        clock=zd.clock,
        requests=zd.requests,
        actor="test",
    )
    return far_agent, moved


def test_a_replan_keeps_a_locked_route_as_it_is(session: Session) -> None:
    district_id, day = _booked(session, 4)
    far_agent, moved = _give_to_far_agent(session, district_id, day)
    planning.clear_cache()
    unlocked = zone.load(session, district_id, day)
    # Unlocked, the solver takes the visit back from the agent who lives far away.
    assert planning.improve(unlocked, time_limit_s=0.2).plan.agent_of(moved) != far_agent

    locked_route = unlocked.plan.sequences()[far_agent]
    locks.lock(
        session=session,
        district_id=district_id,
        day=day,
        agent_id=zone.agent_id_of(far_agent),
        actor=ACTOR,
    )
    zd = zone.load(session, district_id, day)
    pins = {v.id: v.pin for v in zd.problem.visits if v.pin is not None}
    assert pins == {vid: Pin(far_agent, i) for i, vid in enumerate(locked_route)}
    result = planning.improve(zd, time_limit_s=0.2)
    assert result.plan.sequences()[far_agent] == locked_route
    planning.save_replan(session=session, zd=zd, result=result, actor=ACTOR)
    after = zone.load(session, district_id, day)
    assert after.plan.sequences()[far_agent] == locked_route
    assert check(after.problem, after.plan, require_all_accounted=False) == []
    # Unlocked again, the next re-plan is free to move it.
    locks.unlock(
        session=session,
        district_id=district_id,
        day=day,
        agent_id=zone.agent_id_of(far_agent),
        actor=ACTOR,
    )
    freed = zone.load(session, district_id, day)
    assert all(v.pin is None for v in freed.problem.visits)

"""Route locks: a dispatcher's lock is audited, makes a new version of the plan (so a plan
computed before it is not saved), and re-plans keep a locked route's visits with its agent, in
their order, even where the solver would otherwise move them — a re-plan searching while the
route is locked included."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from dispatch import scheduled
from dispatch.agents.models import Agent
from dispatch.audit import service as audit
from dispatch.db import read_session, write_session
from dispatch.errors import InvalidInput, NotFound
from dispatch.geography import service as geography_service
from dispatch.planning import locks, runs, store, zone
from dispatch.planning import service as planning
from dispatch.planning.models import ReplanStatus, ZonePlan
from routing.checker import check
from routing.model import Pin
from routing.plan import Plan, Route
from routing.timing import Indexed, schedule
from tests import factories

IST = ZoneInfo("Asia/Kolkata")
#: A Tuesday no other test plans in Anantnag (agents from Anantnag town to Pahalgam).
MORNING = dt.datetime(2032, 3, 2, 7, 0, tzinfo=IST)
#: Committed (not rolled back): a day of its own.
LOCKED_WHILE_SEARCHING = dt.datetime(2032, 3, 9, 7, 0, tzinfo=IST)
ACTOR = "staff:test-dispatcher"


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    planning.clear_cache()
    yield
    planning.clear_cache()


def _booked(session: Session, n: int, morning: dt.datetime = MORNING) -> tuple[int, dt.date]:
    offer = None
    for i in range(n):
        _, offer = factories.booked_request(session, district_code="ANT", now=morning, choice=i % 2)
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


def _stops(session: Session, district_id: int, day: dt.date) -> list[tuple[object, ...]]:
    return [
        (s.agent_id, s.request_id, s.position, s.planned_arrival)
        for s in store.current_stops(session=session, district_id=district_id, day=day)
    ]


def test_locking_and_unlocking_make_a_new_version_with_the_same_stops(session: Session) -> None:
    """Only a change makes a version (locking twice, or unlocking what is not locked, does
    not); whether the plan waits for the solver's improvement stays as it was."""
    district_id, day = _booked(session, 2)
    stops = _stops(session, district_id, day)
    agent_id = stops[0][0]
    assert isinstance(agent_id, int)
    row = session.get(ZonePlan, (district_id, day))
    assert row is not None and row.version > row.improved_version  # booked: not yet improved
    first = row.version
    args: dict[str, Any] = {"district_id": district_id, "day": day, "agent_id": agent_id}

    locks.lock(session=session, actor=ACTOR, **args)
    locks.lock(session=session, actor=ACTOR, **args)

    row = session.get(ZonePlan, (district_id, day), populate_existing=True)
    assert row is not None and row.version == first + 1 and row.improved_version < row.version
    assert _stops(session, district_id, day) == stops
    row.improved_version = row.version  # as if the solver had improved it
    session.add(row)
    session.flush()
    assert locks.unlock(session=session, actor=ACTOR, **args)
    assert not locks.unlock(session=session, actor=ACTOR, **args)
    row = session.get(ZonePlan, (district_id, day), populate_existing=True)
    assert row is not None and row.version == row.improved_version == first + 2
    assert _stops(session, district_id, day) == stops
    trail = audit.history(
        session=session, entity="route", entity_id=f"{district_id}/{day}/{agent_id}"
    )
    assert [e.detail["version"] for e in trail] == [first + 1, first + 2]


def test_a_plan_computed_before_a_lock_is_not_saved(session: Session) -> None:
    """The scheduled improvement and the console's re-plan save through `save_replan`: a
    search that read the plan before the lock finds it outdated."""
    district_id, day = _booked(session, 2)
    zd = planning.prepare_replan(session=session, district_id=district_id, day=day)
    result = planning.improve(zd, time_limit_s=0.1)
    agent_id = store.current_stops(session=session, district_id=district_id, day=day)[0].agent_id
    locks.lock(session=session, district_id=district_id, day=day, agent_id=agent_id, actor=ACTOR)
    with pytest.raises(store.PlanOutdated):
        planning.save_replan(session=session, zd=zd, result=result, actor=ACTOR)


def test_locking_a_day_without_a_plan_makes_an_empty_first_version(session: Session) -> None:
    empty_day = (MORNING + dt.timedelta(days=28)).date()
    district = geography_service.get_district_by_code(session=session, code="ANT")
    assert district.id is not None
    zd = planning.prepare_replan(session=session, district_id=district.id, day=empty_day)
    assert zd.version == 0 and zd.problem.agents
    agent_id = zone.agent_id_of(zd.problem.agents[0].id)
    locks.lock(
        session=session, district_id=district.id, day=empty_day, agent_id=agent_id, actor=ACTOR
    )
    row = session.get(ZonePlan, (district.id, empty_day))
    assert row is not None and row.version == row.improved_version == 1
    assert store.current_stops(session=session, district_id=district.id, day=empty_day) == []
    with pytest.raises(store.PlanOutdated):
        planning.save_replan(
            session=session, zd=zd, result=planning.improve(zd, time_limit_s=0.1), actor=ACTOR
        )


def test_an_agent_of_another_district_cannot_be_locked(session: Session) -> None:
    district_id, day = _booked(session, 1)
    other = geography_service.get_district_by_code(session=session, code="SXR")
    agent_id = store.current_stops(session=session, district_id=district_id, day=day)[0].agent_id
    assert other.id is not None
    with pytest.raises(InvalidInput):
        locks.lock(session=session, district_id=other.id, day=day, agent_id=agent_id, actor=ACTOR)
    # Of another state, the agent is not found at all.
    punjab = geography_service.get_district_by_code(session=session, code="ASR")
    assert punjab.id is not None
    with pytest.raises(NotFound):
        locks.lock(session=session, district_id=punjab.id, day=day, agent_id=agent_id, actor=ACTOR)
    with pytest.raises(NotFound):
        locks.unlock(
            session=session, district_id=punjab.id, day=day, agent_id=agent_id, actor=ACTOR
        )
    assert session.get(Agent, 2**31 - 1) is None
    with pytest.raises(NotFound):
        locks.lock(
            session=session, district_id=district_id, day=day, agent_id=2**31 - 1, actor=ACTOR
        )


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


def test_a_route_locked_while_a_replan_searches_keeps_its_visits(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run read the plan before the lock and its search gives the visit back: saving it
    finds the plan outdated, the run computes again with the lock, and the saved plan keeps
    the locked route as it was."""
    with write_session(engine) as s:
        district_id, day = _booked(s, 4, LOCKED_WHILE_SEARCHING)
        far_agent, moved = _give_to_far_agent(s, district_id, day)
    with write_session(engine) as s:
        run = runs.request(
            session=s,
            district_id=district_id,
            day=day,
            actor=ACTOR,
            time_limit_s=0.2,
            idempotency_key=uuid.uuid4().hex,
        )
        assert run.id is not None
        run_id = run.id
    with read_session(engine) as s:
        locked_route = zone.load(s, district_id, day).plan.sequences()[far_agent]
    real, given_to = planning.improve, []

    def improve_while_locking(zd: zone.ZoneDay, **kwargs: Any) -> Any:
        result = real(zd, **kwargs)
        given_to.append(result.plan.agent_of(moved))
        if len(given_to) == 1:  # the dispatcher locks the route while the search runs
            with write_session(engine) as s:
                locks.lock(
                    session=s,
                    district_id=district_id,
                    day=day,
                    agent_id=zone.agent_id_of(far_agent),
                    actor=ACTOR,
                )
        return result

    monkeypatch.setattr(planning, "improve", improve_while_locking)
    scheduled.run_replans(engine=engine, only=[run_id])

    with read_session(engine) as s:
        done = runs.get(session=s, run_id=run_id)
        after = zone.load(s, district_id, day)
    assert done.status is ReplanStatus.DONE, done.message
    assert given_to[0] != far_agent and given_to[1:] == [far_agent]
    assert done.message and "computed again" in done.message
    assert after.plan.sequences()[far_agent] == locked_route
    assert after.version == done.version

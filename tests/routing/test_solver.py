"""The solver on tiny hand-checkable problems; every result also passes the checker.

Road geometry (see tiny.py): one minute per km; agents live at km 0 unless said otherwise.
"""

from __future__ import annotations

import time

import pytest

from routing.checker import check
from routing.model import Objective, Pin, Priority, Problem
from routing.params import ENGINES, SearchParameters
from routing.plan import Plan, Result, UnassignedReason
from routing.solver import solve
from routing.workers import prestart
from tests.routing.tiny import HOUR, MINUTE, agent, problem, visit

H = HOUR


@pytest.fixture(params=ENGINES)
def fast(request: pytest.FixtureRequest) -> SearchParameters:
    """A short solve, once with each engine: both must honour every rule below."""
    return SearchParameters(time_limit_s=0.3, engine=request.param)


def solve_checked(p: Problem, params: SearchParameters, current: Plan | None = None) -> Result:
    result = solve(p, params, current=current)
    assert check(p, result.plan) == [], result.plan
    return result


def reasons(result: Result) -> dict[str, UnassignedReason]:
    return {u.visit_id: u.reason for u in result.plan.unassigned}


def test_single_visit_times_by_hand(fast: SearchParameters) -> None:
    """Leave 08:00, 10 km = 10 min, wait for 09:00, 10 min service, 10 min home: 09:20."""
    r = solve_checked(problem([agent()], [visit("v1", 10, (9 * H, 10 * H))]), fast)
    (route,) = r.plan.routes
    (stop,) = route.stops
    assert (route.departure, stop.arrival, stop.start, stop.departure, route.arrival) == (
        8 * H,
        8 * H + 10 * MINUTE,
        9 * H,
        9 * H + 10 * MINUTE,
        9 * H + 20 * MINUTE,
    )
    assert r.cost.travel == 20 * MINUTE


def test_order_follows_windows(fast: SearchParameters) -> None:
    """v_far must be done first (window closes at 08:40), v_near afterwards."""
    p = problem(
        [agent()],
        [visit("v_near", 5, (10 * H, 12 * H)), visit("v_far", 30, (8 * H, 8 * H + 40 * MINUTE))],
    )
    r = solve_checked(p, fast)
    assert r.plan.routes[0].visit_ids == ("v_far", "v_near")


def test_second_window_is_used(fast: SearchParameters) -> None:
    """The morning window (08:00-08:05) is unreachable at km 10; the afternoon one is used."""
    p = problem([agent()], [visit("v1", 10, (8 * H, 8 * H + 5 * MINUTE), (14 * H, 15 * H))])
    r = solve_checked(p, fast)
    assert r.plan.routes[0].stops[0].start == 14 * H


def test_skills_choose_the_agent(fast: SearchParameters) -> None:
    p = problem(
        [agent("a1"), agent("a2", skills=["passport"])],
        [visit("v1", 10, skills=["passport"]), visit("v2", 12)],
    )
    r = solve_checked(p, fast)
    assert r.plan.agent_of("v1") == "a2"


def test_language_chooses_the_agent(fast: SearchParameters) -> None:
    p = problem(
        [agent("a1", languages=["hi"]), agent("a2", languages=["ks", "hi"])],
        [visit("v1", 10, language="ks")],
    )
    assert solve_checked(p, fast).plan.agent_of("v1") == "a2"


def test_unassigned_reasons(fast: SearchParameters) -> None:
    p = problem(
        [agent("a1", capacity=5, languages=["hi"])],
        [
            visit("skill", 1, skills=["passport"]),
            visit("lang", 2, language="ks"),
            visit("heavy", 3, load=9),
            visit("late", 10, (8 * H, 8 * H + 5 * MINUTE)),
            visit("ok", 4),
        ],
    )
    r = solve_checked(p, fast)
    assert reasons(r) == {
        "skill": UnassignedReason.NO_AGENT_WITH_SKILL,
        "lang": UnassignedReason.NO_AGENT_WITH_LANGUAGE,
        "heavy": UnassignedReason.CAPACITY,
        "late": UnassignedReason.WINDOW_UNREACHABLE,
    }
    assert r.plan.agent_of("ok") == "a1"


def test_visit_cap_reason(fast: SearchParameters) -> None:
    p = problem([agent(max_visits=1)], [visit("v1", 1), visit("v2", 2)])
    r = solve_checked(p, fast)
    assert r.plan.assigned_count == 1
    assert list(reasons(r).values()) == [UnassignedReason.VISIT_CAP]


def test_priority_decides_who_is_dropped(fast: SearchParameters) -> None:
    """Both visits need the same 10-minute slot 30 km apart: only one can be served; the
    URGENT one wins, the other is NO_ROOM."""
    slot = (9 * H, 9 * H + 10 * MINUTE)
    p = problem(
        [agent()],
        [visit("normal", 30, slot), visit("urgent", -30, slot, priority=Priority.URGENT)],
    )
    r = solve_checked(p, fast)
    assert r.plan.agent_of("urgent") == "a1"
    assert reasons(r) == {"normal": UnassignedReason.NO_ROOM}


def test_break_is_planned(fast: SearchParameters) -> None:
    """Three visits back to back from 09:00; a 30-minute break must start 10:00-10:15."""
    brk = (10 * H, 10 * H + 15 * MINUTE, 30 * MINUTE)
    p = problem(
        [agent(brk=brk)],
        [visit(f"v{i}", 1 + i, (9 * H, 12 * H), service=30 * MINUTE) for i in range(4)],
    )
    r = solve_checked(p, fast)
    route = r.plan.routes[0]
    assert route.break_start is not None and 10 * H <= route.break_start <= 10 * H + 15 * MINUTE
    assert r.plan.assigned_count == 4


def test_pinned_prefix_and_pinned_agent(fast: SearchParameters) -> None:
    p = problem(
        [agent("a1"), agent("a2", home=50)],
        [
            visit("first", 40, pin=Pin("a1", 0)),
            visit("second", 1, pin=Pin("a1", 1)),
            visit("mine", 49, pin=Pin("a1")),
            visit("free", 48),
        ],
    )
    r = solve_checked(p, fast)
    route = r.plan.route_of("a1")
    assert route is not None
    assert route.visit_ids[:2] == ("first", "second")
    assert "mine" in route.visit_ids


def test_unkeepable_pin_is_reported(fast: SearchParameters) -> None:
    """Pinned first at km 10 with a window closing at 08:05: cannot be kept."""
    p = problem([agent()], [visit("p", 10, (8 * H, 8 * H + 5 * MINUTE), pin=Pin("a1", 0))])
    r = solve_checked(p, fast)
    assert reasons(r) == {"p": UnassignedReason.PIN_INFEASIBLE}


def test_warm_start_keeps_agents(fast: SearchParameters) -> None:
    """Re-planning after one new visit keeps everyone's visits with their agent."""
    agents = [agent("west", home=-20), agent("east", home=20)]
    visits = [visit(f"w{i}", -20 + i) for i in range(1, 5)] + [
        visit(f"e{i}", 20 - i) for i in range(1, 5)
    ]
    first = solve_checked(problem(agents, visits), fast)
    grown = problem(agents, [*visits, visit("new", 0)])
    second = solve_checked(grown, fast, current=first.plan)
    for v in visits:
        assert second.plan.agent_of(v.id) == first.plan.agent_of(v.id)
    assert second.plan.agent_of("new") is not None


def test_reassign_cost_is_respected(fast: SearchParameters) -> None:
    """A visit sitting with the far agent stays there when moving it saves less than the
    reassign cost, and moves when the cost is zero."""
    agents = [agent("near", home=0), agent("far", home=10)]
    visits = [visit("v", 5), visit("anchor", 10)]
    base = problem(agents, visits)
    first = solve_checked(base, fast)
    keep = solve_checked(base, fast, current=first.plan)
    for v in visits:
        assert keep.plan.agent_of(v.id) == first.plan.agent_of(v.id)
    free = problem(agents, visits, Objective(reassign_cost=0, reorder_cost=0))
    assert solve_checked(free, fast).cost.stability == 0


@pytest.mark.parametrize("engine", ENGINES)
def test_time_limit_is_a_wall(engine: str) -> None:
    visits = [visit(f"v{i}", i % 40, service=5 * MINUTE) for i in range(60)]
    p = problem([agent(f"a{k}", home=k * 5) for k in range(6)], visits)
    t0 = time.monotonic()
    r = solve_checked(p, SearchParameters(time_limit_s=0.5, engine=engine))
    assert time.monotonic() - t0 < 0.5 + 0.15
    assert r.plan.assigned_count == 60


@pytest.mark.parametrize("engine", ENGINES)
def test_two_workers(engine: str) -> None:
    """The worker process's plan comes back and competes with this process's."""
    prestart()  # the fork server's first start alone may take about a second
    visits = [visit(f"v{i}", (i * 7) % 30, service=5 * MINUTE) for i in range(25)]
    p = problem([agent("a1"), agent("a2", home=30)], visits)
    # Two seconds, not one: on a loaded machine (tests in parallel) the child's first search can
    # miss a one-second deadline, and the point here is that its plan comes back at all.
    r = solve_checked(p, SearchParameters(time_limit_s=2.0, workers=2, engine=engine))
    assert r.plan.assigned_count == 25
    assert any(name.endswith("second_search") for name in r.candidates)


def test_empty_problem(fast: SearchParameters) -> None:
    r = solve_checked(problem([agent()], []), fast)
    assert r.plan.routes == ()


def test_no_agent_on_duty(fast: SearchParameters) -> None:
    """A district with nobody on duty: every visit comes back unassigned, with its reason."""
    r = solve_checked(problem([], [visit("v1", 10), visit("v2", 20, skills=["x"])]), fast)
    assert r.plan.routes == ()
    assert reasons(r) == {
        "v1": UnassignedReason.NO_AGENT_ON_DUTY,
        "v2": UnassignedReason.NO_AGENT_ON_DUTY,
    }

"""The string-removal search: its compiled time arithmetic agrees with an independent
brute-force reference, its construction and search keep every rule, and it is reproducible."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routing import sisr
from routing import sisr_kernels as k
from routing.checker import check
from routing.cost import Coster
from routing.model import Objective, Pin, Problem, TravelMatrix, TravelMode
from routing.params import SearchParameters
from routing.solver import _analyse, _to_plan, solve
from routing.timing import Indexed
from tests.routing.strategies import problems, reference_feasible
from tests.routing.tiny import HOUR, MINUTE, agent, place, problem, visit

H = HOUR
Routes = tuple[tuple[int, ...], ...]

PROPERTY = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)


def _data(p: Problem) -> tuple[Indexed, k.Data]:
    """Every visit allowed to every agent: the time arithmetic alone is under test."""
    ix = Indexed.of(p)
    everyone = frozenset(range(len(p.agents)))
    return ix, sisr.prepare(ix, [everyone] * len(p.visits), [()] * len(p.agents), (), frozenset())


def _plan_is_clean(p: Problem, routes: Routes) -> None:
    ix = Indexed.of(p)
    plan = _to_plan(ix, _analyse(ix), routes)
    assert plan is not None
    assert check(p, plan) == []


@PROPERTY
@given(problems(), st.data())
def test_kernel_feasibility_and_insertion_agree_with_the_reference(
    p: Problem, data: st.DataObject
) -> None:
    """For random routes: the compiled route check says feasible exactly when the brute-force
    reference does (break tried in every leg), every O(1) insertion check agrees with the
    reference on the route with the visit inserted, and route costs are arc sums."""
    ix, d = _data(p)
    n_a, n_v = len(p.agents), len(p.visits)
    owner = data.draw(st.lists(st.integers(-1, n_a - 1), min_size=n_v, max_size=n_v))
    order = data.draw(st.permutations(range(n_v)))
    s = sisr.new_state(n_a, n_v)
    for a, ag in enumerate(p.agents):
        seq = [v for v in order if owner[v] == a]
        s.routes[a, : len(seq)] = seq
        s.rlen[a] = len(seq)
        # Caps and capacity are checked apart from the time arithmetic.
        free = dataclasses.replace(ag, max_visits=None, capacity=None)
        feasible = k.refresh(d, s, a)
        assert feasible == reference_feasible(free, [p.visits[v] for v in seq]), seq
        if not feasible:
            continue
        assert s.rinfo[a, 1] == ix.route_cost(a, seq)
        for v in range(n_v):
            if owner[v] == a:
                continue
            for g in range(len(seq) + 1):
                trial = [p.visits[u] for u in [*seq[:g], v, *seq[g:]]]
                got = k._can_insert(d.dur, d.ag, d.vi, d.win, s.routes, len(seq), s.slack, a, g, v)
                assert got == reference_feasible(free, trial), (seq, g, v)


def _day() -> Problem:
    agents = [agent("west", home=-20), agent("east", home=20, brk=(12 * H, 13 * H, 30 * MINUTE))]
    visits = [
        visit(f"v{i}", (i * 7) % 41 - 20, ((8 + i % 6) * H, (10 + i % 6) * H), service=15 * MINUTE)
        for i in range(24)
    ]
    return problem(agents, visits)


def test_complete_builds_clean_routes_and_leaves_out_what_fits_nowhere() -> None:
    far = visit("far", 400, (8 * H, 9 * H))  # 400 km away: no one gets there by 09:00
    p = problem([*_day().agents], [*_day().visits, far])
    ix = Indexed.of(p)
    an = _analyse(ix)
    d = sisr.prepare(ix, an.allowed, an.prefix, (), frozenset())
    routes = sisr.complete(d, an.prefix, range(len(p.visits)))
    routed = {v for r in routes for v in r}
    assert len(p.visits) - 1 not in routed
    assert len(routed) == len(p.visits) - 1
    _plan_is_clean(p, routes)


def test_run_improves_keeps_the_prefix_and_never_returns_worse() -> None:
    base = _day()
    visits = list(base.visits)
    visits[0] = dataclasses.replace(visits[0], pin=Pin("west", 0))
    p = problem(list(base.agents), visits)
    ix = Indexed.of(p)
    an = _analyse(ix)
    assert an.prefix[0] == (0,)
    d = sisr.prepare(ix, an.allowed, an.prefix, (), frozenset())
    start = sisr.complete(d, an.prefix, range(len(visits)))
    found = sisr.run(d, start, time.monotonic() + 0.5)
    coster = Coster(ix, (), frozenset())
    assert coster.total(found) <= coster.total(start)
    assert found[0][0] == 0
    assert sorted(v for r in found for v in r) == list(range(len(visits)))
    _plan_is_clean(p, found)


def test_the_same_seed_and_steps_give_the_same_plan() -> None:
    p = _day()
    ix = Indexed.of(p)
    an = _analyse(ix)
    d = sisr.prepare(ix, an.allowed, an.prefix, (), frozenset())
    start = sisr.complete(d, an.prefix, range(len(p.visits)))
    params = np.array([6.0, 5.0, 0.1, 0.01, 0.0])

    def steps(seed: int) -> Routes:
        states = [sisr.new_state(len(p.agents), len(p.visits)) for _ in range(3)]
        for s in states:
            assert sisr._load(d, s, start)
        k.seed_rng(seed)
        c = k.total_cost(d, states[0])
        k.search(d, states[0], states[1], states[2], 300, 600.0, 6.0, c, c, params)
        return sisr._routes(states[2])

    assert steps(7) == steps(7)


def test_stability_keeps_visits_with_their_agents_unless_moving_pays() -> None:
    """With the default 20-minute reassign cost nothing moves when one visit is added; with no
    stability costs the same re-plan is free to move visits."""
    first = solve(_day(), SearchParameters(time_limit_s=0.5))
    grown = problem(list(_day().agents), [*_day().visits, visit("new", 0)])
    again = solve(grown, SearchParameters(time_limit_s=0.5), current=first.plan)
    assert check(grown, again.plan) == []
    for v in _day().visits:
        assert again.plan.agent_of(v.id) == first.plan.agent_of(v.id)
    free = problem(
        list(_day().agents), list(grown.visits), Objective(reassign_cost=0, reorder_cost=0)
    )
    loose = solve(free, SearchParameters(time_limit_s=0.5), current=first.plan)
    assert check(free, loose.plan) == []
    assert loose.cost.stability == 0
    assert loose.cost.travel <= again.cost.travel


def _random_routes(data: st.DataObject, n_agents: int, n_visits: int) -> list[list[int]]:
    owner = data.draw(st.lists(st.integers(-1, n_agents - 1), min_size=n_visits, max_size=n_visits))
    order = data.draw(st.permutations(range(n_visits)))
    return [[v for v in order if owner[v] == a] for a in range(n_agents)]


@PROPERTY
@given(problems(), st.data())
def test_kernel_route_cost_is_the_costers_with_stability(p: Problem, data: st.DataObject) -> None:
    """Against a random current plan, the compiled cost of every route (travel, reassign and
    reorder costs) is what `Coster` -- the yardstick the solver chooses by -- says."""
    n_a, n_v = len(p.agents), len(p.visits)
    old = _random_routes(data, n_a, n_v)
    previous = [-1] * n_v
    links: set[tuple[int, int, int]] = set()
    for a, seq in enumerate(old):
        for v in seq:
            previous[v] = a
        if seq:
            links.update((a, u, w) for u, w in zip([-1, *seq], [*seq, -1], strict=True))
    ix = Indexed.of(p)
    everyone = frozenset(range(n_a))
    d = sisr.prepare(ix, [everyone] * n_v, [()] * n_a, tuple(previous), frozenset(links))
    coster = Coster(ix, tuple(previous), frozenset(links))
    s = sisr.new_state(n_a, n_v)
    for a, seq in enumerate(_random_routes(data, n_a, n_v)):
        s.routes[a, : len(seq)] = seq
        s.rlen[a] = len(seq)
        if k.refresh(d, s, a):
            travel, _, stability = coster.parts([a], [seq], seq)
            assert s.rinfo[a, 1] == travel + stability, (seq, old)


def test_each_agent_travels_at_its_own_mode() -> None:
    """Walking takes three times as long as riding: only the rider reaches km 30 by 08:40, so
    the rider gets that visit even though the walker lives closer."""
    kms = [0, 5, 30]
    ride = tuple(tuple(abs(a - b) * MINUTE for b in kms) for a in kms)
    walk = tuple(tuple(3 * x for x in row) for row in ride)
    travel = TravelMatrix(
        tuple(place(km) for km in kms),
        {TravelMode.TWO_WHEELER: ride, TravelMode.ON_FOOT: walk},
    )
    rider = dataclasses.replace(agent("rider", home=0), mode=TravelMode.TWO_WHEELER)
    walker = dataclasses.replace(agent("walker", home=5), mode=TravelMode.ON_FOOT)
    p = Problem((rider, walker), (visit("far", 30, (8 * H, 8 * H + 40 * MINUTE)),), travel)
    r = solve(p, SearchParameters(time_limit_s=0.3))
    assert check(p, r.plan) == []
    assert r.plan.agent_of("far") == "rider"
    assert r.cost.travel == 60 * MINUTE

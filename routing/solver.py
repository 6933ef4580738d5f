"""`solve`: plan a day within a hard wall-clock budget, and never return an infeasible plan.

Holds the orchestration of a solve: which visits can be served at all and by whom, the warm
start repaired from the current plan, the construction (cheapest insertion, `routing.sisr`),
the search by the chosen engine (`routing.engines`: our string-removal search by default, or
OR-Tools), the objective used to choose between candidate plans, and the reasons attached to
unassigned visits. Every candidate is re-timed by `routing.timing.schedule` and must pass
`routing.checker.check` before it can be returned; the warm start and the construction are
always candidates, so the returned plan is never worse than either.
It builds no OR-Tools model and holds no time arithmetic of its own; OR-Tools is imported only
when `params.engine` is "ortools".
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from routing import engines, sisr
from routing.checker import check
from routing.cost import Coster
from routing.model import Problem
from routing.params import SearchParameters
from routing.plan import Plan, PlanCost, Result, Route, Unassigned, UnassignedReason
from routing.timing import INF, Indexed, earliest_in, schedule
from routing.workers import Worker

#: Wall time kept back for timing, checking and choosing between candidates.
_FINISH_S = 0.03

Routes = tuple[tuple[int, ...], ...]


@dataclass(frozen=True)
class _Analysis:
    allowed: tuple[frozenset[int], ...]  # agents that could serve the visit alone
    prefix: tuple[tuple[int, ...], ...]  # feasible pinned prefix per agent
    reasons: dict[int, tuple[UnassignedReason, str]]  # visits no agent can take at all


def solve(
    problem: Problem, params: SearchParameters | None = None, *, current: Plan | None = None
) -> Result:
    """Plan `problem` within `params.time_limit_s` (wall clock, everything included).

    `current`, if given, is the live plan: it seeds the search (warm start) and defines the
    stability costs of `problem.objective` (moving a visit to another agent, reordering).
    The returned plan always passes `routing.checker.check`.
    """
    params = params or SearchParameters()
    t0 = time.monotonic()
    # Timing and checking the candidates at the end grows with the plan (~40 ms each at 1000
    # visits); keep that back from the search.
    deadline = t0 + params.time_limit_s - _FINISH_S - 0.0001 * len(problem.visits)
    ix = Indexed.of(problem)
    analysis = _analyse(ix)
    previous_agent, old_links = _previous(problem, current)
    servable = any(analysis.allowed)
    worker = Worker.start(params.engine) if params.workers >= 2 and servable else None
    try:
        if servable:
            candidates = _candidates(
                ix, analysis, previous_agent, old_links, current, params, worker, deadline
            )
        else:  # nobody can serve anything (e.g. no agent on duty): the empty plan
            candidates = [("construction", analysis.prefix)]
    finally:
        if worker is not None:
            worker.close()
    source, plan, cost, priced = _choose(ix, analysis, candidates, previous_agent, old_links)
    return Result(
        plan=plan, cost=cost, wall_s=time.monotonic() - t0, source=source, candidates=priced
    )


def _candidates(
    ix: Indexed,
    analysis: _Analysis,
    previous_agent: tuple[int, ...],
    old_links: frozenset[tuple[int, int, int]],
    current: Plan | None,
    params: SearchParameters,
    worker: Worker | None,
    deadline: float,
) -> list[tuple[str, Routes]]:
    """The warm start (if there is a live plan), the construction and the engine's plans."""
    data = sisr.prepare(ix, analysis.allowed, analysis.prefix, previous_agent, old_links)
    order = _insertion_order(ix)
    found: list[tuple[str, Routes]] = []
    warm: Routes | None = None
    if current is not None:
        warm = sisr.complete(data, _repair(ix, analysis, current), order)
        found.append(("warm_start", warm))
    found.append(("construction", sisr.complete(data, analysis.prefix, order)))
    if params.engine == "ortools":
        from routing.solver_ortools import SearchSpec  # OR-Tools loads only when chosen

        spec = SearchSpec(
            time_limit_s=0.0,
            first_solution="parallel_cheapest_insertion",
            allowed=analysis.allowed,
            prefix=analysis.prefix,
            previous_agent=previous_agent,
            previous_next=old_links,
            log_search=params.log_search,
        )
        found.extend(engines.search_ortools(ix.problem, spec, warm, worker, deadline))
    else:
        coster = Coster(ix, previous_agent, old_links)
        start = min((r for _, r in found), key=coster.total)
        found.extend(engines.search_sisr(data, start, worker, deadline))
    return found


def _insertion_order(ix: Indexed) -> list[int]:
    """Construction order: highest priority first, then the earliest-closing window."""
    visits = ix.problem.visits
    return sorted(
        range(len(visits)),
        key=lambda v: (-visits[v].priority, ix.v_wend[v][-1], ix.v_wstart[v][0]),
    )


# --------------------------------------------------------------------------- analysis


def _analyse(ix: Indexed) -> _Analysis:
    """Who could serve each visit alone, the feasible part of pinned prefixes, and why not."""
    problem = ix.problem
    reasons: dict[int, tuple[UnassignedReason, str]] = {}

    # Pinned prefixes: keep the longest feasible part; the rest cannot be honoured.
    prefix: list[tuple[int, ...]] = []
    dropped_pins: set[int] = set()
    for a, agent in enumerate(problem.agents):
        pinned = sorted(
            (v.pin.sequence, i)
            for i, v in enumerate(problem.visits)
            if v.pin is not None and v.pin.agent_id == agent.id and v.pin.sequence is not None
        )
        seq = [i for _, i in pinned]
        keep = len(seq)
        while keep and not (
            ix.fits_counts(a, seq[:keep]) and schedule(ix, a, seq[:keep]) is not None
        ):
            keep -= 1
        for v in seq[keep:]:
            dropped_pins.add(v)
            reasons[v] = (
                UnassignedReason.PIN_INFEASIBLE,
                f"cannot keep position {problem.visits[v].pin.sequence} "  # type: ignore[union-attr]
                f"with agent {agent.id}",
            )
        prefix.append(tuple(seq[:keep]))

    # Who could serve each visit alone, ignoring breaks: a superset of the exact answer, cheap
    # enough for 1000 visits x 100 agents. Dropped visits get their exact reason later.
    allowed: list[frozenset[int]] = []
    for v, visit in enumerate(problem.visits):
        if v in dropped_pins:
            allowed.append(frozenset())
            continue
        loc, svc = ix.v_loc[v], ix.v_service[v]
        ws, we = ix.v_wstart[v], ix.v_wend[v]
        ok: set[int] = set()
        for a in ix.v_allowed[v]:
            if ix.a_cap[a] < 1 or visit.load > ix.a_capacity[a]:
                continue
            dur = ix.a_dur[a]
            shift_start, shift_end = ix.a_shift[a]
            t = earliest_in(ws, we, shift_start + dur[ix.a_start[a]][loc])
            if t < INF and t + svc + dur[loc][ix.a_end[a]] <= shift_end:
                ok.add(a)
        allowed.append(frozenset(ok))
        if not ok:
            reasons[v] = _why_nobody(ix, v)
    return _Analysis(tuple(allowed), tuple(prefix), reasons)


def _why_nobody(ix: Indexed, v: int) -> tuple[UnassignedReason, str]:
    problem = ix.problem
    visit = problem.visits[v]
    agents = problem.agents
    if not agents:
        return UnassignedReason.NO_AGENT_ON_DUTY, "no agent is on duty"
    if visit.pin is not None:
        return UnassignedReason.PIN_INFEASIBLE, f"pinned agent {visit.pin.agent_id} cannot do it"
    skilled = [a for a in agents if visit.skills <= a.skills]
    if not skilled:
        return UnassignedReason.NO_AGENT_WITH_SKILL, f"needs {sorted(visit.skills)}"
    if not any(visit.qualified(a) for a in skilled):
        return UnassignedReason.NO_AGENT_WITH_LANGUAGE, f"needs language {visit.language}"
    qualified = ix.v_allowed[v]
    if all(ix.a_cap[a] < 1 for a in qualified):
        return UnassignedReason.VISIT_CAP, "qualified agents take no visits"
    if all(visit.load > ix.a_capacity[a] for a in qualified):
        return UnassignedReason.CAPACITY, f"load {visit.load} exceeds every capacity"
    return UnassignedReason.WINDOW_UNREACHABLE, "no qualified agent can reach it in a window"


def _why_dropped(ix: Indexed, v: int, routes: Routes) -> tuple[UnassignedReason, str]:
    allowed = ix.v_allowed[v]
    alone = [a for a in allowed if ix.fits_counts(a, (v,)) and schedule(ix, a, (v,)) is not None]
    if not alone:
        return UnassignedReason.WINDOW_UNREACHABLE, "no qualified agent can do it in a window"
    if all(len(routes[a]) >= ix.a_cap[a] for a in allowed):
        return UnassignedReason.VISIT_CAP, "every qualified agent is at its daily visit cap"
    load = ix.v_load[v]
    if load and all(
        sum(ix.v_load[u] for u in routes[a]) + load > ix.a_capacity[a] for a in allowed
    ):
        return UnassignedReason.CAPACITY, "no qualified agent has capacity left"
    return UnassignedReason.NO_ROOM, "no qualified agent has room for it in the plan"


# --------------------------------------------------------------------------- warm start


def _previous(
    problem: Problem, current: Plan | None
) -> tuple[tuple[int, ...], frozenset[tuple[int, int, int]]]:
    """Per visit the agent that had it (-1 if none), and the current plan's links."""
    if current is None:
        return (), frozenset()
    previous = [-1] * len(problem.visits)
    links: set[tuple[int, int, int]] = set()
    for route in current.routes:
        if not problem.has_agent(route.agent_id):
            continue
        a = problem.agent_index(route.agent_id)
        seq = [
            problem.visit_index(s.visit_id) for s in route.stops if problem.has_visit(s.visit_id)
        ]
        for v in seq:
            previous[v] = a
        for u, w in zip([-1, *seq], [*seq, -1], strict=True):
            if seq:
                links.add((a, u, w))
    return tuple(previous), frozenset(links)


def _repair(ix: Indexed, analysis: _Analysis, current: Plan) -> Routes:
    """The current plan cut down to what is still feasible (pins first, then in order)."""
    problem = ix.problem
    routes: list[tuple[int, ...]] = []
    for a, agent in enumerate(problem.agents):
        prefix = list(analysis.prefix[a])
        old = current.route_of(agent.id)
        seq = prefix[:]
        if old is not None:
            taken = set(prefix)
            for s in old.stops:
                if not problem.has_visit(s.visit_id):
                    continue
                v = problem.visit_index(s.visit_id)
                if v in taken or a not in analysis.allowed[v]:
                    continue
                trial = [*seq, v]
                if ix.fits_counts(a, trial) and schedule(ix, a, trial) is not None:
                    seq = trial
                    taken.add(v)
        routes.append(tuple(seq))
    return tuple(routes)


# --------------------------------------------------------------------------- choosing


def _to_plan(ix: Indexed, analysis: _Analysis, routes: Routes) -> Plan | None:
    problem = ix.problem
    out: list[Route] = []
    for a, r in enumerate(routes):
        if not r:
            continue
        if not ix.fits_counts(a, r):
            return None
        route = schedule(ix, a, r)
        if route is None:
            return None
        out.append(route)
    routed = {v for r in routes for v in r}
    unassigned = []
    for v, visit in enumerate(problem.visits):
        if v in routed:
            continue
        reason, detail = analysis.reasons.get(v) or _why_dropped(ix, v, routes)
        unassigned.append(Unassigned(visit.id, reason, detail))
    return Plan(tuple(out), tuple(unassigned))


def _choose(
    ix: Indexed,
    analysis: _Analysis,
    candidates: list[tuple[str, Routes]],
    previous_agent: Sequence[int],
    old_links: frozenset[tuple[int, int, int]],
) -> tuple[str, Plan, PlanCost, dict[str, int]]:
    """The cheapest candidate that passes the checker: (source, plan, cost, every candidate's
    cost by "i:source"). Candidates are priced first (cheap) and only then timed and checked,
    cheapest first, until one passes; a plan found twice is priced once."""
    coster = Coster(ix, previous_agent, old_links)
    everyone = range(len(ix.problem.visits))
    priced: dict[Routes, PlanCost] = {}
    named: dict[str, int] = {}
    order: list[tuple[int, int, str, Routes]] = []
    for i, (name, routes) in enumerate(candidates):
        if len(routes) != len(ix.problem.agents):
            continue
        if routes not in priced:
            priced[routes] = PlanCost(*coster.parts(range(len(routes)), routes, everyone))
        named[f"{i}:{name}"] = priced[routes].total
        order.append((priced[routes].total, i, name, routes))
    for _, _, name, routes in sorted(order, key=lambda o: (o[0], o[1])):
        plan = _to_plan(ix, analysis, routes)
        if plan is not None and not check(ix.problem, plan):
            return name, plan, priced[routes], named
    # Cannot happen unless the shared timing code is wrong: the construction only builds
    # routes it has timed. Fall back to the empty plan, which is always feasible.
    empty: Routes = tuple(() for _ in ix.problem.agents)
    plan = _to_plan(ix, analysis, empty)
    assert plan is not None
    return "empty", plan, PlanCost(*coster.parts(range(len(empty)), empty, everyone)), named

"""`solve`: plan a day within a hard wall-clock budget, and never return an infeasible plan.

Holds the orchestration around the OR-Tools search (`routing.solver_ortools`): which visits can
be served at all and by whom, the warm start repaired from the current plan, the library's own
construction as insurance, a second search in a separate process, the objective used to choose
between candidate plans, and the reasons attached to unassigned visits. Every candidate is
re-timed by `routing.timing.schedule` and must pass `routing.checker.check` before it can be
returned; the fallback chain is OR-Tools -> warm start -> own construction.
It does not build OR-Tools models itself and holds no time arithmetic of its own.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

from routing.checker import check
from routing.construction import insert_all, nearest_visits
from routing.improve import Coster, improve_by_groups
from routing.model import Problem
from routing.params import SearchParameters
from routing.plan import Plan, PlanCost, Result, Route, Unassigned, UnassignedReason
from routing.solver_ortools import SearchSpec, search
from routing.timing import INF, Indexed, earliest_in, schedule
from routing.workers import Worker

#: Wall time kept back for timing, checking and choosing between candidates.
_FINISH_S = 0.03
#: Above this many visits OR-Tools' own first solution may overrun a short budget, so the
#: in-process search starts from our construction instead.
LARGE = 300
#: From this many visits on, the search continues group by group (routing.improve).
GROUPS_FROM = 150
#: Share of the budget spent on the whole problem before working on groups (up to LARGE).
WHOLE_SHARE = 0.6

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
    deadline = t0 + params.time_limit_s - 0.0001 * len(problem.visits)
    ix = Indexed.of(problem)
    analysis = _analyse(ix)
    previous_agent, old_links = _previous(problem, current)
    servable = any(analysis.allowed)
    worker = Worker.start() if params.workers >= 2 and servable else None
    try:
        candidates: list[tuple[str, Routes]] = []
        nearest = nearest_visits(ix, 24) if len(problem.visits) > 1 else None
        warm: Routes | None = None
        if current is not None:
            warm = _repair(ix, analysis, current)
            warm = _complete(ix, analysis, warm, deadline, nearest)
            candidates.append(("warm_start", warm))
        base = _complete(ix, analysis, analysis.prefix, deadline, nearest)
        candidates.append(("construction", base))
        spec = _spec(analysis, previous_agent, old_links, params)
        n = len(problem.visits)
        if servable and n > GROUPS_FROM:
            if n <= LARGE:
                # OR-Tools on the whole problem first, then groups of routes from its result.
                first_deadline = t0 + WHOLE_SHARE * (deadline - t0)
                candidates.extend(_search_whole(problem, spec, warm, worker, first_deadline))
            coster = Coster(ix, previous_agent, old_links)
            seed = min((r for _, r in candidates), key=coster.total)
            routes = improve_by_groups(
                ix, analysis.allowed, analysis.prefix, spec, seed, coster, worker, deadline
            )
            candidates.append(("search", routes))
        elif servable:
            candidates.extend(_search_whole(problem, spec, warm, worker, deadline))
    finally:
        if worker is not None:
            worker.close()
    best = _choose(ix, analysis, candidates, previous_agent, old_links)
    return Result(
        plan=best[1],
        cost=best[2],
        wall_s=time.monotonic() - t0,
        source=best[0],
        candidates={f"{i}:{name}": c.total for i, (name, _, c) in enumerate(best[3])},
    )


def _search_whole(
    problem: Problem,
    spec: SearchSpec,
    warm: Routes | None,
    worker: Worker | None,
    deadline: float,
) -> list[tuple[str, Routes]]:
    """Up to a few hundred visits: OR-Tools on the whole problem, a second search beside it."""
    found: list[tuple[str, Routes]] = []
    task = -1
    if worker is not None:
        limit = deadline - time.monotonic() - _FINISH_S - _margin(problem)
        if limit > 0.05:
            task = worker.submit(
                problem,
                replace(
                    spec,
                    time_limit_s=limit,
                    first_solution="savings",
                    deadline=deadline - _FINISH_S - _margin(problem),
                ),
            )
    if worker is not None:
        worker.wait_ready(min(0.5, 0.15 * (deadline - time.monotonic())))
    budget = deadline - time.monotonic() - _FINISH_S - _margin(problem)
    if warm is not None and budget > 0.02:
        # Greedy descent from the live plan keeps its shape (stability) and is cheap.
        out = search(
            problem, replace(spec, time_limit_s=budget * 0.3, warm_routes=warm, iterated=False)
        )
        if out.routes is not None:
            found.append(("search", out.routes))
        budget = deadline - time.monotonic() - _FINISH_S - _margin(problem)
    if budget > 0.02:
        out = search(problem, replace(spec, time_limit_s=budget))
        if out.routes is not None:
            found.append(("search", out.routes))
    if worker is not None and task >= 0:
        routes = worker.results(deadline - _FINISH_S, {task}).get(task)
        if routes is not None:
            found.append(("second_search", routes))
    return found


def _margin(problem: Problem) -> float:
    """OR-Tools overshoots its limit by about one local-search move; moves grow with size."""
    # Measured: ~0.07 s past the limit at 200 visits with iterated local search.
    return 0.02 + 0.0005 * len(problem.visits)


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


def _complete(
    ix: Indexed,
    analysis: _Analysis,
    routes: Routes,
    deadline: float,
    nearest: list[list[int]] | None,
) -> Routes:
    """`routes` with every servable visit not yet routed inserted where cheapest."""
    work = [list(r) for r in routes]
    routed = {v for r in work for v in r}
    pending = [v for v, ok in enumerate(analysis.allowed) if ok and v not in routed]
    if pending:
        insert_all(ix, work, pending, analysis.allowed, deadline=deadline, nearest=nearest)
    return tuple(tuple(r) for r in work)


def _spec(
    analysis: _Analysis,
    previous_agent: tuple[int, ...],
    old_links: frozenset[tuple[int, int, int]],
    params: SearchParameters,
) -> SearchSpec:
    return SearchSpec(
        time_limit_s=0.0,
        first_solution="parallel_cheapest_insertion",
        allowed=analysis.allowed,
        prefix=analysis.prefix,
        previous_agent=previous_agent,
        previous_next=old_links,
        log_search=params.log_search,
    )


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
) -> tuple[str, Plan, PlanCost, list[tuple[str, Plan, PlanCost]]]:
    scored: list[tuple[str, Plan, PlanCost]] = []
    coster = Coster(ix, previous_agent, old_links)
    everyone = range(len(ix.problem.visits))
    seen: set[Routes] = set()
    for name, routes in candidates:
        if len(routes) != len(ix.problem.agents) or routes in seen:
            continue
        seen.add(routes)
        plan = _to_plan(ix, analysis, routes)
        if plan is None or check(ix.problem, plan):
            continue
        travel, drop, stability = coster.parts(range(len(routes)), routes, everyone)
        scored.append((name, plan, PlanCost(travel, drop, stability)))
    if not scored:
        # Cannot happen unless the shared timing code is wrong: the construction only builds
        # routes it has timed. Fall back to the empty plan, which is always feasible.
        empty: Routes = tuple(() for _ in ix.problem.agents)
        plan = _to_plan(ix, analysis, empty)
        assert plan is not None
        travel, drop, stability = coster.parts(range(len(empty)), empty, everyone)
        return "empty", plan, PlanCost(travel, drop, stability), []
    best = min(scored, key=lambda s: s[2].total)
    return best[0], best[1], best[2], scored

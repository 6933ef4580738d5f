"""Improving a large plan group by group, on one or two cores.

Holds `Coster` (the objective the search minimises, recomputed in Python so plans from any
source compare fairly, for a whole plan or one group of routes) and `improve_by_groups`: rounds
of `routing.decompose.partition` with a moving offset; each group of ~100 visits is re-solved by
OR-Tools' iterated local search as its own problem (half the groups in a `routing.workers`
process when there is one), and a group's new routes replace the old only if they are feasible
and cheaper. It does not build OR-Tools models or check whole plans.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Sequence
from dataclasses import replace

from routing.decompose import Group, partition, subproblem
from routing.solver_ortools import SearchSpec, search
from routing.timing import Indexed, schedule
from routing.workers import Worker

Routes = tuple[tuple[int, ...], ...]

#: Visits per group: OR-Tools' iterated local search is at its best on ~100 customers; below
#: 300 visits, groups of ~70 measured better (more groups, so boundaries move more often).
GROUP_SIZE = 100
SMALL_GROUP_SIZE = 70
#: Longest search given to one group in one round; more rounds move the group boundaries.
MAX_SLICE_S = 4.0
#: Shortest useful search of a group (build + first solution of ~100 visits).
MIN_SLICE_S = 0.12
_FINISH_S = 0.03


class Coster:
    """Travel + drop penalties + stability, exactly as the OR-Tools model prices them."""

    def __init__(
        self,
        ix: Indexed,
        previous_agent: Sequence[int],
        old_links: frozenset[tuple[int, int, int]],
    ) -> None:
        self.ix = ix
        self.previous = previous_agent
        self.links = old_links
        obj = ix.problem.objective
        self.drop = [
            obj.drop_penalty[v.priority] * (10 if v.pin is not None else 1)
            for v in ix.problem.visits
        ]

    def parts(
        self, agents: Sequence[int], routes: Sequence[Sequence[int]], visits: Sequence[int]
    ) -> tuple[int, int, int]:
        """(travel, drop penalty, stability) of `routes` (route i belongs to agents[i]), with
        the visits of `visits` that they leave out counted as dropped."""
        ix, obj = self.ix, self.ix.problem.objective
        travel = sum(ix.route_cost(a, r) for a, r in zip(agents, routes, strict=True))
        routed = {v for r in routes for v in r}
        drop = sum(self.drop[v] for v in visits if v not in routed)
        stability = 0
        if self.previous:
            moved = sum(
                1
                for a, r in zip(agents, routes, strict=True)
                for v in r
                if self.previous[v] not in (-1, a)
            )
            broken = 0
            if self.links and obj.reorder_cost:
                for a, r in zip(agents, routes, strict=True):
                    if r:
                        for u, w in zip([-1, *r], [*r, -1], strict=True):
                            if (a, u, w) not in self.links:
                                broken += 1
            stability = moved * obj.reassign_cost + broken * obj.reorder_cost
        return travel, drop, stability

    def total(self, routes: Sequence[Sequence[int]]) -> int:
        return sum(self.parts(range(len(routes)), routes, range(len(self.ix.problem.visits))))


def _feasible(ix: Indexed, agent: int, route: Sequence[int]) -> bool:
    return ix.fits_counts(agent, route) and schedule(ix, agent, route) is not None


def _subspec(
    spec: SearchSpec,
    group: Group,
    allowed: Sequence[frozenset[int]],
    prefix: Sequence[Sequence[int]],
    time_limit_s: float,
) -> SearchSpec:
    """`spec` translated to the group's own agent and visit positions."""
    a_pos = {a: i for i, a in enumerate(group.agents)}
    v_pos = {v: i for i, v in enumerate(group.visits)}
    sub_allowed = tuple(frozenset(a_pos[a] for a in allowed[v] if a in a_pos) for v in group.visits)
    sub_prefix = tuple(tuple(v_pos[v] for v in prefix[a]) for a in group.agents)
    previous: tuple[int, ...] = ()
    if spec.previous_agent:
        previous = tuple(a_pos.get(spec.previous_agent[v], -1) for v in group.visits)
    links = frozenset(
        (a_pos[a], v_pos.get(u, -1) if u >= 0 else -1, v_pos.get(w, -1) if w >= 0 else -1)
        for a, u, w in spec.previous_next
        if a in a_pos and (u < 0 or u in v_pos) and (w < 0 or w in v_pos)
    )
    return replace(
        spec,
        time_limit_s=time_limit_s,
        allowed=sub_allowed,
        prefix=sub_prefix,
        previous_agent=previous,
        previous_next=links,
        warm_routes=None,
        iterated=True,
        first_solution="parallel_cheapest_insertion",
    )


def improve_by_groups(
    ix: Indexed,
    allowed: Sequence[frozenset[int]],
    prefix: Sequence[Sequence[int]],
    spec: SearchSpec,
    seed: Routes,
    coster: Coster,
    worker: Worker | None,
    deadline: float,
) -> Routes:
    """Best routes found by re-solving groups of routes until `deadline` (monotonic)."""
    problem = ix.problem
    routes = [tuple(r) for r in seed]
    rng = random.Random(0)
    if worker is not None and not worker.wait_ready(min(0.5, 0.15 * (deadline - time.monotonic()))):
        worker = None  # not up in time: one process it is
    procs = 2 if worker is not None else 1
    while True:
        remaining = deadline - time.monotonic() - _FINISH_S
        target = SMALL_GROUP_SIZE if len(problem.visits) <= 300 else GROUP_SIZE
        groups = partition(problem, routes, target=target, offset=rng.uniform(0, 2 * math.pi))
        if not groups:
            break
        per_proc = math.ceil(len(groups) / procs)
        slice_s = min(MAX_SLICE_S, remaining / per_proc)
        if slice_s < MIN_SLICE_S:
            break
        mine, theirs = groups[0::procs], groups[1::procs]
        tasks: dict[int, Group] = {}
        if worker is not None and theirs:
            batch = [
                (
                    subproblem(problem, g),
                    replace(
                        _subspec(spec, g, allowed, prefix, slice_s * 0.95),
                        deadline=deadline - _FINISH_S - 0.01 * len(theirs),
                    ),
                )
                for g in theirs
            ]
            for task, g in zip(worker.submit_many(batch), theirs, strict=True):
                if task >= 0:
                    tasks[task] = g
                else:
                    mine.append(g)
        for g in mine:
            left = deadline - time.monotonic() - _FINISH_S
            if left < MIN_SLICE_S:
                break
            sub = subproblem(problem, g)
            out = search(sub, _subspec(spec, g, allowed, prefix, min(slice_s, left) * 0.95))
            _accept(ix, coster, routes, g, out.routes)
        if worker is not None and tasks:
            for task, sub_routes in worker.results(deadline - _FINISH_S, set(tasks)).items():
                _accept(ix, coster, routes, tasks[task], sub_routes)
    return tuple(routes)


def _accept(
    ix: Indexed,
    coster: Coster,
    routes: list[tuple[int, ...]],
    group: Group,
    sub_routes: Routes | None,
) -> bool:
    """Replace the group's routes by `sub_routes` (group positions) if feasible and cheaper."""
    if sub_routes is None or len(sub_routes) != len(group.agents):
        return False
    new = [tuple(group.visits[v] for v in r) for r in sub_routes]
    if not all(_feasible(ix, a, r) for a, r in zip(group.agents, new, strict=True)):
        return False
    old = [routes[a] for a in group.agents]
    if sum(coster.parts(group.agents, new, group.visits)) >= sum(
        coster.parts(group.agents, old, group.visits)
    ):
        return False
    for a, r in zip(group.agents, new, strict=True):
        routes[a] = r
    return True

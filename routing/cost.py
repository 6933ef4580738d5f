"""The objective a plan is judged by: travel, drop penalties and stability.

Holds `Coster`, recomputed in Python from a plan's routes so that plans from any source (warm
start, construction, either engine, either process) compare fairly, for a whole plan or for a
subset of its routes. Both engines price plans the same way (`routing.sisr_kernels` and the
OR-Tools model of `routing.solver_ortools`). It does not search or check feasibility.
"""

from __future__ import annotations

from collections.abc import Sequence

from routing.model import Problem
from routing.timing import Indexed

#: A pinned visit was already promised to the citizen: leaving it out costs this much more.
PIN_DROP_FACTOR = 10


def drop_penalties(problem: Problem) -> list[int]:
    """What leaving each visit unplanned costs: its priority's penalty, more if pinned."""
    obj = problem.objective
    return [
        obj.drop_penalty[v.priority] * (PIN_DROP_FACTOR if v.pin is not None else 1)
        for v in problem.visits
    ]


class Coster:
    """Travel + drop penalties + stability, as both engines price them."""

    def __init__(
        self,
        ix: Indexed,
        previous_agent: Sequence[int],
        old_links: frozenset[tuple[int, int, int]],
    ) -> None:
        self.ix = ix
        self.previous = previous_agent
        self.links = old_links
        self.drop = drop_penalties(ix.problem)

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

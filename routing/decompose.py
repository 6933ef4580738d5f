"""Decomposition of a large plan into groups of neighbouring routes, and their sub-problems.

Holds `partition` (routes grouped by the angle of their centroid around the plan's centre,
with a rotating offset so boundaries move between rounds) and `subproblem` (a `Problem` with
only a group's agents and visits and a travel matrix cut down to their locations, cheap to send
to another process). At 400+ visits one OR-Tools iteration costs ~100 ms; on groups of ~100
visits its iterated local search is strong, so large plans are improved group by group.
It does not search; `routing.solver` runs the sub-searches and merges the results.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from routing.model import Location, Problem, TravelMatrix


@dataclass(frozen=True)
class Group:
    """Agents (positions in the full problem) and the visits currently on their routes."""

    agents: tuple[int, ...]
    visits: tuple[int, ...]


def _centroid(points: Sequence[Location]) -> tuple[float, float]:
    return (
        sum(p.lon for p in points) / len(points),
        sum(p.lat for p in points) / len(points),
    )


def partition(
    problem: Problem,
    routes: Sequence[Sequence[int]],
    *,
    target: int,
    offset: float,
    spare_per_group: int = 2,
) -> list[Group]:
    """Groups of consecutive routes (by centroid angle, starting at `offset` radians) holding
    about `target` visits each; unused agents are dealt round-robin, `spare_per_group` each."""
    visits = problem.visits
    used = [a for a, r in enumerate(routes) if r]
    if not used:
        return []
    everything = [visits[v].location for a in used for v in routes[a]]
    cx, cy = _centroid(everything)

    def angle(a: int) -> float:
        x, y = _centroid([visits[v].location for v in routes[a]])
        return (math.atan2(y - cy, x - cx) - offset) % (2 * math.pi)

    used.sort(key=angle)
    total = sum(len(routes[a]) for a in used)
    n_groups = max(1, round(total / target))
    per_group = total / n_groups
    groups: list[list[int]] = [[]]
    filled = 0
    for a in used:
        if groups[-1] and filled >= per_group * len(groups) and len(groups) < n_groups:
            groups.append([])
        groups[-1].append(a)
        filled += len(routes[a])
    unused = [a for a, r in enumerate(routes) if not r]
    for i, a in enumerate(unused[: spare_per_group * len(groups)]):
        groups[i % len(groups)].append(a)
    return [Group(tuple(g), tuple(v for a in g for v in routes[a])) for g in groups]


def subproblem(problem: Problem, group: Group) -> Problem:
    """`problem` restricted to the group's agents and visits, with a matching small matrix."""
    agents = tuple(problem.agents[a] for a in group.agents)
    visits = tuple(problem.visits[v] for v in group.visits)
    agent_ids = {a.id for a in agents}
    # Pins to agents outside the group cannot occur: a pinned visit only ever sits on its
    # agent's route. Keep the pin objects as they are.
    assert all(v.pin is None or v.pin.agent_id in agent_ids for v in visits)
    tm = problem.travel
    rows: dict[int, None] = {}
    for a in agents:
        rows.setdefault(tm.index(a.start))
        rows.setdefault(tm.index(a.end))
    for v in visits:
        rows.setdefault(tm.index(v.location))
    keep = list(rows)
    locations = tuple(tm.locations[i] for i in keep)

    def cut(mat: tuple[tuple[int, ...], ...]) -> tuple[tuple[int, ...], ...]:
        return tuple(tuple(mat[i][j] for j in keep) for i in keep)

    durations = {m: cut(mat) for m, mat in tm.durations.items()}
    costs = {m: cut(mat) for m, mat in tm.costs.items()} if tm.costs is not None else None
    return Problem(agents, visits, TravelMatrix(locations, durations, costs), problem.objective)

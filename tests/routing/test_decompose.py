"""Large problems are improved group by group; groups and sub-problems stay consistent."""

from __future__ import annotations

from routing.checker import check
from routing.decompose import partition, subproblem
from routing.model import Pin
from routing.params import SearchParameters
from routing.solver import GROUPS_FROM, solve
from tests.routing.tiny import HOUR, MINUTE, agent, problem, visit


def test_partition_covers_routes_once_and_subproblem_matches() -> None:
    p = problem(
        [agent(f"a{i}", home=i * 10) for i in range(6)],
        [visit(f"v{j}", j % 60, service=5 * MINUTE) for j in range(25)],
    )
    routes = [tuple(range(k * 5, k * 5 + 5)) for k in range(5)] + [()]
    groups = partition(p, routes, target=10, offset=0.3)
    assert sorted(v for g in groups for v in g.visits) == list(range(25))
    assert sorted(a for g in groups for a in g.agents) == list(range(6))
    sub = subproblem(p, groups[0])
    assert len(sub.visits) == len(groups[0].visits)
    assert len(sub.travel.locations) <= len(p.travel.locations)
    for v in sub.visits:
        assert sub.travel.index(v.location) >= 0


def test_large_problem_goes_through_groups_and_is_clean() -> None:
    """More visits than GROUPS_FROM: the group-by-group search runs, with pins kept."""
    n = GROUPS_FROM + 30
    agents = [agent(f"a{i}", home=(i * 7) % 60 - 30) for i in range(16)]
    visits = [
        visit(
            f"v{j}",
            (j * 13) % 61 - 30,
            ((8 + j % 8) * HOUR, (10 + j % 8) * HOUR),
            service=5 * MINUTE,
        )
        for j in range(n)
    ]
    visits[0] = visit("v0", 3, pin=Pin("a0", 0))
    p = problem(agents, visits)
    r = solve(p, SearchParameters(time_limit_s=1.5, workers=2))
    assert check(p, r.plan) == []
    assert r.plan.route_of("a0") is not None
    assert r.plan.route_of("a0").visit_ids[0] == "v0"  # type: ignore[union-attr]
    assert r.plan.assigned_count >= 0.9 * n

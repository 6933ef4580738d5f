"""The library's own construction: feasible on its own, and neighbour lists with or without
numpy agree."""

from __future__ import annotations

import time

import pytest

from routing import construction
from routing.timing import Indexed, schedule
from tests.routing.tiny import MINUTE, agent, problem, visit


def _problem() -> Indexed:
    p = problem(
        [agent(f"a{i}", home=i * 10 - 20) for i in range(4)],
        [visit(f"v{j}", (j * 7) % 41 - 20, service=5 * MINUTE) for j in range(40)],
    )
    return Indexed.of(p)


def test_nearest_lists_match_without_numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    ix = _problem()
    with_np = construction.nearest_visits(ix, 5)
    monkeypatch.setattr(construction, "_np", None)
    without = construction.nearest_visits(ix, 5)
    dur = ix.a_dur[0]

    def dists(i: int, row: list[int]) -> list[int]:
        return sorted(dur[ix.v_loc[i]][ix.v_loc[j]] for j in row)

    for i, (a, b) in enumerate(zip(with_np, without, strict=True)):
        assert i not in a and i not in b
        assert dists(i, a) == dists(i, b)


def test_insert_all_builds_feasible_routes() -> None:
    ix = _problem()
    routes: list[list[int]] = [[] for _ in ix.problem.agents]
    everyone = [frozenset(range(4))] * 40
    left = construction.insert_all(
        ix, routes, list(range(40)), everyone, deadline=time.monotonic() + 5
    )
    assert left == []
    for a, r in enumerate(routes):
        assert schedule(ix, a, r) is not None

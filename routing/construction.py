"""The library's own cheap plan construction: parallel cheapest feasible insertion.

Holds `insert_all`, which inserts pending visits one by one at their cheapest feasible position
(candidate routes restricted to those of a visit's nearest neighbours, plus one empty agent per
kind of agent), using `routing.timing.RouteSlack` so each position check is O(1). It is the
fallback when OR-Tools finds nothing in time and the seed for large instances, where OR-Tools'
own construction is too slow for a one-second budget. It does not improve plans (no local
search) and imports no OR-Tools.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from types import ModuleType

from routing.timing import INF, Indexed, RouteSlack, best_start

_np: ModuleType | None
try:  # optional: present wherever OR-Tools is, but not a declared dependency of routing
    import numpy as _np
except ImportError:  # pragma: no cover
    _np = None


def nearest_visits(ix: Indexed, k: int) -> list[list[int]]:
    """For each visit, the `k` visits closest by travel time (first agent's mode).

    Uses numpy's partial sort when numpy is installed (it comes with OR-Tools): 1000 visits
    take ~20 ms instead of ~0.3 s in pure Python.
    """
    n = len(ix.v_loc)
    if n == 0 or not ix.a_dur:
        return [[] for _ in range(n)]
    dur = ix.a_dur[0]
    locs = ix.v_loc
    k = min(k, n - 1)
    if k <= 0:
        return [[] for _ in range(n)]
    if _np is not None:
        full = _np.asarray(dur, dtype=_np.int64)
        idx = _np.asarray(locs, dtype=_np.intp)
        sub = full[_np.ix_(idx, idx)]
        _np.fill_diagonal(sub, _np.iinfo(_np.int64).max)  # not its own neighbour
        part = _np.argpartition(sub, k - 1, axis=1)[:, :k]
        return [[int(j) for j in row] for row in part]
    out: list[list[int]] = []
    for i in range(n):
        row = dur[locs[i]]
        by_visit = [row[loc] for loc in locs]
        by_visit[i] = INF
        # sorted() with a C-level key is several times faster than heapq with a lambda here.
        out.append(sorted(range(n), key=by_visit.__getitem__)[:k])
    return out


def _agent_kind(ix: Indexed, a: int) -> tuple[object, ...]:
    agent = ix.problem.agents[a]
    return (
        ix.a_start[a],
        ix.a_end[a],
        ix.a_shift[a],
        ix.a_break[a],
        agent.mode,
        agent.skills,
        agent.languages,
        ix.a_cap[a],
        ix.a_capacity[a],
    )


def insert_all(
    ix: Indexed,
    routes: list[list[int]],
    pending: Sequence[int],
    allowed: Sequence[frozenset[int]],
    *,
    deadline: float,
    neighbours: int = 24,
    nearest: list[list[int]] | None = None,
) -> list[int]:
    """Insert `pending` visits into `routes` (per agent, modified in place); return leftovers.

    Visits go in order of priority (highest first), then tightest latest window end. Each goes
    to its cheapest feasible position among the routes of its nearest neighbours and one empty
    agent of each kind; if none is feasible, every allowed route is tried before giving up.
    Stops inserting (returning the rest) once `deadline` (time.monotonic()) has passed.
    """
    problem = ix.problem
    n_agents = len(routes)
    slack = [RouteSlack.of(ix, a, r) for a, r in enumerate(routes)]
    agent_of: dict[int, int] = {v: a for a, r in enumerate(routes) for v in r}
    near = nearest if nearest is not None else nearest_visits(ix, neighbours)
    kinds: dict[tuple[object, ...], list[int]] = {}
    for a in range(n_agents):
        kinds.setdefault(_agent_kind(ix, a), []).append(a)
    order = sorted(
        pending,
        key=lambda v: (-problem.visits[v].priority, ix.v_wend[v][-1], ix.v_wstart[v][0]),
    )
    left: list[int] = []
    for done, v in enumerate(order):
        if time.monotonic() > deadline:
            left.extend(order[done:])
            break
        ok_agents = allowed[v]
        cands: set[int] = set()
        for u in near[v]:
            a = agent_of.get(u, -1)
            if a >= 0 and a in ok_agents:
                cands.add(a)
        for members in kinds.values():
            for a in members:
                if not routes[a] and a in ok_agents:
                    cands.add(a)
                    break
        best = _best_position(ix, slack, routes, v, cands)
        if best is None:
            others = {a for a in ok_agents if routes[a] and a not in cands}
            best = _best_position(ix, slack, routes, v, others)
        if best is None:
            left.append(v)
            continue
        a, gap = best[1], best[2]
        routes[a].insert(gap, v)
        slack[a] = RouteSlack.of(ix, a, routes[a])
        agent_of[v] = a
    return left


def _best_position(
    ix: Indexed,
    slack: list[RouteSlack],
    routes: list[list[int]],
    v: int,
    agents: set[int],
) -> tuple[int, int, int] | None:
    """(added cost, agent, gap) of the cheapest feasible insertion of `v`, or None."""
    loc, svc, load = ix.v_loc[v], ix.v_service[v], ix.v_load[v]
    ws, we = ix.v_wstart[v], ix.v_wend[v]
    best: tuple[int, int, int] | None = None
    for a in sorted(agents):
        route = routes[a]
        if len(route) + 1 > ix.a_cap[a]:
            continue
        rs = slack[a]
        if rs.load + load > ix.a_capacity[a]:
            continue
        cost = ix.a_cost[a]
        locs = rs.locs
        for gap in range(ix.a_prefix[a], len(route) + 1):
            p, q = locs[gap], locs[gap + 1]
            added = cost[p][loc] + cost[loc][q] - cost[p][q]
            if best is not None and added >= best[0]:
                continue
            if best_start(ws, we, rs.insertion_intervals(ix, gap, loc, svc)) < INF:
                best = (added, a, gap)
    return best

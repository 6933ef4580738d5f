"""String-removal search: the library's own moves, run for a wall-clock budget.

Holds the Python side of slack induction by string removals (SISR: ruin strings of nearby
visits, re-insert them at their cheapest feasible positions, accept by simulated annealing),
whose inner loops are compiled with Numba in `routing.sisr_kernels`:
- `prepare` turns an indexed problem (with allowed agents, fixed prefixes and the current
  plan's agents and links) into the kernels' arrays -- plain numpy, cheap to send to a worker;
- `complete` inserts missing visits one by one at their cheapest feasible position (the
  construction, and the completion of a repaired live plan);
- `run` improves a feasible plan until a deadline and returns the best plan it saw;
- `warm_up` compiles the kernels, or loads them from Numba's on-disk cache (~0.5 s).
Plans are priced as `routing.cost.Coster` prices them (travel, drop penalties, stability) and
keep pinned prefixes, allowed agents, caps, capacities, windows, shifts and breaks;
`routing.solver` re-times and checks whatever comes back before using it.

Why our own moves: OR-Tools 9.15 needs ~10 ms per ruin-and-recreate step on 100 visits (its
constraint propagation per move); these kernels take ~35 microseconds, so a five-second budget
holds ~10^5 steps instead of ~500 (figures from `make bench`).
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from routing import sisr_kernels as k
from routing.cost import drop_penalties
from routing.timing import INF, Indexed

Routes = tuple[tuple[int, ...], ...]

#: Neighbours per visit that the ruin walks through to find routes to cut.
NEIGHBOURS = 64
#: Wall time of one compiled chunk of steps (between clock reads and temperature updates).
CHUNK_S = 0.02
#: Insertion tries the routes of this many nearest visits first (measured on GH600 at 10 s:
#: 2.8 % mean gap against 3.9 % trying every route; neutral at 100-200 visits).
NEAR_ROUTES = 40


@dataclass(frozen=True, slots=True)
class Settings:
    """Search settings (defaults tuned on the Solomon and Gehring & Homberger sets).

    avg_removed: visits removed per step on average (SISR's c-bar).
    max_string: longest string cut from one route (L-max).
    split_rate: chance to stop growing the kept part of a split string (beta).
    blink: chance to skip an insertion position.
    t_start, t_end: temperatures as multiples of the start plan's mean arc cost.
    near_routes: try the routes of this many nearest visits (and the empty ones) first, every
        route only if none of them fits; 0 = every route at once.
    """

    avg_removed: float = 10.0
    max_string: int = 10
    split_rate: float = 0.1
    blink: float = 0.01
    t_start: float = 1.0
    t_end: float = 0.01
    near_routes: int = NEAR_ROUTES


def prepare(
    ix: Indexed,
    allowed: Sequence[frozenset[int]],
    prefix: Sequence[Sequence[int]],
    previous_agent: Sequence[int],
    old_links: frozenset[tuple[int, int, int]],
) -> k.Data:
    """The kernels' arrays for `ix`: `allowed` agents per visit (none = never routed),
    `prefix` fixed leading visits per agent, and the current plan's agent per visit and
    (agent, visit, next visit) links for the stability costs (empty: none)."""
    problem = ix.problem
    agents, visits = problem.agents, problem.visits
    n_a, n_v = len(agents), len(visits)
    modes = sorted({a.mode for a in agents})
    mode_ix = {m: i for i, m in enumerate(modes)}
    tm = problem.travel
    dur = np.stack([tm.array(m) for m in modes])
    cost = np.stack([tm.array(m, "costs") for m in modes])
    ag = np.zeros((n_a, k.A_COLS), dtype=np.int64)
    ag[:, k.A_MODE] = [mode_ix[a.mode] for a in agents]
    ag[:, k.A_START] = ix.a_start
    ag[:, k.A_END] = ix.a_end
    ag[:, k.A_SHIFT0] = [sh[0] for sh in ix.a_shift]
    ag[:, k.A_SHIFT1] = [sh[1] for sh in ix.a_shift]
    for a, brk in enumerate(ix.a_break):
        if brk is not None:
            ag[a, k.A_HAS_BRK], ag[a, k.A_BRK_E], ag[a, k.A_BRK_L], ag[a, k.A_BRK_D] = 1, *brk
    ag[:, k.A_CAP] = [min(c, n_v + 1) for c in ix.a_cap]
    ag[:, k.A_CAPACITY] = [min(c, INF) for c in ix.a_capacity]
    ag[:, k.A_PREFIX] = [len(p) for p in prefix]
    ag[:, k.A_OLD_FIRST] = -2
    vi = np.zeros((n_v, k.V_COLS), dtype=np.int64)
    vi[:, k.V_LOC] = ix.v_loc
    vi[:, k.V_SERVICE] = ix.v_service
    vi[:, k.V_LOAD] = ix.v_load
    counts = np.array([len(ws) for ws in ix.v_wstart], dtype=np.int64)
    vi[:, k.V_W1] = np.cumsum(counts)
    vi[:, k.V_W0] = vi[:, k.V_W1] - counts
    win = np.array(
        [
            (s, e)
            for ws, we in zip(ix.v_wstart, ix.v_wend, strict=True)
            for s, e in zip(ws, we, strict=True)
        ],
        dtype=np.int64,
    ).reshape(-1, 2)
    obj = problem.objective
    vi[:, k.V_DROP] = drop_penalties(problem)
    vi[:, k.V_PREV] = previous_agent if previous_agent else -1
    vi[:, k.V_OLD_SUCC] = -2
    for a, u, w in old_links:
        if u < 0:
            ag[a, k.A_OLD_FIRST] = w
        else:
            vi[u, k.V_OLD_SUCC] = w
    vi[:, k.V_RANK] = [we[-1] for we in ix.v_wend]
    first = dur[mode_ix[agents[0].mode]]
    vi[:, k.V_FAR] = first[ix.a_start[0], vi[:, k.V_LOC]]
    vi[:, k.V_SERVABLE] = [1 if ok else 0 for ok in allowed]
    allowed_m = np.zeros((n_v, n_a), dtype=np.uint8)
    for v, ok in enumerate(allowed):
        for a in ok:
            allowed_m[v, a] = 1
    # Agents alike in everything but identity (a benchmark's fleet, say) are of one kind.
    alike = [k.A_MODE, k.A_START, k.A_END, k.A_SHIFT0, k.A_SHIFT1, k.A_HAS_BRK, k.A_BRK_E]
    alike += [k.A_BRK_L, k.A_BRK_D, k.A_CAP, k.A_CAPACITY]
    kinds: dict[tuple[bytes, bytes], int] = {}
    for a in range(n_a):
        key = (ag[a, alike].tobytes(), allowed_m[:, a].tobytes())
        ag[a, k.A_KIND] = kinds.setdefault(key, len(kinds))
    k_near = max(0, min(NEIGHBOURS, n_v - 1))
    if k_near:
        locs = vi[:, k.V_LOC]
        sub = first[np.ix_(locs, locs)].astype(np.float64)
        np.fill_diagonal(sub, np.inf)
        part = np.argpartition(sub, k_near - 1, axis=1)[:, :k_near]
        order = np.take_along_axis(sub, part, axis=1).argsort(axis=1, kind="stable")
        near = np.ascontiguousarray(np.take_along_axis(part, order, axis=1), dtype=np.int64)
    else:
        near = np.zeros((n_v, 0), dtype=np.int64)
    weights = np.array(
        [obj.reassign_cost if previous_agent else 0, obj.reorder_cost if old_links else 0],
        dtype=np.int64,
    )
    return k.Data(dur, cost, ag, vi, win, allowed_m, near, weights)


def new_state(n_agents: int, n_visits: int) -> k.State:
    width = n_visits + 3
    return k.State(
        routes=np.zeros((n_agents, width), dtype=np.int64),
        rlen=np.zeros(n_agents, dtype=np.int64),
        agent_of=np.full(n_visits, -1, dtype=np.int64),
        slack=np.zeros((4, n_agents, width), dtype=np.int64),
        rinfo=np.zeros((n_agents, 2), dtype=np.int64),
    )


def _load(d: k.Data, s: k.State, routes: Routes) -> bool:
    for a, r in enumerate(routes):
        s.routes[a, : len(r)] = r
        s.rlen[a] = len(r)
        for v in r:
            s.agent_of[v] = a
        if not k.refresh(d, s, a):
            return False
    return True


def _routes(s: k.State) -> Routes:
    return tuple(tuple(int(v) for v in s.routes[a, : s.rlen[a]]) for a in range(s.rlen.shape[0]))


def _shape(d: k.Data) -> tuple[int, int]:
    return d.ag.shape[0], d.vi.shape[0]


def complete(
    d: k.Data, routes: Routes, order: Sequence[int], near_routes: int = NEAR_ROUTES
) -> Routes:
    """`routes` (feasible) with the visits of `order` that they lack inserted one by one, in
    that order, at the cheapest feasible position; visits that fit nowhere stay out."""
    n_a, n_v = _shape(d)
    s = new_state(n_a, n_v)
    if not _load(d, s, routes):
        raise ValueError("complete() needs feasible routes")
    k.fill(d, s, np.asarray(order, dtype=np.int64).reshape(-1), near_routes)
    return _routes(s)


def run(
    d: k.Data,
    start: Routes,
    deadline: float,
    settings: Settings | None = None,
    seed: int = 1,
) -> Routes:
    """The cheapest plan found from `start` (feasible, starting with the fixed prefixes)
    before `deadline` (time.monotonic(), system-wide, so a child process may use it);
    `start` itself if there is no time."""
    settings = settings or Settings()
    n_a, n_v = _shape(d)
    if n_a == 0 or n_v == 0 or time.monotonic() >= deadline:
        return start
    cur, work, best = new_state(n_a, n_v), new_state(n_a, n_v), new_state(n_a, n_v)
    if not _load(d, cur, start):
        return start
    k.copy_state(cur, work)
    k.copy_state(cur, best)
    arcs = travel = 0
    for a, r in enumerate(start):
        if r:
            path = [d.ag[a, k.A_START], *(d.vi[v, k.V_LOC] for v in r), d.ag[a, k.A_END]]
            cm = d.cost[d.ag[a, k.A_MODE]]
            travel += int(sum(cm[p, q] for p, q in itertools.pairwise(path)))
            arcs += len(r) + 1
    base = travel / arcs if arcs else 1.0
    t0, t1 = settings.t_start * base, settings.t_end * base
    params = np.array(
        [
            settings.avg_removed,
            settings.max_string,
            settings.split_rate,
            settings.blink,
            settings.near_routes,
        ],
        dtype=np.float64,
    )
    k.seed_rng(seed)
    cost = best_cost = k.total_cost(d, cur)
    began = time.monotonic()
    span = max(1e-6, deadline - began)
    chunk = 4
    while True:
        tick = time.monotonic()
        if tick >= deadline:
            break
        p0 = (tick - began) / span
        p1 = min(1.0, p0 + CHUNK_S / span)
        cost, best_cost, _ = k.search(
            d, cur, work, best, chunk, _temp(t0, t1, p0), _temp(t0, t1, p1), cost, best_cost,
            params,
        )  # fmt: skip
        per_step = max(1e-7, time.monotonic() - tick) / chunk
        left = deadline - time.monotonic()
        if left <= per_step:
            break
        chunk = max(1, min(int(CHUNK_S / per_step), int(left / per_step)))
    return _routes(best)


def _temp(t0: float, t1: float, progress: float) -> float:
    if t0 <= 0:
        return 0.0
    return t0 * math.pow(t1 / t0, min(1.0, max(0.0, progress)))


def warm_up() -> None:
    """Compile (or load from Numba's cache) every kernel on a two-visit problem."""
    from routing.model import Agent, Location, Problem, TimeWindow, TravelMatrix, TravelMode, Visit

    locs = (Location(0.0, 0.0), Location(0.0, 0.01), Location(0.01, 0.0))
    mat = ((0, 60, 60), (60, 0, 90), (60, 90, 0))
    mode = TravelMode.TWO_WHEELER
    agent = Agent("a", locs[0], locs[0], TimeWindow(0, 3600), mode=mode)
    visits = tuple(Visit(str(i), locs[i], (TimeWindow(0, 3600),), 60) for i in (1, 2))
    problem = Problem((agent,), visits, TravelMatrix(locs, {mode: mat}))
    d = prepare(Indexed.of(problem), [frozenset({0})] * 2, [()], (), frozenset())
    start = complete(d, ((),), [0, 1])
    # Past the deadline on purpose: `run` would return at once; call every kernel instead.
    states = [new_state(1, 2) for _ in range(3)]
    _load(d, states[0], start)
    k.copy_state(states[0], states[1])
    k.copy_state(states[0], states[2])
    params = np.array([2.0, 2.0, 0.1, 0.01, 1.0], dtype=np.float64)
    k.seed_rng(1)
    c = k.total_cost(d, states[0])
    k.search(d, states[0], states[1], states[2], 4, 1.0, 0.5, c, c, params)

"""Compiled kernels of the string-removal search (`routing.sisr`): array code only.

Holds the Numba-compiled inner loop of slack induction by string removals (SISR, Christiaens
and Vanden Berghe, Transportation Science 2020): ruin a few strings of visits that lie close
together, re-insert every removed visit at its cheapest feasible position ("greedy insertion
with blinks"), and accept the result by simulated annealing. Everything here works on flat
integer arrays built by `routing.sisr`; it knows nothing of `Problem`, `Plan` or OR-Tools.

Route model, the same as `routing.timing` (re-derived, not shared: Numba compiles array code):
each agent leaves its start at its shift start, serves its visits in order (a visit's service
starts inside one of its windows, waiting allowed), may take one break of fixed duration
starting in [earliest, latest] during a leg (travel or waiting) or after the return, and must be
back by its shift end. Per route and position the slack arrays hold the earliest departure and
the latest start that keeps the rest feasible, in the two states "break still pending" (nb) and
"break taken" (b), so that checking one insertion costs O(1).

Cost of a route (0 when empty): arc costs of start -> visits -> end, plus `reorder` for every
arc that is not a link of the current plan, plus `reassign` for every visit that the current
plan gave to another agent. Unrouted visits cost their drop penalty. This is exactly what
`routing.cost.Coster` prices.

Layout: a few 2-D arrays with named columns rather than many 1-D ones, and helpers that take
arrays, not tuples of arrays: each array handed to a compiled function costs reference
counting, and with ~30 of them that dominated the run time (measured: 1.6 ms a step instead
of tens of microseconds).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

INF = 1 << 60
NEG = -INF

# Columns of Data.ag (one row per agent).
A_MODE, A_START, A_END, A_SHIFT0, A_SHIFT1 = 0, 1, 2, 3, 4
A_HAS_BRK, A_BRK_E, A_BRK_L, A_BRK_D = 5, 6, 7, 8
A_CAP, A_CAPACITY, A_PREFIX, A_OLD_FIRST, A_KIND = 9, 10, 11, 12, 13
A_COLS = 14
# Columns of Data.vi (one row per visit).
V_LOC, V_SERVICE, V_LOAD, V_W0, V_W1 = 0, 1, 2, 3, 4
V_DROP, V_PREV, V_OLD_SUCC, V_RANK, V_FAR, V_SERVABLE = 5, 6, 7, 8, 9, 10
V_COLS = 11
# Planes of State.slack.
DEP_NB, DEP_B, LAT_NB, LAT_B = 0, 1, 2, 3


class Data(NamedTuple):
    """The problem as arrays (int64 unless said otherwise); see `routing.sisr.build_data`.

    ag: [agent, A_COLS]; A_PREFIX = number of fixed leading visits, A_OLD_FIRST = first visit
        of the current plan's route (-2 if none), A_KIND = agents of one kind are alike in all
        but their identity (an empty route of each kind is as good as any other).
    vi: [visit, V_COLS]; windows are rows V_W0 .. V_W1 - 1 of `win`; V_PREV = agent of the
        current plan (-1 if none), V_OLD_SUCC = successor there (-1 = route end, -2 = none).
    win: [window, 2] start, end (sorted per visit).
    allowed: [visit, agent] uint8.
    near: [visit, k] other visits by increasing travel time.
    weights: [reassign cost, reorder cost].
    """

    dur: np.ndarray  # [mode, loc, loc]
    cost: np.ndarray  # [mode, loc, loc]
    ag: np.ndarray
    vi: np.ndarray
    win: np.ndarray
    allowed: np.ndarray
    near: np.ndarray
    weights: np.ndarray


class State(NamedTuple):
    """One solution with its timing caches; `routing.sisr.new_state` allocates it."""

    routes: np.ndarray  # [agent, width] visits in order
    rlen: np.ndarray  # [agent]
    agent_of: np.ndarray  # [visit] -1 = unrouted
    slack: np.ndarray  # [4, agent, width]: DEP_* per position 0..n, LAT_* per 1..n+1
    rinfo: np.ndarray  # [agent, 2]: load, cost


# --------------------------------------------------------------------------- time arithmetic


@njit(cache=True, inline="always")
def _earliest_in(vi: np.ndarray, win: np.ndarray, v: int, t: int) -> int:
    """Smallest allowed service start >= t, or INF."""
    for w in range(vi[v, V_W0], vi[v, V_W1]):
        if win[w, 1] >= t:
            return win[w, 0] if win[w, 0] > t else t
    return INF


@njit(cache=True, inline="always")
def _latest_in(vi: np.ndarray, win: np.ndarray, v: int, t: int) -> int:
    """Largest allowed service start <= t, or NEG."""
    for w in range(vi[v, V_W1] - 1, vi[v, V_W0] - 1, -1):
        if win[w, 0] <= t:
            return win[w, 1] if win[w, 1] < t else t
    return NEG


@njit(cache=True, inline="always")
def _loc_at(ag: np.ndarray, vi: np.ndarray, routes: np.ndarray, n: int, a: int, k: int) -> int:
    """Location of position k of route a with n visits (0 = start, n + 1 = end)."""
    if k == 0:
        return int(ag[a, A_START])
    if k == n + 1:
        return int(ag[a, A_END])
    return int(vi[routes[a, k - 1], V_LOC])


@njit(cache=True, inline="always")
def _link(
    cost: np.ndarray, ag: np.ndarray, vi: np.ndarray, reorder: int, a: int, u: int, w: int
) -> int:
    """Cost of the arc u -> w on agent a's route (u = -1: the start, w = -1: the end)."""
    lu = ag[a, A_START] if u < 0 else vi[u, V_LOC]
    lw = ag[a, A_END] if w < 0 else vi[w, V_LOC]
    c = int(cost[ag[a, A_MODE], lu, lw])
    if reorder > 0:
        if u < 0:
            old = w >= 0 and ag[a, A_OLD_FIRST] == w
        else:
            old = vi[u, V_PREV] == a and vi[u, V_OLD_SUCC] == w
        if not old:
            c += reorder
    return c


@njit(cache=True, inline="always")
def _moved(vi: np.ndarray, reassign: int, a: int, v: int) -> int:
    p = vi[v, V_PREV]
    return reassign if p >= 0 and p != a else 0


@njit(cache=True)
def _refresh(
    dur: np.ndarray,
    cost: np.ndarray,
    ag: np.ndarray,
    vi: np.ndarray,
    win: np.ndarray,
    weights: np.ndarray,
    routes: np.ndarray,
    rlen: np.ndarray,
    slack: np.ndarray,
    rinfo: np.ndarray,
    a: int,
) -> bool:
    """Recompute route a's slack, load and cost; False if the route is infeasible."""
    n = rlen[a]
    m = ag[a, A_MODE]
    has = ag[a, A_HAS_BRK] == 1
    e, late, dd = ag[a, A_BRK_E], ag[a, A_BRK_L], ag[a, A_BRK_D]
    shift0, shift1 = ag[a, A_SHIFT0], ag[a, A_SHIFT1]
    reassign, reorder = weights[0], weights[1]
    if has:
        slack[DEP_NB, a, 0], slack[DEP_B, a, 0] = shift0, INF
    else:
        slack[DEP_NB, a, 0], slack[DEP_B, a, 0] = INF, shift0
    load = 0
    total = 0
    prev_loc = ag[a, A_START]
    prev_v = -1
    for k in range(1, n + 2):
        if k <= n:
            v = routes[a, k - 1]
            loc = vi[v, V_LOC]
        else:
            v = -1
            loc = ag[a, A_END]
        t = dur[m, prev_loc, loc]
        pn, pb = slack[DEP_NB, a, k - 1], slack[DEP_B, a, k - 1]
        arr_nb = pn + t if pn < INF else INF
        arr_b = pb + t if pb < INF else INF
        if has and pn < INF and max(pn, e) <= late:
            via = max(pn + t, e) + dd
            if via < arr_b:
                arr_b = via
        if n > 0:
            total += _link(cost, ag, vi, reorder, a, prev_v, v)
        if k <= n:
            svc = vi[v, V_SERVICE]
            st = _earliest_in(vi, win, v, arr_nb) if arr_nb < INF else INF
            slack[DEP_NB, a, k] = st + svc if st < INF else INF
            st = _earliest_in(vi, win, v, arr_b) if arr_b < INF else INF
            slack[DEP_B, a, k] = st + svc if st < INF else INF
            load += vi[v, V_LOAD]
            total += _moved(vi, reassign, a, v)
        elif not (arr_b <= shift1 or (has and arr_nb <= shift1 and arr_nb <= late)):
            # Back by the shift end, the break taken or (after the return) still due.
            return False
        prev_loc = loc
        prev_v = v
    slack[LAT_B, a, n + 1] = shift1
    slack[LAT_NB, a, n + 1] = min(shift1, late) if has else NEG
    for k in range(n, 0, -1):
        v = routes[a, k - 1]
        t = dur[m, vi[v, V_LOC], _loc_at(ag, vi, routes, n, a, k + 1)]
        svc = vi[v, V_SERVICE]
        nb1, b1 = slack[LAT_NB, a, k + 1], slack[LAT_B, a, k + 1]
        lb = b1 - t - svc if b1 > NEG else NEG
        slack[LAT_B, a, k] = _latest_in(vi, win, v, lb) if lb > NEG else NEG
        if has:
            bound = nb1 - t - svc if nb1 > NEG else NEG
            if b1 > NEG and e + dd <= b1:
                bound = max(bound, min(late, b1 - t - dd) - svc)
            slack[LAT_NB, a, k] = _latest_in(vi, win, v, bound) if bound > NEG else NEG
        else:
            slack[LAT_NB, a, k] = NEG
    rinfo[a, 0] = load
    rinfo[a, 1] = total
    return True


@njit(cache=True)
def refresh(d: Data, s: State, a: int) -> bool:
    """`_refresh` for callers holding the tuples (setting up a state)."""
    return _refresh(
        d.dur, d.cost, d.ag, d.vi, d.win, d.weights, s.routes, s.rlen, s.slack, s.rinfo, a
    )


@njit(cache=True, inline="always")
def _fits(vi: np.ndarray, win: np.ndarray, v: int, lo: int, hi: int) -> bool:
    if lo > hi:
        return False
    return _earliest_in(vi, win, v, lo) <= hi


@njit(cache=True, inline="always")
def _can_insert(
    dur: np.ndarray,
    ag: np.ndarray,
    vi: np.ndarray,
    win: np.ndarray,
    routes: np.ndarray,
    n: int,
    slack: np.ndarray,
    a: int,
    g: int,
    v: int,
) -> bool:
    """True if visit v fits after position g of route a (windows, shift, break)."""
    m = ag[a, A_MODE]
    lv = vi[v, V_LOC]
    t1 = dur[m, _loc_at(ag, vi, routes, n, a, g), lv]
    t2 = dur[m, lv, _loc_at(ag, vi, routes, n, a, g + 1)]
    svc = vi[v, V_SERVICE]
    db, dn = slack[DEP_B, a, g], slack[DEP_NB, a, g]
    lb, ln = slack[LAT_B, a, g + 1], slack[LAT_NB, a, g + 1]
    hi_b = lb - t2 - svc if lb > NEG else NEG
    if db < INF and hi_b > NEG and _fits(vi, win, v, db + t1, hi_b):
        return True
    if ag[a, A_HAS_BRK] == 0 or dn >= INF:
        return False
    e, late, dd = ag[a, A_BRK_E], ag[a, A_BRK_L], ag[a, A_BRK_D]
    if ln > NEG and _fits(vi, win, v, dn + t1, ln - t2 - svc):
        return True
    if lb > NEG:
        if max(dn, e) <= late and _fits(vi, win, v, max(dn + t1, e) + dd, hi_b):
            return True
        if e + dd <= lb and _fits(vi, win, v, dn + t1, min(late, lb - t2 - dd) - svc):
            return True
    return False


# --------------------------------------------------------------------------- moves


@njit(cache=True)
def _remove_span(
    routes: np.ndarray,
    rlen: np.ndarray,
    agent_of: np.ndarray,
    a: int,
    start: int,
    count: int,
    keep_from: int,
    keep: int,
) -> None:
    """Remove positions [start, start + count) of route a (0-based in `routes`), except the
    `keep` visits from index `keep_from` on, and mark the removed visits unrouted."""
    n = rlen[a]
    out = start
    for i in range(start, n):
        v = routes[a, i]
        if i < start + count and not (keep_from <= i < keep_from + keep):
            agent_of[v] = -1
        else:
            routes[a, out] = v
            out += 1
    rlen[a] = out


@njit(cache=True)
def _ruin(
    ag: np.ndarray,
    near: np.ndarray,
    routes: np.ndarray,
    rlen: np.ndarray,
    agent_of: np.ndarray,
    avg_removed: float,
    max_string: int,
    split_rate: float,
    stamp: np.ndarray,
) -> None:
    """SISR ruin: cut strings from routes near a random seed visit; marks them in `stamp`."""
    n_agents = rlen.shape[0]
    routed = 0
    used = 0
    for a in range(n_agents):
        free = rlen[a] - ag[a, A_PREFIX]
        if free > 0:
            routed += free
            used += 1
    if routed == 0:
        return
    ls_max = min(float(max_string), routed / used)
    ks_max = 4.0 * avg_removed / (1.0 + ls_max) - 1.0
    ks = int(np.random.random() * ks_max) + 1
    pick = int(np.random.random() * routed)  # a random movable visit as the seed
    seed = -1
    for a in range(n_agents):
        free = rlen[a] - ag[a, A_PREFIX]
        if free > 0:
            if pick < free:
                seed = routes[a, ag[a, A_PREFIX] + pick]
                break
            pick -= free
    touched = 0
    for idx in range(-1, near.shape[1]):
        if touched >= ks:
            break
        c = seed if idx < 0 else near[seed, idx]
        a = agent_of[c]
        if a < 0 or stamp[a] == 1:
            continue
        pre = ag[a, A_PREFIX]
        n = rlen[a]
        pos = -1
        for i in range(pre, n):
            if routes[a, i] == c:
                pos = i
                break
        if pos < 0:
            continue  # c is in the fixed prefix
        free = n - pre
        lt = int(np.random.random() * min(float(free), ls_max)) + 1
        if lt >= free or np.random.random() < 0.5:
            # A string of lt visits containing c.
            lo = max(pre, pos - lt + 1)
            hi = min(pos, n - lt)
            start = lo + int(np.random.random() * (hi - lo + 1))
            _remove_span(routes, rlen, agent_of, a, start, lt, 0, 0)
        else:
            # Split string: a string of lt + m visits containing c, m of them kept.
            m = 1
            while lt + m < free and np.random.random() > split_rate:
                m += 1
            span = lt + m
            lo = max(pre, pos - span + 1)
            hi = min(pos, n - span)
            start = lo + int(np.random.random() * (hi - lo + 1))
            keep_from = start + int(np.random.random() * (lt + 1))
            _remove_span(routes, rlen, agent_of, a, start, span, keep_from, m)
        stamp[a] = 1
        touched += 1


@njit(cache=True, inline="always")
def _next_blink(blink: float) -> int:
    """Positions until the next one skipped, each skipped with probability `blink`
    (geometric): one random draw per skipped position instead of one per position."""
    if blink <= 0.0:
        return INF
    return int(np.log(1.0 - np.random.random()) / np.log(1.0 - blink)) + 1


@njit(cache=True)
def _best_insertion(
    dur: np.ndarray,
    cost: np.ndarray,
    ag: np.ndarray,
    vi: np.ndarray,
    win: np.ndarray,
    allowed: np.ndarray,
    weights: np.ndarray,
    routes: np.ndarray,
    rlen: np.ndarray,
    slack: np.ndarray,
    rinfo: np.ndarray,
    v: int,
    blink: float,
    cand: np.ndarray,
    n_cand: int,
) -> tuple[int, int, int]:
    """(added cost, agent, gap) of the cheapest feasible insertion of v into the routes
    cand[:n_cand], agent -1 if none. Each position is skipped with probability `blink`."""
    best_c, best_a, best_g = INF, -1, -1
    load = vi[v, V_LOAD]
    reassign, reorder = weights[0], weights[1]
    skip = _next_blink(blink)
    for i in range(n_cand):
        a = cand[i]
        if allowed[v, a] == 0:
            continue
        n = rlen[a]
        if n + 1 > ag[a, A_CAP] or rinfo[a, 0] + load > ag[a, A_CAPACITY]:
            continue
        moved = _moved(vi, reassign, a, v)
        if n == 0:
            c = (
                _link(cost, ag, vi, reorder, a, -1, v)
                + _link(cost, ag, vi, reorder, a, v, -1)
                + moved
            )
            if c < best_c and _can_insert(dur, ag, vi, win, routes, n, slack, a, 0, v):
                best_c, best_a, best_g = c, a, 0
            continue
        pre = ag[a, A_PREFIX]
        u = routes[a, pre - 1] if pre > 0 else -1
        if reorder == 0:
            # The common case, kept lean: plain arc costs from one cost matrix.
            cm = cost[ag[a, A_MODE]]
            lv = vi[v, V_LOC]
            lu = ag[a, A_START] if u < 0 else vi[u, V_LOC]
            for g in range(pre, n + 1):
                lw = vi[routes[a, g], V_LOC] if g < n else ag[a, A_END]
                skip -= 1
                if skip == 0:
                    skip = _next_blink(blink)
                    lu = lw
                    continue
                c = cm[lu, lv] + cm[lv, lw] - cm[lu, lw] + moved
                if c < best_c and _can_insert(dur, ag, vi, win, routes, n, slack, a, g, v):
                    best_c, best_a, best_g = c, a, g
                lu = lw
            continue
        for g in range(pre, n + 1):
            w = routes[a, g] if g < n else -1
            skip -= 1
            if skip == 0:
                skip = _next_blink(blink)
                u = w
                continue
            c = (
                _link(cost, ag, vi, reorder, a, u, v)
                + _link(cost, ag, vi, reorder, a, v, w)
                - _link(cost, ag, vi, reorder, a, u, w)
                + moved
            )
            if c < best_c and _can_insert(dur, ag, vi, win, routes, n, slack, a, g, v):
                best_c, best_a, best_g = c, a, g
            u = w
    return best_c, best_a, best_g


@njit(cache=True)
def _candidates(
    ag: np.ndarray,
    vi: np.ndarray,
    near: np.ndarray,
    agent_of: np.ndarray,
    rlen: np.ndarray,
    v: int,
    k: int,
    mark: np.ndarray,
    kind_mark: np.ndarray,
    token: int,
    cand: np.ndarray,
) -> int:
    """Fill `cand` with the routes worth trying for v; returns how many. k > 0: the routes of
    v's k nearest visits; k = 0: every non-empty route. Always the route of v's agent in the
    current plan, and one empty route per kind of agent. `mark` (per agent), `kind_mark` (per
    kind) and `token` (never used before) keep the list unique."""
    n_agents = rlen.shape[0]
    count = 0
    if k > 0:
        for j in range(min(k, near.shape[1])):
            a = agent_of[near[v, j]]
            if a >= 0 and mark[a] != token:
                mark[a] = token
                cand[count] = a
                count += 1
    else:
        for a in range(n_agents):
            if rlen[a] > 0:
                mark[a] = token
                cand[count] = a
                count += 1
    previous = vi[v, V_PREV]
    if previous >= 0 and mark[previous] != token:
        mark[previous] = token
        cand[count] = previous
        count += 1
    for a in range(n_agents):
        if rlen[a] == 0 and mark[a] != token and kind_mark[ag[a, A_KIND]] != token:
            kind_mark[ag[a, A_KIND]] = token
            mark[a] = token
            cand[count] = a
            count += 1
    return count


@njit(cache=True)
def _insert(
    dur: np.ndarray,
    cost: np.ndarray,
    ag: np.ndarray,
    vi: np.ndarray,
    win: np.ndarray,
    weights: np.ndarray,
    routes: np.ndarray,
    rlen: np.ndarray,
    slack: np.ndarray,
    rinfo: np.ndarray,
    agent_of: np.ndarray,
    a: int,
    g: int,
    v: int,
) -> None:
    """Put v after position g of route a and refresh the route."""
    n = rlen[a]
    for j in range(n, g, -1):
        routes[a, j] = routes[a, j - 1]
    routes[a, g] = v
    rlen[a] = n + 1
    agent_of[v] = a
    _refresh(dur, cost, ag, vi, win, weights, routes, rlen, slack, rinfo, a)


@njit(cache=True)
def _place(
    dur: np.ndarray,
    cost: np.ndarray,
    ag: np.ndarray,
    vi: np.ndarray,
    win: np.ndarray,
    allowed: np.ndarray,
    weights: np.ndarray,
    near: np.ndarray,
    routes: np.ndarray,
    rlen: np.ndarray,
    slack: np.ndarray,
    rinfo: np.ndarray,
    agent_of: np.ndarray,
    v: int,
    blink: float,
    near_k: int,
    mark: np.ndarray,
    kind_mark: np.ndarray,
    token: int,
    cand: np.ndarray,
) -> int:
    """Insert v at its cheapest feasible position among the routes of its `near_k` nearest
    visits (see `_candidates`), or among every route if none of those fits (near_k = 0:
    every route at once); returns the agent, -1 if v fits nowhere. `mark`, `kind_mark` and
    `token` as for `_candidates` (this uses 2 token and 2 token + 1); `cand` is scratch space of
    one slot per agent."""
    a, g = -1, -1
    if near_k > 0:
        n_cand = _candidates(
            ag, vi, near, agent_of, rlen, v, near_k, mark, kind_mark, 2 * token, cand
        )
        _, a, g = _best_insertion(
            dur, cost, ag, vi, win, allowed, weights, routes, rlen, slack, rinfo,
            v, blink, cand, n_cand,
        )  # fmt: skip
    if a < 0:
        n_cand = _candidates(
            ag, vi, near, agent_of, rlen, v, 0, mark, kind_mark, 2 * token + 1, cand
        )
        _, a, g = _best_insertion(
            dur, cost, ag, vi, win, allowed, weights, routes, rlen, slack, rinfo,
            v, blink, cand, n_cand,
        )  # fmt: skip
    if a >= 0:
        _insert(dur, cost, ag, vi, win, weights, routes, rlen, slack, rinfo, agent_of, a, g, v)
    return a


@njit(cache=True)
def _order(vi: np.ndarray, pending: np.ndarray, count: int) -> None:
    """Sort the first `count` pending visits by one of SISR's orders, chosen at random:
    random (4), largest load (4), farthest (2), tightest window (1)."""
    r = np.random.random() * 11.0
    keys = np.empty(count, dtype=np.float64)
    for i in range(count):
        v = pending[i]
        if r < 4.0:
            keys[i] = np.random.random()
        elif r < 8.0:
            keys[i] = -float(vi[v, V_LOAD]) + 0.5 * np.random.random()
        elif r < 10.0:
            keys[i] = -float(vi[v, V_FAR])
        else:
            keys[i] = float(vi[v, V_RANK])
    idx = np.argsort(keys)
    tmp = pending[:count].copy()
    for i in range(count):
        pending[i] = tmp[idx[i]]


@njit(cache=True)
def total_cost(d: Data, s: State) -> int:
    """Cost of the solution: routes plus the drop penalties of unrouted servable visits."""
    c = 0
    for a in range(s.rlen.shape[0]):
        c += s.rinfo[a, 1]
    for v in range(s.agent_of.shape[0]):
        if s.agent_of[v] < 0 and d.vi[v, V_SERVABLE] == 1:
            c += d.vi[v, V_DROP]
    return c


@njit(cache=True)
def _copy_route(src: State, dst: State, a: int) -> None:
    n = src.rlen[a]
    dst.routes[a, :n] = src.routes[a, :n]
    dst.rlen[a] = n
    dst.slack[:, a, : n + 2] = src.slack[:, a, : n + 2]
    dst.rinfo[a] = src.rinfo[a]


@njit(cache=True)
def copy_state(src: State, dst: State) -> None:
    for a in range(src.rlen.shape[0]):
        _copy_route(src, dst, a)
    dst.agent_of[:] = src.agent_of


@njit(cache=True)
def seed_rng(seed: int) -> None:
    np.random.seed(seed)


@njit(cache=True)
def search(
    d: Data,
    cur: State,
    work: State,
    best: State,
    iterations: int,
    t_from: float,
    t_to: float,
    cur_cost: int,
    best_cost: int,
    params: np.ndarray,
) -> tuple[int, int, int]:
    """Run `iterations` ruin-and-recreate steps, the temperature going geometrically from
    `t_from` to `t_to`. `cur` and `work` must be equal on entry (and are on return); `best` is
    replaced whenever a cheaper solution is found. params = [avg removed, max string length,
    split rate, blink rate, near routes (0 = try every route first)]. Returns (current cost,
    best cost, accepted steps)."""
    avg_removed, max_string, split_rate, blink = params[0], int(params[1]), params[2], params[3]
    near_k = int(params[4])
    dur, cost, ag, vi, win, allowed, weights = (
        d.dur,
        d.cost,
        d.ag,
        d.vi,
        d.win,
        d.allowed,
        d.weights,
    )
    routes, rlen, agent_of, slack, rinfo = (
        work.routes,
        work.rlen,
        work.agent_of,
        work.slack,
        work.rinfo,
    )
    n_agents = rlen.shape[0]
    n_visits = agent_of.shape[0]
    stamp = np.zeros(n_agents, dtype=np.int64)
    pending = np.empty(n_visits, dtype=np.int64)
    cand = np.empty(n_agents, dtype=np.int64)
    mark = np.full(n_agents, -1, dtype=np.int64)
    kind_mark = np.full(n_agents, -1, dtype=np.int64)
    token = 0
    accepted = 0
    ratio = t_to / t_from if t_from > 0 else 1.0
    for it in range(iterations):
        temp = t_from * ratio ** (it / max(1, iterations))
        stamp[:] = 0
        _ruin(ag, d.near, routes, rlen, agent_of, avg_removed, max_string, split_rate, stamp)
        ok = True
        for a in range(n_agents):
            if stamp[a] == 1 and not _refresh(
                dur, cost, ag, vi, win, weights, routes, rlen, slack, rinfo, a
            ):
                ok = False  # removing visits broke the route (travel times not metric)
        new_cost = INF
        if ok:
            count = 0
            for v in range(n_visits):
                if agent_of[v] < 0 and vi[v, V_SERVABLE] == 1:
                    pending[count] = v
                    count += 1
            _order(vi, pending, count)
            for i in range(count):
                token += 1
                a = _place(
                    dur, cost, ag, vi, win, allowed, weights, d.near, routes, rlen, slack,
                    rinfo, agent_of, pending[i], blink, near_k, mark, kind_mark, token, cand,
                )  # fmt: skip
                if a >= 0:
                    stamp[a] = 1
            new_cost = cur_cost
            for a in range(n_agents):
                if stamp[a] == 1:
                    new_cost += rinfo[a, 1] - cur.rinfo[a, 1]
            for v in range(n_visits):
                if vi[v, V_SERVABLE] == 1 and (agent_of[v] < 0) != (cur.agent_of[v] < 0):
                    new_cost += vi[v, V_DROP] if agent_of[v] < 0 else -vi[v, V_DROP]
        threshold = cur_cost - temp * np.log(np.random.random())
        if ok and new_cost < threshold:
            accepted += 1
            for a in range(n_agents):
                if stamp[a] == 1:
                    _copy_route(work, cur, a)
            cur.agent_of[:] = agent_of
            cur_cost = new_cost
            if new_cost < best_cost:
                best_cost = new_cost
                copy_state(cur, best)
        else:
            for a in range(n_agents):
                if stamp[a] == 1:
                    _copy_route(cur, work, a)
            agent_of[:] = cur.agent_of
    return cur_cost, best_cost, accepted


@njit(cache=True)
def fill(d: Data, s: State, order: np.ndarray, near_k: int) -> int:
    """Insert the visits of `order` (unrouted ones, in that order) at their cheapest feasible
    positions: the construction. Returns how many found no place."""
    dur, cost, ag, vi, win, allowed, weights = (
        d.dur,
        d.cost,
        d.ag,
        d.vi,
        d.win,
        d.allowed,
        d.weights,
    )
    routes, rlen, agent_of, slack, rinfo = s.routes, s.rlen, s.agent_of, s.slack, s.rinfo
    n_agents = rlen.shape[0]
    cand = np.empty(n_agents, dtype=np.int64)
    mark = np.full(n_agents, -1, dtype=np.int64)
    kind_mark = np.full(n_agents, -1, dtype=np.int64)
    left = 0
    for i in range(order.shape[0]):
        v = order[i]
        if agent_of[v] >= 0 or vi[v, V_SERVABLE] == 0:
            continue
        a = _place(
            dur, cost, ag, vi, win, allowed, weights, d.near, routes, rlen, slack, rinfo,
            agent_of, v, 0.0, near_k, mark, kind_mark, i, cand,
        )  # fmt: skip
        if a < 0:
            left += 1
    return left

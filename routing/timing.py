"""Route time arithmetic shared by the solver and the real-time insertion.

Holds an index-based view of a problem (`Indexed`), the earliest-start schedule of a fixed visit
order with the agent's break placed optimally (`schedule`), and per-route forward/backward
slack arrays (`RouteSlack`) that make each insertion check O(1). It does not decide orders
(solver, insertion) and is deliberately *not* used by `routing.checker`, which re-derives
feasibility with its own arithmetic.

Break model (also what OR-Tools' vehicle breaks mean): the break starts at some s in
[earliest, latest] and lasts d; it may fall inside a leg (between leaving one place and starting
service at the next, i.e. during travel or waiting) or after the return, never in a service.
Taking it in the leg that leaves at time `dep` with travel `t`, the next arrival is
``max(dep + t, earliest) + d`` and it requires ``max(dep, earliest) <= latest``; starting it
any later can only delay what follows, so that choice is optimal. Two states suffice for every
DP below: break still pending ("nb") or already taken ("b").
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

from routing.model import Matrix, Problem
from routing.plan import Route, Stop

INF = 1 << 60
NEG = -INF


def earliest_in(starts: Sequence[int], ends: Sequence[int], t: int) -> int:
    """Smallest allowed start >= t in the sorted windows, or INF."""
    i = bisect_right(ends, t - 1)  # first window whose end >= t
    if i == len(ends):
        return INF
    s = starts[i]
    return s if s > t else t


def latest_in(starts: Sequence[int], ends: Sequence[int], t: int) -> int:
    """Largest allowed start <= t in the sorted windows, or NEG."""
    i = bisect_right(starts, t) - 1  # last window whose start <= t
    if i < 0:
        return NEG
    e = ends[i]
    return e if e < t else t


@dataclass(slots=True)
class Indexed:
    """Problem flattened to lists indexed by visit / agent position, for fast loops."""

    problem: Problem
    v_loc: list[int]
    v_service: list[int]
    v_wstart: list[list[int]]
    v_wend: list[list[int]]
    v_load: list[int]
    v_allowed: list[frozenset[int]]
    a_start: list[int]
    a_end: list[int]
    a_dur: list[Matrix]
    a_cost: list[Matrix]
    a_shift: list[tuple[int, int]]
    a_break: list[tuple[int, int, int] | None]
    a_cap: list[int]
    a_capacity: list[int]
    a_prefix: list[int]  # number of sequence-pinned visits (a fixed route prefix)

    @classmethod
    def of(cls, problem: Problem) -> Indexed:
        tm = problem.travel
        agents = problem.agents
        v_allowed: list[frozenset[int]] = []
        prefix = [0] * len(agents)
        for v in problem.visits:
            if v.pin is not None:
                ai = problem.agent_index(v.pin.agent_id)
                v_allowed.append(frozenset((ai,)))
                if v.pin.sequence is not None:
                    prefix[ai] += 1
            else:
                v_allowed.append(frozenset(i for i, a in enumerate(agents) if v.qualified(a)))
        return cls(
            problem=problem,
            v_loc=[tm.index(v.location) for v in problem.visits],
            v_service=[v.service for v in problem.visits],
            v_wstart=[[w.start for w in v.windows] for v in problem.visits],
            v_wend=[[w.end for w in v.windows] for v in problem.visits],
            v_load=[v.load for v in problem.visits],
            v_allowed=v_allowed,
            a_start=[tm.index(a.start) for a in agents],
            a_end=[tm.index(a.end) for a in agents],
            a_dur=[tm.durations[a.mode] for a in agents],
            a_cost=[tm.cost_matrix(a.mode) for a in agents],
            a_shift=[(a.shift.start, a.shift.end) for a in agents],
            a_break=[
                None
                if a.break_ is None
                else (a.break_.earliest_start, a.break_.latest_start, a.break_.duration)
                for a in agents
            ],
            a_cap=[a.max_visits if a.max_visits is not None else INF for a in agents],
            a_capacity=[a.capacity if a.capacity is not None else INF for a in agents],
            a_prefix=prefix,
        )

    def route_cost(self, agent: int, visits: Sequence[int]) -> int:
        """Arc cost of the route start -> visits -> end (0 for an empty route)."""
        if not visits:
            return 0
        c = self.a_cost[agent]
        prev = self.a_start[agent]
        total = 0
        for v in visits:
            loc = self.v_loc[v]
            total += c[prev][loc]
            prev = loc
        return total + c[prev][self.a_end[agent]]

    def fits_counts(self, agent: int, visits: Sequence[int]) -> bool:
        """Daily visit cap and capacity."""
        if len(visits) > self.a_cap[agent]:
            return False
        return sum(self.v_load[v] for v in visits) <= self.a_capacity[agent]


def schedule(ix: Indexed, agent: int, visits: Sequence[int]) -> Route | None:
    """Earliest-start schedule of `visits` in this order for `agent`, or None if infeasible.

    Checks windows, shift and break (placed by the two-state DP), not caps or skills.
    """
    shift_start, shift_end = ix.a_shift[agent]
    dur = ix.a_dur[agent]
    brk = ix.a_break[agent]
    n = len(visits)
    if n == 0:
        return Route(ix.problem.agents[agent].id, (), shift_start, shift_start, None)
    e, latest, d = brk if brk is not None else (0, 0, 0)
    # Per stop: (arrival, start) in state nb and b; origin of the b state (True = break taken in
    # the leg into this stop, from state nb) for backtracking.
    arr_nb = [0] * (n + 1)
    st_nb = [0] * (n + 1)
    arr_b = [0] * (n + 1)
    st_b = [0] * (n + 1)
    from_nb = [False] * (n + 1)
    dep_nb = shift_start if brk is not None else INF
    dep_b = shift_start if brk is None else INF
    prev = ix.a_start[agent]
    for k in range(n + 1):
        if k < n:
            v = visits[k]
            loc = ix.v_loc[v]
        else:
            loc = ix.a_end[agent]
        t = dur[prev][loc]
        a_nb = dep_nb + t if dep_nb < INF else INF
        a_b = dep_b + t if dep_b < INF else INF
        took = False
        if dep_nb < INF and max(dep_nb, e) <= latest:
            via = max(dep_nb + t, e) + d
            if via < a_b:
                a_b, took = via, True
        if k < n:
            ws, we = ix.v_wstart[v], ix.v_wend[v]
            s_nb = earliest_in(ws, we, a_nb) if a_nb < INF else INF
            s_b = earliest_in(ws, we, a_b) if a_b < INF else INF
            svc = ix.v_service[v]
            dep_nb = s_nb + svc if s_nb < INF else INF
            dep_b = s_b + svc if s_b < INF else INF
        else:
            s_nb = a_nb if a_nb <= shift_end else INF
            s_b = a_b if a_b <= shift_end else INF
        arr_nb[k], st_nb[k], arr_b[k], st_b[k], from_nb[k] = a_nb, s_nb, a_b, s_b, took
        prev = loc
    agent_id = ix.problem.agents[agent].id
    if brk is not None and st_nb[n] < INF and st_nb[n] <= latest:
        # Work straight through and take the break after the return.
        stops = tuple(
            Stop(ix.problem.visits[v].id, arr_nb[k], st_nb[k], st_nb[k] + ix.v_service[v])
            for k, v in enumerate(visits)
        )
        return Route(agent_id, stops, shift_start, arr_nb[n], max(arr_nb[n], e))
    if st_b[n] >= INF:
        return None
    # Backtrack: stops after the break leg use the b state, those before it the nb state.
    use_b = [True] * (n + 1)
    k = n
    while k >= 0 and not from_nb[k]:
        k -= 1
    leg = k  # the break is in the leg into stop `leg` (n = leg into the end)
    if brk is not None:
        if leg < 0:
            return None
        for j in range(leg):
            use_b[j] = False
    stops_l: list[Stop] = []
    for k2, v in enumerate(visits):
        if use_b[k2]:
            stops_l.append(Stop(ix.problem.visits[v].id, arr_b[k2], st_b[k2], 0))
        else:
            stops_l.append(Stop(ix.problem.visits[v].id, arr_nb[k2], st_nb[k2], 0))
    stops_t = tuple(
        Stop(s.visit_id, s.arrival, s.start, s.start + ix.v_service[v])
        for s, v in zip(stops_l, visits, strict=True)
    )
    break_start: int | None = None
    if brk is not None:
        dep_before = shift_start if leg == 0 else stops_t[leg - 1].departure
        break_start = max(dep_before, e)
    return Route(agent_id, stops_t, shift_start, arr_b[n], break_start)


@dataclass(slots=True)
class RouteSlack:
    """Forward earliest departures and backward latest starts of one route, both states.

    Positions: 0 = agent start, 1..n = visits, n+1 = agent end. `dep_*[k]` is the earliest
    departure from position k (k <= n); `lat_*[k]` the latest start (arrival for the end) at
    position k >= 1 that keeps the rest of the route feasible. INF / NEG mark impossible states.
    """

    agent: int
    visits: list[int]
    locs: list[int]
    dep_nb: list[int]
    dep_b: list[int]
    lat_nb: list[int]
    lat_b: list[int]
    load: int

    @classmethod
    def of(cls, ix: Indexed, agent: int, visits: Sequence[int]) -> RouteSlack:
        n = len(visits)
        dur = ix.a_dur[agent]
        shift_start, shift_end = ix.a_shift[agent]
        brk = ix.a_break[agent]
        e, latest, d = brk if brk is not None else (0, 0, 0)
        locs = [ix.a_start[agent], *(ix.v_loc[v] for v in visits), ix.a_end[agent]]
        dep_nb = [INF] * (n + 1)
        dep_b = [INF] * (n + 1)
        if brk is None:
            dep_b[0] = shift_start
        else:
            dep_nb[0] = shift_start
        for k in range(1, n + 1):
            v = visits[k - 1]
            t = dur[locs[k - 1]][locs[k]]
            pn, pb = dep_nb[k - 1], dep_b[k - 1]
            a_nb = pn + t if pn < INF else INF
            a_b = pb + t if pb < INF else INF
            if pn < INF and max(pn, e) <= latest:
                via = max(pn + t, e) + d
                if via < a_b:
                    a_b = via
            ws, we = ix.v_wstart[v], ix.v_wend[v]
            svc = ix.v_service[v]
            s = earliest_in(ws, we, a_nb) if a_nb < INF else INF
            dep_nb[k] = s + svc if s < INF else INF
            s = earliest_in(ws, we, a_b) if a_b < INF else INF
            dep_b[k] = s + svc if s < INF else INF
        lat_nb = [NEG] * (n + 2)
        lat_b = [NEG] * (n + 2)
        lat_b[n + 1] = shift_end
        if brk is not None:
            lat_nb[n + 1] = min(shift_end, latest)
        for k in range(n, 0, -1):
            v = visits[k - 1]
            t = dur[locs[k]][locs[k + 1]]
            svc = ix.v_service[v]
            ws, we = ix.v_wstart[v], ix.v_wend[v]
            nb1, b1 = lat_nb[k + 1], lat_b[k + 1]
            lb = b1 - t - svc if b1 > NEG else NEG
            lat_b[k] = latest_in(ws, we, lb) if lb > NEG else NEG
            if brk is not None:
                bound = nb1 - t - svc if nb1 > NEG else NEG
                if b1 > NEG and e + d <= b1:
                    bound = max(bound, min(latest, b1 - t - d) - svc)
                lat_nb[k] = latest_in(ws, we, bound) if bound > NEG else NEG
        return cls(
            agent,
            list(visits),
            locs,
            dep_nb,
            dep_b,
            lat_nb,
            lat_b,
            sum(ix.v_load[v] for v in visits),
        )

    def insertion_intervals(
        self, ix: Indexed, gap: int, loc: int, service: int
    ) -> list[tuple[int, int]]:
        """Intervals [lo, hi] of service-start times for a new visit placed after position
        `gap` (0 = right after the start) that keep the route feasible (windows ignored)."""
        dur = ix.a_dur[self.agent]
        t1 = dur[self.locs[gap]][loc]
        t2 = dur[loc][self.locs[gap + 1]]
        return self.intervals_between(ix, gap, t1, t2, service)

    def intervals_between(
        self, ix: Indexed, gap: int, t1: int, t2: int, service: int
    ) -> list[tuple[int, int]]:
        """`insertion_intervals` given the travel times into (`t1`) and out of (`t2`) the new
        visit, for a location the matrix does not hold yet."""
        out: list[tuple[int, int]] = []
        db, dn = self.dep_b[gap], self.dep_nb[gap]
        lb, ln = self.lat_b[gap + 1], self.lat_nb[gap + 1]
        hi_b = lb - t2 - service if lb > NEG else NEG
        if db < INF and hi_b > NEG:
            out.append((db + t1, hi_b))
        brk = ix.a_break[self.agent]
        if brk is None or dn >= INF:
            return out
        e, latest, d = brk
        if ln > NEG:
            out.append((dn + t1, ln - t2 - service))
        if lb > NEG:
            if max(dn, e) <= latest:
                out.append((max(dn + t1, e) + d, hi_b))
            if e + d <= lb:
                out.append((dn + t1, min(latest, lb - t2 - d) - service))
        return out


def best_start(
    starts: Sequence[int], ends: Sequence[int], intervals: Sequence[tuple[int, int]]
) -> int:
    """Earliest service start allowed by the windows within any of `intervals`, or INF."""
    best = INF
    for lo, hi in intervals:
        if lo > hi or lo >= best:
            continue
        s = earliest_in(starts, ends, lo)
        if s <= hi and s < best:
            best = s
    return best

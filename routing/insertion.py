"""Real-time slot offers: where and when a new visit fits into the live plan, without a solve.

Holds `SlotFinder` (built once per live plan: forward earliest departures and backward latest
starts per route, `routing.timing.RouteSlack`, so every position check is O(1)), its `offers`
(every feasible (window, agent) pair with its cheapest position and ETA, ranked by added
travel) and `commit` (the new problem and plan with the visit inserted, re-timed), plus the
one-call helpers `offer_slots` and `book`. It does not re-optimise other visits: the placement
is exact cheapest feasible insertion, which is what plain cheapest insertion would find, never
worse. A full re-plan is `routing.solver.solve`'s job.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

from routing.errors import InvalidPlan, InvalidProblem
from routing.model import Problem, TimeWindow, TravelMode, Visit
from routing.plan import Plan, Route
from routing.timing import INF, Indexed, RouteSlack, earliest_in, schedule
from routing.travel import TravelTimeProvider, extend_matrix


@dataclass(frozen=True, slots=True)
class SlotOffer:
    """The new visit can start at `eta` within `window`, served by `agent_id`, placed at
    `position` (0-based index among the agent's visits), adding `added_travel` seconds."""

    window: TimeWindow
    agent_id: str
    position: int
    eta: int
    added_travel: int


@dataclass(frozen=True)
class Booking:
    """The result of committing an offer: the grown problem and the new live plan."""

    problem: Problem
    plan: Plan


class SlotFinder:
    """Precomputed slack of a live plan; answers slot-offer queries in milliseconds.

    Build it once per plan version (`SlotFinder(problem, plan, travel)`), then call `offers`
    for each caller asking for a slot. `travel` times journeys to locations the problem's
    matrix does not hold yet (new addresses); without it, such a visit raises InvalidProblem.
    """

    def __init__(
        self, problem: Problem, plan: Plan, travel: TravelTimeProvider | None = None
    ) -> None:
        self.problem = problem
        self.plan = plan
        self.travel = travel
        self._ix = Indexed.of(problem)
        ix = self._ix
        routes: list[list[int]] = [[] for _ in problem.agents]
        for route in plan.routes:
            if not problem.has_agent(route.agent_id):
                raise InvalidPlan(f"plan has a route for unknown agent {route.agent_id!r}")
            a = problem.agent_index(route.agent_id)
            for s in route.stops:
                if not problem.has_visit(s.visit_id):
                    raise InvalidPlan(f"plan routes unknown visit {s.visit_id!r}")
                routes[a].append(problem.visit_index(s.visit_id))
        self._routes = routes
        self._slack = [RouteSlack.of(ix, a, r) for a, r in enumerate(routes)]
        # Only the places on routes (and agents' homes) can neighbour a new visit.
        needed = sorted({loc for rs in self._slack for loc in rs.locs})
        self._needed = needed
        self._needed_locations = [problem.travel.locations[i] for i in needed]
        self._n_locations = len(problem.travel.locations)

    def _travel_rows(self, visit: Visit, mode: TravelMode) -> tuple[list[int], list[int]]:
        """Seconds from every known location to the visit, and from the visit to each."""
        tm = self.problem.travel
        if visit.location in tm:
            i = tm.index(visit.location)
            mat = tm.durations[mode]
            return [row[i] for row in mat], list(mat[i])
        if self.travel is None:
            raise InvalidProblem(
                f"visit[{visit.id}].location",
                visit.location,
                "not in the travel matrix and no travel provider given",
            )
        here = [visit.location]
        out_row = self.travel.durations(here, self._needed_locations, mode)[0]
        if getattr(self.travel, "symmetric", False):
            in_row = out_row
        else:
            in_row = [r[0] for r in self.travel.durations(self._needed_locations, here, mode)]
        into = [0] * self._n_locations
        out = [0] * self._n_locations
        for k, i in enumerate(self._needed):
            into[i] = in_row[k]
            out[i] = out_row[k]
        return into, out

    def offers(self, visit: Visit, windows: Sequence[TimeWindow]) -> list[SlotOffer]:
        """Every feasible (window, agent) with the agent's cheapest position in that window.

        A window is feasible for an agent if the visit can start inside both the window and one
        of the visit's own windows, with skills, language, pin, daily cap, capacity, shift,
        break and every already planned visit's window kept. Sorted by added travel, then ETA.
        """
        problem, ix = self.problem, self._ix
        if problem.has_visit(visit.id):
            raise InvalidProblem("visit.id", visit.id, "already in the problem")
        wins = sorted(set(windows))
        # Per offered window: the visit's own windows cut down to it.
        allowed_w: list[tuple[list[int], list[int]]] = []
        for w in wins:
            cut = [x for x in (w.intersect(vw) for vw in visit.windows) if x is not None]
            allowed_w.append(([c.start for c in cut], [c.end for c in cut]))
        w_starts = [w.start for w in wins]
        max_w_len = max((w.end - w.start for w in wins), default=0)
        rows: dict[TravelMode, tuple[list[int], list[int]]] = {}
        out: list[SlotOffer] = []
        for a, agent in enumerate(problem.agents):
            if visit.pin is not None and visit.pin.agent_id != agent.id:
                continue
            if not visit.qualified(agent):
                continue
            route = self._routes[a]
            rs = self._slack[a]
            if len(route) + 1 > ix.a_cap[a] or rs.load + visit.load > ix.a_capacity[a]:
                continue
            shift_start, shift_end = ix.a_shift[a]
            if not any(
                s <= shift_end and e >= shift_start for s, e in zip(*_bounds(wins), strict=True)
            ):
                continue
            if agent.mode not in rows:
                rows[agent.mode] = self._travel_rows(visit, agent.mode)
            into, outof = rows[agent.mode]
            cost = ix.a_cost[a]
            dur = ix.a_dur[a]
            locs = rs.locs
            best: dict[int, tuple[int, int, int]] = {}  # window -> (added, eta, gap)
            gaps = []
            for gap in range(ix.a_prefix[a], len(route) + 1):
                p, q = locs[gap], locs[gap + 1]
                # Costs equal durations unless the matrix says otherwise (benchmarks).
                added = (
                    into[p] + outof[q] - dur[p][q]
                    if problem.travel.costs is None
                    else into[p] + outof[q] - cost[p][q]
                )
                gaps.append((added, gap))
            gaps.sort()
            for added, gap in gaps:
                if len(best) == len(wins):
                    break
                t1, t2 = into[locs[gap]], outof[locs[gap + 1]]
                for lo, hi in rs.intervals_between(ix, gap, t1, t2, visit.service):
                    if lo > hi:
                        continue
                    # Offered windows that can overlap [lo, hi] (sorted by start).
                    i = bisect_right(w_starts, hi)
                    j = i - 1
                    while j >= 0 and w_starts[j] + max_w_len >= lo:
                        cur = best.get(j)
                        if cur is None or cur[0] >= added:
                            ws, we = allowed_w[j]
                            t = earliest_in(ws, we, lo) if ws else INF
                            if t <= hi and (cur is None or (added, t) < (cur[0], cur[1])):
                                best[j] = (added, t, gap)
                        j -= 1
            for j, (added, eta, gap) in best.items():
                out.append(SlotOffer(wins[j], agent.id, gap, eta, added))
        out.sort(key=lambda o: (o.added_travel, o.eta, o.agent_id, o.window.start))
        return out

    def commit(self, visit: Visit, offer: SlotOffer) -> Booking:
        """Insert `visit` as `offer` says; the visit gets the offered window as its only one."""
        window_cut = [x for x in (offer.window.intersect(w) for w in visit.windows) if x]
        if not window_cut:
            raise InvalidProblem("offer.window", offer.window, "outside the visit's windows")
        booked = Visit(
            id=visit.id,
            location=visit.location,
            windows=tuple(window_cut),
            service=visit.service,
            skills=visit.skills,
            language=visit.language,
            priority=visit.priority,
            pin=visit.pin,
            load=visit.load,
        )
        problem = self.problem
        tm = problem.travel
        if visit.location not in tm:
            if self.travel is None:
                raise InvalidProblem(
                    f"visit[{visit.id}].location", visit.location, "no travel provider given"
                )
            tm = extend_matrix(tm, [visit.location], self.travel)
        grown = problem.with_visits([*problem.visits, booked], tm)
        ix = Indexed.of(grown)
        a = grown.agent_index(offer.agent_id)
        seq = list(self._routes[a])
        seq.insert(offer.position, len(grown.visits) - 1)
        new_route = schedule(ix, a, seq)
        if new_route is None or not ix.fits_counts(a, seq):
            raise InvalidPlan(f"offer for {visit.id!r} no longer fits agent {offer.agent_id!r}")
        routes: list[Route] = [r for r in self.plan.routes if r.agent_id != offer.agent_id]
        routes.append(new_route)
        order = {ag.id: i for i, ag in enumerate(grown.agents)}
        routes.sort(key=lambda r: order[r.agent_id])
        plan = Plan(tuple(routes), self.plan.unassigned)
        return Booking(grown, plan)


def _bounds(wins: Sequence[TimeWindow]) -> tuple[list[int], list[int]]:
    return [w.start for w in wins], [w.end for w in wins]


def offer_slots(
    problem: Problem,
    plan: Plan,
    visit: Visit,
    windows: Sequence[TimeWindow],
    travel: TravelTimeProvider | None = None,
) -> list[SlotOffer]:
    """One-call form of `SlotFinder(problem, plan, travel).offers(visit, windows)`."""
    return SlotFinder(problem, plan, travel).offers(visit, windows)


def book(
    problem: Problem,
    plan: Plan,
    visit: Visit,
    offer: SlotOffer,
    travel: TravelTimeProvider | None = None,
) -> Booking:
    """One-call form of `SlotFinder(problem, plan, travel).commit(visit, offer)`."""
    return SlotFinder(problem, plan, travel).commit(visit, offer)

"""Property tests: random small problems give checker-clean plans, and slot offers are
feasible and never worse than plain cheapest feasible insertion (brute force, own timing)."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routing.checker import check
from routing.insertion import book, offer_slots
from routing.model import Agent, Priority, Problem, TimeWindow, Visit
from routing.params import SearchParameters
from routing.plan import Plan
from routing.solver import solve
from tests.routing.tiny import HOUR, MINUTE, RoadTravel, agent, problem, visit

H = HOUR


@st.composite
def agents_st(draw: st.DrawFn) -> list[Agent]:
    out = []
    for i in range(draw(st.integers(1, 3))):
        start = draw(st.integers(7, 9)) * H
        end = start + draw(st.integers(3, 9)) * H
        brk = None
        if draw(st.booleans()):
            e = draw(st.integers(start, end - 2 * H))
            brk = (e, e + draw(st.integers(0, 60)) * MINUTE, draw(st.integers(15, 45)) * MINUTE)
        out.append(
            agent(
                f"a{i}",
                home=draw(st.integers(-30, 30)),
                shift=(start, end),
                skills=draw(st.sets(st.sampled_from(["x", "y"]))),
                languages=draw(st.sets(st.sampled_from(["hi", "ks"]), min_size=1)),
                brk=brk,
                max_visits=draw(st.none() | st.integers(1, 5)),
                capacity=draw(st.none() | st.integers(0, 8)),
            )
        )
    return out


@st.composite
def visit_st(draw: st.DrawFn, visit_id: str) -> Visit:
    first = draw(st.integers(7 * 60, 15 * 60)) * 60
    windows = [(first, first + draw(st.integers(0, 180)) * MINUTE)]
    if draw(st.booleans()):
        s2 = windows[0][1] + draw(st.integers(1, 240)) * MINUTE
        windows.append((s2, s2 + draw(st.integers(0, 120)) * MINUTE))
    return visit(
        visit_id,
        draw(st.integers(-30, 30)),
        *windows,
        service=draw(st.integers(5, 40)) * MINUTE,
        skills=draw(st.sets(st.sampled_from(["x", "y"]), max_size=1)),
        language=draw(st.none() | st.sampled_from(["hi", "ks"])),
        load=draw(st.integers(0, 3)),
        priority=draw(st.sampled_from(list(Priority))),
    )


@st.composite
def problems(draw: st.DrawFn) -> Problem:
    agents = draw(agents_st())
    n = draw(st.integers(0, 7))
    visits = [draw(visit_st(f"v{i}")) for i in range(n)]
    return problem(agents, visits)


SETTINGS = settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)


@SETTINGS
@given(problems())
def test_random_problems_give_clean_plans(p: Problem) -> None:
    result = solve(p, SearchParameters(time_limit_s=0.15))
    assert check(p, result.plan) == []


# ----------------------------------------------------------------- reference insertion


def _km(v: Visit | Agent) -> int:
    loc = v.location if isinstance(v, Visit) else v.start
    return round(loc.lon * 100)


def _ref_feasible(a: Agent, seq: Sequence[Visit]) -> bool:
    """Own earliest-time simulation, trying the break in every leg and after the return."""
    if a.max_visits is not None and len(seq) > a.max_visits:
        return False
    if a.capacity is not None and sum(v.load for v in seq) > a.capacity:
        return False
    places = [_km(a), *(_km(v) for v in seq), _km(a)]
    options: list[int | None] = [None] if a.break_ is None else [*range(len(seq) + 1), -1]
    for opt in options:
        t, ok = a.shift.start, True
        for i in range(len(seq) + 1):
            ready = t + abs(places[i + 1] - places[i]) * MINUTE
            if opt == i and a.break_ is not None:
                b = a.break_
                if max(t, b.earliest_start) > b.latest_start:
                    ok = False
                    break
                ready = max(ready, b.earliest_start) + b.duration
            if i == len(seq):
                ok = ready <= a.shift.end and (opt != -1 or ready <= a.break_.latest_start)  # type: ignore[union-attr]
                break
            starts = [max(ready, w.start) for w in seq[i].windows if max(ready, w.start) <= w.end]
            if not starts:
                ok = False
                break
            t = min(starts) + seq[i].service
        if ok:
            return True
    return False


def _cheapest(p: Problem, plan: Plan, new: Visit, w: TimeWindow, a: Agent) -> int | None:
    if not new.qualified(a):
        return None
    cut = tuple(x for x in (w.intersect(vw) for vw in new.windows) if x is not None)
    if not cut:
        return None
    restricted = Visit(
        new.id,
        new.location,
        cut,
        new.service,
        new.skills,
        new.language,
        new.priority,
        new.pin,
        new.load,
    )
    route = plan.route_of(a.id)
    seq = [p.visit(s.visit_id) for s in route.stops] if route else []
    places = [_km(a), *(_km(v) for v in seq), _km(a)]
    best = None
    for pos in range(len(seq) + 1):
        if _ref_feasible(a, [*seq[:pos], restricted, *seq[pos:]]):
            x = _km(new)
            added = (
                abs(places[pos] - x) + abs(x - places[pos + 1]) - abs(places[pos] - places[pos + 1])
            ) * MINUTE
            best = added if best is None else min(best, added)
    return best


@SETTINGS
@given(problems(), st.data())
def test_offers_are_feasible_and_never_worse_than_cheapest_insertion(
    p: Problem, data: st.DataObject
) -> None:
    plan = solve(p, SearchParameters(time_limit_s=0.1)).plan
    new = data.draw(visit_st("new"))
    starts = data.draw(st.lists(st.integers(7, 17), min_size=1, max_size=4, unique=True))
    windows = [TimeWindow(s * H, s * H + 2 * H) for s in starts]
    travel = RoadTravel()
    offers = offer_slots(p, plan, new, windows, travel)
    got = {(o.window, o.agent_id): o for o in offers}
    assert len(got) == len(offers)
    for w in windows:
        for a in p.agents:
            ref = _cheapest(p, plan, new, w, a)
            offer = got.get((w, a.id))
            assert (offer is None) == (ref is None), (w, a.id, ref, offer)
            if offer is not None and ref is not None:
                assert offer.added_travel <= ref
                assert w.start <= offer.eta <= w.end
    for o in offers[:5]:
        booking = book(p, plan, new, o, travel)
        assert check(booking.problem, booking.plan) == []

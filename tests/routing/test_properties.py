"""Property tests: random small problems give checker-clean plans, and slot offers are
feasible and never worse than plain cheapest feasible insertion (brute force, own timing)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routing.checker import check
from routing.insertion import book, offer_slots
from routing.model import Agent, Problem, TimeWindow, Visit
from routing.params import ENGINES, SearchParameters
from routing.plan import Plan
from routing.solver import solve
from tests.routing.strategies import km, problems, reference_feasible, visit_st
from tests.routing.tiny import HOUR, MINUTE, RoadTravel

H = HOUR


SETTINGS = settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)


@SETTINGS
@given(problems(pins=True), st.sampled_from(ENGINES))
def test_random_problems_give_clean_plans(p: Problem, engine: str) -> None:
    """Windows, breaks, skills, languages, caps, capacity, priorities and pins at random: the
    plan passes the checker, with either engine."""
    result = solve(p, SearchParameters(time_limit_s=0.15, engine=engine))
    assert check(p, result.plan) == []


# ----------------------------------------------------------------- reference insertion


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
    places = [km(a), *(km(v) for v in seq), km(a)]
    best = None
    for pos in range(len(seq) + 1):
        if reference_feasible(a, [*seq[:pos], restricted, *seq[pos:]]):
            x = km(new)
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

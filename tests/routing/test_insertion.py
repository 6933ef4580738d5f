"""Slot offers and booking on tiny hand-checkable plans; every booked plan passes the checker.

Base plan, by hand: agent a1 at km 0 does v1 (km 10, 09:00-10:00) then v2 (km 20,
10:00-11:00), 10 minutes each, one minute per km.
"""

from __future__ import annotations

import pytest

from routing.checker import check
from routing.errors import InvalidProblem
from routing.insertion import SlotFinder, book, offer_slots
from routing.model import Pin, Problem, TimeWindow
from routing.params import SearchParameters
from routing.plan import Plan
from routing.solver import solve
from tests.routing.tiny import HOUR, MINUTE, RoadTravel, agent, place, problem, visit

H = HOUR
SLOTS = [TimeWindow(9 * H, 10 * H), TimeWindow(10 * H, 11 * H), TimeWindow(11 * H, 12 * H)]


def base() -> tuple[Problem, Plan]:
    p = problem(
        [agent("a1"), agent("a2", home=100, skills=["passport"])],
        [visit("v1", 10, (9 * H, 10 * H)), visit("v2", 20, (10 * H, 11 * H))],
    )
    plan = solve(p, SearchParameters(time_limit_s=0.2)).plan
    assert plan.route_of("a1") is not None
    assert plan.route_of("a1").visit_ids == ("v1", "v2")  # type: ignore[union-attr]
    return p, plan


def test_offers_by_hand() -> None:
    """km 15 lies on a1's way: zero detour in every window; a2 (km 100) is 170 km round trip."""
    p, plan = base()
    offers = offer_slots(p, plan, visit("new", 15), SLOTS, RoadTravel())
    a1 = {(o.window.start, o.position, o.eta, o.added_travel) for o in offers if o.agent_id == "a1"}
    assert a1 == {
        (9 * H, 1, 9 * H + 15 * MINUTE, 0),
        (10 * H, 1, 10 * H, 0),
        (11 * H, 2, 11 * H, 0),
    }
    a2 = [o for o in offers if o.agent_id == "a2"]
    assert {o.added_travel for o in a2} == {170 * MINUTE}
    assert offers[0].added_travel == 0
    assert [o.added_travel for o in offers] == sorted(o.added_travel for o in offers)


def test_booking_inserts_and_restricts_the_window() -> None:
    p, plan = base()
    new = visit("new", 15)
    offer = next(o for o in offer_slots(p, plan, new, SLOTS, RoadTravel()) if o.agent_id == "a1")
    booking = book(p, plan, new, offer, RoadTravel())
    assert check(booking.problem, booking.plan) == []
    assert booking.plan.agent_of("new") == "a1"
    assert booking.problem.visit("new").windows == (offer.window,)
    route = booking.plan.route_of("a1")
    assert route is not None and route.stops[offer.position].start == offer.eta


def test_skill_and_pin_prune_agents() -> None:
    p, plan = base()
    offers = offer_slots(p, plan, visit("new", 15, skills=["passport"]), SLOTS, RoadTravel())
    assert {o.agent_id for o in offers} == {"a2"}
    offers = offer_slots(p, plan, visit("new", 15, pin=Pin("a1")), SLOTS, RoadTravel())
    assert {o.agent_id for o in offers} == {"a1"}


def test_no_offer_where_it_would_break_the_plan() -> None:
    """1 h 50 min at km 15 starting 09:20-09:30 makes a1 late for v2 (11:15 > 11:00) wherever it
    goes, and v1 is at 09:00-10:00; a2 from km 100 arrives 09:25 and can do it."""
    p, plan = base()
    long = visit("new", 15, service=HOUR + 50 * MINUTE)
    slot = [TimeWindow(9 * H + 20 * MINUTE, 9 * H + 30 * MINUTE)]
    offers = offer_slots(p, plan, long, slot, RoadTravel())
    assert [(o.agent_id, o.eta) for o in offers] == [("a2", 9 * H + 25 * MINUTE)]
    assert check(*_booked(p, plan, long, offers[0])) == []


def _booked(p: Problem, plan: Plan, v: object, o: object) -> tuple[Problem, Plan]:
    b = book(p, plan, v, o, RoadTravel())  # type: ignore[arg-type]
    return b.problem, b.plan


def test_known_location_needs_no_provider_and_unknown_does() -> None:
    p, plan = base()
    finder = SlotFinder(p, plan)
    assert finder.offers(visit("new", 10), SLOTS)
    with pytest.raises(InvalidProblem, match="no travel provider"):
        finder.offers(visit("new", 37), SLOTS)
    assert place(37) not in p.travel


def test_break_is_kept_when_inserting() -> None:
    """a1 must break 30 minutes starting 10:10-10:20: only positions that leave room qualify,
    and every booked plan is clean."""
    p = problem(
        [agent("a1", brk=(10 * H + 10 * MINUTE, 10 * H + 20 * MINUTE, 30 * MINUTE))],
        [visit("v1", 10, (9 * H, 10 * H)), visit("v2", 20, (10 * H, 11 * H))],
    )
    plan = solve(p, SearchParameters(time_limit_s=0.2)).plan
    new = visit("new", 15)
    offers = offer_slots(p, plan, new, SLOTS, RoadTravel())
    assert offers
    for o in offers:
        assert check(*_booked(p, plan, new, o)) == []

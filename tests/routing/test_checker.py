"""The independent checker catches every kind of violation, and passes a correct plan.

The base case, worked by hand: agent a1 lives at km 0 (shift 08:00-18:00, a 30-minute break
to start between 12:00 and 13:00); v1 at km 10 (window 09:00-10:00), v2 at km 20 (10:00-11:00),
10 minutes' service each, one minute per km. Leave 08:00, reach v1 08:10, start 09:00, leave
09:10, reach v2 09:20, start 10:00, leave 10:10, home 10:30, break at 12:00 after the return.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pytest

from routing.checker import ViolationKind, check
from routing.model import Agent, Pin, Problem, Visit
from routing.plan import Plan, Route, Stop, Unassigned, UnassignedReason
from tests.routing.tiny import HOUR, MINUTE, agent, problem, visit

H = HOUR
BREAK = (12 * H, 13 * H, 30 * MINUTE)


def base_agent(**kw: object) -> Agent:
    return agent("a1", brk=BREAK, **kw)  # type: ignore[arg-type]


def base_visits(**kw1: Any) -> list[Visit]:
    return [
        visit("v1", 10, (9 * H, 10 * H), **kw1),
        visit("v2", 20, (10 * H, 11 * H)),
    ]


def good_route() -> Route:
    return Route(
        "a1",
        (
            Stop("v1", 8 * H + 10 * MINUTE, 9 * H, 9 * H + 10 * MINUTE),
            Stop("v2", 9 * H + 20 * MINUTE, 10 * H, 10 * H + 10 * MINUTE),
        ),
        departure=8 * H,
        arrival=10 * H + 30 * MINUTE,
        break_start=12 * H,
    )


def kinds(p: Problem, plan: Plan) -> set[ViolationKind]:
    return {v.kind for v in check(p, plan)}


def base_problem(agents: Sequence[Agent] | None = None, **kw1: Any) -> Problem:
    return problem(list(agents) if agents else [base_agent()], base_visits(**kw1))


def test_hand_checked_plan_is_clean() -> None:
    assert check(base_problem(), Plan((good_route(),))) == []


def test_break_inside_a_leg_is_clean() -> None:
    """A break taken while waiting before v1 (08:10-08:40 would be outside its window, so use
    an early break window) fits inside the leg home -> v1."""
    a = agent("a1", brk=(8 * H, 8 * H + 30 * MINUTE, 30 * MINUTE))
    plan = Plan((replace(good_route(), break_start=8 * H + 10 * MINUTE),))
    assert check(problem([a], base_visits()), plan) == []


def test_unassigned_visit_is_accounted() -> None:
    r = good_route()
    plan = Plan(
        (replace(r, stops=r.stops[:1], arrival=9 * H + 20 * MINUTE),),
        (Unassigned("v2", UnassignedReason.NO_ROOM),),
    )
    assert check(base_problem(), plan) == []


@pytest.mark.parametrize(
    ("plan", "kind"),
    [
        (Plan((replace(good_route(), agent_id="zz"),)), ViolationKind.UNKNOWN_AGENT),
        (Plan((good_route(), good_route())), ViolationKind.DUPLICATE_AGENT),
        (
            Plan((good_route(),), (Unassigned("v9", UnassignedReason.NO_ROOM),)),
            ViolationKind.UNKNOWN_VISIT,
        ),
        (
            Plan((good_route(),), (Unassigned("v1", UnassignedReason.NO_ROOM),)),
            ViolationKind.DUPLICATE_VISIT,
        ),
        (
            Plan(
                (replace(good_route(), stops=good_route().stops[:1], arrival=9 * H + 20 * MINUTE),)
            ),
            ViolationKind.UNACCOUNTED_VISIT,
        ),
        (
            Plan(
                (
                    replace(
                        good_route(),
                        stops=(
                            Stop(
                                "v1",
                                8 * H + 10 * MINUTE,
                                10 * H + 30 * MINUTE,
                                10 * H + 40 * MINUTE,
                            ),
                            good_route().stops[1],
                        ),
                    ),
                )
            ),
            ViolationKind.WINDOW,
        ),
        (
            Plan(
                (
                    replace(
                        good_route(),
                        stops=(
                            Stop("v1", 9 * H + 5 * MINUTE, 9 * H, 9 * H + 10 * MINUTE),
                            good_route().stops[1],
                        ),
                    ),
                )
            ),
            ViolationKind.TIMES,
        ),
        (
            Plan(
                (
                    replace(
                        good_route(),
                        stops=(
                            Stop("v1", 8 * H + 10 * MINUTE, 9 * H, 9 * H + 5 * MINUTE),
                            good_route().stops[1],
                        ),
                    ),
                )
            ),
            ViolationKind.TIMES,
        ),
        (
            Plan(
                (
                    replace(
                        good_route(),
                        stops=(
                            good_route().stops[0],
                            Stop("v2", 9 * H + 15 * MINUTE, 10 * H, 10 * H + 10 * MINUTE),
                        ),
                    ),
                )
            ),
            ViolationKind.TRAVEL,
        ),
        (
            Plan(
                (
                    replace(
                        good_route(),
                        departure=7 * H,
                        stops=(
                            Stop("v1", 7 * H + 10 * MINUTE, 9 * H, 9 * H + 10 * MINUTE),
                            good_route().stops[1],
                        ),
                    ),
                )
            ),
            ViolationKind.SHIFT,
        ),
        (Plan((replace(good_route(), arrival=19 * H),)), ViolationKind.SHIFT),
        (Plan((replace(good_route(), break_start=None),)), ViolationKind.BREAK),
        (Plan((replace(good_route(), break_start=14 * H),)), ViolationKind.BREAK),
    ],
)
def test_catches(plan: Plan, kind: ViolationKind) -> None:
    assert kind in kinds(base_problem(), plan)


def test_catches_break_overlapping_a_visit() -> None:
    a = agent("a1", brk=(9 * H, 9 * H + 30 * MINUTE, 30 * MINUTE))
    plan = Plan((replace(good_route(), break_start=9 * H),))
    assert ViolationKind.BREAK in kinds(problem([a], base_visits()), plan)


def test_catches_break_squeezing_travel() -> None:
    """v2 may start from 09:00 here; starting it at 09:30 leaves 20 minutes after leaving v1 at
    09:10, not enough for the 10-minute drive plus a 30-minute break taken at 09:10."""
    a = agent("a1", brk=(9 * H + 10 * MINUTE, 9 * H + 10 * MINUTE, 30 * MINUTE))
    visits = [visit("v1", 10, (9 * H, 10 * H)), visit("v2", 20, (9 * H, 11 * H))]
    r = good_route()
    squeezed = (
        r.stops[0],
        Stop("v2", 9 * H + 20 * MINUTE, 9 * H + 30 * MINUTE, 9 * H + 40 * MINUTE),
    )
    plan = Plan((replace(r, stops=squeezed, arrival=10 * H, break_start=9 * H + 10 * MINUTE),))
    assert kinds(problem([a], visits), plan) & {ViolationKind.BREAK, ViolationKind.TRAVEL}


def test_catches_skill() -> None:
    assert ViolationKind.SKILL in kinds(base_problem(skills=["passport"]), Plan((good_route(),)))


def test_catches_language() -> None:
    assert ViolationKind.LANGUAGE in kinds(base_problem(language="ks"), Plan((good_route(),)))


def test_catches_pin_agent() -> None:
    p = base_problem([base_agent(), agent("a2")], pin=Pin("a2"))
    assert ViolationKind.PIN_AGENT in kinds(p, Plan((good_route(),)))


def test_catches_pin_sequence() -> None:
    p = problem(
        [base_agent()],
        [visit("v1", 10, (9 * H, 10 * H)), visit("v2", 20, (10 * H, 11 * H), pin=Pin("a1", 0))],
    )
    assert ViolationKind.PIN_SEQUENCE in kinds(p, Plan((good_route(),)))


def test_catches_visit_cap() -> None:
    p = base_problem([base_agent(max_visits=1)])
    assert ViolationKind.VISIT_CAP in kinds(p, Plan((good_route(),)))


def test_catches_capacity() -> None:
    p = base_problem([base_agent(capacity=0)], load=1)
    assert ViolationKind.CAPACITY in kinds(p, Plan((good_route(),)))


def test_catches_duplicate_visit_across_routes() -> None:
    p = base_problem([base_agent(), agent("a2")])
    other = Route(
        "a2",
        (Stop("v1", 8 * H + 10 * MINUTE, 9 * H, 9 * H + 10 * MINUTE),),
        8 * H,
        9 * H + 20 * MINUTE,
    )
    assert ViolationKind.DUPLICATE_VISIT in kinds(p, Plan((good_route(), other)))

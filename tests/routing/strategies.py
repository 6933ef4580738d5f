"""Hypothesis strategies for small random routing problems on the straight road of tiny.py,
and a brute-force reference for route feasibility (its own time arithmetic: every possible
place of the break is tried), shared by the property tests."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from hypothesis import strategies as st

from routing.model import Agent, Pin, Priority, Problem, Visit
from tests.routing.tiny import HOUR, MINUTE, agent, problem, visit

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
def problems(draw: st.DrawFn, pins: bool = False) -> Problem:
    """1-3 agents and 0-7 visits; with `pins`, some visits pinned to a qualified agent, the
    first pinned ones of an agent at positions 0, 1, ... (a fixed prefix), the rest
    order-free."""
    agents = draw(agents_st())
    n = draw(st.integers(0, 7))
    visits = [draw(visit_st(f"v{i}")) for i in range(n)]
    if pins:
        next_position = {a.id: 0 for a in agents}
        for i, v in enumerate(visits):
            qualified = [a for a in agents if v.qualified(a)]
            if qualified and draw(st.integers(0, 3)) == 0:
                who = draw(st.sampled_from(qualified)).id
                sequence = None
                if draw(st.booleans()):
                    sequence = next_position[who]
                    next_position[who] += 1
                visits[i] = dataclasses.replace(v, pin=Pin(who, sequence))
    return problem(agents, visits)


def km(v: Visit | Agent) -> int:
    """Where a visit or an agent's home is on the road, in km."""
    loc = v.location if isinstance(v, Visit) else v.start
    return round(loc.lon * 100)


def reference_feasible(a: Agent, seq: Sequence[Visit]) -> bool:
    """Own earliest-time simulation, trying the break in every leg and after the return."""
    if a.max_visits is not None and len(seq) > a.max_visits:
        return False
    if a.capacity is not None and sum(v.load for v in seq) > a.capacity:
        return False
    places = [km(a), *(km(v) for v in seq), km(a)]
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

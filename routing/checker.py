"""Independent feasibility checker for plans, and for benchmark routes in exact floats.

Holds `check(problem, plan)`, which lists every violated rule of a plan (empty list = feasible),
and `check_vrptw_float(...)`, which re-times benchmark routes with exact floating-point
Euclidean travel. It shares NO code with the solver, the insertion or `routing.timing`: it
verifies the times written in the plan with its own arithmetic, so a bug in the shared timing
code cannot hide itself. It does not repair or score plans.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from routing.model import Problem
from routing.plan import Plan


class ViolationKind(StrEnum):
    UNKNOWN_AGENT = "unknown_agent"
    DUPLICATE_AGENT = "duplicate_agent"
    UNKNOWN_VISIT = "unknown_visit"
    DUPLICATE_VISIT = "duplicate_visit"
    UNACCOUNTED_VISIT = "unaccounted_visit"
    SKILL = "skill"
    LANGUAGE = "language"
    PIN_AGENT = "pin_agent"
    PIN_SEQUENCE = "pin_sequence"
    WINDOW = "window"
    TIMES = "times"
    TRAVEL = "travel"
    SHIFT = "shift"
    BREAK = "break"
    VISIT_CAP = "visit_cap"
    CAPACITY = "capacity"


@dataclass(frozen=True, slots=True)
class Violation:
    kind: ViolationKind
    agent_id: str | None
    visit_id: str | None
    detail: str

    def __str__(self) -> str:
        who = "/".join(x for x in (self.agent_id, self.visit_id) if x)
        return f"{self.kind}[{who}]: {self.detail}"


def check(problem: Problem, plan: Plan, *, require_all_accounted: bool = True) -> list[Violation]:
    """Every rule `plan` breaks for `problem`; an empty list means the plan is feasible.

    Verifies: each visit at most once (and, if `require_all_accounted`, each visit either routed
    or listed as unassigned), known ids, skills, language, pins (agent and prefix position),
    stated times (arrival after travel, start within a window and not before arrival,
    departure = start + service), shift, break, daily visit cap and capacity.
    """
    out: list[Violation] = []

    def bad(kind: ViolationKind, agent: str | None, visit: str | None, detail: str) -> None:
        out.append(Violation(kind, agent, visit, detail))

    agents = {a.id: a for a in problem.agents}
    visits = {v.id: v for v in problem.visits}
    tm = problem.travel
    loc_row = {loc: i for i, loc in enumerate(tm.locations)}
    seen: dict[str, str] = {}
    seen_agents: set[str] = set()

    for route in plan.routes:
        agent = agents.get(route.agent_id)
        if agent is None:
            bad(ViolationKind.UNKNOWN_AGENT, route.agent_id, None, "agent not in problem")
            continue
        if route.agent_id in seen_agents:
            bad(ViolationKind.DUPLICATE_AGENT, route.agent_id, None, "agent has two routes")
        seen_agents.add(route.agent_id)
        if not route.stops:
            continue
        mat = tm.durations[agent.mode]
        a_id = agent.id
        shift = agent.shift
        if route.departure < shift.start:
            bad(ViolationKind.SHIFT, a_id, None, f"leaves {route.departure} < {shift.start}")
        if route.arrival > shift.end:
            bad(ViolationKind.SHIFT, a_id, None, f"back {route.arrival} > {shift.end}")

        # Legs: (from place, leave time, to place, arrival, service start there); the last leg
        # is to the end, where arrival and "start" coincide.
        legs: list[tuple[int, int, int, int, int]] = []
        here, leave = loc_row[agent.start], route.departure
        load = 0
        count = 0
        for pos, stop in enumerate(route.stops):
            visit = visits.get(stop.visit_id)
            if visit is None:
                bad(ViolationKind.UNKNOWN_VISIT, a_id, stop.visit_id, "visit not in problem")
                continue
            if stop.visit_id in seen:
                bad(
                    ViolationKind.DUPLICATE_VISIT,
                    a_id,
                    stop.visit_id,
                    f"also routed for {seen[stop.visit_id]}",
                )
            seen[stop.visit_id] = a_id
            count += 1
            load += visit.load
            missing = set(visit.skills) - set(agent.skills)
            if missing:
                bad(ViolationKind.SKILL, a_id, visit.id, f"agent lacks {sorted(missing)}")
            if visit.language is not None and visit.language not in agent.languages:
                bad(
                    ViolationKind.LANGUAGE, a_id, visit.id, f"agent does not speak {visit.language}"
                )
            if visit.pin is not None:
                if visit.pin.agent_id != a_id:
                    bad(ViolationKind.PIN_AGENT, a_id, visit.id, f"pinned to {visit.pin.agent_id}")
                elif visit.pin.sequence is not None and visit.pin.sequence != pos:
                    bad(
                        ViolationKind.PIN_SEQUENCE,
                        a_id,
                        visit.id,
                        f"at position {pos}, pinned to {visit.pin.sequence}",
                    )
            if not any(w.start <= stop.start <= w.end for w in visit.windows):
                bad(
                    ViolationKind.WINDOW,
                    a_id,
                    visit.id,
                    f"starts at {stop.start}, windows {[(w.start, w.end) for w in visit.windows]}",
                )
            if stop.start < stop.arrival:
                bad(ViolationKind.TIMES, a_id, visit.id, "starts before arriving")
            if stop.departure != stop.start + visit.service:
                bad(
                    ViolationKind.TIMES,
                    a_id,
                    visit.id,
                    f"departure {stop.departure} != start {stop.start} + service {visit.service}",
                )
            there = loc_row[visit.location]
            legs.append((here, leave, there, stop.arrival, stop.start))
            here, leave = there, stop.departure
        legs.append((here, leave, loc_row[agent.end], route.arrival, route.arrival))

        # Where is the break? Before leaving, after returning, or inside exactly one leg.
        brk = agent.break_
        break_leg = -1
        if brk is not None:
            bs = route.break_start
            if bs is None:
                bad(ViolationKind.BREAK, a_id, None, "route has no break")
            elif not brk.earliest_start <= bs <= brk.latest_start:
                bad(
                    ViolationKind.BREAK,
                    a_id,
                    None,
                    f"break at {bs} outside [{brk.earliest_start}, {brk.latest_start}]",
                )
            elif bs + brk.duration <= route.departure or bs >= route.arrival:
                pass
            else:
                # Inside a leg: while travelling or waiting, before the next service starts.
                for i, (_, lv, _, _, st) in enumerate(legs):
                    if lv <= bs and bs + brk.duration <= st:
                        break_leg = i
                        break
                if break_leg < 0:
                    bad(
                        ViolationKind.BREAK,
                        a_id,
                        None,
                        f"break [{bs}, {bs + brk.duration}) overlaps a visit",
                    )
        for i, (frm, lv, to, ar, st) in enumerate(legs):
            target = route.stops[i].visit_id if i < len(route.stops) else "end"
            if ar - lv < mat[frm][to]:
                bad(
                    ViolationKind.TRAVEL,
                    a_id,
                    target,
                    f"leg needs {mat[frm][to]}s, plan allows {ar - lv}s",
                )
            elif i == break_leg and brk is not None and st - lv < mat[frm][to] + brk.duration:
                bad(
                    ViolationKind.TRAVEL,
                    a_id,
                    target,
                    f"leg needs {mat[frm][to]}s + {brk.duration}s break, plan allows {st - lv}s",
                )

        if agent.max_visits is not None and count > agent.max_visits:
            bad(ViolationKind.VISIT_CAP, a_id, None, f"{count} visits > cap {agent.max_visits}")
        if agent.capacity is not None and load > agent.capacity:
            bad(ViolationKind.CAPACITY, a_id, None, f"load {load} > capacity {agent.capacity}")

    unassigned_ids = set()
    for u in plan.unassigned:
        if u.visit_id not in visits:
            bad(ViolationKind.UNKNOWN_VISIT, None, u.visit_id, "unassigned visit not in problem")
        elif u.visit_id in seen or u.visit_id in unassigned_ids:
            bad(ViolationKind.DUPLICATE_VISIT, None, u.visit_id, "listed twice")
        unassigned_ids.add(u.visit_id)
    if require_all_accounted:
        for v in problem.visits:
            if v.id not in seen and v.id not in unassigned_ids:
                bad(ViolationKind.UNACCOUNTED_VISIT, None, v.id, "neither routed nor unassigned")
    return out


def check_vrptw_float(
    coords: Sequence[tuple[float, float]],
    demand: Sequence[float],
    ready: Sequence[float],
    due: Sequence[float],
    service: Sequence[float],
    capacity: float,
    vehicles: int,
    routes: Sequence[Sequence[int]],
    *,
    tolerance: float = 1e-9,
) -> list[str]:
    """Violations of Solomon-style routes (customer numbers, depot 0 omitted) in exact floats.

    Travel = Euclidean distance, unrounded; the vehicle may wait; service must start by the due
    time; the vehicle must be back at the depot by the depot's due time; every customer exactly
    once; at most `vehicles` non-empty routes; load within `capacity`.
    """
    out: list[str] = []
    n = len(coords)
    seen: set[int] = set()
    used = [r for r in routes if r]
    if len(used) > vehicles:
        out.append(f"{len(used)} routes > {vehicles} vehicles")
    for ri, route in enumerate(used):
        t = ready[0]
        here = 0
        load = 0.0
        for c in route:
            if not 1 <= c < n:
                out.append(f"route {ri}: unknown customer {c}")
                continue
            if c in seen:
                out.append(f"route {ri}: customer {c} visited twice")
            seen.add(c)
            (x1, y1), (x2, y2) = coords[here], coords[c]
            t = max(t + math.hypot(x2 - x1, y2 - y1), ready[c])
            if t > due[c] + tolerance:
                out.append(f"route {ri}: customer {c} starts {t:.6f} > due {due[c]}")
            t += service[c]
            load += demand[c]
            here = c
        (x1, y1), (x2, y2) = coords[here], coords[0]
        t += math.hypot(x2 - x1, y2 - y1)
        if t > due[0] + tolerance:
            out.append(f"route {ri}: back at depot {t:.6f} > {due[0]}")
        if load > capacity + tolerance:
            out.append(f"route {ri}: load {load} > capacity {capacity}")
    missing = set(range(1, n)) - seen
    if missing:
        out.append(
            f"customers not visited: {sorted(missing)[:10]}{'...' if len(missing) > 10 else ''}"
        )
    return out

"""Plans and solve results: who visits what, in which order, at what times.

Holds frozen dataclasses for a plan (routes of timed stops plus unassigned visits with their
reasons) and for the result of a solve. It holds no problem data (`routing.model`) and no logic
beyond lookups; feasibility is judged by `routing.checker`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class UnassignedReason(StrEnum):
    """Why a visit is not in any route."""

    NO_AGENT_ON_DUTY = "no_agent_on_duty"  # the problem has no agent at all
    NO_AGENT_WITH_SKILL = "no_agent_with_skill"
    NO_AGENT_WITH_LANGUAGE = "no_agent_with_language"
    CAPACITY = "capacity"  # load exceeds every qualified agent's capacity, or all are full
    VISIT_CAP = "visit_cap"  # every qualified agent already has its daily number of visits
    WINDOW_UNREACHABLE = "window_unreachable"  # no qualified agent can make any window at all
    PIN_INFEASIBLE = "pin_infeasible"  # the pinned agent/position cannot be kept feasibly
    NO_ROOM = "no_room"  # each could be served alone, but not together with the rest


@dataclass(frozen=True, slots=True)
class Stop:
    """One visit in a route: arrival, service start (ETA to tell the citizen) and departure."""

    visit_id: str
    arrival: int
    start: int
    departure: int


@dataclass(frozen=True, slots=True)
class Route:
    """One agent's day: leave `start` at `departure`, do `stops` in order, be back by `arrival`.

    `break_start` is when the agent's break begins (None if the agent has no break or the route
    is empty).
    """

    agent_id: str
    stops: tuple[Stop, ...]
    departure: int
    arrival: int
    break_start: int | None = None

    @property
    def visit_ids(self) -> tuple[str, ...]:
        return tuple(s.visit_id for s in self.stops)


@dataclass(frozen=True, slots=True)
class Unassigned:
    """A visit left out of the plan, with the reason and a human-readable detail."""

    visit_id: str
    reason: UnassignedReason
    detail: str = ""


@dataclass(frozen=True)
class Plan:
    """Routes (at most one per agent; empty routes may be omitted) and unassigned visits."""

    routes: tuple[Route, ...]
    unassigned: tuple[Unassigned, ...] = ()
    _agent_of: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Pure data: duplicates and unknown ids are for `routing.checker` to report.
        agent_of: dict[str, str] = {}
        for r in self.routes:
            for s in r.stops:
                agent_of.setdefault(s.visit_id, r.agent_id)
        object.__setattr__(self, "_agent_of", agent_of)

    def agent_of(self, visit_id: str) -> str | None:
        """The agent whose route holds `visit_id`, or None."""
        return self._agent_of.get(visit_id)

    def route_of(self, agent_id: str) -> Route | None:
        for r in self.routes:
            if r.agent_id == agent_id:
                return r
        return None

    @property
    def assigned_count(self) -> int:
        return len(self._agent_of)

    def sequences(self) -> dict[str, tuple[str, ...]]:
        """Agent id -> visit ids in order, for non-empty routes."""
        return {r.agent_id: r.visit_ids for r in self.routes if r.stops}


@dataclass(frozen=True, slots=True)
class PlanCost:
    """The objective of a plan split into its parts (all in the problem's cost units)."""

    travel: int
    drop_penalty: int
    stability: int

    @property
    def total(self) -> int:
        return self.travel + self.drop_penalty + self.stability


@dataclass(frozen=True)
class Result:
    """Outcome of `routing.solver.solve`: a checker-clean plan and how it was obtained.

    `source` names where the returned plan came from: ``"search"`` (the engine in this
    process), ``"second_search"`` (the worker process), ``"warm_start"`` (the given current
    plan, repaired and completed) or ``"construction"`` (cheapest insertion from scratch).
    `candidates` gives every candidate's objective by ``"<i>:<source>"``.
    """

    plan: Plan
    cost: PlanCost
    wall_s: float
    source: str
    candidates: dict[str, int] = field(default_factory=dict)

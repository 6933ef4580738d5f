"""Problem data: agents, visits, travel matrices and objective weights.

Holds frozen, validated dataclasses describing *what* is to be planned; constructors raise
`routing.errors.InvalidProblem` naming the bad field and value. It does not hold plans or
results (`routing.plan`), search settings (`routing.params`) or any solving logic.

Units: every time is an integer number of seconds relative to a horizon origin chosen by the
caller (e.g. midnight of the planning day), every duration integer seconds, loads integers.
A `TimeWindow` bounds the *start of service*: arriving early means waiting, never starting late.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import TYPE_CHECKING

import numpy as np

from routing.errors import InvalidProblem

if TYPE_CHECKING:
    from routing.travel import TravelTimeProvider

#: A square matrix of non-negative integers, row = origin, column = destination.
Matrix = tuple[tuple[int, ...], ...]


class TravelMode(StrEnum):
    """How an agent moves; each mode has its own speeds and so its own travel matrix."""

    TWO_WHEELER = "two_wheeler"
    ON_FOOT = "on_foot"
    FOUR_WHEEL_DRIVE = "four_wheel_drive"


class Terrain(StrEnum):
    """Terrain class of a location; the default travel provider slows down in hills."""

    PLAINS = "plains"
    HILLS = "hills"
    HIGH_ALTITUDE = "high_altitude"


class Priority(IntEnum):
    """How much it hurts to leave a visit unplanned.

    `dispatch` maps its reasons onto these: elderly or disabled citizen -> HIGH, request close to
    its legal time limit -> HIGH, both at once (or past due) -> URGENT.
    """

    NORMAL = 0
    HIGH = 1
    URGENT = 2


def _fail(field_name: str, value: object, reason: str) -> InvalidProblem:
    return InvalidProblem(field_name, value, reason)


def _check_int(field_name: str, value: object, *, minimum: int = 0) -> None:
    # bool is an int subclass; a True duration is always a bug upstream.
    if not isinstance(value, int) or isinstance(value, bool):
        raise _fail(field_name, value, "must be an integer")
    if value < minimum:
        raise _fail(field_name, value, f"must be >= {minimum}")


@dataclass(frozen=True, slots=True)
class Location:
    """A point on the ground (WGS84 degrees) and its terrain class."""

    lat: float
    lon: float
    terrain: Terrain = Terrain.PLAINS

    def __post_init__(self) -> None:
        if not -90.0 <= self.lat <= 90.0:
            raise _fail("location.lat", self.lat, "must be within [-90, 90]")
        if not -180.0 <= self.lon <= 180.0:
            raise _fail("location.lon", self.lon, "must be within [-180, 180]")
        if not isinstance(self.terrain, Terrain):
            raise _fail("location.terrain", self.terrain, "must be a Terrain")


@dataclass(frozen=True, slots=True, order=True)
class TimeWindow:
    """Closed interval [start, end] of allowed service-start times (seconds)."""

    start: int
    end: int

    def __post_init__(self) -> None:
        _check_int("window.start", self.start)
        _check_int("window.end", self.end)
        if self.end < self.start:
            raise _fail("window", (self.start, self.end), "end must be >= start")

    def contains(self, t: int) -> bool:
        return self.start <= t <= self.end

    def intersect(self, other: TimeWindow) -> TimeWindow | None:
        lo, hi = max(self.start, other.start), min(self.end, other.end)
        return TimeWindow(lo, hi) if lo <= hi else None


@dataclass(frozen=True, slots=True)
class Break:
    """A rest break of `duration` seconds that must start within [earliest_start, latest_start].

    The break may be taken between two visits, while travelling or waiting, or before the
    agent leaves / after the agent is back; never during a visit.
    """

    earliest_start: int
    latest_start: int
    duration: int

    def __post_init__(self) -> None:
        _check_int("break.earliest_start", self.earliest_start)
        _check_int("break.latest_start", self.latest_start)
        _check_int("break.duration", self.duration, minimum=1)
        if self.latest_start < self.earliest_start:
            raise _fail(
                "break", (self.earliest_start, self.latest_start), "latest_start < earliest_start"
            )


@dataclass(frozen=True, slots=True)
class Pin:
    """Keeps a visit with one agent, and optionally at a fixed position of its route.

    `sequence` = None: the visit must stay with `agent_id` (order free).
    `sequence` = k: the visit is the k-th (0-based) of that agent's route; the pinned sequences
    of one agent must be 0..n-1, i.e. a fixed prefix (the visit in progress, then the ones
    already sent to the agent).
    """

    agent_id: str
    sequence: int | None = None

    def __post_init__(self) -> None:
        if not self.agent_id:
            raise _fail("pin.agent_id", self.agent_id, "must be a non-empty string")
        if self.sequence is not None:
            _check_int("pin.sequence", self.sequence)


@dataclass(frozen=True, slots=True)
class Agent:
    """A field agent: where the day starts and ends, when, and what the agent can do.

    `shift` bounds leaving `start` and arriving back at `end`. `max_visits` caps visits per day;
    `capacity` (None = unlimited) bounds the sum of the visits' `load`.
    """

    id: str
    start: Location
    end: Location
    shift: TimeWindow
    mode: TravelMode = TravelMode.TWO_WHEELER
    skills: frozenset[str] = frozenset()
    languages: frozenset[str] = frozenset()
    break_: Break | None = None
    max_visits: int | None = None
    capacity: int | None = None

    def __post_init__(self) -> None:
        where = f"agent[{self.id}]"
        if not isinstance(self.id, str) or not self.id:
            raise _fail("agent.id", self.id, "must be a non-empty string")
        if not isinstance(self.mode, TravelMode):
            raise _fail(f"{where}.mode", self.mode, "must be a TravelMode")
        if not isinstance(self.skills, frozenset):
            raise _fail(f"{where}.skills", self.skills, "must be a frozenset of str")
        if not isinstance(self.languages, frozenset):
            raise _fail(f"{where}.languages", self.languages, "must be a frozenset of str")
        if self.max_visits is not None:
            _check_int(f"{where}.max_visits", self.max_visits)
        if self.capacity is not None:
            _check_int(f"{where}.capacity", self.capacity)
        b = self.break_
        if b is not None and (
            b.earliest_start < self.shift.start or b.latest_start + b.duration > self.shift.end
        ):
            raise _fail(
                f"{where}.break_",
                (b.earliest_start, b.latest_start, b.duration),
                f"break must lie within the shift [{self.shift.start}, {self.shift.end}]",
            )


@dataclass(frozen=True, slots=True)
class Visit:
    """A doorstep visit: where, when (one or more windows), how long, and who may do it.

    An agent may do the visit only if the agent has every skill in `skills` and, when
    `language` is set, speaks it.
    """

    id: str
    location: Location
    windows: tuple[TimeWindow, ...]
    service: int
    skills: frozenset[str] = frozenset()
    language: str | None = None
    priority: Priority = Priority.NORMAL
    pin: Pin | None = None
    load: int = 0

    def __post_init__(self) -> None:
        where = f"visit[{self.id}]"
        if not isinstance(self.id, str) or not self.id:
            raise _fail("visit.id", self.id, "must be a non-empty string")
        if not isinstance(self.windows, tuple) or not self.windows:
            raise _fail(f"{where}.windows", self.windows, "must be a non-empty tuple")
        ordered = sorted(self.windows)
        for a, b in itertools.pairwise(ordered):
            if b.start <= a.end:
                raise _fail(f"{where}.windows", self.windows, "windows must not overlap")
        if list(self.windows) != ordered:
            # Normalise once here so every consumer may rely on sorted windows.
            object.__setattr__(self, "windows", tuple(ordered))
        _check_int(f"{where}.service", self.service)
        _check_int(f"{where}.load", self.load)
        if not isinstance(self.skills, frozenset):
            raise _fail(f"{where}.skills", self.skills, "must be a frozenset of str")
        if not isinstance(self.priority, Priority):
            raise _fail(f"{where}.priority", self.priority, "must be a Priority")

    def qualified(self, agent: Agent) -> bool:
        """True if `agent` has the skills and language this visit needs."""
        if not self.skills <= agent.skills:
            return False
        return self.language is None or self.language in agent.languages


@dataclass(frozen=True)
class TravelMatrix:
    """Travel durations (seconds) between `locations`, one square matrix per travel mode.

    `costs` optionally gives a different arc-cost matrix per mode (benchmarks rank by rounded
    distance while timing with rounded-up durations); by default cost = duration.
    Validation converts each matrix to a numpy array once; `array` hands that copy to code
    that works on arrays (the compiled search), so it is never converted twice.
    """

    locations: tuple[Location, ...]
    durations: Mapping[TravelMode, Matrix]
    costs: Mapping[TravelMode, Matrix] | None = None
    _index: dict[Location, int] = field(init=False, repr=False, compare=False)
    _arrays: dict[tuple[str, TravelMode], np.ndarray] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        n = len(self.locations)
        index = {loc: i for i, loc in enumerate(self.locations)}
        if len(index) != n:
            raise _fail("travel.locations", n, "locations must be distinct")
        object.__setattr__(self, "_index", index)
        arrays: dict[tuple[str, TravelMode], np.ndarray] = {}
        for name, mats in (("durations", self.durations), ("costs", self.costs or {})):
            for mode, mat in mats.items():
                if len(mat) != n or any(len(row) != n for row in mat):
                    raise _fail(f"travel.{name}[{mode}]", len(mat), f"must be {n}x{n}")
                try:  # fromiter over the flattened rows: ~3x faster than np.asarray on tuples
                    flat = itertools.chain.from_iterable(mat)
                    arr = np.fromiter(flat, dtype=np.int64, count=n * n).reshape(n, n)
                except (ValueError, TypeError, OverflowError) as exc:
                    raise _fail(f"travel.{name}[{mode}]", "values", "must be integers") from exc
                if n and arr.min() < 0:
                    raise _fail(f"travel.{name}[{mode}]", "negative", "must be >= 0")
                arrays[(name, mode)] = arr
        if self.costs is not None and set(self.costs) != set(self.durations):
            raise _fail("travel.costs", sorted(self.costs), "must cover the same modes")
        object.__setattr__(self, "_arrays", arrays)

    def index(self, location: Location) -> int:
        """Row/column of `location`; raises InvalidProblem if it is not in the matrix."""
        try:
            return self._index[location]
        except KeyError:
            raise _fail("travel.locations", location, "location not in the matrix") from None

    def __contains__(self, location: object) -> bool:
        return location in self._index

    def cost_matrix(self, mode: TravelMode) -> Matrix:
        return self.costs[mode] if self.costs is not None else self.durations[mode]

    def array(self, mode: TravelMode, kind: str = "durations") -> np.ndarray:
        """The durations (or, kind="costs", the arc costs) of `mode` as a read-only int64 array."""
        key = (kind, mode)
        if kind == "costs" and self.costs is None:
            key = ("durations", mode)
        arr = self._arrays[key]
        arr.flags.writeable = False
        return arr


@dataclass(frozen=True)
class Objective:
    """Weights of the plan's cost, in seconds of travel.

    The solver minimises travel time + drop penalties + stability costs:
    - `drop_penalty[p]`: cost of leaving a visit of priority p unplanned. Far above any detour
      (a day of travel for NORMAL), and each level 10x the one below, so no number of NORMAL
      visits outweighs an URGENT one in practice.
    - `reassign_cost`: moving a visit away from the agent it had in the current plan must save
      at least this much travel (20 minutes): citizens have been told who is coming.
    - `reorder_cost`: per broken "A then B" link of the current plan (1 minute), so agents'
      sequences do not shuffle for a few seconds' gain.
    - `allow_unassigned`: False makes every visit mandatory for the search (benchmarks, where a
      plan missing a customer is worthless); the solver may then still return unassigned visits
      from its fallback construction if no complete plan is found.
    """

    drop_penalty: Mapping[Priority, int] = field(
        default_factory=lambda: {
            Priority.NORMAL: 100_000,
            Priority.HIGH: 1_000_000,
            Priority.URGENT: 10_000_000,
        }
    )
    reassign_cost: int = 1_200
    reorder_cost: int = 60
    allow_unassigned: bool = True

    def __post_init__(self) -> None:
        for p in Priority:
            if p not in self.drop_penalty:
                raise _fail("objective.drop_penalty", p, "missing priority")
            _check_int(f"objective.drop_penalty[{p.name}]", self.drop_penalty[p], minimum=1)
        _check_int("objective.reassign_cost", self.reassign_cost)
        _check_int("objective.reorder_cost", self.reorder_cost)


@dataclass(frozen=True)
class Problem:
    """One planning problem: agents, visits, their travel matrix and the objective weights."""

    agents: tuple[Agent, ...]
    visits: tuple[Visit, ...]
    travel: TravelMatrix
    objective: Objective = field(default_factory=Objective)
    _agent_pos: dict[str, int] = field(init=False, repr=False, compare=False)
    _visit_pos: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.agents, tuple) or not isinstance(self.visits, tuple):
            raise _fail("problem", type(self.agents), "agents and visits must be tuples")
        agent_pos: dict[str, int] = {}
        for i, a in enumerate(self.agents):
            if a.id in agent_pos:
                raise _fail("agent.id", a.id, "duplicate agent id")
            agent_pos[a.id] = i
            for loc in (a.start, a.end):
                self.travel.index(loc)
            if a.mode not in self.travel.durations:
                raise _fail(f"agent[{a.id}].mode", a.mode, "no travel matrix for this mode")
        visit_pos: dict[str, int] = {}
        pinned: dict[str, list[int]] = {}
        for i, v in enumerate(self.visits):
            if v.id in visit_pos:
                raise _fail("visit.id", v.id, "duplicate visit id")
            visit_pos[v.id] = i
            self.travel.index(v.location)
            if v.pin is None:
                continue
            if v.pin.agent_id not in agent_pos:
                raise _fail(f"visit[{v.id}].pin.agent_id", v.pin.agent_id, "unknown agent")
            if not v.qualified(self.agents[agent_pos[v.pin.agent_id]]):
                raise _fail(
                    f"visit[{v.id}].pin.agent_id",
                    v.pin.agent_id,
                    "pinned agent lacks the visit's skills or language",
                )
            if v.pin.sequence is not None:
                pinned.setdefault(v.pin.agent_id, []).append(v.pin.sequence)
        for agent_id, seqs in pinned.items():
            if sorted(seqs) != list(range(len(seqs))):
                raise _fail(f"agent[{agent_id}].pinned sequences", sorted(seqs), "must be 0..n-1")
        object.__setattr__(self, "_agent_pos", agent_pos)
        object.__setattr__(self, "_visit_pos", visit_pos)

    @classmethod
    def build(
        cls,
        agents: Iterable[Agent],
        visits: Iterable[Visit],
        travel: TravelTimeProvider,
        objective: Objective | None = None,
    ) -> Problem:
        """Collect the distinct locations and ask `travel` for one matrix per mode in use."""
        agents_t, visits_t = tuple(agents), tuple(visits)
        locs: dict[Location, None] = {}
        for a in agents_t:
            locs.setdefault(a.start)
            locs.setdefault(a.end)
        for v in visits_t:
            locs.setdefault(v.location)
        locations = tuple(locs)
        modes = sorted({a.mode for a in agents_t}) or [TravelMode.TWO_WHEELER]
        durations = {
            m: tuple(tuple(r) for r in travel.durations(locations, locations, m)) for m in modes
        }
        return cls(
            agents_t,
            visits_t,
            TravelMatrix(locations, durations),
            objective if objective is not None else Objective(),
        )

    def agent(self, agent_id: str) -> Agent:
        return self.agents[self._agent_pos[agent_id]]

    def visit(self, visit_id: str) -> Visit:
        return self.visits[self._visit_pos[visit_id]]

    def has_agent(self, agent_id: str) -> bool:
        return agent_id in self._agent_pos

    def has_visit(self, visit_id: str) -> bool:
        return visit_id in self._visit_pos

    def agent_index(self, agent_id: str) -> int:
        return self._agent_pos[agent_id]

    def visit_index(self, visit_id: str) -> int:
        return self._visit_pos[visit_id]

    def with_visits(self, visits: Sequence[Visit], travel: TravelMatrix | None = None) -> Problem:
        """A copy with `visits` replacing the visit list (and optionally a wider matrix)."""
        return Problem(
            self.agents,
            tuple(visits),
            travel if travel is not None else self.travel,
            self.objective,
        )

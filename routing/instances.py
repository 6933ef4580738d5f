"""Benchmark instance readers: Solomon / Gehring & Homberger VRPTW files and bks.csv.

Holds `read_vrptw` (the text format shared by both sets), `read_bks` (best-known solutions),
`dimacs_distance` (the DIMACS way of scoring: each arc truncated to one decimal),
`euclidean_distance` and `to_problem`, which turns an instance into a `routing.model.Problem`
with times and distances scaled x100 (travel rounded *up*, so a plan feasible in integers is
feasible in exact floats; arc costs rounded to nearest). It holds no solver and no bench logic.
"""

from __future__ import annotations

import csv
import itertools
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from routing.errors import InstanceFormatError
from routing.model import (
    Agent,
    Location,
    Objective,
    Priority,
    Problem,
    TimeWindow,
    TravelMatrix,
    TravelMode,
    Visit,
)

#: Times and distances are multiplied by this before rounding to integers.
SCALE = 100

#: Environment variable naming the shared benchmark data directory.
BENCH_DATA_ENV = "DOORSTEP_BENCH_DATA"


def bench_data_dir() -> Path:
    """Benchmark data directory: $DOORSTEP_BENCH_DATA, else ../shared/bench-data from the repo."""
    env = os.environ.get(BENCH_DATA_ENV)
    if env:
        return Path(env)
    repo_root = Path(__file__).resolve().parent.parent
    return (repo_root / ".." / "shared" / "bench-data").resolve()


@dataclass(frozen=True)
class VrptwInstance:
    """A VRPTW instance as in the file; index 0 is the depot, customers are 1..n."""

    name: str
    vehicles: int
    capacity: float
    coords: tuple[tuple[float, float], ...]
    demand: tuple[float, ...]
    ready: tuple[float, ...]
    due: tuple[float, ...]
    service: tuple[float, ...]

    @property
    def customers(self) -> int:
        return len(self.coords) - 1

    def dist(self, i: int, j: int) -> float:
        (x1, y1), (x2, y2) = self.coords[i], self.coords[j]
        return math.hypot(x2 - x1, y2 - y1)


def read_vrptw(path: str | os.PathLike[str]) -> VrptwInstance:
    """Read a Solomon / Gehring & Homberger file (name, VEHICLE block, CUSTOMER table)."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise InstanceFormatError(str(p), 0, f"cannot read: {exc}") from exc
    return parse_vrptw(text, source=str(p), default_name=p.stem)


def parse_vrptw(text: str, *, source: str = "<text>", default_name: str = "") -> VrptwInstance:
    lines = text.splitlines()
    name = next((ln.strip() for ln in lines if ln.strip()), default_name)
    vehicles = capacity = None
    rows: list[tuple[int, list[float]]] = []
    section = ""
    for no, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line:
            continue
        upper = line.upper()
        if upper.startswith("VEHICLE"):
            section = "vehicle"
            continue
        if upper.startswith("CUSTOMER"):
            section = "customer"
            continue
        if upper.startswith(("NUMBER", "CUST")):
            continue
        if section == "vehicle" and vehicles is None:
            parts = line.split()
            if len(parts) != 2:
                raise InstanceFormatError(source, no, "expected 'NUMBER CAPACITY'")
            try:
                vehicles, capacity = int(parts[0]), float(parts[1])
            except ValueError as exc:
                raise InstanceFormatError(source, no, "bad vehicle numbers") from exc
        elif section == "customer":
            parts = line.split()
            if len(parts) != 7:
                raise InstanceFormatError(source, no, f"expected 7 columns, got {len(parts)}")
            try:
                rows.append((no, [float(x) for x in parts]))
            except ValueError as exc:
                raise InstanceFormatError(source, no, "non-numeric customer row") from exc
    if vehicles is None or capacity is None:
        raise InstanceFormatError(source, 0, "no VEHICLE section")
    if not rows:
        raise InstanceFormatError(source, 0, "no customers")
    for expect, (no, r) in enumerate(rows):
        if int(r[0]) != expect:
            raise InstanceFormatError(source, no, f"customer number {int(r[0])}, expected {expect}")
    if name.upper().startswith("VEHICLE"):
        name = default_name
    return VrptwInstance(
        name=name,
        vehicles=vehicles,
        capacity=capacity,
        coords=tuple((r[1], r[2]) for _, r in rows),
        demand=tuple(r[3] for _, r in rows),
        ready=tuple(r[4] for _, r in rows),
        due=tuple(r[5] for _, r in rows),
        service=tuple(r[6] for _, r in rows),
    )


@dataclass(frozen=True, slots=True)
class BestKnown:
    """One row of bks.csv. `kind` is the source prefix: dimacs, dimacs-float, dist or hier."""

    instance: str
    vehicles: int
    distance: float
    kind: str
    source: str


def read_bks(path: str | os.PathLike[str]) -> dict[str, dict[str, BestKnown]]:
    """bks.csv as {instance (upper case): {kind: BestKnown}}.

    Kinds: ``dimacs`` (each arc truncated to one decimal; what the DIMACS challenge scores),
    ``dimacs-float`` (the same solution re-evaluated in floats), ``dist`` (best distance-only),
    ``hier`` (fewest vehicles first, then distance).
    """
    p = Path(path)
    out: dict[str, dict[str, BestKnown]] = {}
    try:
        with p.open(newline="") as fh:
            reader = csv.DictReader(fh)
            for no, row in enumerate(reader, start=2):
                try:
                    source = row["source"]
                    kind = source.split(":", 1)[0]
                    entry = BestKnown(
                        row["instance"].upper(),
                        int(row["vehicles"]),
                        float(row["distance"]),
                        kind,
                        source,
                    )
                except (KeyError, ValueError, AttributeError) as exc:
                    raise InstanceFormatError(str(p), no, f"bad bks row: {exc}") from exc
                out.setdefault(entry.instance, {})[kind] = entry
    except OSError as exc:
        raise InstanceFormatError(str(p), 0, f"cannot read: {exc}") from exc
    return out


def dimacs_distance(inst: VrptwInstance, routes: Sequence[Sequence[int]]) -> float:
    """Total distance with each arc truncated to one decimal (DIMACS VRPTW convention)."""
    total = 0.0
    for r in routes:
        if not r:
            continue
        path = [0, *r, 0]
        for a, b in itertools.pairwise(path):
            total += math.floor(inst.dist(a, b) * 10) / 10
    return round(total, 1)


def euclidean_distance(inst: VrptwInstance, routes: Sequence[Sequence[int]]) -> float:
    """Exact floating-point total Euclidean distance of the routes (depot omitted in input)."""
    total = 0.0
    for r in routes:
        if not r:
            continue
        path = [0, *r, 0]
        for a, b in itertools.pairwise(path):
            total += inst.dist(a, b)
    return total


def _scaled(x: float) -> int:
    return round(x * SCALE)


def to_problem(inst: VrptwInstance) -> Problem:
    """The instance as a Problem: one agent per vehicle, one visit per customer (id = number).

    Coordinates are planar; they become `Location` keys by a 1e-3 degree mapping that only
    serves to identify points (the travel matrix is supplied, not computed from degrees).
    Travel time = ceil(100 x distance): solver-feasible implies feasible in exact floats.
    Arc cost = round(100 x distance). Every visit is mandatory-in-spirit: the drop penalty
    exceeds any total distance.
    """
    keys: dict[tuple[float, float], Location] = {}
    for x, y in inst.coords:
        if (x, y) not in keys:
            keys[(x, y)] = Location(lat=y * 1e-3, lon=x * 1e-3)
    pts = np.array(list(keys), dtype=np.float64).reshape(-1, 2)
    exact = np.hypot(pts[:, None, 0] - pts[None, :, 0], pts[:, None, 1] - pts[None, :, 1]) * SCALE
    dur = tuple(map(tuple, np.ceil(exact).astype(np.int64).tolist()))
    cost = tuple(map(tuple, np.rint(exact).astype(np.int64).tolist()))
    mode = TravelMode.FOUR_WHEEL_DRIVE
    travel = TravelMatrix(tuple(keys.values()), {mode: tuple(dur)}, {mode: tuple(cost)})
    depot = keys[inst.coords[0]]
    shift = TimeWindow(_scaled(inst.ready[0]), _scaled(inst.due[0]))
    capacity = round(inst.capacity)
    agents = tuple(
        Agent(
            id=f"vehicle{k + 1}",
            start=depot,
            end=depot,
            shift=shift,
            mode=mode,
            capacity=capacity,
        )
        for k in range(inst.vehicles)
    )
    visits = tuple(
        Visit(
            id=str(c),
            location=keys[inst.coords[c]],
            windows=(TimeWindow(_scaled(inst.ready[c]), _scaled(inst.due[c])),),
            service=_scaled(inst.service[c]),
            load=round(inst.demand[c]),
        )
        for c in range(1, len(inst.coords))
    )
    big = 1_000_000_000
    objective = Objective(
        drop_penalty={p: big for p in Priority},
        reassign_cost=0,
        reorder_cost=0,
        allow_unassigned=False,
    )
    return Problem(agents, visits, travel, objective)

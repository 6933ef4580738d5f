"""Solve one benchmark instance file and report it as plain data (for `doorstep solve`).

Holds `solve_file`, the function behind the command line's solve command: read a Solomon /
Gehring & Homberger file, plan it with `routing.solver.solve` under the file's fleet and
capacity with a distance-only objective, and return the routes with their exact float distance
and an exact-float feasibility verdict from `routing.checker.check_vrptw_float`. It holds no
argument parsing and no printing.
"""

from __future__ import annotations

import time
from typing import Any

from routing.checker import check_vrptw_float
from routing.errors import InstanceFormatError
from routing.instances import euclidean_distance, read_vrptw, to_problem
from routing.params import SearchParameters
from routing.sisr import warm_up
from routing.solver import solve
from routing.workers import prestart

#: Accepted values of `fmt` (both sets share one text format).
FORMATS = ("solomon", "homberger")


def solve_file(
    path: str,
    fmt: str = "solomon",
    time_limit: float = 5.0,
    *,
    workers: int = 2,
    engine: str = "sisr",
) -> dict[str, Any]:
    """Solve the instance at `path` within `time_limit` seconds of wall time.

    Returns ``{"instance", "routes", "vehicles", "distance", "feasible", "wall_s"}``: routes as
    lists of customer numbers in visiting order (depot omitted), `distance` the exact float
    Euclidean total, `feasible` judged in exact floats (waiting allowed, service starts by the
    due time, back at the depot by its due time, every customer once, fleet and capacity kept).
    """
    if fmt not in FORMATS:
        raise InstanceFormatError(path, 0, f"unknown format {fmt!r}; expected one of {FORMATS}")
    # Load the compiled search kernels and start the worker's fork server before the clock
    # starts, as a running service has them.
    warm_up()
    if workers > 1:
        prestart()
    t0 = time.monotonic()
    inst = read_vrptw(path)
    problem = to_problem(inst)
    budget = max(0.05, time_limit - (time.monotonic() - t0))
    result = solve(problem, SearchParameters(time_limit_s=budget, workers=workers, engine=engine))
    routes = [[int(s.visit_id) for s in r.stops] for r in result.plan.routes if r.stops]
    violations = check_vrptw_float(
        inst.coords,
        inst.demand,
        inst.ready,
        inst.due,
        inst.service,
        inst.capacity,
        inst.vehicles,
        routes,
    )
    return {
        "instance": inst.name,
        "routes": routes,
        "vehicles": len(routes),
        "distance": euclidean_distance(inst, routes),
        "feasible": not violations,
        "wall_s": time.monotonic() - t0,
    }

"""Solve one benchmark instance file and report it: ``python -m bench.solve PATH``.

Usage: ``python -m bench.solve PATH [--format solomon|homberger] [--time-limit SECONDS]
[--engine sisr|ortools] [--workers 1|2] [--json]``

Holds `solve_file`, which reads a Solomon / Gehring & Homberger file, plans it with
`routing.solve` under the file's fleet and capacity with a distance-only objective, and returns
the routes with their exact float distance and an exact-float feasibility verdict from
`routing.checker.check_vrptw_float`; and `main`, the command line around it (one line, or one
JSON object with ``--json``; exit status 0 if the plan is feasible, 2 if not, 1 if the file
cannot be read). `bench.vrptw` runs Doorstep's engines through `solve_file` too.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from typing import Any

from routing import ENGINES, InstanceFormatError, SearchParameters, solve
from routing.checker import check_vrptw_float
from routing.instances import euclidean_distance, read_vrptw, to_problem
from routing.sisr import warm_up
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
        prestart(engine=engine)
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


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m bench.solve", description="Solve a VRPTW benchmark instance file."
    )
    ap.add_argument("path", help="a Solomon or Gehring & Homberger instance file")
    ap.add_argument("--format", default="solomon", choices=FORMATS)
    ap.add_argument("--time-limit", type=float, default=5.0, help="seconds of wall time")
    ap.add_argument(
        "--engine",
        default="sisr",
        choices=ENGINES,
        help="search engine: our string-removal search (default) or OR-Tools",
    )
    ap.add_argument(
        "--workers", type=int, default=2, choices=(1, 2), help="processes searching (default 2)"
    )
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args(argv)
    try:
        result = solve_file(
            args.path,
            fmt=args.format,
            time_limit=args.time_limit,
            workers=args.workers,
            engine=args.engine,
        )
    except (OSError, InstanceFormatError) as exc:
        print(f"cannot solve: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"{result['instance']}: {result['vehicles']} vehicles, distance "
            f"{result['distance']:.2f}, feasible={result['feasible']}, {result['wall_s']:.2f} s"
        )
    return 0 if result["feasible"] else 2


if __name__ == "__main__":
    raise SystemExit(main())

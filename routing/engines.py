"""The two search engines behind `routing.solver.solve`, each on one or two cores.

Holds `search_sisr` (the default: the library's string-removal search, `routing.sisr`, in this
process and, with a worker, a second run with another seed in the worker process) and
`search_ortools` (OR-Tools' iterated local search, `routing.solver_ortools`, here from a
parallel-cheapest-insertion start after a greedy descent from the live plan, and in the worker
from a savings start). Both return candidate plans by name; neither checks nor chooses --
that is `routing.solver`'s job.

Why two: `make bench` measures both on the same instances. The string-removal search is the
default because it is far ahead there (Solomon at 5 s: 0.16 % gap against 2.16 %); OR-Tools
stays selectable (`SearchParameters(engine="ortools")`) as the independent, mature engine.
OR-Tools is imported inside `search_ortools` only, so a process that never chooses it never
loads it.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import TYPE_CHECKING

from routing import sisr
from routing.model import Problem
from routing.sisr_kernels import Data
from routing.workers import Worker

if TYPE_CHECKING:  # OR-Tools is imported only when its engine runs (see search_ortools)
    from routing.solver_ortools import SearchSpec

Routes = tuple[tuple[int, ...], ...]
Candidates = list[tuple[str, Routes]]

#: Seeds of the two string-removal runs (this process, the worker).
SEEDS = (1, 2)


def search_sisr(data: Data, start: Routes, worker: Worker | None, deadline: float) -> Candidates:
    """String-removal search from `start` until `deadline`, a second run in the worker."""
    found: Candidates = []
    task = -1
    if worker is not None:
        task = worker.submit(sisr.run, data, start, deadline, None, SEEDS[1])
    found.append(("search", sisr.run(data, start, deadline, seed=SEEDS[0])))
    if worker is not None and task >= 0:
        # The worker stops at the same deadline; allow for handing its plan back.
        routes = worker.results(deadline + 0.01, {task}).get(task)
        if routes is not None:
            found.append(("second_search", routes))
    return found


def search_ortools(
    problem: Problem,
    spec: SearchSpec,
    warm: Routes | None,
    worker: Worker | None,
    deadline: float,
) -> Candidates:
    """OR-Tools on the whole problem until `deadline`, a second search in the worker."""
    from routing.solver_ortools import search

    found: Candidates = []
    margin = _margin(problem)
    task = -1
    if worker is not None:
        limit = deadline - time.monotonic() - margin
        if limit > 0.05:
            second = replace(
                spec, time_limit_s=limit, first_solution="savings", deadline=deadline - margin
            )
            task = worker.submit(_routes_of_search, problem, second)
        # OR-Tools holds the GIL: let the worker's start thread finish first.
        worker.wait_ready(min(0.5, 0.15 * (deadline - time.monotonic())))
    budget = deadline - time.monotonic() - margin
    if warm is not None and budget > 0.02:
        # Greedy descent from the live plan keeps its shape (stability) and is cheap.
        out = search(
            problem, replace(spec, time_limit_s=budget * 0.3, warm_routes=warm, iterated=False)
        )
        if out.routes is not None:
            found.append(("search", out.routes))
        budget = deadline - time.monotonic() - margin
    if budget > 0.02:
        out = search(problem, replace(spec, time_limit_s=budget))
        if out.routes is not None:
            found.append(("search", out.routes))
    if worker is not None and task >= 0:
        routes = worker.results(deadline, {task}).get(task)
        if routes is not None:
            found.append(("second_search", routes))
    return found


def _routes_of_search(problem: Problem, spec: SearchSpec) -> Routes | None:
    """`search` as a worker task: only the routes travel back."""
    from routing.solver_ortools import search

    return search(problem, spec).routes


def _margin(problem: Problem) -> float:
    """OR-Tools overshoots its limit by about one local-search move; moves grow with size."""
    # Measured: ~0.07 s past the limit at 200 visits with iterated local search.
    return 0.02 + 0.0005 * len(problem.visits)

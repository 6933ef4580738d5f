"""Search parameters: how long and how wide to search. No problem data, no solver code."""

from __future__ import annotations

import math
from dataclasses import dataclass

from routing.errors import InvalidProblem

#: The search engines `routing.solver.solve` can run.
ENGINES = ("sisr", "ortools")


@dataclass(frozen=True, slots=True)
class SearchParameters:
    """Settings of one solve.

    time_limit_s: hard wall-clock budget of `solve`, model building included; the call returns
        within this plus a small overhead (tens of milliseconds).
    workers: 1 = one search in this process; 2 = also a second, differently seeded search in a
        separate process (both engines hold the GIL, so threads would not help); best plan kept.
    engine: "sisr" (default) = the library's string-removal search (`routing.sisr`);
        "ortools" = OR-Tools' iterated local search (`routing.solver_ortools`).
    log_search: let OR-Tools print its search log (debugging only).
    """

    time_limit_s: float = 5.0
    workers: int = 1
    engine: str = "sisr"
    log_search: bool = False

    def __post_init__(self) -> None:
        t = self.time_limit_s
        if not isinstance(t, int | float) or not math.isfinite(t) or t <= 0:
            raise InvalidProblem("params.time_limit_s", t, "must be a positive finite number")
        if not isinstance(self.workers, int) or not 1 <= self.workers <= 2:
            raise InvalidProblem("params.workers", self.workers, "must be 1 or 2")
        if self.engine not in ENGINES:
            raise InvalidProblem("params.engine", self.engine, f"must be one of {ENGINES}")

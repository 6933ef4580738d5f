"""Search parameters: how long and how wide to search. No problem data, no solver code."""

from __future__ import annotations

import math
from dataclasses import dataclass

from routing.errors import InvalidProblem


@dataclass(frozen=True, slots=True)
class SearchParameters:
    """Settings of one solve.

    time_limit_s: hard wall-clock budget of `solve`, model building included; the call returns
        within this plus a small overhead (tens of milliseconds).
    workers: 1 = one search in this process; 2 = also a second, differently seeded search in a
        separate process (OR-Tools holds the GIL, so threads would not help); best plan kept.
    log_search: let OR-Tools print its search log (debugging only).
    """

    time_limit_s: float = 5.0
    workers: int = 1
    log_search: bool = False

    def __post_init__(self) -> None:
        t = self.time_limit_s
        if not isinstance(t, int | float) or not math.isfinite(t) or t <= 0:
            raise InvalidProblem("params.time_limit_s", t, "must be a positive finite number")
        if not isinstance(self.workers, int) or not 1 <= self.workers <= 2:
            raise InvalidProblem("params.workers", self.workers, "must be 1 or 2")

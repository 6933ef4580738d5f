"""Routing: a pure VRPTW library -- agents, visits, time windows -- and its public names.

Import from here: the problem model (`Problem`, `Agent`, `Visit`, ... in `routing.model`),
`SearchParameters`, `solve` and its `Result` (a `Plan` of timed `Route`s and `Unassigned` visits
with their reasons), real-time slot offers without a solve (`SlotFinder`, `SlotOffer`,
`offer_slots`, `book`), the travel-time providers, the independent feasibility checker `check`,
and the error tree under `RoutingError`.

`solve` runs one of two search engines: by default our compiled string-removal search
(`routing.sisr`, Numba kernels), or OR-Tools' iterated local search
(`SearchParameters(engine="ortools")`). OR-Tools is imported only when that engine runs, so
importing this package, and any solve with the default engine, never loads it.

Not here: benchmark instance readers and their exact-float checker (`routing.instances`,
`routing.checker.check_vrptw_float`), and the modules behind `solve` (timing, search kernels,
worker processes), which are not part of the API. `routing` knows nothing of the database, the
web or Twilio: `dispatch.planning` is its only caller inside Doorstep.
"""

from routing.checker import Violation, ViolationKind, check
from routing.errors import (
    InstanceFormatError,
    InvalidPlan,
    InvalidProblem,
    RoutingError,
    TravelTimeError,
)
from routing.insertion import Booking, SlotFinder, SlotOffer, book, offer_slots
from routing.model import (
    Agent,
    Break,
    Location,
    Matrix,
    Objective,
    Pin,
    Priority,
    Problem,
    Terrain,
    TimeWindow,
    TravelMatrix,
    TravelMode,
    Visit,
)
from routing.params import ENGINES, SearchParameters
from routing.plan import Plan, PlanCost, Result, Route, Stop, Unassigned, UnassignedReason
from routing.solver import solve
from routing.travel import HaversineTravel, OsrmTravel, TravelTimeProvider

__all__ = [
    "ENGINES",
    "Agent",
    "Booking",
    "Break",
    "HaversineTravel",
    "InstanceFormatError",
    "InvalidPlan",
    "InvalidProblem",
    "Location",
    "Matrix",
    "Objective",
    "OsrmTravel",
    "Pin",
    "Plan",
    "PlanCost",
    "Priority",
    "Problem",
    "Result",
    "Route",
    "RoutingError",
    "SearchParameters",
    "SlotFinder",
    "SlotOffer",
    "Stop",
    "Terrain",
    "TimeWindow",
    "TravelMatrix",
    "TravelMode",
    "TravelTimeError",
    "TravelTimeProvider",
    "Unassigned",
    "UnassignedReason",
    "Violation",
    "ViolationKind",
    "Visit",
    "book",
    "check",
    "offer_slots",
    "solve",
]

"""The OR-Tools search: builds a routing model from a problem and runs one search.

This is the only module of `routing` that imports `ortools` (which has no type hints): every
OR-Tools object stays inside it, and `search()` takes and returns plain typed Python data, so
`Any` does not spread. It does not validate, schedule, check or choose between plans; that is
`routing.solver`'s job. It is importable in a worker process (see `routing.solver`).

Settings follow the measurements in the design notes (routing-notes.md): OR-Tools' iterated
local search (`SolveWithIteratedLocalSearch`, which is the only way it runs in 9.15) on top of
GREEDY_DESCENT, expensive insertion-LNS operators off, SISR ruin of ~10 visits, local cheapest
insertion as recreate, simulated-annealing acceptance with automatic temperatures.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, replace
from typing import Any

from ortools.constraint_solver import pywrapcp, routing_enums_pb2

from routing.cost import drop_penalties
from routing.model import Problem

_FIRST = routing_enums_pb2.FirstSolutionStrategy
_META = routing_enums_pb2.LocalSearchMetaheuristic
_OFF = 3  # util.OptionalBoolean.BOOL_FALSE
#: Fewest visits for which the iterated local search is used (see _Model.run).
_ILS_MIN_VISITS = 8

#: First-solution strategies a search may be asked to use.
FIRST_SOLUTION = {
    "parallel_cheapest_insertion": _FIRST.PARALLEL_CHEAPEST_INSERTION,
    "savings": _FIRST.SAVINGS,
    "local_cheapest_insertion": _FIRST.LOCAL_CHEAPEST_INSERTION,
    "path_cheapest_arc": _FIRST.PATH_CHEAPEST_ARC,
}


@dataclass(frozen=True)
class SearchSpec:
    """Everything one search needs besides the problem; plain data, so it pickles.

    allowed: per visit (problem order), the agent positions that may serve it; an empty set
        leaves the visit out of the model.
    prefix: per agent, the visit positions of its fixed route prefix (pins with a sequence).
    previous_agent: per visit, the agent position that had it in the current plan, or -1.
    previous_next: (visit, successor) links of the current plan, successor -1 = route end and
        visit -1 = route start of `previous_agent`; used for the reorder cost.
    warm_routes: per agent, visit positions to start from (None = construct from scratch).
    """

    time_limit_s: float
    first_solution: str
    allowed: tuple[frozenset[int], ...]
    prefix: tuple[tuple[int, ...], ...]
    previous_agent: tuple[int, ...] = ()
    previous_next: frozenset[tuple[int, int, int]] = frozenset()
    warm_routes: tuple[tuple[int, ...], ...] | None = None
    iterated: bool = True
    ruin_visits: int = 10
    log_search: bool = False
    deadline: float | None = None  # time.monotonic() instant (system-wide on Linux)


@dataclass(frozen=True)
class SearchOutcome:
    """Routes found (per agent, visit positions) or None, with OR-Tools' objective."""

    routes: tuple[tuple[int, ...], ...] | None
    objective: int
    build_s: float
    search_s: float


def _search_parameters(spec: SearchSpec, time_limit_s: float) -> Any:
    p = pywrapcp.DefaultRoutingSearchParameters()
    p.first_solution_strategy = FIRST_SOLUTION[spec.first_solution]
    p.local_search_metaheuristic = _META.GREEDY_DESCENT
    ops = p.local_search_operators
    # Measured: with these on, ILS reaches 2.49 % instead of 1.35 % on Solomon at 5 s.
    ops.use_global_cheapest_insertion_path_lns = _OFF
    ops.use_local_cheapest_insertion_path_lns = _OFF
    ops.use_relocate_path_global_cheapest_insertion_insert_unperformed = _OFF
    ops.use_global_cheapest_insertion_visit_types_lns = _OFF
    ops.use_local_cheapest_insertion_visit_types_lns = _OFF
    if spec.iterated:
        p.use_iterated_local_search = True
        ils = p.iterated_local_search_parameters
        ils.perturbation_strategy = 1  # RUIN_AND_RECREATE
        rr = ils.ruin_recreate_parameters
        del rr.ruin_strategies[:]
        ruin = rr.ruin_strategies.add()
        ruin.sisr.max_removed_sequence_size = 10
        ruin.sisr.avg_num_removed_visits = spec.ruin_visits
        ruin.sisr.bypass_factor = 0.01
        rr.recreate_strategy.heuristic = _FIRST.LOCAL_CHEAPEST_INSERTION
        ils.improve_perturbed_solution = True
        ils.reference_solution_acceptance_strategy.simulated_annealing.automatic_temperatures = True
        ils.best_solution_acceptance_strategy.greedy_descent.SetInParent()
    p.log_search = spec.log_search
    p.time_limit.FromMilliseconds(max(1, int(time_limit_s * 1000)))
    return p


def search(problem: Problem, spec: SearchSpec) -> SearchOutcome:
    """Build the model for `problem` and run one search within `spec.time_limit_s` (wall)."""
    t0 = time.monotonic()
    limit = spec.time_limit_s
    if spec.deadline is not None:
        # A worker process may start late; the deadline, not the limit, is the wall.
        limit = min(limit, spec.deadline - t0)
    model = _Model(problem, spec)
    build_s = time.monotonic() - t0
    remaining = limit - build_s
    if remaining <= 0.005 or not model.visit_nodes:
        empty = tuple(() for _ in problem.agents) if not model.visit_nodes else None
        return SearchOutcome(empty, 0, build_s, 0.0)
    routes, objective = model.run(remaining)
    return SearchOutcome(routes, objective, build_s, time.monotonic() - t0 - build_s)


class _Model:
    """One OR-Tools routing model; attributes typed as object keep ortools' Any inside."""

    def __init__(self, problem: Problem, spec: SearchSpec) -> None:
        self.problem = problem
        self.spec = spec
        tm = problem.travel
        agents, visits = problem.agents, problem.visits
        self.visit_nodes = [i for i, a in enumerate(spec.allowed) if a]
        n_vis = len(self.visit_nodes)
        # Nodes: agents' start/end places first, then the visits (depot-first numbering, as
        # in OR-Tools' own samples; measured slightly better searches than depots last).
        depot_locs: dict[int, int] = {}
        for a in agents:
            for loc in (tm.index(a.start), tm.index(a.end)):
                depot_locs.setdefault(loc, len(depot_locs))
        n_dep = len(depot_locs)
        self.n_dep = n_dep
        node_loc = list(depot_locs) + [tm.index(visits[v].location) for v in self.visit_nodes]
        service = [0] * n_dep + [visits[v].service for v in self.visit_nodes]
        n_nodes = len(node_loc)
        starts = [depot_locs[tm.index(a.start)] for a in agents]
        ends = [depot_locs[tm.index(a.end)] for a in agents]
        self.manager = pywrapcp.RoutingIndexManager(n_nodes, len(agents), starts, ends)
        self.routing = pywrapcp.RoutingModel(self.manager)
        routing, manager = self.routing, self.manager
        self.node_of_visit = {v: n_dep + k for k, v in enumerate(self.visit_nodes)}

        # Reorder cost: a link of the current plan costs nothing extra, any other link costs
        # `reorder_cost`. Start/end depots are shared nodes, so start links are keyed by node.
        reorder = problem.objective.reorder_cost if spec.previous_next else 0
        old_links: set[tuple[int, int]] = set()
        for agent_pos, u, w in spec.previous_next:
            fa = starts[agent_pos] if u < 0 else self.node_of_visit.get(u)
            fb = ends[agent_pos] if w < 0 else self.node_of_visit.get(w)
            if fa is not None and fb is not None:
                old_links.add((fa, fb))

        time_eval: dict[str, int] = {}
        cost_eval: dict[str, int] = {}
        for mode in sorted({a.mode for a in agents}):
            dur = tm.durations[mode]
            cst = tm.cost_matrix(mode)
            tmat = [[service[i] + dur[li][lj] for lj in node_loc] for i, li in enumerate(node_loc)]
            cmat = [[cst[li][lj] for lj in node_loc] for li in node_loc]
            if reorder:
                for i in range(n_nodes):
                    row = cmat[i]
                    for j in range(n_nodes):
                        if i != j and (i, j) not in old_links:
                            row[j] += reorder
            time_eval[mode] = routing.RegisterTransitMatrix(tmat)
            cost_eval[mode] = routing.RegisterTransitMatrix(cmat)
        horizon = max(a.shift.end for a in agents)
        if len(cost_eval) == 1:
            # One travel mode: the plain calls keep OR-Tools' vehicles homogeneous, which
            # measurably helps its search (R205, RC205, RC105, R109 at 5 s).
            (only,) = cost_eval
            routing.SetArcCostEvaluatorOfAllVehicles(cost_eval[only])
            routing.AddDimension(time_eval[only], horizon, horizon, False, "time")
        else:
            for k, a in enumerate(agents):
                routing.SetArcCostEvaluatorOfVehicle(cost_eval[a.mode], k)
            routing.AddDimensionWithVehicleTransitAndCapacity(
                [time_eval[a.mode] for a in agents],
                horizon,
                [horizon] * len(agents),
                False,
                "time",
            )
        time_dim = routing.GetDimensionOrDie("time")
        for k, a in enumerate(agents):
            if (a.shift.start, a.shift.end) != (0, horizon):  # skip no-op domain changes
                time_dim.CumulVar(routing.Start(k)).SetRange(a.shift.start, a.shift.end)
                time_dim.CumulVar(routing.End(k)).SetRange(a.shift.start, a.shift.end)
        for v in self.visit_nodes:
            node = self.node_of_visit[v]
            ws = visits[v].windows
            cumul = time_dim.CumulVar(manager.NodeToIndex(node))
            cumul.SetRange(ws[0].start, ws[-1].end)
            for w1, w2 in itertools.pairwise(ws):
                cumul.RemoveInterval(w1.end + 1, w2.start - 1)
        if any(a.break_ is not None for a in agents):
            visit_transits = [0] * routing.Size()
            for node in range(n_dep, n_nodes):
                visit_transits[manager.NodeToIndex(node)] = service[node]
            solver = routing.solver()
            for k, a in enumerate(agents):
                brk = a.break_
                if brk is None:
                    continue
                iv = solver.FixedDurationIntervalVar(
                    brk.earliest_start, brk.latest_start, brk.duration, False, f"break{k}"
                )
                time_dim.SetBreakIntervalsOfVehicle([iv], k, visit_transits)
        if any(a.max_visits is not None for a in agents):
            ones = routing.RegisterUnaryTransitVector([0] * n_dep + [1] * n_vis)
            caps = [a.max_visits if a.max_visits is not None else n_vis for a in agents]
            routing.AddDimensionWithVehicleCapacity(ones, 0, caps, True, "visits")
        loads = [visits[v].load for v in self.visit_nodes]
        if any(a.capacity is not None for a in agents) and any(loads):
            load_eval = routing.RegisterUnaryTransitVector([0] * n_dep + loads)
            big = sum(loads) + 1
            caps = [a.capacity if a.capacity is not None else big for a in agents]
            routing.AddDimensionWithVehicleCapacity(load_eval, 0, caps, True, "load")

        # Reassign cost: a per-vehicle count of visits taken from another agent, priced by span.
        if spec.previous_agent and problem.objective.reassign_cost > 0:
            evals = []
            for k in range(len(agents)):
                vec = [0] * n_nodes
                for v in self.visit_nodes:
                    node = self.node_of_visit[v]
                    prev = spec.previous_agent[v]
                    if prev >= 0 and prev != k:
                        vec[node] = 1
                evals.append(routing.RegisterUnaryTransitVector(vec))
            routing.AddDimensionWithVehicleTransits(evals, 0, n_vis + 1, True, "moved")
            moved = routing.GetDimensionOrDie("moved")
            moved.SetSpanCostCoefficientForAllVehicles(problem.objective.reassign_cost)

        n_agents = len(agents)
        drop = drop_penalties(problem)
        for v in self.visit_nodes:
            index = manager.NodeToIndex(self.node_of_visit[v])
            allowed = spec.allowed[v]
            if len(allowed) < n_agents:
                # SetAllowedVehiclesForIndex rejects Python lists in the 9.15 wrapper (Span
                # typemap); restricting the vehicle variable is equivalent (-1 = unperformed).
                routing.VehicleVar(index).SetValues([-1, *sorted(allowed)])
            if problem.objective.allow_unassigned:
                routing.AddDisjunction([index], drop[v])
        for k, prefix in enumerate(spec.prefix):
            prev_index = routing.Start(k)
            for v in prefix:
                index = manager.NodeToIndex(self.node_of_visit[v])
                routing.NextVar(prev_index).SetValue(index)
                prev_index = index

    def run(self, time_limit_s: float) -> tuple[tuple[tuple[int, ...], ...] | None, int]:
        routing, manager = self.routing, self.manager
        # OR-Tools 9.15's iterated local search never returns (ignores its time limit) on
        # tiny models, e.g. one visit and two vehicles; below a handful of visits greedy
        # descent finds the optimum anyway.
        iterated = self.spec.iterated and len(self.visit_nodes) >= _ILS_MIN_VISITS
        spec = replace(self.spec, iterated=iterated)
        params = _search_parameters(spec, time_limit_s)
        solution = None
        if spec.warm_routes is not None:
            warm = [
                [manager.NodeToIndex(self.node_of_visit[v]) for v in r if v in self.node_of_visit]
                for r in spec.warm_routes
            ]
            routing.CloseModelWithParameters(params)
            initial = routing.ReadAssignmentFromRoutes(warm, True)
            if initial is not None:
                # Local search from the given routes (iterated local search cannot start from
                # an assignment in 9.15: it always builds its own first solution).
                params.use_iterated_local_search = False
                solution = routing.SolveFromAssignmentWithParameters(initial, params)
        if solution is None:
            if spec.iterated:
                solution = routing.SolveWithIteratedLocalSearch(params)
            else:
                solution = routing.SolveWithParameters(params)
        if solution is None:
            return None, 0
        routes: list[tuple[int, ...]] = []
        for k in range(len(self.problem.agents)):
            index = routing.Start(k)
            route: list[int] = []
            index = solution.Value(routing.NextVar(index))
            while not routing.IsEnd(index):
                route.append(self.visit_nodes[manager.IndexToNode(index) - self.n_dep])
                index = solution.Value(routing.NextVar(index))
            routes.append(tuple(route))
        return tuple(routes), int(solution.ObjectiveValue())

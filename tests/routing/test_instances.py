"""Benchmark readers, DIMACS scoring, and a Solomon smoke solve (skipped without the data)."""

from __future__ import annotations

from pathlib import Path

import pytest

from routing.checker import check, check_vrptw_float
from routing.errors import InstanceFormatError
from routing.instances import (
    bench_data_dir,
    dimacs_distance,
    euclidean_distance,
    parse_vrptw,
    read_bks,
    read_vrptw,
    to_problem,
)
from routing.params import SearchParameters
from routing.sisr import warm_up
from routing.solver import solve

TINY = """TINY

VEHICLE
NUMBER     CAPACITY
  2         10

CUSTOMER
CUST NO.   XCOORD.   YCOORD.    DEMAND   READY TIME   DUE DATE   SERVICE TIME

    0          0       0           0       0         100           0
    1          3       4           5       0          50           1
    2          0       1           5       0          50           1
"""

DATA = bench_data_dir()
needs_data = pytest.mark.skipif(not (DATA / "solomon").is_dir(), reason="no bench data")


def test_parse_tiny_and_score() -> None:
    """Depot -> 1 -> 2 -> depot: 5 + sqrt(18) + 1 = 10.2426...; DIMACS truncates each arc:
    5.0 + 4.2 + 1.0 = 10.2."""
    inst = parse_vrptw(TINY)
    assert (inst.name, inst.vehicles, inst.capacity, inst.customers) == ("TINY", 2, 10.0, 2)
    assert euclidean_distance(inst, [[1, 2]]) == pytest.approx(6 + 18**0.5)
    assert dimacs_distance(inst, [[1, 2]]) == pytest.approx(10.2)
    assert (
        check_vrptw_float(
            inst.coords,
            inst.demand,
            inst.ready,
            inst.due,
            inst.service,
            inst.capacity,
            inst.vehicles,
            [[1, 2]],
        )
        == []
    )
    late = list(inst.due)
    late[2] = 5.0
    assert check_vrptw_float(
        inst.coords,
        inst.demand,
        inst.ready,
        late,
        inst.service,
        inst.capacity,
        inst.vehicles,
        [[1, 2]],
    )


def test_tiny_solves_clean() -> None:
    inst = parse_vrptw(TINY)
    p = to_problem(inst)
    r = solve(p, SearchParameters(time_limit_s=0.2))
    assert check(p, r.plan) == []
    assert r.plan.assigned_count == 2


def test_bad_rows_are_reported_with_line() -> None:
    with pytest.raises(InstanceFormatError) as err:
        parse_vrptw(TINY.replace("    2          0       1", "    2          0"))
    assert err.value.line > 0
    with pytest.raises(InstanceFormatError, match="VEHICLE"):
        parse_vrptw("X\nCUSTOMER\n0 0 0 0 0 1 0\n")


def test_bks_reader(tmp_path: Path) -> None:
    f = tmp_path / "bks.csv"
    f.write_text(
        "instance,vehicles,distance,source\n"
        "C101,10,827.3,dimacs:somewhere\n"
        "C101,10,828.94,hier:elsewhere\n"
    )
    bks = read_bks(f)
    assert bks["C101"]["dimacs"].distance == 827.3
    assert bks["C101"]["hier"].vehicles == 10


@needs_data
def test_solomon_r101_smoke() -> None:
    """R101 (where path-cheapest-arc finds nothing): a feasible plan in a second, feasible in
    exact floats too. (`python -m bench.solve` wraps the same steps: tests/bench.)"""
    warm_up()  # the compiled kernels are loaded before the clock, as in a running service
    inst = read_vrptw(DATA / "solomon" / "R101.txt")
    problem = to_problem(inst)
    result = solve(problem, SearchParameters(time_limit_s=1.0))
    assert check(problem, result.plan) == []
    assert result.wall_s < 1.3
    routes = [[int(s.visit_id) for s in r.stops] for r in result.plan.routes if r.stops]
    assert sorted(c for r in routes for c in r) == list(range(1, 101))
    assert not check_vrptw_float(
        inst.coords,
        inst.demand,
        inst.ready,
        inst.due,
        inst.service,
        inst.capacity,
        inst.vehicles,
        routes,
    )
    bks = read_bks(DATA / "bks.csv")["R101"]["dimacs"].distance
    assert dimacs_distance(inst, routes) < bks * 1.10

"""Model constructors validate their input and name the bad field."""

from __future__ import annotations

import pytest

from routing.errors import InvalidProblem, RoutingError
from routing.model import Break, Location, Objective, Pin, Priority, TimeWindow
from routing.params import SearchParameters
from tests.routing.tiny import HOUR, agent, problem, visit


def test_window_end_before_start_names_the_field() -> None:
    with pytest.raises(InvalidProblem) as err:
        TimeWindow(10, 5)
    assert err.value.field == "window"
    assert isinstance(err.value, RoutingError)


def test_negative_service_is_rejected() -> None:
    with pytest.raises(InvalidProblem, match=r"visit\[v1\]\.service"):
        visit("v1", 3, service=-1)


def test_overlapping_windows_are_rejected_and_unsorted_ones_sorted() -> None:
    with pytest.raises(InvalidProblem, match="overlap"):
        visit("v1", 3, (100, 200), (150, 300))
    v = visit("v1", 3, (500, 600), (100, 200))
    assert [w.start for w in v.windows] == [100, 500]


def test_latitude_out_of_range() -> None:
    with pytest.raises(InvalidProblem, match="lat"):
        Location(lat=91.0, lon=0.0)


def test_break_outside_shift() -> None:
    with pytest.raises(InvalidProblem, match="break"):
        agent(shift=(8 * HOUR, 12 * HOUR), brk=(11 * HOUR, 12 * HOUR, 1800))


def test_break_latest_before_earliest() -> None:
    with pytest.raises(InvalidProblem):
        Break(100, 50, 10)


def test_duplicate_visit_ids() -> None:
    with pytest.raises(InvalidProblem, match="duplicate visit"):
        problem([agent()], [visit("v1", 1), visit("v1", 2)])


def test_pin_to_unknown_agent() -> None:
    with pytest.raises(InvalidProblem, match="unknown agent"):
        problem([agent()], [visit("v1", 1, pin=Pin("ghost"))])


def test_pin_to_agent_without_skill() -> None:
    with pytest.raises(InvalidProblem, match="lacks"):
        problem([agent()], [visit("v1", 1, skills=["aadhaar"], pin=Pin("a1"))])


def test_pinned_sequences_must_be_a_prefix() -> None:
    with pytest.raises(InvalidProblem, match=r"0\.\.n-1"):
        problem([agent()], [visit("v1", 1, pin=Pin("a1", 1))])


def test_location_must_be_in_matrix() -> None:
    p = problem([agent()], [visit("v1", 1)])
    with pytest.raises(InvalidProblem, match="not in the matrix"):
        p.travel.index(Location(lat=1.0, lon=1.0))


def test_objective_needs_every_priority() -> None:
    with pytest.raises(InvalidProblem, match="missing priority"):
        Objective(drop_penalty={Priority.NORMAL: 1})


def test_search_parameters_validate() -> None:
    with pytest.raises(InvalidProblem, match="time_limit_s"):
        SearchParameters(time_limit_s=0)
    with pytest.raises(InvalidProblem, match="workers"):
        SearchParameters(workers=3)

"""Pure request rules: lifecycle transitions, reference numbers, deadlines, priority."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dispatch.errors import InvalidReference, InvalidTransition
from dispatch.requests import rules
from dispatch.requests.rules import RequestStatus as S


def test_happy_path_is_allowed() -> None:
    path = [S.LOGGED, S.SCHEDULED, S.ASSIGNED, S.EN_ROUTE, S.ARRIVED, S.COMPLETED]
    for a, b in itertools.pairwise(path):
        rules.check_transition(a, b, None)


@pytest.mark.parametrize(
    ("current", "new"),
    [
        (S.LOGGED, S.COMPLETED),
        (S.COMPLETED, S.CANCELLED),
        (S.CANCELLED, S.SCHEDULED),
        (S.LOGGED, S.ARRIVED),
        (S.ARRIVED, S.SCHEDULED),
    ],
)
def test_illegal_transitions_are_refused_with_what_is_allowed(current: S, new: S) -> None:
    with pytest.raises(InvalidTransition) as err:
        rules.check_transition(current, new, "because")
    assert err.value.from_status == current and err.value.to_status == new
    assert "allowed from" in str(err.value)


def test_failure_needs_a_reason() -> None:
    with pytest.raises(InvalidTransition, match="reason is required"):
        rules.check_transition(S.ARRIVED, S.FAILED, "  ")
    rules.check_transition(S.ARRIVED, S.FAILED, "biometric device not working")


def test_terminal_states_have_no_exit() -> None:
    assert {S.COMPLETED, S.CANCELLED} == rules.TERMINAL


def test_reference_format_and_round_trip() -> None:
    ref = rules.make_reference("JK", 2026, 123)
    assert ref.startswith("JK-26-000123-")
    assert rules.parse_reference(rules.keypad_digits(ref), default_state="JK") == ref
    assert rules.parse_reference(ref.lower(), default_state="PB") == ref


@given(st.integers(min_value=1, max_value=999_999), st.integers(min_value=0, max_value=8))
def test_every_single_digit_slip_is_caught(sequence: int, position: int) -> None:
    """A keypad reference with any one digit changed fails its check digit."""
    digits = rules.keypad_digits(rules.make_reference("JK", 2026, sequence))
    for wrong in "0123456789":
        if wrong == digits[position]:
            continue
        typo = digits[:position] + wrong + digits[position + 1 :]
        with pytest.raises(InvalidReference):
            rules.parse_reference(typo, default_state="JK")


@given(st.integers(min_value=1, max_value=999_999), st.integers(min_value=0, max_value=7))
def test_every_adjacent_swap_is_caught(sequence: int, position: int) -> None:
    digits = rules.keypad_digits(rules.make_reference("JK", 2026, sequence))
    a, b = digits[position], digits[position + 1]
    if a == b:
        return
    swapped = digits[:position] + b + a + digits[position + 2 :]
    with pytest.raises(InvalidReference):
        rules.parse_reference(swapped, default_state="JK")


def test_short_reference_is_refused_clearly() -> None:
    with pytest.raises(InvalidReference, match="9 digits"):
        rules.parse_reference("12345", default_state="JK")


def test_due_date_and_priority() -> None:
    logged = dt.date(2026, 11, 2)
    assert rules.legal_due_date(logged, 15) == dt.date(2026, 11, 17)
    assert rules.legal_due_date(logged, None) is None
    assert rules.pendency_days(logged, dt.date(2026, 11, 23)) == 21
    due = dt.date(2026, 11, 24)
    assert rules.visit_priority(senior=False, disabled=False, due=None, visit_day=due) == 0
    assert rules.visit_priority(senior=True, disabled=False, due=due, visit_day=due) == 3
    assert (
        rules.visit_priority(senior=False, disabled=False, due=due, visit_day=dt.date(2026, 11, 23))
        == 1
    )

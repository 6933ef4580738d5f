"""Amounts typed in rupees read as exact integer paise (no float on the way), with a reason a
person can act on for anything else; paise written back as rupees."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dispatch.errors import InvalidFee
from dispatch.ledger.rules import MOST_DECLARED_PAISE
from dispatch.money import paise_of, plain, rupees


@pytest.mark.parametrize(
    ("typed", "paise"),
    [
        ("450", 45000),
        ("450.50", 45050),
        ("450.5", 45050),
        ("450.", 45000),
        ("0.05", 5),
        ("4.35", 435),  # float("4.35") * 100 is 434.99999999999994
        ("1,450", 145000),
        ("1,00,000", 10000000),
        ("₹ 450", 45000),
        ("Rs. 1,450.75", 145075),
        ("rs450", 45000),
        ("  12 ", 1200),
        ("", 0),
        ("   ", 0),
        ("0", 0),
    ],
)
def test_amounts_typed_in_rupees_are_exact_paise(typed: str, paise: int) -> None:
    assert paise_of(typed, field="cash", most=MOST_DECLARED_PAISE) == paise


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("-50", "cannot be negative"),
        ("4.355", "at most two digits after the point (paise)"),
        ("abc", "type an amount in rupees, like 450 or 450.50"),
        ("1e3", "type an amount in rupees, like 450 or 450.50"),
        ("45O", "type an amount in rupees, like 450 or 450.50"),
        ("4 50", "type an amount in rupees, like 450 or 450.50"),
        ("४५०", "type an amount in rupees, like 450 or 450.50"),
        ("100001", "more than ₹100,000: check the amount"),
    ],
)
def test_anything_else_is_refused_with_a_reason_naming_the_field(typed: str, reason: str) -> None:
    with pytest.raises(InvalidFee) as refused:
        paise_of(typed, field="upi", most=MOST_DECLARED_PAISE)
    assert refused.value.field == "upi" and refused.value.reason == reason


@given(st.integers(min_value=0, max_value=MOST_DECLARED_PAISE))
def test_rupees_written_and_read_back_are_the_same_paise(paise: int) -> None:
    assert paise_of(rupees(paise), field="cash", most=MOST_DECLARED_PAISE) == paise
    whole, frac = divmod(paise, 100)
    assert paise_of(f"{whole}.{frac:02d}", field="cash", most=MOST_DECLARED_PAISE) == paise


def test_rupees_are_written_as_the_console_writes_them() -> None:
    assert [rupees(p) for p in (0, 5, 5000, 123450, 100000000, -2550)] == [
        "₹0",
        "₹0.05",
        "₹50",
        "₹1,234.50",
        "₹1,000,000",
        "-₹25.50",
    ]


@given(st.integers(min_value=0, max_value=MOST_DECLARED_PAISE))
def test_a_form_field_shows_rupees_read_back_exactly(paise: int) -> None:
    assert paise_of(plain(paise), field="fee", most=MOST_DECLARED_PAISE) == paise


def test_a_blank_amount_is_refused_where_one_is_required() -> None:
    with pytest.raises(InvalidFee):
        paise_of(" ", field="fee", most=MOST_DECLARED_PAISE, blank=None)

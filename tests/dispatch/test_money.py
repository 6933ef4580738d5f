"""Amounts typed in rupees read as exact integer paise (no float on the way), with a reason a
person can act on for anything else (a decimal comma above all: "450,50" is not ₹45,050);
paise written back as rupees in Indian grouping."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dispatch.errors import InvalidFee
from dispatch.ledger.rules import MOST_DECLARED_PAISE
from dispatch.money import DECIMAL_COMMA, grouped, paise_of, plain, rupees

#: No cap in the way of the grouping tests (a hundred crore rupees).
NO_CAP = 10**9 * 100


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
        ("100,000", 10000000),
        ("12,34,567.89", 123456789),
        ("1,234,567", 123456700),
        ("1,000", 100000),
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
    assert paise_of(typed, field="cash", most=NO_CAP) == paise


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
        ("100001", "more than ₹1,00,000: check the amount"),
        ("450,50", DECIMAL_COMMA),
        ("1,23", DECIMAL_COMMA),
        ("450,5", DECIMAL_COMMA),
        ("450,", DECIMAL_COMMA),
        ("1,2345", DECIMAL_COMMA),
        ("123,45,678", DECIMAL_COMMA),  # a first group of three before pairs: not Indian
        ("1,000,00,000", DECIMAL_COMMA),  # Western then Indian
        ("10,00,000,000", DECIMAL_COMMA),  # Indian then Western
        ("0,450", DECIMAL_COMMA),
        ("1,45.50", "commas go between thousands only, like 1,450.50 or 1,00,000"),
        ("1,450.505", "at most two digits after the point (paise)"),
    ],
)
def test_anything_else_is_refused_with_a_reason_naming_the_field(typed: str, reason: str) -> None:
    with pytest.raises(InvalidFee) as refused:
        paise_of(typed, field="upi", most=MOST_DECLARED_PAISE)
    assert refused.value.field == "upi" and refused.value.reason == reason


def _western(whole: int) -> str:
    return f"{whole:,}"


def _indian(whole: int) -> str:
    """Indian grouping written independently of `grouped`: pairs of digits before the last
    three, counted from the right."""
    digits = str(whole)
    tail, head = digits[-3:], digits[:-3]
    pairs = [head[max(0, end - 2) : end] for end in range(len(head), 0, -2)]
    return ",".join([*reversed(pairs), tail])


@given(
    st.integers(min_value=0, max_value=NO_CAP // 100 - 1), st.integers(min_value=0, max_value=99)
)
def test_indian_and_western_groupings_read_as_the_same_paise(whole: int, frac: int) -> None:
    for written in (_indian(whole), _western(whole), str(whole)):
        assert paise_of(written, field="cash", most=NO_CAP) == whole * 100
        assert paise_of(f"{written}.{frac:02d}", field="cash", most=NO_CAP) == whole * 100 + frac


def _well_grouped(groups: list[str]) -> bool:
    """Whether digits split at commas into `groups` are a whole Indian or Western grouping."""
    first, *middle, last = groups
    if not first or first[0] == "0" or len(last) != 3:
        return False
    western = len(first) <= 3 and all(len(g) == 3 for g in middle)
    indian = len(first) <= 2 and all(len(g) == 2 for g in middle)
    return western or indian


@given(
    st.text(alphabet="0123456789", min_size=2, max_size=12),
    st.sets(st.integers(min_value=1, max_value=11), min_size=1),
)
def test_commas_anywhere_else_are_refused_never_read_as_another_amount(
    digits: str, cuts: set[int]
) -> None:
    """Commas put between any digits: read as the digits when they make a grouping, refused
    with the decimal-comma reason otherwise (never a different amount)."""
    at = sorted(c for c in cuts if c < len(digits))
    if not at:
        return
    groups = [digits[a:b] for a, b in zip([0, *at], [*at, len(digits)], strict=True)]
    typed = ",".join(groups)
    if _well_grouped(groups):
        assert paise_of(typed, field="cash", most=NO_CAP * 1000) == int(digits) * 100
    else:
        with pytest.raises(InvalidFee) as refused:
            paise_of(typed, field="cash", most=NO_CAP * 1000)
        assert refused.value.reason == DECIMAL_COMMA


@given(st.integers(min_value=0, max_value=10**7), st.text("0123456789", min_size=1, max_size=2))
def test_a_decimal_comma_is_always_refused(whole: int, paise: str) -> None:
    with pytest.raises(InvalidFee) as refused:
        paise_of(f"{whole},{paise}", field="cash", most=NO_CAP)
    assert refused.value.reason == DECIMAL_COMMA


@given(st.integers(min_value=0, max_value=10**15))
def test_rupees_are_grouped_the_indian_way(whole: int) -> None:
    """The last three digits, then pairs: the digits unchanged, every group the right size."""
    text = grouped(whole)
    first, *rest = text.split(",")
    assert text.replace(",", "") == str(whole)
    assert 1 <= len(first) <= (3 if not rest else 2)
    assert [len(g) for g in rest] == ([2] * (len(rest) - 1) + [3] if rest else [])


@given(st.integers(min_value=0, max_value=MOST_DECLARED_PAISE))
def test_rupees_written_and_read_back_are_the_same_paise(paise: int) -> None:
    assert paise_of(rupees(paise), field="cash", most=MOST_DECLARED_PAISE) == paise
    whole, frac = divmod(paise, 100)
    assert paise_of(f"{whole}.{frac:02d}", field="cash", most=MOST_DECLARED_PAISE) == paise


def test_rupees_are_written_as_the_console_writes_them() -> None:
    assert [rupees(p) for p in (0, 5, 5000, 99999, 123450, 10000000, 123456789, -2550)] == [
        "₹0",
        "₹0.05",
        "₹50",
        "₹999.99",
        "₹1,234.50",
        "₹1,00,000",
        "₹12,34,567.89",
        "-₹25.50",
    ]
    assert rupees(-10000000) == "-₹1,00,000"


def test_the_console_shows_money_with_the_same_words() -> None:
    from web.templating import templates

    shown = templates.env.from_string("{{ 123456789|rupees }} {{ -5000|rupees }}").render()
    assert shown == "₹12,34,567.89 -₹50"


@given(st.integers(min_value=0, max_value=MOST_DECLARED_PAISE))
def test_a_form_field_shows_rupees_read_back_exactly(paise: int) -> None:
    assert paise_of(plain(paise), field="fee", most=MOST_DECLARED_PAISE) == paise


def test_a_blank_amount_is_refused_where_one_is_required() -> None:
    with pytest.raises(InvalidFee):
        paise_of(" ", field="fee", most=MOST_DECLARED_PAISE, blank=None)

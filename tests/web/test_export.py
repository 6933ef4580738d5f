"""CSV cells: numbers stay numbers a spreadsheet sums (a negative amount too), while any other
text that starts like a formula is quoted so a spreadsheet shows it instead of running it."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from web.export import cell, csv_text, paise_cell


@pytest.mark.parametrize(
    ("value", "written"),
    [
        (-5, "-5"),
        (-2.5, "-2.5"),
        (paise_cell(-5000), "-50.00"),
        (paise_cell(-5), "-0.05"),
        ("-12", "-12"),
        ("12.50", "12.50"),
        (None, ""),
        (True, "yes"),
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("-2+3", "'-2+3"),
        ("-1e3", "'-1e3"),
        ("+50", "'+50"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("-", "'-"),
        ("- not a number", "'- not a number"),
        ("\t-5", "'\t-5"),
        ("-5\n=1", "'-5\n=1"),
        ("a plain note", "a plain note"),
    ],
)
def test_numbers_stay_numbers_and_formulas_are_quoted(value: object, written: str) -> None:
    assert cell(value) == written


@given(st.integers(min_value=-(10**12), max_value=10**12))
def test_every_amount_is_written_as_a_number_worth_its_paise(paise: int) -> None:
    """A refund's negative net or a shortfall ("-50.00") is a number in the file, not text."""
    (row,) = list(csv.reader(io.StringIO(csv_text(["Net (Rs)"], [[paise_cell(paise)]]))))[1:]
    assert Decimal(row[0]) * 100 == paise


@given(
    st.sampled_from("=+-@\t\r"),
    st.text(),
    st.characters().filter(lambda c: c not in "0123456789."),
    st.text(),
)
def test_a_text_that_starts_like_a_formula_is_quoted_unless_it_is_a_number(
    start: str, before: str, other: str, after: str
) -> None:
    """Whatever follows the first character, one character that cannot be in a number makes
    it a text a spreadsheet might run: quoted."""
    text = start + before + other + after
    assert cell(text) == "'" + text


@given(st.decimals(min_value=Decimal("-1e12"), max_value=Decimal("-0.01"), places=2))
def test_a_negative_number_written_as_text_is_left_a_number(amount: Decimal) -> None:
    assert cell(str(amount)) == str(amount)

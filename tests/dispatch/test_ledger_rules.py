"""Ledger arithmetic in paise."""

from __future__ import annotations

from dispatch.ledger import rules
from dispatch.ledger.models import EntryKind as K


def test_balance_components() -> None:
    b = rules.balance([(K.CHARGE, 5000), (K.COLLECT, 3000)])
    assert (b.due, b.paid, b.outstanding) == (5000, 3000, 2000)


def test_closing_unpaid_request_waives_it() -> None:
    b = rules.balance([(K.CHARGE, 5000)])
    assert rules.settlement_on_close(b) == [(K.WAIVE, 5000)]


def test_closing_paid_request_refunds_it() -> None:
    b = rules.balance([(K.CHARGE, 5000), (K.COLLECT, 5000)])
    moves = rules.settlement_on_close(b)
    assert moves == [(K.REFUND, 5000), (K.WAIVE, 5000)]
    after = rules.balance([(K.CHARGE, 5000), (K.COLLECT, 5000), *moves])
    assert (after.outstanding, after.paid, after.due) == (0, 0, 0)


def test_closing_partly_paid_request_settles_to_zero() -> None:
    entries = [(K.CHARGE, 5000), (K.COLLECT, 2000)]
    moves = rules.settlement_on_close(rules.balance(entries))
    after = rules.balance([*entries, *moves])
    assert (after.outstanding, after.paid, after.due) == (0, 0, 0)

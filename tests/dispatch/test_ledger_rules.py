"""Ledger arithmetic in paise, and which of an agent-day's declarations counts."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given
from hypothesis import strategies as st

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


# --- which declaration of an agent-day counts ------------------------------------------------


@dataclass(frozen=True)
class Said:
    n: int  # the order it was made in
    actor: str


ACTORS = st.sampled_from(["agent:7", "staff:rekha", "staff:imran", "test"])


@given(st.lists(ACTORS, max_size=8))
def test_a_count_at_a_handover_counts_over_anything_the_agent_says_after_it(
    actors: list[str],
) -> None:
    """The latest count made at a handover counts whatever was said after it; with none, the
    latest declaration counts."""
    said = [Said(n, actor) for n, actor in enumerate(actors)]
    counts = rules.counting(said)
    handovers = [s for s in said if s.actor.startswith("staff:")]
    if not said:
        assert counts is None
    elif handovers:
        assert counts == handovers[-1]
    else:
        assert counts == said[-1]


def test_the_agent_declaring_again_does_not_replace_a_supervisors_count() -> None:
    agent, staff, again = Said(0, "agent:7"), Said(1, "staff:rekha"), Said(2, "agent:7")
    assert rules.counting([agent, staff, again]) == staff
    assert rules.counting([agent, staff, again, Said(3, "staff:imran")]) == Said(3, "staff:imran")
    assert rules.is_handover("staff:rekha") and not rules.is_handover("agent:7")

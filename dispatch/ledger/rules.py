"""Pure ledger arithmetic: balances from entries, and what closing a request settles."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from dispatch.ledger.models import EntryKind

#: The most one agent may declare for one day, each of cash and UPI: an agent sees at most a
#: few dozen citizens a day at fees of a few hundred rupees; more is a slip of the thumb.
MOST_DECLARED_PAISE = 100_000_00  # ₹1,00,000


@dataclass(frozen=True)
class Balance:
    """Money of one request (or a group of requests), in paise."""

    charged: int = 0
    waived: int = 0
    collected: int = 0
    refunded: int = 0

    @property
    def due(self) -> int:
        return self.charged - self.waived

    @property
    def paid(self) -> int:
        return self.collected - self.refunded

    @property
    def outstanding(self) -> int:
        return self.due - self.paid


def balance(entries: Iterable[tuple[EntryKind, int]]) -> Balance:
    totals = dict.fromkeys(EntryKind, 0)
    for kind, amount in entries:
        totals[kind] += amount
    return Balance(
        charged=totals[EntryKind.CHARGE],
        waived=totals[EntryKind.WAIVE],
        collected=totals[EntryKind.COLLECT],
        refunded=totals[EntryKind.REFUND],
    )


def settlement_on_close(b: Balance) -> list[tuple[EntryKind, int]]:
    """When a request ends unserved: give back what was paid, forgive what was owed."""
    moves: list[tuple[EntryKind, int]] = []
    if b.paid > 0:
        moves.append((EntryKind.REFUND, b.paid))
    if b.due > 0:
        moves.append((EntryKind.WAIVE, b.due))
    return moves

"""Pure ledger arithmetic: balances from entries, what closing a request settles, and which of
an agent-day's declarations counts."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

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


# --- which declaration of an agent-day counts ------------------------------------------------


class _Said(Protocol):
    @property
    def actor(self) -> str: ...


_D = TypeVar("_D", bound=_Said)


def is_handover(actor: str) -> bool:
    """Whether a declaration was counted by a supervisor when the money was handed over
    (actor `staff:<username>`), rather than said by the agent (`agent:<id>`)."""
    return actor.startswith("staff:")


def counting(declarations: Sequence[_D]) -> _D | None:
    """The declaration that counts among an agent-day's declarations (oldest first): the latest
    count made at a handover if there is one — money a supervisor counted is not undone by
    the agent declaring again — else the latest one."""
    counted = [d for d in declarations if is_handover(d.actor)]
    pool = counted or declarations
    return pool[-1] if pool else None

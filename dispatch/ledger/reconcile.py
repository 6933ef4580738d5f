"""Fee reconciliation of one agent's day, pure: what the ledger says the agent should have
taken, what they recorded taking at the doors, what they say they hold, and the differences a
supervisor must look at — each a `Flag` with its reason in plain words and exact paise.

The inputs are plain values (`dispatch.ledger.service` reads them from the database; tests
make them by hand):

- the money `Movement`s (ledger entries with their agent, request and local day);
- the `ClosedVisit`s: the requests the agent completed, or closed unserved (failed,
  no-show), that day, each with its fee as the ledger has it (charged less waived);
- the day's `Declared` takings (cash and UPI) that count, if any (a supervisor's count at a
  handover over the agent's own: `dispatch.ledger.rules.counting`);
- today's date, to know whether a missing declaration is late.

Money is compared visit by visit, never only in total: ₹50 too much taken at one door and ₹50
not collected at another are two flags, not a balanced day.

Not here: reading the ledger (`dispatch.ledger.service`), money words (`money`), pages.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

from dispatch.ledger.models import EntryKind, PaymentMethod
from dispatch.money import rupees
from dispatch.requests.rules import RequestStatus


class FlagKind(StrEnum):
    """What can be wrong with an agent's day, most serious first."""

    OVERCHARGE = "overcharge"  # more collected on a visit than its fee
    NO_VISIT = "no_visit"  # money collected for a request the agent did not complete that day
    OUTSTANDING = "outstanding"  # a completed visit with money not collected
    CASH_DIFFERS = "cash_differs"  # declared cash is not the ledger's cash
    UPI_DIFFERS = "upi_differs"  # declared UPI is not the ledger's UPI
    NOT_DECLARED = "not_declared"  # a past day with collections and no declaration

    @property
    def label(self) -> str:
        return {
            FlagKind.OVERCHARGE: "overcharge",
            FlagKind.NO_VISIT: "no visit",
            FlagKind.OUTSTANDING: "not collected",
            FlagKind.CASH_DIFFERS: "cash differs",
            FlagKind.UPI_DIFFERS: "UPI differs",
            FlagKind.NOT_DECLARED: "not declared",
        }[self]


@dataclass(frozen=True)
class Flag:
    kind: FlagKind
    reason: str
    amount_paise: int  # the money in question (the difference, or the sum not declared)
    reference: str | None = None  # the request it is about, if one


@dataclass(frozen=True)
class Movement:
    """One ledger entry as reconciliation needs it."""

    kind: EntryKind
    amount_paise: int
    method: PaymentMethod | None
    agent_id: int | None
    request_id: int
    reference: str
    day: dt.date  # the local day it happened


@dataclass(frozen=True)
class ClosedVisit:
    """A visit the agent closed that day: completed (its fee expected), or failed / no-show
    (nothing may be collected)."""

    request_id: int
    reference: str
    status: RequestStatus
    fee_paise: int  # what the ledger says the citizen owes for it (charged less waived)

    @property
    def completed(self) -> bool:
        return self.status is RequestStatus.COMPLETED

    @property
    def expected_paise(self) -> int:
        return self.fee_paise if self.completed else 0


@dataclass(frozen=True)
class Declared:
    """What the agent took in that day, as the declaration that counts says (the latest count
    at a handover, else the agent's latest: `dispatch.ledger.rules.counting`)."""

    cash_paise: int
    upi_paise: int
    actor: str = ""
    at: dt.datetime | None = None


@dataclass(frozen=True)
class VisitMoney:
    """One request's money on the agent's day: a visit closed that day, or a request the agent
    moved money for without closing it that day (`visit` is None)."""

    request_id: int
    reference: str
    visit: ClosedVisit | None
    collected_paise: int
    refunded_paise: int

    @property
    def expected_paise(self) -> int:
        return self.visit.expected_paise if self.visit else 0

    @property
    def net_paise(self) -> int:
        return self.collected_paise - self.refunded_paise

    @property
    def outstanding_paise(self) -> int:
        """Not collected on a completed visit (never below zero: see `over_paise`)."""
        return max(self.expected_paise - self.net_paise, 0) if self.expected_paise else 0

    @property
    def over_paise(self) -> int:
        """Collected beyond what was expected (never below zero)."""
        return max(self.net_paise - self.expected_paise, 0)


@dataclass(frozen=True)
class AgentDay:
    """One agent's day of money, in paise, and what is wrong with it."""

    agent_id: int
    day: dt.date
    lines: tuple[VisitMoney, ...]
    cash_paise: int  # collected in cash
    upi_paise: int  # collected by UPI
    cash_refunded_paise: int
    upi_refunded_paise: int
    declared: Declared | None
    flags: tuple[Flag, ...]

    @property
    def expected_paise(self) -> int:
        return sum(line.expected_paise for line in self.lines)

    @property
    def collected_paise(self) -> int:
        return self.cash_paise + self.upi_paise

    @property
    def refunded_paise(self) -> int:
        return self.cash_refunded_paise + self.upi_refunded_paise

    @property
    def net_paise(self) -> int:
        return self.collected_paise - self.refunded_paise

    @property
    def outstanding_paise(self) -> int:
        """Summed visit by visit: an over-collection elsewhere does not lower it."""
        return sum(line.outstanding_paise for line in self.lines)

    @property
    def over_paise(self) -> int:
        return sum(line.over_paise for line in self.lines if line.visit is not None)

    @property
    def cash_held_paise(self) -> int:
        """The cash the ledger says the agent holds: collected less given back in cash."""
        return self.cash_paise - self.cash_refunded_paise

    @property
    def upi_held_paise(self) -> int:
        return self.upi_paise - self.upi_refunded_paise

    @property
    def completed(self) -> int:
        return sum(1 for line in self.lines if line.visit is not None and line.visit.completed)

    @property
    def closed(self) -> int:
        return sum(1 for line in self.lines if line.visit is not None)

    @property
    def flag_kinds(self) -> frozenset[FlagKind]:
        return frozenset(flag.kind for flag in self.flags)


def reconcile(
    *,
    agent_id: int,
    day: dt.date,
    today: dt.date,
    visits: Sequence[ClosedVisit],
    movements: Iterable[Movement],
    declaration: Declared | None,
) -> AgentDay:
    """The agent's `day`: `visits` are those they closed that day; of `movements`, only the
    agent's own collections and refunds of that day count (other entries are ignored)."""
    mine = [
        m
        for m in movements
        if m.agent_id == agent_id
        and m.day == day
        and m.kind in (EntryKind.COLLECT, EntryKind.REFUND)
    ]
    collected: dict[int, int] = {}
    refunded: dict[int, int] = {}
    references = {v.request_id: v.reference for v in visits}
    by_method = {(kind, method): 0 for kind in EntryKind for method in PaymentMethod}
    for m in mine:
        references.setdefault(m.request_id, m.reference)
        # A refund without a method was given back in cash (the agent's hand, not a transfer).
        method = m.method or PaymentMethod.CASH
        by_method[(m.kind, method)] += m.amount_paise
        book = collected if m.kind is EntryKind.COLLECT else refunded
        book[m.request_id] = book.get(m.request_id, 0) + m.amount_paise
    closed = {v.request_id: v for v in visits}
    lines = tuple(
        VisitMoney(
            request_id=request_id,
            reference=references[request_id],
            visit=closed.get(request_id),
            collected_paise=collected.get(request_id, 0),
            refunded_paise=refunded.get(request_id, 0),
        )
        for request_id in [*closed, *sorted((set(collected) | set(refunded)) - set(closed))]
    )
    partial = AgentDay(
        agent_id=agent_id,
        day=day,
        lines=lines,
        cash_paise=by_method[(EntryKind.COLLECT, PaymentMethod.CASH)],
        upi_paise=by_method[(EntryKind.COLLECT, PaymentMethod.UPI)],
        cash_refunded_paise=by_method[(EntryKind.REFUND, PaymentMethod.CASH)],
        upi_refunded_paise=by_method[(EntryKind.REFUND, PaymentMethod.UPI)],
        declared=declaration,
        flags=(),
    )
    return replace(partial, flags=tuple(_flags(partial, today)))


def _flags(day: AgentDay, today: dt.date) -> list[Flag]:
    flags: list[Flag] = []
    any_completed = day.completed > 0
    for line in day.lines:
        flags.extend(_line_flags(line, any_completed))
    held = day.declared
    if held is not None:
        for kind, name, declared, ledger in (
            (FlagKind.CASH_DIFFERS, "cash", held.cash_paise, day.cash_held_paise),
            (FlagKind.UPI_DIFFERS, "UPI", held.upi_paise, day.upi_held_paise),
        ):
            if declared != ledger:
                gap = abs(declared - ledger)
                side = "more" if declared > ledger else "less"
                flags.append(
                    Flag(
                        kind,
                        f"declared {name} {rupees(declared)}, the ledger {rupees(ledger)}: "
                        f"{rupees(gap)} {side}",
                        gap,
                    )
                )
    elif day.day < today and day.collected_paise > 0:
        flags.append(
            Flag(
                FlagKind.NOT_DECLARED,
                f"no takings declared for the day; {rupees(day.collected_paise)} collected",
                day.collected_paise,
            )
        )
    order = list(FlagKind)
    return sorted(flags, key=lambda f: order.index(f.kind))


def _line_flags(line: VisitMoney, any_completed: bool) -> list[Flag]:
    ref, visit = line.reference, line.visit
    if visit is None:
        if line.collected_paise == 0:
            return []  # a refund alone takes nothing from a citizen
        where = (
            "no visit of theirs completed that day"
            if any_completed
            else "a day with no completed visit"
        )
        return [
            Flag(
                FlagKind.NO_VISIT,
                f"{ref}: {rupees(line.collected_paise)} collected on {where}",
                line.collected_paise,
                ref,
            )
        ]
    if not visit.completed and line.net_paise > 0:
        said = visit.status.value.replace("_", "-")
        return [
            Flag(
                FlagKind.OVERCHARGE,
                f"{ref}: {rupees(line.net_paise)} collected on a visit marked {said}",
                line.net_paise,
                ref,
            )
        ]
    if line.over_paise > 0:
        return [
            Flag(
                FlagKind.OVERCHARGE,
                f"{ref}: {rupees(line.net_paise)} collected, {rupees(line.over_paise)} more "
                f"than its fee of {rupees(visit.expected_paise)}",
                line.over_paise,
                ref,
            )
        ]
    if line.outstanding_paise > 0:
        return [
            Flag(
                FlagKind.OUTSTANDING,
                f"{ref}: {rupees(line.outstanding_paise)} of its fee of "
                f"{rupees(visit.expected_paise)} not collected",
                line.outstanding_paise,
                ref,
            )
        ]
    return []


# --- across agent-days -------------------------------------------------------------------------


@dataclass(frozen=True)
class Totals:
    """The sums of a table of agent-days (declared: over the days that have a declaration)."""

    days: int = 0
    flagged: int = 0
    completed: int = 0
    expected_paise: int = 0
    cash_paise: int = 0
    upi_paise: int = 0
    refunded_paise: int = 0
    outstanding_paise: int = 0
    over_paise: int = 0
    declared_cash_paise: int = 0
    declared_upi_paise: int = 0

    @property
    def collected_paise(self) -> int:
        return self.cash_paise + self.upi_paise

    @property
    def net_paise(self) -> int:
        return self.collected_paise - self.refunded_paise


def totals(days: Iterable[AgentDay]) -> Totals:
    t = Totals()
    for d in days:
        t = Totals(
            days=t.days + 1,
            flagged=t.flagged + (1 if d.flags else 0),
            completed=t.completed + d.completed,
            expected_paise=t.expected_paise + d.expected_paise,
            cash_paise=t.cash_paise + d.cash_paise,
            upi_paise=t.upi_paise + d.upi_paise,
            refunded_paise=t.refunded_paise + d.refunded_paise,
            outstanding_paise=t.outstanding_paise + d.outstanding_paise,
            over_paise=t.over_paise + d.over_paise,
            declared_cash_paise=t.declared_cash_paise
            + (d.declared.cash_paise if d.declared else 0),
            declared_upi_paise=t.declared_upi_paise + (d.declared.upi_paise if d.declared else 0),
        )
    return t


@dataclass(frozen=True)
class DayCollected:
    day: dt.date
    cash_paise: int
    upi_paise: int

    @property
    def total_paise(self) -> int:
        return self.cash_paise + self.upi_paise


def collected_per_day(
    days: Iterable[AgentDay], first: dt.date, last: dt.date
) -> list[DayCollected]:
    """Cash and UPI collected on each day from `first` to `last` (days with none are zero)."""
    cash: dict[dt.date, int] = {}
    upi: dict[dt.date, int] = {}
    for d in days:
        cash[d.day] = cash.get(d.day, 0) + d.cash_paise
        upi[d.day] = upi.get(d.day, 0) + d.upi_paise
    span = (last - first).days + 1
    every = [first + dt.timedelta(days=n) for n in range(max(span, 0))]
    return [DayCollected(day, cash.get(day, 0), upi.get(day, 0)) for day in every]

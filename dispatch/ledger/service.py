"""Ledger service functions: charge, collect, waive, refund; balances per request, agent, day;
agents' declarations of what they took in on a day (`declare`), the one that counts being a
supervisor's count at a handover over the agent's own (`dispatch.ledger.rules.counting`).

Entries and declarations are only ever added. An `idempotency_key` makes a retried command a
no-op, a twin sent at the same moment too (the unique key picks one; the other answers as it
did). Not here: agents' days of money, reconciled with their declarations
(`dispatch.ledger.days`, over the pure `dispatch.ledger.reconcile`).
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session, col, select

from dispatch import validation
from dispatch.agents.models import Agent
from dispatch.audit import service as audit
from dispatch.db import utcnow
from dispatch.errors import Conflict, InvalidFee, InvalidInput, NotFound
from dispatch.ledger import rules
from dispatch.ledger.models import EntryKind, FeeDeclaration, LedgerEntry, PaymentMethod
from dispatch.ledger.rules import MOST_DECLARED_PAISE
from dispatch.requests.models import DoorstepRequest


def _existing(session: Session, key: str | None) -> LedgerEntry | None:
    if key is None:
        return None
    return session.exec(select(LedgerEntry).where(LedgerEntry.idempotency_key == key)).first()


def add(
    *,
    session: Session,
    request_id: int,
    kind: EntryKind,
    amount_paise: int,
    actor: str,
    agent_id: int | None = None,
    method: PaymentMethod | None = None,
    upi_reference: str | None = None,
    note: str = "",
    idempotency_key: str | None = None,
    at: dt.datetime | None = None,
) -> LedgerEntry:
    """Append one entry (the lowest-level command; prefer the named ones below). `at` is when
    the money moved (default: now): a report from the door passes its own moment, so the
    entry falls on the same local day as the visit it settles."""
    if (found := _existing(session, idempotency_key)) is not None:
        return found
    validation.fee(amount_paise, field="amount_paise")
    if amount_paise == 0:
        raise InvalidFee("amount_paise", 0, "an entry must move money")
    entry = LedgerEntry(
        request_id=request_id,
        agent_id=agent_id,
        kind=kind,
        amount_paise=amount_paise,
        method=method,
        upi_reference=upi_reference,
        actor=actor,
        note=note,
        idempotency_key=idempotency_key,
    )
    if at is not None:
        entry.at = at
    session.add(entry)
    session.flush()
    return entry


def charge(*, session: Session, request: DoorstepRequest, actor: str) -> LedgerEntry | None:
    """Record the fee the citizen agreed to (doorstep + government fee). Once per request."""
    assert request.id is not None
    if request.fee_paise == 0:
        return None
    return add(
        session=session,
        request_id=request.id,
        kind=EntryKind.CHARGE,
        amount_paise=request.fee_paise,
        actor=actor,
        note=request.reference,
        idempotency_key=f"charge:{request.id}",
    )


def collect(
    *,
    session: Session,
    request_id: int,
    agent_id: int,
    amount_paise: int,
    method: str,
    actor: str,
    upi_reference: str | None = None,
    idempotency_key: str | None = None,
    at: dt.datetime | None = None,
) -> LedgerEntry:
    """The agent collected money at the door, in cash or by UPI (with its reference), at `at`
    (default: now)."""
    if (found := _existing(session, idempotency_key)) is not None:
        return found
    pay = PaymentMethod(validation.choice(method, field="method", allowed={"cash", "upi"}))
    if pay is PaymentMethod.UPI and not (upi_reference or "").strip():
        raise InvalidInput("upi_reference", upi_reference, "a UPI payment needs its reference")
    outstanding = balance(session=session, request_id=request_id).outstanding
    if amount_paise > outstanding:
        raise InvalidFee("amount_paise", amount_paise, f"more than the {outstanding} paise owed")
    return add(
        session=session,
        request_id=request_id,
        kind=EntryKind.COLLECT,
        amount_paise=amount_paise,
        actor=actor,
        agent_id=agent_id,
        method=pay,
        upi_reference=upi_reference,
        idempotency_key=idempotency_key,
        at=at,
    )


def settle_closed(
    *, session: Session, request_id: int, actor: str, reason: str
) -> list[LedgerEntry]:
    """Waive what is owed and refund what was paid for a request that ends unserved."""
    moves = rules.settlement_on_close(balance(session=session, request_id=request_id))
    return [
        add(
            session=session,
            request_id=request_id,
            kind=kind,
            amount_paise=amount,
            actor=actor,
            note=reason,
            idempotency_key=f"settle:{request_id}:{kind.value}",
        )
        for kind, amount in moves
    ]


def entries(*, session: Session, request_id: int) -> list[LedgerEntry]:
    stmt = (
        select(LedgerEntry)
        .where(LedgerEntry.request_id == request_id)
        .order_by(col(LedgerEntry.id))
    )
    return list(session.exec(stmt))


def balance(*, session: Session, request_id: int) -> rules.Balance:
    return _sum(session, col(LedgerEntry.request_id) == request_id)


def agent_balance(*, session: Session, agent_id: int) -> rules.Balance:
    """What an agent has collected (and refunded): the cash and UPI they account for."""
    return _sum(session, col(LedgerEntry.agent_id) == agent_id)


def day_balance(*, session: Session, day: dt.date, timezone: str = "Asia/Kolkata") -> rules.Balance:
    """All movements on one local calendar day."""
    tz = ZoneInfo(timezone)
    start = dt.datetime.combine(day, dt.time(), tz).astimezone(dt.UTC)
    end = start + dt.timedelta(days=1)
    return _sum(session, col(LedgerEntry.at) >= start, col(LedgerEntry.at) < end)


def _sum(session: Session, *where: sa.ColumnElement[bool]) -> rules.Balance:
    stmt = (
        select(LedgerEntry.kind, sa.func.sum(LedgerEntry.amount_paise))
        .where(*where)
        .group_by(col(LedgerEntry.kind))
    )
    return rules.balance((EntryKind(kind), int(total)) for kind, total in session.exec(stmt))


# --- declarations: what agents say they took in ----------------------------------------------


class CountedAtHandover(Conflict):
    """The agent declaring a day whose money a supervisor has counted at a handover: refused,
    the supervisor's count (`counted`) stands. Only another count at a handover replaces it."""

    def __init__(self, counted: FeeDeclaration) -> None:
        self.counted = counted
        super().__init__(
            "agent_day",
            f"{counted.agent_id}:{counted.day.isoformat()}",
            "the money of this day was counted by a supervisor at the handover",
        )


def declarations(*, session: Session, agent_id: int, day: dt.date) -> list[FeeDeclaration]:
    """Every declaration of the agent's day, oldest first."""
    stmt = (
        select(FeeDeclaration)
        .where(FeeDeclaration.agent_id == agent_id, FeeDeclaration.day == day)
        .order_by(col(FeeDeclaration.at), col(FeeDeclaration.id))
    )
    return list(session.exec(stmt))


def counting_declaration(*, session: Session, agent_id: int, day: dt.date) -> FeeDeclaration | None:
    """The declaration of the agent's day that counts, if any: the latest count made at a
    handover, else the agent's latest (`rules.counting`)."""
    return rules.counting(declarations(session=session, agent_id=agent_id, day=day))


def _declaration_by_key(session: Session, key: str | None) -> FeeDeclaration | None:
    if key is None:
        return None
    return session.exec(select(FeeDeclaration).where(FeeDeclaration.idempotency_key == key)).first()


def declare(
    *,
    session: Session,
    agent_id: int,
    day: dt.date,
    cash_paise: int,
    upi_paise: int,
    actor: str,
    today: dt.date,
    note: str = "",
    idempotency_key: str | None = None,
    now: dt.datetime | None = None,
) -> FeeDeclaration:
    """Record what the agent took in on `day` (cash and UPI, in paise): said by the agent
    (`agent:<id>`), or counted by a supervisor when the money is handed over (`staff:<name>`).
    It replaces the declaration that counted for reconciliation (which stays, append-only),
    except that once a supervisor has counted the day, only another count at a handover
    does: anyone else's is refused (`CountedAtHandover`). Audited with the declaration that
    counted before and the new one. A retry under the same key returns the first without
    recording anything, also when both were sent at the same moment."""
    if (found := _declaration_by_key(session, idempotency_key)) is not None:
        return found
    agent = session.get(Agent, agent_id)
    if agent is None:
        raise NotFound("agent", agent_id)
    for field, amount in (("cash_paise", cash_paise), ("upi_paise", upi_paise)):
        validation.fee(amount, field=field)
        if amount > MOST_DECLARED_PAISE:
            raise InvalidFee(field, amount, f"more than {MOST_DECLARED_PAISE} paise in one day")
    if day > today:
        raise InvalidInput("day", day, "a day still to come has no takings yet")
    note = validation.text(note, field="note", max_length=200, required=False)
    before = counting_declaration(session=session, agent_id=agent_id, day=day)
    if before is not None and rules.is_handover(before.actor) and not rules.is_handover(actor):
        raise CountedAtHandover(before)
    row = FeeDeclaration(
        agent_id=agent_id,
        day=day,
        cash_paise=cash_paise,
        upi_paise=upi_paise,
        at=now or utcnow(),
        actor=actor,
        note=note,
        idempotency_key=idempotency_key,
    )
    try:
        with session.begin_nested():  # flushed here: a twin under the same key fails now
            session.add(row)
            session.flush()
    except sa.exc.IntegrityError:
        # The same form sent twice at once: the other committed first while this one waited
        # on the unique key. Answer as it did (it is audited; this records nothing).
        if (twin := _declaration_by_key(session, idempotency_key)) is None:
            raise
        return twin
    audit.record(
        session=session,
        actor=actor,
        entity="agent_day",
        entity_id=f"{agent_id}:{day.isoformat()}",
        action="takings_declared",
        at=row.at,
        declaration_id=row.id,
        before=(
            {"cash_paise": before.cash_paise, "upi_paise": before.upi_paise}
            if before is not None
            else None
        ),
        after={"cash_paise": cash_paise, "upi_paise": upi_paise},
        note=note,
    )
    return row

"""The fee ledger: append-only entries in integer paise."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlmodel import Field, SQLModel

from dispatch.db import UTCDateTime, enum_type, utcnow


class EntryKind(StrEnum):
    CHARGE = "charge"  # the citizen owes the fee (recorded when the request is logged)
    COLLECT = "collect"  # the agent collected it at the door
    WAIVE = "waive"  # the charge is forgiven (e.g. cancelled before the visit)
    REFUND = "refund"  # collected money given back


class PaymentMethod(StrEnum):
    CASH = "cash"
    UPI = "upi"


class LedgerEntry(SQLModel, table=True):
    """One movement of money for a request. Never updated, never deleted."""

    __tablename__ = "ledger_entry"

    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(foreign_key="doorstep_request.id", index=True)
    agent_id: int | None = Field(default=None, foreign_key="agent.id", index=True)
    kind: EntryKind = Field(sa_type=enum_type(EntryKind))
    amount_paise: int
    method: PaymentMethod | None = Field(default=None, sa_type=enum_type(PaymentMethod))
    upi_reference: str | None = None
    at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    actor: str
    note: str = ""
    idempotency_key: str | None = Field(default=None, unique=True, max_length=80)


class FeeDeclaration(SQLModel, table=True):
    """What an agent says they took in on one day (cash and UPI), recorded by the agent (day
    page) or by a supervisor when the money is handed over. Append-only: the latest count at a
    handover (`staff:`) counts, else the agent's latest (`dispatch.ledger.rules.counting`);
    reconciliation compares it with the ledger (`dispatch.ledger.reconcile`)."""

    __tablename__ = "fee_declaration"

    id: int | None = Field(default=None, primary_key=True)
    agent_id: int = Field(foreign_key="agent.id", index=True)
    day: dt.date = Field(index=True)
    cash_paise: int = 0
    upi_paise: int = 0
    at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    actor: str
    note: str = ""
    idempotency_key: str | None = Field(default=None, unique=True, max_length=80)

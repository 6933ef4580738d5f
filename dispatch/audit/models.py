"""The audit log: every state change outside a request's own lifecycle events."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlmodel import JSON, Field, SQLModel

from dispatch.db import UTCDateTime, utcnow


class AuditEntry(SQLModel, table=True):
    __tablename__ = "audit_entry"
    __table_args__ = (sa.Index("ix_audit_entry_subject", "entity", "entity_id", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    actor: str
    entity: str = Field(index=True)
    entity_id: str
    action: str
    detail: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)


# The store's guards (append-only audit trail, no Aadhaar number in free text) hold for every
# session once the audit table is known.
from dispatch.audit import guards as _guards  # noqa: E402, F401

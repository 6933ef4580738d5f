"""Recording audit entries; the caller's transaction commits them with the change."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlmodel import Session, col, select

from dispatch.audit.models import AuditEntry
from dispatch.db import utcnow


def record(
    *,
    session: Session,
    actor: str,
    entity: str,
    entity_id: object,
    action: str,
    at: dt.datetime | None = None,
    **detail: Any,
) -> AuditEntry:
    entry = AuditEntry(
        actor=actor,
        entity=entity,
        entity_id=str(entity_id),
        action=action,
        detail=detail,
        at=at or utcnow(),
    )
    session.add(entry)
    return entry


def history(*, session: Session, entity: str, entity_id: object) -> list[AuditEntry]:
    stmt = (
        select(AuditEntry)
        .where(AuditEntry.entity == entity, AuditEntry.entity_id == str(entity_id))
        .order_by(col(AuditEntry.id))
    )
    return list(session.exec(stmt))

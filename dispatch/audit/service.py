"""Recording audit entries; the caller's transaction commits them with the change."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from typing import Any

from sqlmodel import Session, col, func, select

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


def latest_id(
    *, session: Session, entity: str, entity_id: object, actions: Collection[str] | None = None
) -> int:
    """The id of the latest entry on one entity (of `actions` only, if given; 0 before any):
    the version an edit form carries, so that a form drawn before a later change is known."""
    stmt = select(func.max(AuditEntry.id)).where(
        AuditEntry.entity == entity, AuditEntry.entity_id == str(entity_id)
    )
    if actions is not None:
        stmt = stmt.where(col(AuditEntry.action).in_(list(actions)))
    return int(session.exec(stmt).one() or 0)


def count(
    *,
    session: Session,
    entity: str,
    entity_id: object,
    actions: Collection[str],
    since: dt.datetime,
    until: dt.datetime | None = None,
) -> int:
    """How many `actions` were recorded on one entity from `since` (up to `until`, if given):
    the tally behind every "too many wrong tries" limit."""
    stmt = (
        select(func.count())
        .select_from(AuditEntry)
        .where(
            AuditEntry.entity == entity,
            AuditEntry.entity_id == str(entity_id),
            col(AuditEntry.action).in_(list(actions)),
            col(AuditEntry.at) >= since,
        )
    )
    if until is not None:
        stmt = stmt.where(col(AuditEntry.at) <= until)
    return int(session.exec(stmt).one())

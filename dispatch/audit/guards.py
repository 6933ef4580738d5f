"""Guards at the store, for every session of every process (registered on import of
`dispatch.audit.models`, which every service that writes imports through `dispatch.audit`).

1. The audit trail is append-only. A flush that would change or delete an `AuditEntry`, and a
   bulk `update()` / `delete()` statement on its table run through a session, raise
   `AppendOnly`. The database refuses the same whatever the client: triggers of migration
   `a3c91e5f7b20` on PostgreSQL (UPDATE, DELETE, TRUNCATE) and SQLite (UPDATE, DELETE).
2. No Aadhaar number is stored in free text. The free-text columns in `FREE_TEXT` (what a
   citizen, a caller's speech, an agent or a staff member may type) are masked as
   `XXXX XXXX 1234` (`dispatch.validation.mask_aadhaar`) as their rows are inserted or
   updated, by the ORM or by a bulk `update()` through a session — whichever adapter (IVR, SMS,
   console, API) the words came through.

What this does not guard: raw SQL given as text, and sessions' `bulk_*` methods with
`render_nulls`; no code of ours writes those tables that way. Structured numbers are left
alone: a UPI reference (12 digits too) is not free text and is kept as typed.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from dispatch import validation
from dispatch.errors import DispatchError

AUDIT_TABLE = "audit_entry"

#: Free-text columns, by table: where words typed or spoken by a person are kept.
FREE_TEXT: dict[str, frozenset[str]] = {
    "citizen": frozenset({"name"}),
    "address": frozenset({"landmark"}),
    "feedback": frozenset({"comment"}),
    "grievance": frozenset({"comment", "note"}),
    "callback": frozenset({"note"}),
    "doorstep_request": frozenset({"status_reason"}),
    "request_event": frozenset({"reason"}),
    "agent_leave": frozenset({"reason"}),
}


class AppendOnly(DispatchError):
    """An audit entry was to be changed or deleted: the audit trail only grows."""

    def __init__(self, action: str) -> None:
        self.action = action
        super().__init__(f"the audit trail is append-only: refusing to {action} an audit entry")


def _table_of(obj: object) -> str | None:
    name = getattr(type(obj), "__tablename__", None)
    return name if isinstance(name, str) else None


def _mask_row(obj: object) -> None:
    for column in FREE_TEXT.get(_table_of(obj) or "", ()):
        value = getattr(obj, column, None)
        if isinstance(value, str) and validation.has_aadhaar(value):
            setattr(obj, column, validation.mask_aadhaar(value))


@event.listens_for(Session, "before_flush")
def _before_flush(session: Session, _context: UOWTransaction, _instances: Any) -> None:
    for obj in session.deleted:
        if _table_of(obj) == AUDIT_TABLE:
            raise AppendOnly("delete")
    for obj in session.dirty:
        if _table_of(obj) == AUDIT_TABLE and session.is_modified(obj):
            raise AppendOnly("update")
    for obj in (*session.new, *session.dirty):
        _mask_row(obj)


def _target(statement: Any) -> str | None:
    table = getattr(statement, "table", None)
    name = getattr(table, "name", None)
    return name if isinstance(name, str) else None


@event.listens_for(Session, "do_orm_execute")
def _do_orm_execute(state: ORMExecuteState) -> None:
    if not (state.is_update or state.is_delete):
        return
    target = _target(state.statement)
    if target == AUDIT_TABLE:
        raise AppendOnly("update" if state.is_update else "delete")
    columns = FREE_TEXT.get(target or "")
    if state.is_update and columns and isinstance(state.statement, sa.Update):
        masked = _masked_values(state.statement, columns)
        if masked:
            state.statement = state.statement.values(masked)


def _masked_values(statement: sa.Update, columns: frozenset[str]) -> dict[str, str]:
    """The free-text values a bulk update sets that hold an Aadhaar number, masked."""
    out: dict[str, str] = {}
    for key, value in (getattr(statement, "_values", None) or {}).items():
        name = getattr(key, "key", key)
        plain = getattr(value, "value", value)
        if name in columns and isinstance(plain, str) and validation.has_aadhaar(plain):
            out[str(name)] = validation.mask_aadhaar(plain)
    return out

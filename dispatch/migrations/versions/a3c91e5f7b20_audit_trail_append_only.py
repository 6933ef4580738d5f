"""audit trail append-only

The database itself refuses to change the audit trail, whatever the client (a psql session,
a script, a bug): on PostgreSQL a trigger function raises on UPDATE, DELETE and TRUNCATE of
audit_entry; on SQLite triggers abort UPDATE and DELETE (SQLite has no TRUNCATE). The ORM
refuses the same earlier (`dispatch.audit.guards`). Downgrading drops the triggers.

Revision ID: a3c91e5f7b20
Revises: 7f4306f85eda
Create Date: 2026-12-02 10:00:00.000000
"""
from typing import Sequence, Union

from alembic import op


# revision identifiers, used by Alembic.
revision: str = 'a3c91e5f7b20'
down_revision: Union[str, None] = '7f4306f85eda'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

MESSAGE = "audit_entry is append-only"

PG_UP = [
    f"""
    CREATE FUNCTION audit_entry_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '{MESSAGE}: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
    END
    $$
    """,
    """
    CREATE TRIGGER audit_entry_no_update_delete BEFORE UPDATE OR DELETE ON audit_entry
    FOR EACH ROW EXECUTE FUNCTION audit_entry_append_only()
    """,
    """
    CREATE TRIGGER audit_entry_no_truncate BEFORE TRUNCATE ON audit_entry
    FOR EACH STATEMENT EXECUTE FUNCTION audit_entry_append_only()
    """,
]
PG_DOWN = [
    "DROP TRIGGER IF EXISTS audit_entry_no_truncate ON audit_entry",
    "DROP TRIGGER IF EXISTS audit_entry_no_update_delete ON audit_entry",
    "DROP FUNCTION IF EXISTS audit_entry_append_only()",
]
SQLITE_UP = [
    f"""
    CREATE TRIGGER audit_entry_no_{op_name.lower()} BEFORE {op_name} ON audit_entry
    BEGIN SELECT RAISE(ABORT, '{MESSAGE}: {op_name} refused'); END
    """
    for op_name in ("UPDATE", "DELETE")
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS audit_entry_no_update",
    "DROP TRIGGER IF EXISTS audit_entry_no_delete",
]


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    for statement in {"postgresql": PG_UP, "sqlite": SQLITE_UP}.get(dialect, []):
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for statement in {"postgresql": PG_DOWN, "sqlite": SQLITE_DOWN}.get(dialect, []):
        op.execute(statement)

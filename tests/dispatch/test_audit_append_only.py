"""The audit trail is append-only: the ORM refuses to change or delete an entry (flush and bulk
statements), the database refuses raw SQL too (triggers, PostgreSQL and SQLite), the migration
that adds the triggers goes down and up again, and the trail holds no citizen's personal data
(so that retention never needs to touch it)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from dispatch import migrate
from dispatch.audit import service as audit
from dispatch.audit.guards import AppendOnly
from dispatch.audit.models import AuditEntry
from dispatch.citizens import service as citizen_service
from dispatch.db import make_engine, write_session
from tests import factories
from tests.conftest import ENGINES, _drop_postgres_schema, _postgres_engine

TRIGGERS_REVISION = "a3c91e5f7b20"
BEFORE_TRIGGERS = "7f4306f85eda"  # its down_revision


@pytest.fixture
def entry_id(engine: Engine) -> int:
    with write_session(engine) as session:
        entry = audit.record(
            session=session, actor="test", entity="probe", entity_id=uuid.uuid4().hex, action="a"
        )
        session.flush()
        assert entry.id is not None
        return entry.id


def _actor(engine: Engine, entry_id: int) -> str:
    with Session(engine) as session:
        entry = session.get(AuditEntry, entry_id)
        assert entry is not None
        return entry.actor


def test_the_orm_refuses_to_change_an_entry(engine: Engine, entry_id: int) -> None:
    with Session(engine) as session:
        entry = session.get(AuditEntry, entry_id)
        assert entry is not None
        entry.actor = "someone else"
        with pytest.raises(AppendOnly):
            session.commit()
    assert _actor(engine, entry_id) == "test"


def test_the_orm_refuses_to_delete_an_entry(engine: Engine, entry_id: int) -> None:
    with Session(engine) as session:
        entry = session.get(AuditEntry, entry_id)
        session.delete(entry)
        with pytest.raises(AppendOnly):
            session.commit()
    assert _actor(engine, entry_id) == "test"


@pytest.mark.parametrize(
    "statement",
    [
        sa.update(AuditEntry).values(actor="x"),
        sa.delete(AuditEntry),
        sa.update(AuditEntry.__table__).values(actor="x"),  # type: ignore[attr-defined]
        sa.delete(AuditEntry.__table__),  # type: ignore[attr-defined]
    ],
    ids=["orm-update", "orm-delete", "core-update", "core-delete"],
)
def test_bulk_statements_through_a_session_are_refused(
    engine: Engine, entry_id: int, statement: sa.Executable
) -> None:
    with Session(engine) as session, pytest.raises(AppendOnly):
        session.execute(statement)
    assert _actor(engine, entry_id) == "test"


def test_an_entry_read_and_left_alone_flushes_fine(engine: Engine, entry_id: int) -> None:
    """Reading entries (and adding new ones) is what the trail is for: no false refusal."""
    with write_session(engine) as session:
        entry = session.get(AuditEntry, entry_id)
        assert entry is not None
        audit.record(session=session, actor="test", entity="probe", entity_id="2", action="b")
    assert _actor(engine, entry_id) == "test"


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_entry SET actor = 'x' WHERE id = :id",
        "DELETE FROM audit_entry WHERE id = :id",
    ],
    ids=["update", "delete"],
)
def test_the_database_refuses_raw_sql(engine: Engine, entry_id: int, sql: str) -> None:
    with pytest.raises(sa.exc.DatabaseError, match="append-only"), engine.begin() as conn:
        conn.execute(sa.text(sql), {"id": entry_id})
    assert _actor(engine, entry_id) == "test"


def test_postgres_refuses_truncate(engine: Engine, entry_id: int) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("TRUNCATE is PostgreSQL's (SQLite has none)")
    with pytest.raises(sa.exc.DatabaseError, match="append-only"), engine.begin() as conn:
        conn.execute(sa.text("TRUNCATE audit_entry"))
    assert _actor(engine, entry_id) == "test"


@pytest.fixture(params=ENGINES)
def fresh_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty database of each kind, not migrated."""
    if request.param == "sqlite":
        eng = make_engine(f"sqlite:///{tmp_path / 'updown.db'}")
        yield eng
        eng.dispose()
        return
    schema = f"doorstep_updown_{uuid.uuid4().hex[:6]}"
    eng = _postgres_engine(schema)
    yield eng
    eng.dispose()
    _drop_postgres_schema(schema)


def _delete_one(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM audit_entry WHERE actor = 'probe'"))


def _add_one(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO audit_entry (at, actor, entity, entity_id, action, detail)"
                " VALUES (CURRENT_TIMESTAMP, 'probe', 'probe', '1', 'a', '{}')"
            )
        )


def test_the_migration_goes_down_and_up(fresh_engine: Engine) -> None:
    """Down, the triggers are gone (a row can be deleted); up again, they refuse."""
    migrate.upgrade(fresh_engine)
    _add_one(fresh_engine)
    with pytest.raises(sa.exc.DatabaseError, match="append-only"):
        _delete_one(fresh_engine)
    down = migrate.alembic_config()
    from alembic import command
    from alembic.script import ScriptDirectory

    with fresh_engine.connect() as connection:
        down.attributes["connection"] = connection
        command.downgrade(down, BEFORE_TRIGGERS)  # later migrations go down first
        connection.commit()
    _delete_one(fresh_engine)  # no trigger: allowed
    migrate.upgrade(fresh_engine)
    _add_one(fresh_engine)
    with pytest.raises(sa.exc.DatabaseError, match="append-only"):
        _delete_one(fresh_engine)
    heads = ScriptDirectory.from_config(down).get_heads()
    with fresh_engine.connect() as conn:
        version = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    assert [version] == heads


def test_the_trail_holds_no_citizens_personal_data(session: Session) -> None:
    """A citizen registered with a name, given an address and booked: the audit entries of it all
    name ids, never the phone, the name or the landmark (so retention has nothing to purge
    there, and the trail can stay append-only)."""
    first = session.exec(select(sa.func.max(AuditEntry.id))).one() or 0
    request = factories.request(session)
    citizen = citizen_service.get(session=session, citizen_id=request.citizen_id)
    address = citizen_service.last_address(session=session, citizen_id=request.citizen_id)
    assert address is not None
    session.flush()
    entries = session.exec(select(AuditEntry).where(col(AuditEntry.id) > first)).all()
    assert len(entries) >= 2
    said = " ".join(f"{e.actor} {e.entity_id} {e.action} {e.detail}" for e in entries)
    digits = citizen.phone.removeprefix("+91")
    for personal in (digits, citizen.name, address.landmark):
        assert personal not in said

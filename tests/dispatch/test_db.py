"""Database plumbing: SQLite pragmas, write locking, aware UTC datetimes, migrations."""

from __future__ import annotations

import datetime as dt
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from dispatch import migrate
from dispatch.audit.models import AuditEntry
from dispatch.db import make_engine, read_session, write_session


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path / 'd.db'}")
    migrate.upgrade(engine)
    yield engine  # type: ignore[misc]
    engine.dispose()


def test_sqlite_runs_in_wal_with_a_busy_timeout(sqlite_engine: Engine) -> None:
    with sqlite_engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_writers_queue_and_readers_do_not_wait(sqlite_engine: Engine) -> None:
    """BEGIN IMMEDIATE makes a second writer wait for the first; a reader never waits."""
    order: list[str] = []
    holding = threading.Event()

    def first_writer() -> None:
        with write_session(sqlite_engine) as s:
            s.add(AuditEntry(actor="a", entity="x", entity_id="1", action="one"))
            s.flush()
            holding.set()
            time.sleep(0.3)
            order.append("first-commit")

    def second_writer() -> None:
        holding.wait()
        with write_session(sqlite_engine) as s:
            s.connection()  # BEGIN IMMEDIATE: waits for the first writer
            order.append("second-begin")
            s.add(AuditEntry(actor="b", entity="x", entity_id="2", action="two"))

    t1, t2 = threading.Thread(target=first_writer), threading.Thread(target=second_writer)
    t1.start()
    t2.start()
    holding.wait()
    with read_session(sqlite_engine) as s:
        s.exec(sa.select(AuditEntry)).all()  # type: ignore[call-overload]
        order.append("read")
    t1.join()
    t2.join()
    assert order == ["read", "first-commit", "second-begin"], order


def test_datetimes_round_trip_as_aware_utc(engine: Engine) -> None:
    when = dt.datetime(2026, 11, 23, 10, 30, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30)))
    with write_session(engine) as s:
        entry = AuditEntry(actor="t", entity="tz", entity_id="1", action="x", at=when)
        s.add(entry)
        s.flush()
        entry_id = entry.id
    with read_session(engine) as s:
        stored = s.get(AuditEntry, entry_id)
        assert stored is not None
        assert stored.at.tzinfo is not None and stored.at.utcoffset() == dt.timedelta(0)
        assert stored.at == when


def test_naive_datetimes_are_refused(session: object) -> None:
    from sqlmodel import Session

    assert isinstance(session, Session)
    session.add(
        AuditEntry(actor="t", entity="tz", entity_id="2", action="x", at=dt.datetime(2026, 1, 1))
    )
    with pytest.raises(sa.exc.StatementError, match="naive datetime"):
        session.flush()

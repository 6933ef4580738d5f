"""Backups: a seeded database backed up while bookings go on restores into a fresh database
whole (every request with its charge and its trail, the ledger's totals, the schema current);
once writes stop, the restored copy holds exactly the source's rows. SQLite (online backup API)
and PostgreSQL (pg_dump / pg_restore into a scratch database made and dropped here)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from dispatch import backup, migrate, seed
from dispatch.config import REPO_ROOT, get_settings
from dispatch.db import make_engine, write_session
from tests import factories
from tests.conftest import ENGINES, POSTGRES_URL
from web import cli

NewDatabase = Callable[[], str]


@pytest.fixture(params=ENGINES)
def new_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[NewDatabase]:
    """Makes empty databases of the test's kind (SQLite files; PostgreSQL databases on the
    test server, dropped afterwards)."""
    made: list[str] = []

    def make() -> str:
        name = f"doorstep_backup_{uuid.uuid4().hex[:10]}"
        if request.param == "sqlite":
            return f"sqlite:///{tmp_path / name}.db"
        admin = _admin()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        admin.dispose()
        made.append(name)
        return sa.make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)

    yield make
    if made:
        admin = _admin()
        with admin.connect() as conn:
            for name in made:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def _admin() -> Engine:
    return sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")


def _seeded(url: str) -> Engine:
    engine = make_engine(url)
    migrate.upgrade(engine)
    with write_session(engine) as session:
        seed.load(session=session, seed_dir=REPO_ROOT / "seed_data")
    return engine


def _book(engine: Engine) -> None:
    with write_session(engine) as session:
        factories.request(session)


def _counts(engine: Engine) -> dict[str, int]:
    """Rows in every table."""
    tables = sa.inspect(engine).get_table_names()
    with engine.connect() as conn:
        return {
            t: conn.execute(sa.text(f'SELECT count(*) FROM "{t}"')).scalar_one() for t in tables
        }


def _ledger_total(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.text("SELECT coalesce(sum(amount_paise), 0) FROM ledger_entry")
            ).scalar_one()
        )


def _whole(engine: Engine) -> None:
    """Every request has its charge (of its fee) and the start of its trail: no booking is
    half in the copy."""
    with engine.connect() as conn:
        broken = conn.execute(
            sa.text(
                """
                SELECT r.id FROM doorstep_request r
                WHERE (SELECT coalesce(sum(l.amount_paise), 0) FROM ledger_entry l
                       WHERE l.request_id = r.id AND l.kind = 'charge')
                      != r.doorstep_fee_paise + r.government_fee_paise
                   OR NOT EXISTS (SELECT 1 FROM request_event e
                                  WHERE e.request_id = r.id AND e.to_status = 'logged')
                """
            )
        ).all()
    assert broken == []


def test_a_backup_taken_while_bookings_go_on_restores_whole(
    new_database: NewDatabase, tmp_path: Path
) -> None:
    source = _seeded(new_database())
    for _ in range(3):
        _book(source)
    stop = threading.Event()
    booked_meanwhile = []
    failures: list[BaseException] = []

    def keep_booking() -> None:
        try:
            while not stop.is_set():
                _book(source)
                booked_meanwhile.append(1)
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)

    writer = threading.Thread(target=keep_booking)
    writer.start()
    try:
        while len(booked_meanwhile) < 2:  # the writer is going
            stop.wait(0.01)
        before = _counts(source)["doorstep_request"]
        file = tmp_path / "during.backup"
        taken = backup.backup(
            url=str(source.url.render_as_string(hide_password=False)), target=file
        )
        while len(booked_meanwhile) < 4:  # and went on during the backup
            stop.wait(0.01)
    finally:
        stop.set()
        writer.join()
    assert not failures and taken.current and taken.size > 0

    copy_url = new_database()
    restored = backup.restore(url=copy_url, source=file)
    assert restored.current and restored.revision == taken.revision
    copy = make_engine(copy_url)
    _whole(copy)
    in_copy = _counts(copy)["doorstep_request"]
    assert before <= in_copy <= _counts(source)["doorstep_request"]

    # Writes stopped: a second backup restores exactly the source.
    quiet = tmp_path / "quiet.backup"
    backup.backup(url=source.url.render_as_string(hide_password=False), target=quiet)
    exact_url = new_database()
    backup.restore(url=exact_url, source=quiet)
    exact = make_engine(exact_url)
    assert _counts(exact) == _counts(source)
    assert _ledger_total(exact) == _ledger_total(source) > 0
    _whole(exact)
    for engine in (source, copy, exact):
        engine.dispose()


def test_a_restore_refuses_a_database_in_use_and_a_file_of_the_other_kind(
    new_database: NewDatabase, tmp_path: Path
) -> None:
    source_url = new_database()
    source = _seeded(source_url)
    file = tmp_path / "one.backup"
    done = backup.backup(url=source_url, target=file)
    with pytest.raises(backup.BackupError, match="not empty"):
        backup.restore(url=source_url, source=file)
    other = tmp_path / "other.backup"
    other.write_bytes(b"PGDMP" if done.kind == "sqlite" else b"SQLite format 3\x00")
    with pytest.raises(backup.BackupError, match="is not a"):
        backup.restore(url=new_database(), source=other)
    # --force replaces what was there.
    _book(source)
    grown = _counts(source)["doorstep_request"]
    source.dispose()  # the server is stopped for a restore
    backup.restore(url=source_url, source=file, force=True)
    again = make_engine(source_url)
    assert _counts(again)["doorstep_request"] == grown - 1
    again.dispose()


def test_a_forced_restore_that_fails_leaves_the_database_as_it_was(
    new_database: NewDatabase, tmp_path: Path
) -> None:
    """A damaged backup file (cut short) restored with --force: an error, and every row still
    there (PostgreSQL drops the old tables in the restore's own transaction)."""
    url = new_database()
    engine = _seeded(url)
    _book(engine)
    before = _counts(engine)
    file = tmp_path / "whole.backup"
    backup.backup(url=url, target=file)
    cut = tmp_path / "cut.backup"
    cut.write_bytes(file.read_bytes()[: file.stat().st_size // 2])
    engine.dispose()
    with pytest.raises(backup.BackupError):
        backup.restore(url=url, source=cut, force=True)
    again = make_engine(url)
    assert _counts(again) == before
    again.dispose()


def test_the_commands_back_up_and_restore(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    original = f"sqlite:///{tmp_path / 'live.db'}"
    engine = _seeded(original)
    _book(engine)
    counts = _counts(engine)
    file = tmp_path / "nightly" / "doorstep.backup"
    monkeypatch.setenv("DOORSTEP_DATABASE_URL", original)
    get_settings.cache_clear()
    try:
        assert cli.main(["backup", str(file)]) == 0
        monkeypatch.setenv("DOORSTEP_DATABASE_URL", f"sqlite:///{tmp_path / 'restored.db'}")
        get_settings.cache_clear()
        assert cli.main(["restore", str(file)]) == 0
        assert cli.main(["restore", str(file)]) == 1  # not into a database in use
    finally:
        get_settings.cache_clear()
    out, err = capsys.readouterr()
    assert "sqlite database backed up to" in out and "the newest" in out
    assert "not empty: give --force" in err
    restored = make_engine(f"sqlite:///{tmp_path / 'restored.db'}")
    assert _counts(restored) == counts
    restored.dispose()
    engine.dispose()

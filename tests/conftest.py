"""Test fixtures: a migrated, seeded database per engine (SQLite always; PostgreSQL when
DOORSTEP_TEST_POSTGRES_URL is set, as CI does), sessions rolled back per test, and apps.

Tests that need committed data (concurrency, the web app) use `engine` and make their own
uniquely-keyed rows; tests that only read or can roll back use `session`.
"""

from __future__ import annotations

import csv
import functools
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy.engine import Engine
from sqlmodel import Session

from dispatch import migrate, seed
from dispatch.config import REPO_ROOT, Settings
from dispatch.db import make_engine, write_session

POSTGRES_URL = os.environ.get("DOORSTEP_TEST_POSTGRES_URL", "")
ENGINES = ["sqlite", *(["postgres"] if POSTGRES_URL else [])]


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def _postgres_engine(schema: str) -> Engine:
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    admin.dispose()
    return make_engine(
        POSTGRES_URL, connect_args={"options": f"-csearch_path={schema}"}, pool_size=10
    )


def _drop_postgres_schema(schema: str) -> None:
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    admin.dispose()


@pytest.fixture(scope="session", params=ENGINES)
def engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """A migrated database holding the real seed data, committed; one per engine kind."""
    schema = f"doorstep_test_{_worker()}_{uuid.uuid4().hex[:6]}"
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("db") / "doorstep.db"
        eng = make_engine(f"sqlite:///{path}")
    else:
        eng = _postgres_engine(schema)
    migrate.upgrade(eng)
    with write_session(eng) as s:
        seed.load(session=s, seed_dir=REPO_ROOT / "seed_data")
    yield eng
    eng.dispose()
    if request.param == "postgres":
        _drop_postgres_schema(schema)


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session whose work is rolled back after the test (commits become savepoints)."""
    connection = engine.connect()
    outer = connection.begin()
    s = Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
    try:
        yield s
    finally:
        s.close()
        outer.rollback()
        connection.close()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        database_url="sqlite://",
        public_base_url="https://1447.example.gov.in",
        twilio_auth_token="test-auth-token",
        scheduler=False,
    )


def build_app(settings: Settings, engine: Engine) -> FastAPI:
    """The web process's composition root (`web.app.create_app`) on the test database: the
    IVR tests go through it as Twilio would, without importing the web package themselves."""
    from web.app import create_app

    return create_app(settings=settings, engine=engine)


def unique_phone() -> str:
    """A valid, unused Indian mobile number in E.164."""
    return f"+9197{uuid.uuid4().int % 10**8:08d}"


@functools.lru_cache(maxsize=1)
def registered_seed_dir() -> str:
    """A copy of the seed data whose DLT template IDs look registered (as a state's are once
    it has registered them), for production settings: the repository's are development IDs,
    which production refuses."""
    folder = Path(tempfile.mkdtemp(prefix="doorstep-seed-"))
    shutil.copytree(REPO_ROOT / "seed_data", folder, dirs_exist_ok=True)
    dlt_file = folder / "messages" / "dlt.csv"
    with dlt_file.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    for n, row in enumerate(rows):
        row["template_id"] = f"1107{n:015d}"
    with dlt_file.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return str(folder)

"""`/healthz` and `/readyz`: liveness touches nothing; readiness names each failed check (the
database, the migrations, the scheduler's heartbeat) and says nothing personal or secret."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from dispatch import migrate
from dispatch.config import Settings
from dispatch.db import make_engine, write_session
from dispatch.taskruns import lease
from dispatch.taskruns import service as task_runs
from dispatch.taskruns.models import SchedulerLease, TaskRun
from web.app import create_app
from web.health import LEASE_FRESH, RUN_FRESH, readiness

#: Far from any other test's clock, so only this test's rows decide.
T0 = dt.datetime(2100, 1, 4, 6, 0, tzinfo=dt.UTC)


@pytest.fixture
def heartbeat(engine: Engine) -> Iterator[str]:
    """A lease of the test's own name renewed at T0, and a task run finished at T0 (both
    removed afterwards: other tests read the task record)."""
    name = f"test-{uuid.uuid4().hex[:8]}"
    assert lease.take(engine=engine, holder="host:1", now=T0, ttl=LEASE_FRESH, name=name)
    assert task_runs.record(
        engine,
        task_runs.finished,
        name=name,
        started_at=T0 - dt.timedelta(seconds=1),
        at=T0,
        ok=True,
        summary="done",
        next_run_at=None,
        runner="host:1",
    )
    yield name
    with write_session(engine) as session:
        session.execute(sa.delete(TaskRun).where(TaskRun.name == name))  # type: ignore[arg-type]
        session.execute(sa.delete(SchedulerLease).where(SchedulerLease.name == name))  # type: ignore[arg-type]


def test_ready_when_the_database_is_current_and_the_scheduler_fresh(
    engine: Engine, heartbeat: str
) -> None:
    checks = readiness(engine=engine, now=T0 + dt.timedelta(seconds=20), lease_name=heartbeat)
    assert checks["database"] == {"ok": True}
    assert checks["migrations"]["ok"] and checks["migrations"]["current"]
    assert checks["scheduler"] == {"ok": True, "lease_age_s": 20.0, "last_run_age_s": 20.0}


def test_a_lease_not_renewed_is_a_stale_heartbeat(engine: Engine, heartbeat: str) -> None:
    later = T0 + LEASE_FRESH + dt.timedelta(seconds=1)
    checks = readiness(engine=engine, now=later, lease_name=heartbeat)
    assert checks["scheduler"]["ok"] is False
    assert checks["scheduler"]["lease_age_s"] == 61.0
    assert checks["database"]["ok"] and checks["migrations"]["ok"]


def test_a_lease_renewed_while_no_task_finishes_is_a_stale_heartbeat(
    engine: Engine, heartbeat: str
) -> None:
    """The lease's thread renews it while the tasks are stuck: not fresh."""
    later = T0 + RUN_FRESH + dt.timedelta(seconds=5)
    assert lease.take(engine=engine, holder="host:1", now=later, ttl=LEASE_FRESH, name=heartbeat)
    checks = readiness(engine=engine, now=later, lease_name=heartbeat)
    assert checks["scheduler"]["lease_age_s"] == 0.0
    assert checks["scheduler"]["ok"] is False


def test_no_scheduler_ever_is_not_ready(engine: Engine) -> None:
    checks = readiness(engine=engine, now=T0, lease_name=f"none-{uuid.uuid4().hex[:8]}")
    assert checks["scheduler"]["ok"] is False and checks["scheduler"]["lease_age_s"] is None


def _client(settings: Settings, engine: Engine) -> TestClient:
    return TestClient(create_app(settings=settings, engine=engine))


def test_healthz_answers_without_the_database(settings: Settings, tmp_path: Path) -> None:
    nowhere = make_engine(f"sqlite:///{tmp_path}/gone/none.db")
    (tmp_path / "gone").rmdir()  # make_engine made the folder: the database cannot open
    response = _client(settings, nowhere).get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_readyz_names_the_failed_checks_when_the_database_is_away(
    settings: Settings, tmp_path: Path
) -> None:
    nowhere = make_engine(f"sqlite:///{tmp_path}/gone/none.db")
    (tmp_path / "gone").rmdir()
    response = _client(settings, nowhere).get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not ready"
    assert body["checks"]["database"] == {"ok": False, "error": "OperationalError"}
    assert not body["checks"]["migrations"]["ok"] and not body["checks"]["scheduler"]["ok"]
    assert str(tmp_path) not in response.text  # no paths, URLs or error texts


def test_readyz_on_a_database_not_migrated(settings: Settings, tmp_path: Path) -> None:
    empty = make_engine(f"sqlite:///{tmp_path}/empty.db")
    response = _client(settings, empty).get("/readyz")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["database"]["ok"] is True
    assert checks["migrations"]["ok"] is False and checks["migrations"]["current"] == []
    assert checks["scheduler"] == {"ok": False, "error": "OperationalError"}  # no tables


def test_readyz_200_with_a_running_scheduler(settings: Settings, tmp_path: Path) -> None:
    """A fresh database, migrated, whose scheduler took its lease and ran a task just now."""
    fresh = make_engine(f"sqlite:///{tmp_path}/fresh.db")
    migrate.upgrade(fresh)
    now = dt.datetime.now(dt.UTC)
    assert lease.take(engine=fresh, holder="host:1", now=now, ttl=LEASE_FRESH)
    task_runs.record(
        fresh,
        task_runs.finished,
        name="send-sms",
        started_at=now,
        at=now,
        ok=True,
        summary="0 SMS sent",
        next_run_at=None,
        runner="host:1",
    )
    response = _client(settings, fresh).get("/readyz")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ready"
    assert set(body["checks"]) == {"database", "migrations", "scheduler"}
    assert "host:1" not in response.text  # which process holds it is not told
    assert response.headers["cache-control"] == "no-store"
    fresh.dispose()

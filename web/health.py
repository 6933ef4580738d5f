"""`/healthz` and `/readyz`: whether this process is up, and whether the system can serve.

- `GET /healthz` — the process answers (liveness): 200 `{"status": "ok"}`, touching nothing
  else (no database), so a busy or unreachable database never gets a live process restarted.
- `GET /readyz` — readiness: 200 when every check passes, else 503; the JSON body names each
  check with `ok` and a few figures:
  - `database`: a `SELECT 1` answers, within `READY_WAIT_S`;
  - `migrations`: the database's Alembic revision is the code's head (`dispatch.migrate`): a
    process started before `doorstep migrate` ran is not ready;
  - `scheduler`: the scheduled tasks are running somewhere (the "worker heartbeat"). One
    scheduler process holds the scheduler's lease and renews it every 10 s
    (`web.scheduler_lease`); the heartbeat is fresh when the lease was renewed within its
    60 s lifetime (`LEASE_FRESH`) *and* a scheduled task finished a run within `RUN_FRESH`
    (the dispatch loop's task runs every 2 s and the SMS sender every 30 s, each run recorded
    in `task_run`): a scheduler that renews its lease while its tasks are stuck is not fresh.

Neither says anything personal or secret: no holder names, hosts, URLs or error texts (an
error is named by its class only; the details go to the log).

Not here: the metrics (`web.metrics`).
"""

from __future__ import annotations

import datetime as dt
import logging
from functools import cache
from typing import Any

import sqlalchemy as sa
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy.engine import Engine
from sqlmodel import func, select

from dispatch.db import WAIT_MS, read_session, utcnow
from dispatch.migrate import alembic_config
from dispatch.taskruns import lease
from dispatch.taskruns.models import TaskRun
from web.deps import EngineDep

log = logging.getLogger(__name__)
router = APIRouter(tags=["operations"])

#: How long a readiness check waits for the database's locks.
READY_WAIT_S = 2.0
#: The scheduler's lease lasts this long unrenewed (`web.scheduler_lease.TTL`).
LEASE_FRESH = dt.timedelta(seconds=60)
#: Some scheduled task finished a run this recently.
RUN_FRESH = dt.timedelta(minutes=2)


@router.get("/healthz", include_in_schema=False)
async def healthz() -> dict[str, str]:
    """The process is up (nothing else is looked at)."""
    return {"status": "ok"}


@router.get("/readyz", include_in_schema=False)
def readyz(engine: EngineDep) -> JSONResponse:
    """Database reachable, migrations current, scheduler heartbeat fresh: 200, else 503."""
    checks = readiness(engine=engine, now=utcnow())
    ready = all(check["ok"] for check in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status_code=200 if ready else 503,
        headers={"Cache-Control": "no-store"},
    )


def readiness(
    *, engine: Engine, now: dt.datetime, lease_name: str = lease.NAME
) -> dict[str, dict[str, Any]]:
    """Each check by name: `{"ok": bool, ...figures}`. Never raises."""
    checks: dict[str, dict[str, Any]] = {"database": _database(engine)}
    if not checks["database"]["ok"]:
        skipped = {"ok": False, "reason": "database unreachable"}
        checks["migrations"] = dict(skipped)
        checks["scheduler"] = dict(skipped)
        return checks
    checks["migrations"] = _guarded("migrations", _migrations, engine)
    checks["scheduler"] = _guarded("scheduler", _scheduler, engine, now, lease_name)
    return checks


def _bounded(engine: Engine) -> Engine:
    return engine.execution_options(**{WAIT_MS: READY_WAIT_S * 1000})


def _guarded(name: str, check: Any, *args: Any) -> dict[str, Any]:
    try:
        result: dict[str, Any] = check(*args)
    except Exception as exc:
        log.warning("readiness check %s failed", name, exc_info=True)
        return {"ok": False, "error": type(exc).__name__}
    return result


def _database(engine: Engine) -> dict[str, Any]:
    def ping() -> dict[str, Any]:
        with read_session(_bounded(engine)) as session:
            session.execute(sa.text("SELECT 1")).scalar_one()
        return {"ok": True}

    return _guarded("database", ping)


@cache
def code_heads() -> frozenset[str]:
    """The newest Alembic revision(s) this code knows (read once per process)."""
    return frozenset(ScriptDirectory.from_config(alembic_config()).get_heads())


def _migrations(engine: Engine) -> dict[str, Any]:
    with _bounded(engine).connect() as connection:
        current = frozenset(MigrationContext.configure(connection).get_current_heads())
    heads = code_heads()
    return {"ok": current == heads, "current": sorted(current), "head": sorted(heads)}


def _age_s(now: dt.datetime, then: dt.datetime | None) -> float | None:
    return None if then is None else round((now - then).total_seconds(), 1)


def _scheduler(engine: Engine, now: dt.datetime, lease_name: str) -> dict[str, Any]:
    held = lease.holder_of(engine=_bounded(engine), name=lease_name)
    with read_session(_bounded(engine)) as session:
        last_run = session.exec(select(func.max(TaskRun.last_finished_at))).one()
    if isinstance(last_run, dt.datetime) and last_run.tzinfo is None:
        last_run = last_run.replace(tzinfo=dt.UTC)  # an aggregate skips the column's type
    renewed = held.renewed_at if held is not None else None
    lease_ok = renewed is not None and now - renewed <= LEASE_FRESH
    runs_ok = last_run is not None and now - last_run <= RUN_FRESH
    return {
        "ok": lease_ok and runs_ok,
        "lease_age_s": _age_s(now, renewed),
        "last_run_age_s": _age_s(now, last_run),
    }
